// The shared vectors (tests/vectors/limiter.json and parse.json) against memory:// and the parsers.
#include <gtest/gtest.h>

#include <set>

#include "vector_runner.hpp"

namespace redkeeper {
namespace {

TEST(LimiterVectors, AllCasesPassOnMemory) {
  const size_t ran = vectors::run_limiter_vectors([](std::shared_ptr<ManualClock> clock) {
    return testing::memory_client(std::move(clock));
  });
  EXPECT_GE(ran, 40u);
}

TEST(LimiterVectors, EveryAlgorithmIsCovered) {
  const auto doc = vectors::load("limiter.json");
  for (const char* algorithm : {"fixed_window", "sliding_window", "sliding_log", "token_bucket", "gcra"}) {
    std::set<std::string> ops;
    for (const auto& c : doc.at("cases")) {
      if (c.contains("config_error") || c.at("limiter").at("algorithm") != algorithm) continue;
      if (c.at("limiter").value("block_duration_ms", 0) > 0) ops.insert("block_duration");
      for (const auto& step : c.at("steps")) {
        ops.insert(step.at("op").get<std::string>());
        if (step.contains("error")) ops.insert("error");
        if (step.value("cost", 1) > 1 && !step.contains("error")) ops.insert("cost>1");
        if (step.contains("key") && step["key"] == "b") ops.insert("second key");
      }
    }
    for (const char* needed : {"hit", "peek", "reset", "refund", "block", "advance", "error",
                               "block_duration", "cost>1", "second key"}) {
      EXPECT_TRUE(ops.count(needed)) << algorithm << " lacks " << needed;
    }
  }
}

TEST(ParseVectors, Durations) {
  const auto doc = vectors::load("parse.json");
  ASSERT_FALSE(doc.at("durations").empty());
  for (const auto& v : doc.at("durations")) {
    const std::string input = v.at("input").get<std::string>();
    SCOPED_TRACE(input);
    if (v.contains("error")) {
      try {
        parse_duration_ms(input, "window");
        ADD_FAILURE() << "accepted";
      } catch (const Error& e) {
        EXPECT_EQ(error_code_name(e.code()), v["error"].get<std::string>());
      }
    } else {
      EXPECT_EQ(parse_duration_ms(input, "window"), v.at("ms").get<int64_t>());
    }
  }
}

TEST(ParseVectors, Rates) {
  const auto doc = vectors::load("parse.json");
  ASSERT_FALSE(doc.at("rates").empty());
  for (const auto& v : doc.at("rates")) {
    const std::string input = v.at("input").get<std::string>();
    SCOPED_TRACE(input);
    if (v.contains("error")) {
      try {
        parse_rate(input);
        ADD_FAILURE() << "accepted";
      } catch (const Error& e) {
        EXPECT_EQ(error_code_name(e.code()), v["error"].get<std::string>());
      }
    } else {
      const Rate r = parse_rate(input);
      EXPECT_EQ(r.limit, v.at("limit").get<int64_t>());
      EXPECT_EQ(r.window_ms, v.at("window_ms").get<int64_t>());
    }
  }
}

TEST(ParseVectors, Headers) {
  const auto doc = vectors::load("parse.json");
  ASSERT_FALSE(doc.at("headers").empty());
  for (const auto& v : doc.at("headers")) {
    SCOPED_TRACE(v.dump());
    LimitResult r;
    const auto& jr = v.at("result");
    r.allowed = jr.at("allowed").get<bool>();
    r.limit = jr.at("limit").get<int64_t>();
    r.remaining = jr.at("remaining").get<int64_t>();
    r.reset_after_ms = jr.at("reset_after_ms").get<int64_t>();
    r.retry_after_ms = jr.at("retry_after_ms").get<int64_t>();
    LimiterConfig policy;
    policy.name = v.at("policy").at("name").get<std::string>();
    policy.limit = v.at("policy").at("limit").get<int64_t>();
    policy.window_ms = v.at("policy").at("window_ms").get<int64_t>();
    HeaderOptions options;
    options.standard = parse_header_standard(v.at("options").at("standard").get<std::string>());
    options.legacy = v.at("options").value("legacy", false);
    options.now_ms = v.at("options").value("now_ms", int64_t{0});
    std::vector<std::pair<std::string, std::string>> expected;
    for (const auto& pair : v.at("expect")) expected.emplace_back(pair.at(0), pair.at(1));
    EXPECT_EQ(render_headers(r, policy, options), expected);
  }
}

}  // namespace
}  // namespace redkeeper
