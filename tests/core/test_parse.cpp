// Durations, rates, header-standard names and header rendering, including every malformed input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "redkeeper/limiter.hpp"

namespace redkeeper {
namespace {

void expect_invalid_named(const std::function<void()>& f, const std::string& param, const std::string& input) {
  try {
    f();
    ADD_FAILURE() << "accepted '" << input << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << input;
    EXPECT_EQ(std::string(e.what()).rfind(param + ":", 0), 0u) << e.what();
  }
}

TEST(ParseDuration, AcceptsSecondsAndUnits) {
  const std::pair<const char*, int64_t> cases[] = {
      {"900", 900'000},     {"1.5", 1'500},          {"15m", 900'000},   {"1h", 3'600'000},
      {"2 hours", 7'200'000}, {"500ms", 500},        {"1d", 86'400'000}, {"15 minutes", 900'000},
      {" 30s ", 30'000},    {"0.001", 1},            {"1.0005", 1'001},  {"1.0004", 1'000},
      {"2 Minutes", 120'000}, {"1w", 604'800'000},   {".5", 500},        {"10 sec", 10'000},
      {"3hr", 10'800'000},  {"1 day", 86'400'000},   {"250 milliseconds", 250},
  };
  for (const auto& [input, ms] : cases) EXPECT_EQ(parse_duration_ms(input, "window"), ms) << input;
}

TEST(ParseDuration, RejectsGarbageNamingTheParameter) {
  for (const char* input : {"", "   ", "-5", "0", "0s", "0.0004", "abc", "nan", "inf", "-inf", "1e3",
                            "15 parsecs", "99999999999999999999", "1.2.3", "15m30s", "+5", "5 5",
                            "1.", "m", "1.0000000001"}) {
    expect_invalid_named([&] { parse_duration_ms(input, "window"); }, "window", input);
  }
  expect_invalid_named([] { parse_duration_ms("x", "block_duration"); }, "block_duration", "x");
  expect_invalid_named([] { parse_duration_ms("4000 days", "window"); }, "window", "4000 days");
}

TEST(SecondsToMs, ConvertsFiniteSeconds) {
  EXPECT_EQ(seconds_to_ms(1.5, "window"), 1500);
  EXPECT_EQ(seconds_to_ms(0.001, "window"), 1);
  EXPECT_EQ(seconds_to_ms(900, "window"), 900'000);
  for (double bad : {0.0, -1.0, 0.0004, std::nan(""), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity(), 1e300}) {
    expect_invalid_named([&] { seconds_to_ms(bad, "window"); }, "window", std::to_string(bad));
  }
}

TEST(ParseRate, AcceptsTheUsualSpellings) {
  const std::tuple<const char*, int64_t, int64_t> cases[] = {
      {"10/minute", 10, 60'000},        {"10/min", 10, 60'000},          {"5/15minutes", 5, 900'000},
      {"5/15 minutes", 5, 900'000},     {"100 per 15 minutes", 100, 900'000}, {"1000/day", 1000, 86'400'000},
      {"10/s", 10, 1000},               {"10/second", 10, 1000},          {"3/hour", 3, 3'600'000},
      {"10 per 1h", 10, 3'600'000},     {" 7 / 2s ", 7, 2000},            {"5 PER MINUTE", 5, 60'000},
  };
  for (const auto& [input, limit, window_ms] : cases) {
    const Rate r = parse_rate(input);
    EXPECT_EQ(r.limit, limit) << input;
    EXPECT_EQ(r.window_ms, window_ms) << input;
  }
}

TEST(ParseRate, RejectsMalformedRates) {
  for (const char* input : {"", "10", "/minute", "abc/minute", "10/", "10/parsec", "0/minute",
                            "-1/minute", "10 per", "10/15", "1.5/minute", "10000000000/s", "10 minute",
                            "10//minute", "ten/minute", "10/-1m", "10 per per minute", "10/0m"}) {
    expect_invalid_named([&] { parse_rate(input); }, "rate", input);
  }
}

TEST(HeaderStandard, ParsesNames) {
  EXPECT_EQ(parse_header_standard("draft-6"), HeaderStandard::Draft6);
  EXPECT_EQ(parse_header_standard("draft-7"), HeaderStandard::Draft7);
  EXPECT_EQ(parse_header_standard("draft-8"), HeaderStandard::Draft8);
  EXPECT_EQ(parse_header_standard(""), HeaderStandard::None);
  EXPECT_EQ(parse_header_standard("none"), HeaderStandard::None);
  expect_invalid_named([] { parse_header_standard("draft-9"); }, "standard", "draft-9");
}

class Headers : public ::testing::Test {
 protected:
  LimiterConfig policy() {
    LimiterConfig p;
    p.name = "api";
    p.limit = 100;
    p.window_ms = 60'000;
    return p;
  }
  LimitResult allowed() {
    LimitResult r;
    r.allowed = true;
    r.limit = 100;
    r.remaining = 99;
    r.reset_after_ms = 59'001;  // rounds up to 60 s
    return r;
  }
  using List = std::vector<std::pair<std::string, std::string>>;
};

TEST_F(Headers, Draft7WithLegacy) {
  HeaderOptions o;
  o.standard = HeaderStandard::Draft7;
  o.legacy = true;
  o.now_ms = 1'700'000'000'500;
  EXPECT_EQ(render_headers(allowed(), policy(), o),
            (List{{"RateLimit", "limit=100, remaining=99, reset=60"},
                  {"RateLimit-Policy", "100;w=60"},
                  {"X-RateLimit-Limit", "100"},
                  {"X-RateLimit-Remaining", "99"},
                  {"X-RateLimit-Reset", "1700000060"}}));  // ceil((now + 59001) / 1000)
}

TEST_F(Headers, Draft6) {
  HeaderOptions o;
  o.standard = HeaderStandard::Draft6;
  EXPECT_EQ(render_headers(allowed(), policy(), o),
            (List{{"RateLimit-Limit", "100"},
                  {"RateLimit-Remaining", "99"},
                  {"RateLimit-Reset", "60"},
                  {"RateLimit-Policy", "100;w=60"}}));
}

TEST_F(Headers, Draft8RejectedAddsRetryAfter) {
  HeaderOptions o;
  o.standard = HeaderStandard::Draft8;
  LimitResult r = allowed();
  r.allowed = false;
  r.remaining = 0;
  r.retry_after_ms = 1'500;
  LimiterConfig p = policy();
  p.window_ms = 90'500;  // w rounds up to 91
  EXPECT_EQ(render_headers(r, p, o),
            (List{{"RateLimit", "\"api\"; r=0; t=60"},
                  {"RateLimit-Policy", "\"api\"; q=100; w=91"},
                  {"Retry-After", "2"}}));
}

TEST_F(Headers, NoStandardOnlyLegacy) {
  HeaderOptions o;
  o.standard = HeaderStandard::None;
  o.legacy = true;
  o.now_ms = 1'700'000'000'000;
  LimitResult r = allowed();
  r.reset_after_ms = 0;
  EXPECT_EQ(render_headers(r, policy(), o),
            (List{{"X-RateLimit-Limit", "100"}, {"X-RateLimit-Remaining", "99"}, {"X-RateLimit-Reset", "1700000000"}}));
}

}  // namespace
}  // namespace redkeeper
