// The limiter on Redis under contention and failure: many clients and threads hitting one key admit
// exactly the limit (server TIME, no injected clock), and a stopped server gets the configured
// failure policy (open: allowed + degraded; raise: the typed error; closed: denied + degraded).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "limiter/limiter_math.hpp"
#include "redis_harness.hpp"
#include "test_helpers.hpp"

namespace redkeeper {
namespace {

using testing::open_redis;
using testing::RedisServer;

constexpr Algorithm kAlgorithms[] = {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::SlidingLog,
                                     Algorithm::TokenBucket, Algorithm::Gcra};

// A window so long that nothing refills and no aligned window boundary falls inside the test
// (sliding_window aligns windows to the epoch: the next boundary of a ~10-year window is in 2030).
constexpr int64_t kLongWindowMs = limiter_math::kMaxDurationMs;

TEST(RedisLimiterConcurrency, ManyClientsAndThreadsAdmitExactlyTheLimit) {
  RedisServer server;
  constexpr int kClients = 4;
  constexpr int kThreadsPerClient = 3;
  constexpr int kHitsPerThread = 120;  // all in flight at once: pipelined, interleaved on the server
  constexpr int64_t kLimit = 500;
  constexpr int kTotal = kClients * kThreadsPerClient * kHitsPerThread;
  static_assert(kTotal > kLimit, "the test must overrun the limit");

  for (Algorithm algorithm : kAlgorithms) {
    SCOPED_TRACE(algorithm_name(algorithm));
    ClientOptions options;
    options.prefix = std::string("cc-") + algorithm_name(algorithm);
    options.command_timeout_ms = 10'000;
    std::vector<std::shared_ptr<RedisClient>> clients;
    std::vector<std::shared_ptr<Limiter>> limiters;
    for (int c = 0; c < kClients; ++c) {
      clients.push_back(open_redis(server.url(), options));
      limiters.push_back(clients.back()->limiter(testing::config(algorithm, kLimit, kLongWindowMs, 0, "hot")));
    }
    std::atomic<int> allowed{0}, rejected{0}, failed{0};
    testing::Settled settled;
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
      for (int t = 0; t < kThreadsPerClient; ++t) {
        threads.emplace_back([&, c] {
          while (!go.load()) std::this_thread::yield();
          for (int i = 0; i < kHitsPerThread; ++i) {
            settled.add();
            limiters[c]->hit("one-key", 1, [&](Result<LimitResult> r) {
              if (!r.ok() || r.value().degraded) {
                failed++;
              } else if (r.value().allowed) {
                allowed++;
              } else {
                rejected++;
              }
              settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
            });
          }
        });
      }
    }
    go = true;
    for (auto& t : threads) t.join();
    ASSERT_TRUE(settled.wait(60)) << settled.settled() << " of " << kTotal << " settled";
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(allowed.load(), kLimit);
    EXPECT_EQ(rejected.load(), kTotal - kLimit);
    const LimitResult after = testing::peek(*limiters[0], "one-key");
    EXPECT_FALSE(after.allowed);
    EXPECT_EQ(after.remaining, 0);
    for (auto& client : clients) client->close();
  }
}

// Cost > 1 under contention: admitted units never exceed the limit and fill it exactly when every
// hit costs the same divisor of the limit.
TEST(RedisLimiterConcurrency, WeightedHitsFillTheLimitExactly) {
  RedisServer server;
  constexpr int64_t kLimit = 300;
  constexpr int64_t kCost = 3;
  for (Algorithm algorithm : kAlgorithms) {
    SCOPED_TRACE(algorithm_name(algorithm));
    ClientOptions options;
    options.prefix = std::string("cw-") + algorithm_name(algorithm);
    options.command_timeout_ms = 10'000;
    auto a = open_redis(server.url(), options);
    auto b = open_redis(server.url(), options);
    auto la = a->limiter(testing::config(algorithm, kLimit, kLongWindowMs, 0, "w"));
    auto lb = b->limiter(testing::config(algorithm, kLimit, kLongWindowMs, 0, "w"));
    std::atomic<int64_t> units{0};
    std::atomic<int> failed{0};
    testing::Settled settled;
    auto fire = [&](Limiter& limiter) {
      for (int i = 0; i < 150; ++i) {
        settled.add();
        limiter.hit("k", kCost, [&](Result<LimitResult> r) {
          if (!r.ok() || r.value().degraded) {
            failed++;
          } else if (r.value().allowed) {
            units += kCost;
          }
          settled.done(ErrorCode::Internal, r.ok());
        });
      }
    };
    std::thread ta([&] { fire(*la); });
    std::thread tb([&] { fire(*lb); });
    ta.join();
    tb.join();
    ASSERT_TRUE(settled.wait(60));
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(units.load(), kLimit);
  }
}

struct PolicyLimiters {
  std::shared_ptr<Limiter> open, raise, closed;
};

PolicyLimiters make_policy_limiters(Client& client, Algorithm algorithm) {
  auto with = [&](FailurePolicy policy, const char* name) {
    LimiterConfig cfg = testing::config(algorithm, 7, 60'000, 0, name);
    cfg.on_error = policy;
    return client.limiter(cfg);
  };
  return {with(FailurePolicy::Open, "open"), with(FailurePolicy::Raise, "raise"),
          with(FailurePolicy::Closed, "closed")};
}

bool is_store_failure(ErrorCode code) { return code == ErrorCode::Connection || code == ErrorCode::Timeout; }

TEST(RedisLimiterFailure, StoppedServerGetsThePolicyAndRecovers) {
  RedisServer server;
  ClientOptions options;
  options.command_timeout_ms = 300;
  options.connect_timeout_ms = 200;
  options.reconnect_min_ms = 20;
  options.reconnect_max_ms = 100;
  auto client = open_redis(server.url(), options);
  for (Algorithm algorithm : kAlgorithms) {
    SCOPED_TRACE(algorithm_name(algorithm));
    if (!server.running()) server.start();
    const PolicyLimiters l = make_policy_limiters(*client, algorithm);
    // Up: answered by the store (waits out a reconnect after the previous round's restart).
    LimitResult up;
    for (int i = 0; i < 100; ++i) {
      auto r = testing::await_result<LimitResult>([&](auto cb) { l.open->hit("k", 1, cb); });
      ASSERT_TRUE(r.ok()) << r.error().what();
      up = r.value();
      if (!up.degraded) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_FALSE(up.degraded);
    EXPECT_TRUE(up.allowed);
    EXPECT_EQ(up.remaining, 6);

    server.stop();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
      auto open_hit = testing::await_result<LimitResult>([&](auto cb) { l.open->hit("k", 1, cb); });
      ASSERT_TRUE(open_hit.ok()) << open_hit.error().what();
      EXPECT_TRUE(open_hit.value().allowed);
      EXPECT_TRUE(open_hit.value().degraded);
      EXPECT_EQ(open_hit.value().limit, 7);
      EXPECT_EQ(open_hit.value().remaining, 7);
      for (auto r : {testing::await_result<LimitResult>([&](auto cb) { l.open->peek("k", cb); }),
                     testing::await_result<LimitResult>([&](auto cb) { l.open->refund("k", 1, cb); }),
                     testing::await_result<LimitResult>([&](auto cb) { l.open->block("k", 100, cb); })}) {
        ASSERT_TRUE(r.ok()) << r.error().what();
        EXPECT_TRUE(r.value().degraded);
      }

      auto raised = testing::await_result<LimitResult>([&](auto cb) { l.raise->hit("k", 1, cb); });
      ASSERT_FALSE(raised.ok());
      EXPECT_TRUE(is_store_failure(raised.error().code())) << error_code_name(raised.error().code());

      auto denied = testing::await_result<LimitResult>([&](auto cb) { l.closed->hit("k", 1, cb); });
      ASSERT_TRUE(denied.ok()) << denied.error().what();
      EXPECT_FALSE(denied.value().allowed);
      EXPECT_TRUE(denied.value().degraded);

      // reset has no answer to give on the store's behalf: its failure always surfaces.
      auto reset = testing::await_result<Unit>([&](auto cb) { l.open->reset("k", cb); });
      ASSERT_FALSE(reset.ok());
      EXPECT_TRUE(is_store_failure(reset.error().code()));
    }
    // Each op settles within its timeout, not later.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  }
}

// A busy server (a long-running script) is unavailability too: fail open, not a script error.
TEST(RedisLimiterFailure, BusyServerCountsAsUnavailable) {
  testing::RedisServerOptions server_options;
  server_options.extra_args = {"--busy-reply-threshold", "50"};
  RedisServer server(server_options);
  ClientOptions options;
  options.command_timeout_ms = 2000;
  auto client = open_redis(server.url(), options);
  auto other = open_redis(server.url(), options);
  auto probe = open_redis(server.url(), options);
  const PolicyLimiters l = make_policy_limiters(*client, Algorithm::FixedWindow);
  EXPECT_FALSE(testing::hit(*l.open, "k").degraded);
  ASSERT_TRUE(testing::call(*other, {"PING"}).ok());  // connected: the script starts when sent
  ASSERT_TRUE(testing::call(*probe, {"PING"}).ok());
  // Keep the server inside a script for ~1 s, from another connection.
  auto spin = std::make_shared<std::promise<Result<Reply>>>();
  auto spin_done = spin->get_future();
  other->command({"EVAL", "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
                          "while true do local n = redis.call('TIME') "
                          "if n[1] * 1000000 + n[2] - s > 1000000 then break end end return 1",
                  "0"},
                 [spin](Result<Reply> r) { spin->set_value(std::move(r)); });
  // Until a third connection's PING is answered BUSY (the script has run past the 50 ms
  // threshold): a fixed sleep could end before a slow machine had even started the script. The
  // two hits below then have the script's remaining ~900 ms to meet it.
  const bool busy = testing::eventually([&] {
    Result<Reply> r = testing::call(*probe, {"PING"});
    return !r.ok() && std::string(r.error().what()).rfind("BUSY", 0) == 0;
  }, 5000, 2);
  ASSERT_TRUE(busy) << "the server never reported BUSY";
  auto open_hit = testing::await_result<LimitResult>([&](auto cb) { l.open->hit("k", 1, cb); });
  ASSERT_TRUE(open_hit.ok()) << open_hit.error().what();
  EXPECT_TRUE(open_hit.value().degraded);
  auto raised = testing::await_result<LimitResult>([&](auto cb) { l.raise->hit("k", 1, cb); });
  ASSERT_FALSE(raised.ok());
  EXPECT_EQ(raised.error().code(), ErrorCode::Script);
  EXPECT_EQ(std::string(raised.error().what()).rfind("BUSY", 0), 0u) << raised.error().what();
  ASSERT_TRUE(testing::wait_for(spin_done).ok());
  EXPECT_FALSE(testing::hit(*l.open, "k").degraded);
}

}  // namespace
}  // namespace redkeeper
