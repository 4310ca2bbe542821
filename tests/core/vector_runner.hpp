// Runs the shared JSON vectors (tests/vectors/*.json) against any Client. The memory tests pass a
// factory for memory://; the Redis tests reuse this with a factory that opens a Redis client on the
// same ManualClock.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "redkeeper/client.hpp"
#include "test_helpers.hpp"

namespace redkeeper::vectors {

using ClientFactory = std::function<std::shared_ptr<Client>(std::shared_ptr<ManualClock>)>;

// REDKEEPER_VECTORS_DIR from the environment, else the source tree's tests/vectors.
inline std::string vectors_dir() {
  if (const char* env = std::getenv("REDKEEPER_VECTORS_DIR"); env != nullptr && *env != '\0') return env;
#ifdef REDKEEPER_VECTORS_DIR
  return REDKEEPER_VECTORS_DIR;
#else
  return "tests/vectors";
#endif
}

inline nlohmann::json load(const std::string& file) {
  const std::string path = vectors_dir() + "/" + file;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

inline LimiterConfig config_from(const nlohmann::json& j) {
  LimiterConfig cfg;
  cfg.name = j.value("name", std::string("vec"));
  cfg.algorithm = parse_algorithm(j.at("algorithm").get<std::string>());
  cfg.limit = j.at("limit").get<int64_t>();
  cfg.window_ms = j.at("window_ms").get<int64_t>();
  cfg.block_duration_ms = j.value("block_duration_ms", int64_t{0});
  return cfg;
}

inline void expect_matches(const LimitResult& r, const nlohmann::json& expect) {
  if (expect.contains("allowed")) {
    EXPECT_EQ(r.allowed, expect["allowed"].get<bool>());
  }
  if (expect.contains("limit")) {
    EXPECT_EQ(r.limit, expect["limit"].get<int64_t>());
  }
  if (expect.contains("remaining")) {
    EXPECT_EQ(r.remaining, expect["remaining"].get<int64_t>());
  }
  if (expect.contains("reset_after_ms")) {
    EXPECT_EQ(r.reset_after_ms, expect["reset_after_ms"].get<int64_t>());
  }
  if (expect.contains("retry_after_ms")) {
    EXPECT_EQ(r.retry_after_ms, expect["retry_after_ms"].get<int64_t>());
  }
  EXPECT_FALSE(r.degraded);
}

template <class T>
void check_outcome(const Result<T>& r, const nlohmann::json& step, const std::function<void(const T&)>& on_value) {
  if (step.contains("error")) {
    ASSERT_FALSE(r.ok()) << "expected " << step["error"];
    EXPECT_EQ(error_code_name(r.error().code()), step["error"].get<std::string>()) << r.error().what();
    return;
  }
  ASSERT_TRUE(r.ok()) << r.error().what();
  if (on_value) on_value(r.value());
}

// Runs one case; failures are reported through gtest with the case name and step index.
inline void run_limiter_case(const nlohmann::json& c, const ClientFactory& factory) {
  SCOPED_TRACE(c.at("name").get<std::string>());
  auto clock = std::make_shared<ManualClock>(c.value("start_ms", int64_t{1'700'000'000'000}));
  auto client = factory(clock);
  if (c.contains("config_error")) {
    try {
      client->limiter(config_from(c.at("limiter")));
      ADD_FAILURE() << "config accepted";
    } catch (const Error& e) {
      EXPECT_EQ(error_code_name(e.code()), c["config_error"].get<std::string>()) << e.what();
    }
    client->close();
    return;
  }
  auto limiter = client->limiter(config_from(c.at("limiter")));
  const auto& steps = c.at("steps");
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& step = steps[i];
    SCOPED_TRACE("step " + std::to_string(i) + ": " + step.dump());
    const std::string op = step.at("op").get<std::string>();
    const std::function<void(const LimitResult&)> match = [&](const LimitResult& r) {
      if (step.contains("expect")) expect_matches(r, step["expect"]);
    };
    if (op == "advance") {
      clock->advance(step.at("ms").get<int64_t>());
    } else if (op == "hit") {
      const std::string key = step.at("key").get<std::string>();
      const int64_t cost = step.value("cost", int64_t{1});
      check_outcome<LimitResult>(
          testing::await_result<LimitResult>([&](auto cb) { limiter->hit(key, cost, cb); }), step, match);
    } else if (op == "peek") {
      const std::string key = step.at("key").get<std::string>();
      check_outcome<LimitResult>(testing::await_result<LimitResult>([&](auto cb) { limiter->peek(key, cb); }),
                                 step, match);
    } else if (op == "reset") {
      const std::string key = step.at("key").get<std::string>();
      check_outcome<Unit>(testing::await_result<Unit>([&](auto cb) { limiter->reset(key, cb); }), step, {});
    } else if (op == "refund") {
      const std::string key = step.at("key").get<std::string>();
      const int64_t amount = step.at("amount").get<int64_t>();
      check_outcome<LimitResult>(
          testing::await_result<LimitResult>([&](auto cb) { limiter->refund(key, amount, cb); }), step, match);
    } else if (op == "block") {
      const std::string key = step.at("key").get<std::string>();
      const int64_t ms = step.at("ms").get<int64_t>();
      check_outcome<LimitResult>(
          testing::await_result<LimitResult>([&](auto cb) { limiter->block(key, ms, cb); }), step, match);
    } else {
      ADD_FAILURE() << "unknown op " << op;
    }
  }
  client->close();
}

// Every case of tests/vectors/limiter.json; returns how many ran.
inline size_t run_limiter_vectors(const ClientFactory& factory) {
  const nlohmann::json doc = load("limiter.json");
  size_t ran = 0;
  for (const auto& c : doc.at("cases")) {
    run_limiter_case(c, factory);
    ++ran;
  }
  return ran;
}

}  // namespace redkeeper::vectors
