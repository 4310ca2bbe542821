// The local block cache: the LRU itself on a ManualClock, the decorator's invalidation, and on Redis
// that an attacked key stops reaching the server (INFO commandstats) while answers stay right,
// including the whole shared limiter vectors run with a cache on every limiter.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "limiter/block_cache.hpp"
#include "redis_harness.hpp"
#include "test_helpers.hpp"
#include "vector_runner.hpp"

namespace redkeeper {
namespace {

using testing::open_redis;
using testing::RedisServer;

LimitResult rejection(int64_t retry_ms, int64_t reset_ms, int64_t remaining = 0) {
  LimitResult r;
  r.allowed = false;
  r.limit = 10;
  r.remaining = remaining;
  r.retry_after_ms = retry_ms;
  r.reset_after_ms = reset_ms;
  return r;
}

TEST(BlockCache, AnswersUntilRetryAfterCountingDownOnTheClock) {
  auto clock = std::make_shared<ManualClock>();
  BlockCache cache(4, clock);
  LimitResult out;
  EXPECT_FALSE(cache.lookup("k", 1, out));
  cache.note("k", 1, rejection(1000, 3000, 0));
  ASSERT_TRUE(cache.lookup("k", 1, out));
  EXPECT_FALSE(out.allowed);
  EXPECT_EQ(out.retry_after_ms, 1000);
  EXPECT_EQ(out.reset_after_ms, 3000);
  EXPECT_EQ(out.limit, 10);
  clock->advance(400);
  ASSERT_TRUE(cache.lookup("k", 1, out));
  EXPECT_EQ(out.retry_after_ms, 600);
  EXPECT_EQ(out.reset_after_ms, 2600);
  clock->advance(600);
  EXPECT_FALSE(cache.lookup("k", 1, out));  // due: the store decides again
  EXPECT_EQ(cache.size(), 0u);
}

TEST(BlockCache, OnlyTheRejectedCostIsAnswered) {
  auto clock = std::make_shared<ManualClock>();
  BlockCache cache(4, clock);
  LimitResult out;
  cache.note("k", 3, rejection(500, 500, 2));
  EXPECT_FALSE(cache.lookup("k", 2, out));  // two units may well be there
  EXPECT_FALSE(cache.lookup("k", 5, out));  // rejected too, but its retry_after may be longer
  ASSERT_TRUE(cache.lookup("k", 3, out));
  EXPECT_EQ(out.remaining, 2);
}

TEST(BlockCache, IgnoresAdmissionsDegradedAndRetrylessAnswersAndForgetsOnAdmission) {
  auto clock = std::make_shared<ManualClock>();
  BlockCache cache(4, clock);
  LimitResult out;
  LimitResult degraded = rejection(1000, 1000);
  degraded.degraded = true;
  cache.note("a", 1, degraded);
  cache.note("b", 1, rejection(0, 0));
  EXPECT_EQ(cache.size(), 0u);
  cache.note("c", 2, rejection(1000, 1000));
  LimitResult admitted;
  admitted.allowed = true;
  cache.note("c", 1, admitted);
  EXPECT_FALSE(cache.lookup("c", 2, out));
}

TEST(BlockCache, EvictsTheLeastRecentlyUsedBeyondCapacity) {
  auto clock = std::make_shared<ManualClock>();
  BlockCache cache(2, clock);
  LimitResult out;
  cache.note("a", 1, rejection(1000, 1000));
  cache.note("b", 1, rejection(1000, 1000));
  ASSERT_TRUE(cache.lookup("a", 1, out));  // a is now the most recent
  cache.note("c", 1, rejection(1000, 1000));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.lookup("a", 1, out));
  EXPECT_FALSE(cache.lookup("b", 1, out));
  EXPECT_TRUE(cache.lookup("c", 1, out));
}

TEST(BlockCache, ConfigBoundIsValidated) {
  auto client = testing::memory_client(std::make_shared<ManualClock>());
  LimiterConfig config = testing::config(Algorithm::FixedWindow, 1, 1000);
  config.local_block_cache_size = kMaxLocalBlockCacheSize + 1;
  try {
    client->limiter(config);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("local_block_cache"), std::string::npos);
  }
}

// Forwards to a real client, giving every limiter a block cache.
class CachingClient final : public Client {
 public:
  explicit CachingClient(std::shared_ptr<Client> inner) : Client(inner->options()), inner_(std::move(inner)) {}
  std::shared_ptr<Limiter> limiter(LimiterConfig config) override {
    config.local_block_cache_size = 64;
    return inner_->limiter(std::move(config));
  }
  void hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done) override {
    inner_->hit_many(std::move(checks), std::move(done));
  }
  std::shared_ptr<Backend> backend() override { return inner_->backend(); }
  bool completes_inline() const override { return inner_->completes_inline(); }
  void ping(Callback<double> done) override { inner_->ping(std::move(done)); }
  Health health() const override { return inner_->health(); }
  Stats stats() const override { return inner_->stats(); }
  void close() override { inner_->close(); }
  bool closed() const override { return inner_->closed(); }

 private:
  std::shared_ptr<Client> inner_;
};

TEST(BlockCacheVectors, LimiterVectorsHoldWithACacheOnMemory) {
  const size_t ran = vectors::run_limiter_vectors([](std::shared_ptr<ManualClock> clock) -> std::shared_ptr<Client> {
    return std::make_shared<CachingClient>(testing::memory_client(std::move(clock)));
  });
  EXPECT_GE(ran, 40u);
}

class BlockCacheRedisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  static std::shared_ptr<RedisClient> open(std::shared_ptr<Clock> clock) {
    static std::atomic<int> counter{0};
    ClientOptions options;
    options.clock = std::move(clock);
    options.prefix = "bc" + std::to_string(counter++);
    return open_redis(server_->url(), options);
  }

  static int64_t evalsha_calls(RedisClient& client) {
    auto info = testing::call(client, {"INFO", "commandstats"});
    if (!info.ok()) throw info.error();
    const std::string text(info.value().as_string());
    const std::string tag = "cmdstat_evalsha:calls=";
    const size_t at = text.find(tag);
    return at == std::string::npos ? 0 : std::stoll(text.substr(at + tag.size()));
  }

  static std::unique_ptr<RedisServer> server_;
};

std::unique_ptr<RedisServer> BlockCacheRedisTest::server_;

TEST_F(BlockCacheRedisTest, LimiterVectorsHoldWithACache) {
  const size_t ran = vectors::run_limiter_vectors([](std::shared_ptr<ManualClock> clock) -> std::shared_ptr<Client> {
    return std::make_shared<CachingClient>(open(std::move(clock)));
  });
  EXPECT_GE(ran, 40u);
}

TEST_F(BlockCacheRedisTest, AnAttackedKeyStopsReachingRedis) {
  auto clock = std::make_shared<ManualClock>();
  auto client = open(clock);
  LimiterConfig config = testing::config(Algorithm::SlidingWindow, 5, 60'000, 0, "login");
  config.local_block_cache_size = 1000;
  auto cached = client->limiter(config);
  config.local_block_cache_size = 0;
  auto plain = client->limiter(config);  // the same state, never cached: the store's own answer
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(testing::hit(*cached, "attacker").allowed);
  ASSERT_TRUE(testing::call(*client, {"CONFIG", "RESETSTAT"}).ok());
  const LimitResult first = testing::hit(*cached, "attacker");  // the store rejects: cached now
  ASSERT_FALSE(first.allowed);
  ASSERT_GT(first.retry_after_ms, 0);
  for (int i = 0; i < 1000; ++i) {
    clock->advance(first.retry_after_ms / 2000 > 0 ? first.retry_after_ms / 2000 : 0);
    LimitResult inline_result;
    ASSERT_TRUE(cached->hit_inline("attacker", 1, inline_result));  // answered without the network
    EXPECT_FALSE(inline_result.allowed);
  }
  const LimitResult later = testing::hit(*cached, "attacker");
  EXPECT_EQ(evalsha_calls(*client), 1);  // only the first rejection went to Redis
  const LimitResult truth = testing::hit(*plain, "attacker");
  EXPECT_EQ(later.allowed, truth.allowed);
  EXPECT_EQ(later.retry_after_ms, truth.retry_after_ms);
  EXPECT_EQ(later.limit, truth.limit);
  EXPECT_EQ(later.remaining, truth.remaining);
  // Other keys are unaffected, and once retry_after has passed the store is asked again.
  EXPECT_TRUE(testing::hit(*cached, "someone-else").allowed);
  clock->advance(later.retry_after_ms);
  EXPECT_TRUE(testing::hit(*cached, "attacker").allowed);
  EXPECT_EQ(evalsha_calls(*client), 4);
}

TEST_F(BlockCacheRedisTest, ResetRefundAndBlockForgetTheKey) {
  auto clock = std::make_shared<ManualClock>();
  auto client = open(clock);
  LimiterConfig config = testing::config(Algorithm::FixedWindow, 1, 60'000, 0, "k");
  config.local_block_cache_size = 10;
  auto limiter = client->limiter(config);
  ASSERT_TRUE(testing::hit(*limiter, "a").allowed);
  ASSERT_FALSE(testing::hit(*limiter, "a").allowed);  // cached
  testing::reset(*limiter, "a");
  EXPECT_TRUE(testing::hit(*limiter, "a").allowed);
  ASSERT_FALSE(testing::hit(*limiter, "a").allowed);
  EXPECT_TRUE(testing::refund(*limiter, "a", 1).allowed);
  EXPECT_TRUE(testing::hit(*limiter, "a").allowed);
  ASSERT_FALSE(testing::hit(*limiter, "a").allowed);
  auto blocked = testing::block(*limiter, "a", 90'000);
  EXPECT_EQ(blocked.retry_after_ms, 90'000);
  EXPECT_EQ(testing::hit(*limiter, "a").retry_after_ms, 90'000);  // the store's block, not the stale entry
}

TEST_F(BlockCacheRedisTest, HitManyIsAnsweredLocallyOnceAKeyIsCached) {
  auto clock = std::make_shared<ManualClock>();
  auto client = open(clock);
  LimiterConfig strict_cfg = testing::config(Algorithm::FixedWindow, 1, 60'000, 0, "strict");
  strict_cfg.local_block_cache_size = 10;
  auto strict = client->limiter(strict_cfg);
  auto loose = client->limiter(testing::config(Algorithm::FixedWindow, 100, 60'000, 0, "loose"));
  auto run = [&] {
    return testing::value_or_throw(testing::await_result<MultiLimitResult>(
        [&](auto cb) { client->hit_many({{loose, "ip"}, {strict, "ip"}}, cb); }));
  };
  ASSERT_TRUE(run().allowed);
  auto rejected = run();  // the store rejects strict and caches it
  ASSERT_FALSE(rejected.allowed);
  EXPECT_FALSE(rejected.results[1].degraded);
  ASSERT_TRUE(testing::call(*client, {"CONFIG", "RESETSTAT"}).ok());
  auto local = run();
  EXPECT_FALSE(local.allowed);
  EXPECT_EQ(local.deciding, 1u);
  EXPECT_EQ(local.results[1].retry_after_ms, rejected.results[1].retry_after_ms);
  EXPECT_TRUE(local.results[0].degraded);  // not evaluated: the store was not asked
  EXPECT_EQ(evalsha_calls(*client), 0);
  EXPECT_EQ(testing::peek(*loose, "ip").remaining, 99);  // the rejected requests took nothing
  // A single hit through the same limiter shares the cache.
  EXPECT_FALSE(testing::hit(*strict, "ip").allowed);
  EXPECT_EQ(evalsha_calls(*client), 1);  // just the peek
}

}  // namespace
}  // namespace redkeeper
