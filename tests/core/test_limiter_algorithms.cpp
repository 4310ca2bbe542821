// Behaviour of each limiter algorithm on memory://, with numbers worked by hand from the formulas
// in core/src/limiter/README.md.
#include <gtest/gtest.h>

#include "test_helpers.hpp"

namespace redkeeper {
namespace {

using testing::config;
using testing::hit;
using testing::peek;

constexpr int64_t kStart = 1'700'000'000'000;  // a multiple of every window used here

void expect_result(const LimitResult& r, bool allowed, int64_t remaining, int64_t reset_ms,
                   int64_t retry_ms) {
  EXPECT_EQ(r.allowed, allowed);
  EXPECT_EQ(r.remaining, remaining);
  EXPECT_EQ(r.reset_after_ms, reset_ms);
  EXPECT_EQ(r.retry_after_ms, retry_ms);
  EXPECT_FALSE(r.degraded);
}

class LimiterTest : public ::testing::Test {
 protected:
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(kStart);
  std::shared_ptr<Client> client = testing::memory_client(clock);
};

TEST_F(LimiterTest, FixedWindowStartsAtFirstHit) {
  auto l = client->limiter(config(Algorithm::FixedWindow, 3, 1000));
  clock->advance(250);  // unaligned on purpose: the window is not aligned to the epoch
  expect_result(hit(*l, "a"), true, 2, 1000, 0);
  expect_result(hit(*l, "a"), true, 1, 1000, 0);
  expect_result(hit(*l, "a"), true, 0, 1000, 0);
  expect_result(hit(*l, "a"), false, 0, 1000, 1000);
  clock->advance(400);
  expect_result(hit(*l, "a"), false, 0, 600, 600);
  clock->advance(600);
  expect_result(hit(*l, "a"), true, 2, 1000, 0);
}

TEST_F(LimiterTest, SlidingWindowWeighsPreviousWindow) {
  auto l = client->limiter(config(Algorithm::SlidingWindow, 10, 1000));
  // cur=10 at e=0: full once floor(10*(1000-e')/1000) == 0 in the next window, e' = 901.
  expect_result(hit(*l, "a", 10), true, 0, 1901, 0);
  // Needs floor(10*(1000-e')/1000) <= 9 in the next window: e' = 1.
  expect_result(hit(*l, "a"), false, 0, 1901, 1001);
  clock->advance(1500);  // e = 500 of the next window: estimate floor(10*500/1000) = 5
  expect_result(peek(*l, "a"), true, 5, 401, 0);
  // cur=5: full once floor(5*(1000-e')/1000) == 0 next window, e' = 1000 - floor(999/5) = 801.
  expect_result(hit(*l, "a", 5), true, 0, 500 + 801, 0);
  // cur=5, prev=10, e=500: room = 10-5-1 = 4; floor(10*(1000-e)/1000) <= 4 from e = 501.
  expect_result(hit(*l, "a"), false, 0, 1301, 1);
}

TEST_F(LimiterTest, SlidingLogIsExact) {
  auto l = client->limiter(config(Algorithm::SlidingLog, 3, 1000));
  expect_result(hit(*l, "a"), true, 2, 1000, 0);
  clock->advance(100);
  expect_result(hit(*l, "a"), true, 1, 1000, 0);
  clock->advance(100);
  expect_result(hit(*l, "a"), true, 0, 1000, 0);
  clock->advance(100);
  // Full again when the newest entry (t0+200) leaves; a unit frees when t0's entry leaves.
  expect_result(hit(*l, "a"), false, 0, 900, 700);
  // Cost 2 must wait for the two oldest entries: t0+100 leaves at +1100.
  expect_result(hit(*l, "a", 2), false, 0, 900, 800);
  clock->advance(700);  // t0 + 1000: the first entry has left
  expect_result(hit(*l, "a"), true, 0, 1000, 0);
}

TEST_F(LimiterTest, TokenBucketRefillsContinuously) {
  auto l = client->limiter(config(Algorithm::TokenBucket, 10, 1000));  // 1 token / 100 ms
  expect_result(hit(*l, "a", 10), true, 0, 1000, 0);
  expect_result(hit(*l, "a"), false, 0, 1000, 100);
  clock->advance(250);  // 2.5 tokens
  expect_result(hit(*l, "a", 3), false, 2, 750, 50);
  expect_result(hit(*l, "a", 2), true, 0, 950, 0);
  clock->advance(50);  // 0.5 + 0.5 = 1 token
  expect_result(hit(*l, "a"), true, 0, 1000, 0);
}

TEST_F(LimiterTest, GcraMatchesTheContinuousBucket) {
  auto l = client->limiter(config(Algorithm::Gcra, 10, 1000));  // T = 100 ms, burst 10
  expect_result(hit(*l, "a", 10), true, 0, 1000, 0);
  expect_result(hit(*l, "a"), false, 0, 1000, 100);
  clock->advance(250);
  expect_result(hit(*l, "a", 3), false, 2, 750, 50);
  expect_result(hit(*l, "a", 2), true, 0, 950, 0);
}

TEST_F(LimiterTest, GcraKeepsSubMillisecondEmissionIntervalsExact) {
  // T = 1000/3 ms: three hits at once, then one token every 333.33 ms.
  auto l = client->limiter(config(Algorithm::Gcra, 3, 1000));
  expect_result(hit(*l, "a", 3), true, 0, 1000, 0);
  expect_result(hit(*l, "a"), false, 0, 1000, 334);  // ceil(1000/3)
  clock->advance(333);
  EXPECT_FALSE(hit(*l, "a").allowed);  // 333 ms < 333.33 ms
  clock->advance(1);
  expect_result(hit(*l, "a"), true, 0, 1000, 0);  // debt back to exactly 3*1000 units
}

TEST_F(LimiterTest, RejectedHitsConsumeNothingInEveryAlgorithm) {
  for (Algorithm a : {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::SlidingLog,
                      Algorithm::TokenBucket, Algorithm::Gcra}) {
    SCOPED_TRACE(algorithm_name(a));
    auto l = client->limiter(config(a, 5, 60'000, 0, algorithm_name(a)));
    EXPECT_TRUE(hit(*l, "k", 4).allowed);
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(hit(*l, "k", 2).allowed);
    const LimitResult one = hit(*l, "k", 1);
    EXPECT_TRUE(one.allowed);
    EXPECT_EQ(one.remaining, 0);
  }
}

TEST_F(LimiterTest, KeysAreIndependent) {
  for (Algorithm a : {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::SlidingLog,
                      Algorithm::TokenBucket, Algorithm::Gcra}) {
    SCOPED_TRACE(algorithm_name(a));
    auto l = client->limiter(config(a, 2, 1000, 0, algorithm_name(a)));
    EXPECT_TRUE(hit(*l, "x", 2).allowed);
    EXPECT_FALSE(hit(*l, "x").allowed);
    EXPECT_EQ(hit(*l, "y").remaining, 1);
  }
}

TEST_F(LimiterTest, LimitersWithDifferentNamesDoNotShareState) {
  auto a = client->limiter(config(Algorithm::FixedWindow, 1, 1000, 0, "a"));
  auto b = client->limiter(config(Algorithm::FixedWindow, 1, 1000, 0, "b"));
  EXPECT_TRUE(hit(*a, "k").allowed);
  EXPECT_TRUE(hit(*b, "k").allowed);
  EXPECT_FALSE(hit(*a, "k").allowed);
}

}  // namespace
}  // namespace redkeeper
