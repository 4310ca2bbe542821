// The limiter on Redis against the memory backend: the shared vectors with unchanged expected values,
// parity on random op sequences, the key layout and retention, one EVALSHA per op, NOSCRIPT
// recovery, and bad input rejected before anything is sent.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/keys.hpp"
#include "limiter/limiter_math.hpp"
#include "redis_harness.hpp"
#include "test_helpers.hpp"
#include "vector_runner.hpp"

namespace redkeeper {
namespace {

using testing::call;
using testing::open_redis;
using testing::RedisServer;

constexpr Algorithm kAlgorithms[] = {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::SlidingLog,
                                     Algorithm::TokenBucket, Algorithm::Gcra};

class RedisLimiterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  // A client on the suite's server; every call gets its own key prefix unless one is given.
  static std::shared_ptr<RedisClient> open(std::shared_ptr<Clock> clock = nullptr, std::string prefix = "") {
    static std::atomic<int> counter{0};
    ClientOptions options;
    options.clock = std::move(clock);
    options.prefix = prefix.empty() ? "t" + std::to_string(counter++) : prefix;
    return open_redis(server_->url(), options);
  }

  // `calls` of one command in INFO commandstats (0 when it has not run since CONFIG RESETSTAT).
  static int64_t command_calls(RedisClient& client, const std::string& command) {
    auto info = call(client, {"INFO", "commandstats"});
    if (!info.ok()) throw info.error();
    const std::string text(info.value().as_string());
    const std::string tag = "cmdstat_" + command + ":calls=";
    const size_t at = text.find(tag);
    if (at == std::string::npos) return 0;
    return std::stoll(text.substr(at + tag.size()));
  }

  static void reset_stats(RedisClient& client) { ASSERT_TRUE(call(client, {"CONFIG", "RESETSTAT"}).ok()); }

  static int64_t exists(RedisClient& client, const std::string& key) {
    return call(client, {"EXISTS", key}).value().as_integer();
  }
  static int64_t pttl(RedisClient& client, const std::string& key) {
    return call(client, {"PTTL", key}).value().as_integer();
  }

  static std::unique_ptr<RedisServer> server_;
};

std::unique_ptr<RedisServer> RedisLimiterTest::server_;

// Same outcome on both backends: the same error code, or the same five fields.
void expect_same(const Result<LimitResult>& memory, const Result<LimitResult>& redis) {
  ASSERT_EQ(memory.ok(), redis.ok()) << (memory.ok() ? redis.error().what() : memory.error().what());
  if (!memory.ok()) {
    EXPECT_EQ(memory.error().code(), redis.error().code());
    return;
  }
  const LimitResult& m = memory.value();
  const LimitResult& r = redis.value();
  EXPECT_EQ(m.allowed, r.allowed);
  EXPECT_EQ(m.limit, r.limit);
  EXPECT_EQ(m.remaining, r.remaining);
  EXPECT_EQ(m.reset_after_ms, r.reset_after_ms);
  EXPECT_EQ(m.retry_after_ms, r.retry_after_ms);
  EXPECT_FALSE(r.degraded);
}

TEST_F(RedisLimiterTest, SharedVectorsPassWithTheSameExpectedValues) {
  const size_t ran = vectors::run_limiter_vectors(
      [](std::shared_ptr<ManualClock> clock) -> std::shared_ptr<Client> { return open(std::move(clock)); });
  EXPECT_GE(ran, 40u);
}

// Random op sequences on one ManualClock, memory and Redis side by side: every answer identical.
// Covers what the hand-written vectors do not: long gaps, big costs, refunds past zero, rollovers.
TEST_F(RedisLimiterTest, MatchesMemoryOnRandomSequences) {
  const uint64_t seed = 20240611;
  std::mt19937_64 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const int64_t limits[] = {1, 2, 3, 5, 10, 100};
  const int64_t windows[] = {1, 7, 100, 1000, 60'000};
  for (Algorithm algorithm : kAlgorithms) {
    for (int round = 0; round < 6; ++round) {
      auto clock = std::make_shared<ManualClock>(1'700'000'000'000 + pick(0, 999'999));
      auto memory = testing::memory_client(clock);
      auto redis = open(clock);
      LimiterConfig cfg = testing::config(algorithm, limits[pick(0, 5)], windows[pick(0, 4)],
                                          pick(0, 3) == 0 ? pick(1, 3000) : 0, "rnd");
      auto m = memory->limiter(cfg);
      auto r = redis->limiter(cfg);
      for (int step = 0; step < 120 && !HasFailure(); ++step) {
        SCOPED_TRACE(std::string(algorithm_name(algorithm)) + " limit=" + std::to_string(cfg.limit) +
                     " window=" + std::to_string(cfg.window_ms) + " block=" + std::to_string(cfg.block_duration_ms) +
                     " seed=" + std::to_string(seed) + " round=" + std::to_string(round) +
                     " step=" + std::to_string(step));
        const std::string key = pick(0, 3) == 0 ? "b" : "a";
        const int64_t dice = pick(0, 99);
        if (dice < 45) {
          const int64_t cost = pick(0, 9) == 0 ? pick(0, cfg.limit + 1) : pick(1, std::min<int64_t>(cfg.limit, 3));
          expect_same(testing::await_result<LimitResult>([&](auto cb) { m->hit(key, cost, cb); }),
                      testing::await_result<LimitResult>([&](auto cb) { r->hit(key, cost, cb); }));
        } else if (dice < 60) {
          expect_same(testing::await_result<LimitResult>([&](auto cb) { m->peek(key, cb); }),
                      testing::await_result<LimitResult>([&](auto cb) { r->peek(key, cb); }));
        } else if (dice < 70) {
          const int64_t amount = pick(0, cfg.limit + 2);
          expect_same(testing::await_result<LimitResult>([&](auto cb) { m->refund(key, amount, cb); }),
                      testing::await_result<LimitResult>([&](auto cb) { r->refund(key, amount, cb); }));
        } else if (dice < 73) {
          const int64_t ms = pick(1, 3000);
          expect_same(testing::await_result<LimitResult>([&](auto cb) { m->block(key, ms, cb); }),
                      testing::await_result<LimitResult>([&](auto cb) { r->block(key, ms, cb); }));
        } else if (dice < 75) {
          testing::reset(*m, key);
          testing::reset(*r, key);
        } else if (dice < 97) {
          clock->advance(pick(0, cfg.window_ms + cfg.window_ms / 2));
        } else {
          clock->advance(pick(0, 20 * cfg.window_ms + 5000));
        }
      }
      redis->close();
      memory->close();
    }
  }
}

// A limiter renamed to another algorithm under the same name starts afresh on both backends
// (Redis: no WRONGTYPE between the string states and sliding_log's list).
TEST_F(RedisLimiterTest, AnotherAlgorithmUnderTheSameNameStartsAfresh) {
  for (Algorithm first : kAlgorithms) {
    for (Algorithm second : kAlgorithms) {
      if (first == second) continue;
      SCOPED_TRACE(std::string(algorithm_name(first)) + " then " + algorithm_name(second));
      auto clock = std::make_shared<ManualClock>();
      auto memory = testing::memory_client(clock);
      auto redis = open(clock);
      auto m1 = memory->limiter(testing::config(first, 3, 1000, 0, "swap"));
      auto r1 = redis->limiter(testing::config(first, 3, 1000, 0, "swap"));
      auto m2 = memory->limiter(testing::config(second, 3, 1000, 0, "swap"));
      auto r2 = redis->limiter(testing::config(second, 3, 1000, 0, "swap"));
      for (auto& [m, r] : {std::pair{m1, r1}, std::pair{m1, r1}, std::pair{m2, r2}, std::pair{m1, r1},
                           std::pair{m2, r2}}) {
        expect_same(testing::await_result<LimitResult>([&](auto cb) { m->hit("k", 1, cb); }),
                    testing::await_result<LimitResult>([&](auto cb) { r->hit("k", 1, cb); }));
        clock->advance(10);
        expect_same(testing::await_result<LimitResult>([&](auto cb) { m->peek("k", cb); }),
                    testing::await_result<LimitResult>([&](auto cb) { r->peek("k", cb); }));
        expect_same(testing::await_result<LimitResult>([&](auto cb) { m->refund("k", 1, cb); }),
                    testing::await_result<LimitResult>([&](auto cb) { r->refund("k", 1, cb); }));
        expect_same(testing::await_result<LimitResult>([&](auto cb) { m->hit("k", 2, cb); }),
                    testing::await_result<LimitResult>([&](auto cb) { r->hit("k", 2, cb); }));
      }
      redis->close();
    }
  }
}

// Without an injected clock the scripts read the server's TIME: a fresh window lasts exactly W.
TEST_F(RedisLimiterTest, UsesServerTimeWithoutAnInjectedClock) {
  auto client = open();
  for (Algorithm algorithm : kAlgorithms) {
    SCOPED_TRACE(algorithm_name(algorithm));
    auto limiter = client->limiter(testing::config(algorithm, 4, 60'000, 0, "time"));
    const LimitResult first = testing::hit(*limiter, "k", 4);
    EXPECT_TRUE(first.allowed);
    EXPECT_EQ(first.remaining, 0);
    // Full again one window after the hit. sliding_window: the rest of the aligned window e, then
    // until the weighted count of 4 drops to 0, W - floor((W - 1) / 4) = 45001 ms into the next.
    if (algorithm == Algorithm::SlidingWindow) {
      EXPECT_GT(first.reset_after_ms, 45'001);
      EXPECT_LE(first.reset_after_ms, 105'001);
    } else {
      EXPECT_EQ(first.reset_after_ms, 60'000);
    }
    const LimitResult second = testing::hit(*limiter, "k");
    EXPECT_FALSE(second.allowed);
    EXPECT_GT(second.retry_after_ms, 0);
    EXPECT_LE(second.retry_after_ms, 120'000);
  }
}

TEST_F(RedisLimiterTest, KeysFollowTheLayoutShareASlotAndCarryTtls) {
  auto client = open(nullptr, "lay");
  auto limiter = client->limiter(testing::config(Algorithm::FixedWindow, 5, 60'000, 0, "api"));
  testing::hit(*limiter, "user:1");
  EXPECT_EQ(exists(*client, "lay:limiter:api:{user:1}"), 1);
  EXPECT_EQ(exists(*client, "lay:limiter:api:{user:1}:block"), 0);
  const int64_t state_ttl = pttl(*client, "lay:limiter:api:{user:1}");
  EXPECT_GT(state_ttl, 59'000);
  EXPECT_LE(state_ttl, 60'001);
  testing::block(*limiter, "user:1", 30'000);
  const int64_t block_ttl = pttl(*client, "lay:limiter:api:{user:1}:block");
  EXPECT_GT(block_ttl, 29'000);
  EXPECT_LE(block_ttl, 30'001);
  EXPECT_EQ(key_slot("lay:limiter:api:{user:1}"), key_slot("lay:limiter:api:{user:1}:block"));
  testing::reset(*limiter, "user:1");
  EXPECT_EQ(exists(*client, "lay:limiter:api:{user:1}"), 0);
  EXPECT_EQ(exists(*client, "lay:limiter:api:{user:1}:block"), 0);

  // Ids are any bytes up to 1 KiB, braces and NULs included.
  const std::string odd("a}b{c\0d", 7);
  const std::string longest(1024, 'x');
  for (const std::string& id : {odd, longest}) {
    const LimitResult r = testing::hit(*limiter, id, 2);
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.remaining, 3);
    EXPECT_EQ(testing::peek(*limiter, id).remaining, 3);
    EXPECT_EQ(exists(*client, limiter_key("lay", "api", id)), 1);
  }
}

// Idle keys vanish once the allowance is full again (no block), for every algorithm.
TEST_F(RedisLimiterTest, IdleKeysExpire) {
  auto client = open(nullptr, "ret");
  for (Algorithm algorithm : kAlgorithms) {
    SCOPED_TRACE(algorithm_name(algorithm));
    auto limiter = client->limiter(testing::config(algorithm, 3, 150, 0, "idle"));
    const std::string state = limiter_key("ret", "idle", "k");
    const std::string block = limiter_block_key("ret", "idle", "j");
    // token_bucket and gcra keep one used token's state for only ~51 ms (W/limit + pad), too short
    // for separate round trips on a busy machine: the hit, the block and both EXISTS go out corked,
    // in one write, and the server runs them back to back. The warm-up loads this algorithm's
    // script first: a NOSCRIPT's EVAL resend would otherwise reach the server after the EXISTS.
    testing::hit(*limiter, "warm");
    auto hit_done = std::make_shared<std::promise<Result<LimitResult>>>();
    auto block_done = std::make_shared<std::promise<Result<LimitResult>>>();
    auto state_seen = std::make_shared<std::promise<Result<Reply>>>();
    auto block_seen = std::make_shared<std::promise<Result<Reply>>>();
    auto hit_f = hit_done->get_future();
    auto block_f = block_done->get_future();
    auto state_f = state_seen->get_future();
    auto block_seen_f = block_seen->get_future();
    client->cork();
    limiter->hit("k", 1, [hit_done](Result<LimitResult> r) { hit_done->set_value(std::move(r)); });
    limiter->block("j", 100, [block_done](Result<LimitResult> r) { block_done->set_value(std::move(r)); });
    client->command({"EXISTS", state}, [state_seen](Result<Reply> r) { state_seen->set_value(std::move(r)); });
    client->command({"EXISTS", block}, [block_seen](Result<Reply> r) { block_seen->set_value(std::move(r)); });
    client->uncork();
    auto hit_r = testing::wait_for(hit_f);
    auto block_r = testing::wait_for(block_f);
    auto state_r = testing::wait_for(state_f);
    auto block_seen_r = testing::wait_for(block_seen_f);
    ASSERT_TRUE(hit_r.ok()) << hit_r.error().what();
    EXPECT_TRUE(hit_r.value().allowed);
    ASSERT_TRUE(block_r.ok()) << block_r.error().what();
    ASSERT_TRUE(state_r.ok()) << state_r.error().what();
    ASSERT_TRUE(block_seen_r.ok()) << block_seen_r.error().what();
    EXPECT_EQ(state_r.value().as_integer(), 1);
    EXPECT_EQ(block_seen_r.value().as_integer(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(450));  // sliding_window: up to 2 W
    EXPECT_EQ(exists(*client, state), 0);
    EXPECT_EQ(exists(*client, block), 0);
    // A refund that brings the allowance back to full deletes the state at once.
    testing::hit(*limiter, "k", 2);
    testing::refund(*limiter, "k", 3);
    EXPECT_EQ(exists(*client, state), 0);
  }
}

// One round trip per op: after warm-up only EVALSHA reaches the server, never EVAL.
TEST_F(RedisLimiterTest, EveryOpIsOneEvalsha) {
  auto client = open();
  for (Algorithm algorithm : kAlgorithms) {
    SCOPED_TRACE(algorithm_name(algorithm));
    auto limiter = client->limiter(testing::config(algorithm, 10, 60'000, 1000, "rt"));
    testing::hit(*limiter, "warm");
    reset_stats(*client);
    constexpr int kRounds = 4;
    for (int i = 0; i < kRounds; ++i) {
      testing::hit(*limiter, "k", 3);
      testing::peek(*limiter, "k");
      testing::refund(*limiter, "k", 1);
      testing::block(*limiter, "k", 500);
      testing::reset(*limiter, "k");
    }
    EXPECT_EQ(command_calls(*client, "evalsha"), 5 * kRounds);
    EXPECT_EQ(command_calls(*client, "eval"), 0);
  }
}

// SCRIPT FLUSH (or a failover to a server without the script): the op still answers, through one
// EVAL, and the state it finds is intact; later ops are back on EVALSHA.
TEST_F(RedisLimiterTest, ScriptFlushFallsBackToEvalOnce) {
  auto client = open();
  for (Algorithm algorithm : kAlgorithms) {
    SCOPED_TRACE(algorithm_name(algorithm));
    auto limiter = client->limiter(testing::config(algorithm, 10, 60'000, 0, "flush"));
    EXPECT_EQ(testing::hit(*limiter, "k", 2).remaining, 8);
    ASSERT_TRUE(call(*client, {"SCRIPT", "FLUSH"}).ok());
    reset_stats(*client);
    const LimitResult after = testing::hit(*limiter, "k", 3);
    EXPECT_TRUE(after.allowed);
    EXPECT_EQ(after.remaining, 5);
    EXPECT_EQ(command_calls(*client, "eval"), 1);
    const LimitResult again = testing::hit(*limiter, "k");
    EXPECT_EQ(again.remaining, 4);
    EXPECT_EQ(command_calls(*client, "eval"), 1);
  }
}

// Bad input is an InvalidArgument naming the parameter, delivered through the callback, and
// nothing reaches the server.
TEST_F(RedisLimiterTest, BadInputIsRejectedBeforeTheWire) {
  auto client = open();
  auto limiter = client->limiter(testing::config(Algorithm::Gcra, 3, 1000, 0, "bad"));
  testing::hit(*limiter, "warm");
  reset_stats(*client);
  auto expect_invalid = [](const auto& result, const std::string& param) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(std::string(result.error().what()).rfind(param + ":", 0), 0u) << result.error().what();
  };
  const std::string too_long(1025, 'k');
  for (int64_t cost : {int64_t{0}, int64_t{-1}, int64_t{4}}) {
    expect_invalid(testing::await_result<LimitResult>([&](auto cb) { limiter->hit("k", cost, cb); }), "cost");
  }
  expect_invalid(testing::await_result<LimitResult>([&](auto cb) { limiter->hit("", 1, cb); }), "key");
  expect_invalid(testing::await_result<LimitResult>([&](auto cb) { limiter->hit(too_long, 1, cb); }), "key");
  expect_invalid(testing::await_result<LimitResult>([&](auto cb) { limiter->peek("", cb); }), "key");
  expect_invalid(testing::await_result<Unit>([&](auto cb) { limiter->reset(too_long, cb); }), "key");
  expect_invalid(testing::await_result<LimitResult>([&](auto cb) { limiter->refund("k", 0, cb); }), "amount");
  expect_invalid(testing::await_result<LimitResult>([&](auto cb) { limiter->block("k", 0, cb); }), "duration");
  expect_invalid(testing::await_result<LimitResult>(
                     [&](auto cb) { limiter->block("k", limiter_math::kMaxDurationMs + 1, cb); }),
                 "duration");
  EXPECT_EQ(command_calls(*client, "evalsha"), 0);
  EXPECT_EQ(command_calls(*client, "eval"), 0);
  // None of the rejected ops touched "k".
  EXPECT_EQ(testing::peek(*limiter, "k").remaining, 3);
}

TEST_F(RedisLimiterTest, ClosedClientSettlesWithClosed) {
  auto client = open();
  auto limiter = client->limiter(testing::config(Algorithm::FixedWindow, 3, 1000, 0, "closed"));
  testing::hit(*limiter, "k");
  client->close();
  auto r = testing::await_result<LimitResult>([&](auto cb) { limiter->hit("k", 1, cb); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Closed);
  client.reset();  // the limiter outlives its client and still settles
  auto later = testing::await_result<LimitResult>([&](auto cb) { limiter->peek("k", cb); });
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().code(), ErrorCode::Closed);
}

}  // namespace
}  // namespace redkeeper
