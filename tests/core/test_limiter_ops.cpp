// Limiter ops beyond hit: block (explicit and after a rejection), refund, reset, peek, state TTL,
// closed clients, concurrency on one key, and every bad-input case.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "limiter/limiter_math.hpp"
#include "store/memory_client.hpp"
#include "test_helpers.hpp"

namespace redkeeper {
namespace {

using testing::block;
using testing::config;
using testing::hit;
using testing::peek;
using testing::refund;
using testing::reset;

constexpr int64_t kStart = 1'700'000'000'000;
const Algorithm kAll[] = {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::SlidingLog,
                          Algorithm::TokenBucket, Algorithm::Gcra};

class LimiterOpsTest : public ::testing::Test {
 protected:
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(kStart);
  std::shared_ptr<Client> client = testing::memory_client(clock);
  MemoryStore& store() { return *std::static_pointer_cast<MemoryClient>(client)->store(); }
};

TEST_F(LimiterOpsTest, BlockDurationAfterRejection) {
  auto l = client->limiter(config(Algorithm::FixedWindow, 2, 1000, 5000));
  EXPECT_TRUE(hit(*l, "k").allowed);
  EXPECT_TRUE(hit(*l, "k").allowed);
  LimitResult r = hit(*l, "k");
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.retry_after_ms, 5000);
  EXPECT_EQ(r.reset_after_ms, 5000);
  clock->advance(1000);  // the window is over, the block is not
  r = hit(*l, "k");
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 4000);
  r = peek(*l, "k");
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.reset_after_ms, 4000);
  clock->advance(4000);
  r = hit(*l, "k");
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 1);
}

TEST_F(LimiterOpsTest, ExplicitBlockAndResetInEveryAlgorithm) {
  for (Algorithm a : kAll) {
    SCOPED_TRACE(algorithm_name(a));
    auto l = client->limiter(config(a, 3, 1000, 0, algorithm_name(a)));
    EXPECT_TRUE(hit(*l, "k").allowed);
    LimitResult r = block(*l, "k", 3000);
    EXPECT_FALSE(r.allowed);
    EXPECT_EQ(r.remaining, 0);
    EXPECT_EQ(r.retry_after_ms, 3000);
    EXPECT_EQ(r.reset_after_ms, 3000);
    clock->advance(1000);
    r = hit(*l, "k");
    EXPECT_FALSE(r.allowed);
    EXPECT_EQ(r.retry_after_ms, 2000);
    reset(*l, "k");  // clears the block too
    r = hit(*l, "k", 3);
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.remaining, 0);
    clock->advance(5000);
  }
}

TEST_F(LimiterOpsTest, BlockOnAnUnknownKeyStillBlocks) {
  auto l = client->limiter(config(Algorithm::TokenBucket, 3, 1000));
  block(*l, "fresh", 200);
  EXPECT_FALSE(hit(*l, "fresh").allowed);
  clock->advance(200);
  const LimitResult r = hit(*l, "fresh");
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 2);
}

TEST_F(LimiterOpsTest, RefundGivesBackUpToTheFullAllowance) {
  for (Algorithm a : kAll) {
    SCOPED_TRACE(algorithm_name(a));
    auto l = client->limiter(config(a, 5, 60'000, 0, algorithm_name(a)));
    EXPECT_TRUE(hit(*l, "k", 4).allowed);
    LimitResult r = refund(*l, "k", 2);
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.remaining, 3);
    r = refund(*l, "k", 100);  // capped: never above the limit
    EXPECT_EQ(r.remaining, 5);
    EXPECT_EQ(r.reset_after_ms, 0);
    EXPECT_EQ(hit(*l, "k", 5).remaining, 0);
    r = refund(*l, "unknown", 1);
    EXPECT_EQ(r.remaining, 5);
  }
}

TEST_F(LimiterOpsTest, PeekConsumesNothing) {
  for (Algorithm a : kAll) {
    SCOPED_TRACE(algorithm_name(a));
    auto l = client->limiter(config(a, 3, 1000, 0, algorithm_name(a)));
    LimitResult r = peek(*l, "k");
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.remaining, 3);
    EXPECT_EQ(r.reset_after_ms, 0);
    EXPECT_TRUE(hit(*l, "k", 2).allowed);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(peek(*l, "k").remaining, 1);
    EXPECT_TRUE(hit(*l, "k").allowed);
    r = peek(*l, "k");
    EXPECT_FALSE(r.allowed);
    EXPECT_EQ(r.remaining, 0);
    EXPECT_GT(r.retry_after_ms, 0);
    clock->advance(5000);
  }
}

TEST_F(LimiterOpsTest, IdleStateExpiresAndIsSwept) {
  for (Algorithm a : kAll) {
    SCOPED_TRACE(algorithm_name(a));
    auto l = client->limiter(config(a, 3, 1000, 0, algorithm_name(a)));
    const LimitResult r = hit(*l, "k");
    EXPECT_EQ(client->stats().keys, 1u);
    clock->advance(r.reset_after_ms - 1);
    EXPECT_EQ(store().sweep_expired(), 0u);
    EXPECT_EQ(client->stats().keys, 1u);
    clock->advance(1);
    EXPECT_EQ(store().sweep_expired(), 1u);
    EXPECT_EQ(client->stats().keys, 0u);
  }
}

TEST_F(LimiterOpsTest, StateThatIsFullAgainIsDropped) {
  auto l = client->limiter(config(Algorithm::Gcra, 3, 1000));
  hit(*l, "k");
  refund(*l, "k", 1);
  EXPECT_EQ(client->stats().keys, 0u);
  hit(*l, "k");
  reset(*l, "k");
  EXPECT_EQ(client->stats().keys, 0u);
}

TEST_F(LimiterOpsTest, ClosedClientRejectsOps) {
  auto l = client->limiter(config(Algorithm::FixedWindow, 3, 1000));
  client->close();
  client->close();  // idempotent
  EXPECT_TRUE(client->closed());
  EXPECT_FALSE(client->health().connected);
  auto r = testing::await_result<LimitResult>([&](auto cb) { l->hit("k", 1, cb); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Closed);
  LimitResult out;
  try {
    l->hit_inline("k", 1, out);
    ADD_FAILURE() << "hit_inline on a closed client must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Closed);
  }
  auto p = testing::await_result<double>([&](auto cb) { client->ping(cb); });
  EXPECT_FALSE(p.ok());
  try {
    client->limiter(config(Algorithm::FixedWindow, 3, 1000));
    ADD_FAILURE() << "limiter() on a closed client must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Closed);
  }
}

TEST_F(LimiterOpsTest, ClientReportsHealthAndStats) {
  EXPECT_TRUE(client->completes_inline());
  const Health h = client->health();
  EXPECT_EQ(h.backend, "memory");
  EXPECT_TRUE(h.connected);
  auto p = testing::await_result<double>([&](auto cb) { client->ping(cb); });
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value(), 0.0);
  auto l = client->limiter(config(Algorithm::SlidingLog, 3, 1000));
  hit(*l, "a");
  hit(*l, "b");
  peek(*l, "a");
  EXPECT_EQ(client->stats().ops, 3u);
  EXPECT_EQ(client->stats().keys, 2u);
}

TEST(LimiterConcurrency, ExactlyLimitAdmittedUnderContention) {
  auto clock = std::make_shared<ManualClock>(kStart);
  auto client = testing::memory_client(clock);
  for (Algorithm a : kAll) {
    SCOPED_TRACE(algorithm_name(a));
    auto l = client->limiter(config(a, 1000, 60'000, 0, algorithm_name(a)));
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        LimitResult r;
        for (int i = 0; i < 500; ++i) {
          l->hit_inline("hot", 1, r);
          if (r.allowed) admitted.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(admitted.load(), 1000);
  }
}

// ---- bad input ----

template <class F>
void expect_invalid(F&& f, const std::string& param) {
  try {
    f();
    ADD_FAILURE() << "expected InvalidArgument naming " << param;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind(param + ":", 0), 0u) << e.what();
  }
}

TEST_F(LimiterOpsTest, BadConfigsAreRejectedNamingTheParameter) {
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 0, 1000)); }, "limit");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, -1, 1000)); }, "limit");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 1'000'000'001, 1000)); }, "limit");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, 0)); }, "window");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, -1000)); }, "window");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, int64_t{1} << 62)); }, "window");
  // limit * window beyond 2^52 would lose precision in Lua.
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 1'000'000'000, 86'400'000)); }, "limit");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, 1000, -1)); }, "block_duration");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, 1000, 0, "")); }, "name");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, 1000, 0, "a b")); }, "name");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, 1000, 0, "x{y}")); }, "name");
  expect_invalid([&] { client->limiter(config(Algorithm::Gcra, 5, 1000, 0, std::string(65, 'n'))); },
                 "name");
  expect_invalid([&] { client->limiter(config(static_cast<Algorithm>(42), 5, 1000)); }, "algorithm");
  expect_invalid([] { parse_algorithm("leaky_bucket"); }, "algorithm");
  expect_invalid([] { parse_algorithm(""); }, "algorithm");
  EXPECT_NO_THROW(client->limiter(config(Algorithm::Gcra, 1, 1, 0, std::string(64, 'n'))));
  EXPECT_NO_THROW(client->limiter(config(Algorithm::Gcra, 1'000'000'000, 4'000'000)));
}

TEST_F(LimiterOpsTest, BadOpArgumentsAreRejectedThroughTheCallback) {
  auto l = client->limiter(config(Algorithm::SlidingWindow, 5, 1000));
  auto expect_cb_invalid = [&](auto op, const std::string& param) {
    auto r = testing::await_result<LimitResult>(op);
    ASSERT_FALSE(r.ok()) << param;
    EXPECT_EQ(r.error().code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(std::string(r.error().what()).rfind(param + ":", 0), 0u) << r.error().what();
  };
  expect_cb_invalid([&](auto cb) { l->hit("", 1, cb); }, "key");
  expect_cb_invalid([&](auto cb) { l->hit(std::string(1025, 'k'), 1, cb); }, "key");
  expect_cb_invalid([&](auto cb) { l->hit("k", 0, cb); }, "cost");
  expect_cb_invalid([&](auto cb) { l->hit("k", -3, cb); }, "cost");
  expect_cb_invalid([&](auto cb) { l->hit("k", 6, cb); }, "cost");
  expect_cb_invalid([&](auto cb) { l->peek("", cb); }, "key");
  expect_cb_invalid([&](auto cb) { l->refund("k", 0, cb); }, "amount");
  expect_cb_invalid([&](auto cb) { l->refund("k", -1, cb); }, "amount");
  expect_cb_invalid([&](auto cb) { l->block("k", 0, cb); }, "duration");
  expect_cb_invalid([&](auto cb) { l->block("k", -5, cb); }, "duration");
  auto r = testing::await_result<Unit>([&](auto cb) { l->reset(std::string(2000, 'x'), cb); });
  EXPECT_FALSE(r.ok());
  // Boundaries that are fine: a 1024-byte key of arbitrary bytes, cost == limit.
  std::string key(1024, '\0');
  key[5] = '}';
  key[9] = '{';
  EXPECT_TRUE(hit(*l, key, 5).allowed);
  EXPECT_FALSE(hit(*l, key, 1).allowed);
  EXPECT_EQ(client->stats().keys, 1u);
}

TEST(ClientOpen, RejectsBadUrlsAndOptions) {
  expect_invalid([] { Client::open("http://localhost"); }, "url");
  expect_invalid([] { Client::open(""); }, "url");
  expect_invalid([] { Client::open("memory:/"); }, "url");
  expect_invalid([] { Client::open("memory://host"); }, "url");
  expect_invalid([] { Client::open("memory://?bogus=1"); }, "url");
  expect_invalid([] { Client::open("memory://?shards=0"); }, "url");
  expect_invalid([] { Client::open("memory://?shards=abc"); }, "url");
  expect_invalid([] { Client::open("memory://?shards"); }, "url");
  ClientOptions bad_prefix;
  bad_prefix.prefix = "a{b";
  expect_invalid([&] { Client::open("memory://", bad_prefix); }, "prefix");
  bad_prefix.prefix = "";
  expect_invalid([&] { Client::open("memory://", bad_prefix); }, "prefix");
  auto c = Client::open("memory://?shards=4&sweep_interval_ms=0");
  EXPECT_EQ(c->health().backend, "memory");
}

}  // namespace
}  // namespace redkeeper

namespace redkeeper {
namespace {

TEST(FailurePolicy, StoreErrorsFollowOnError) {
  LimiterConfig cfg = testing::config(Algorithm::FixedWindow, 7, 1000);
  const Error down(ErrorCode::Connection, "redis: connection refused");

  cfg.on_error = FailurePolicy::Open;
  Result<LimitResult> r = on_store_error(cfg, down);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().allowed);
  EXPECT_TRUE(r.value().degraded);
  EXPECT_EQ(r.value().limit, 7);
  EXPECT_EQ(r.value().remaining, 7);
  EXPECT_EQ(r.value().retry_after_ms, 0);
  EXPECT_EQ(r.value().reset_after_ms, 0);

  cfg.on_error = FailurePolicy::Closed;
  r = on_store_error(cfg, Error(ErrorCode::Timeout, "timeout"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value().allowed);
  EXPECT_TRUE(r.value().degraded);
  EXPECT_EQ(r.value().remaining, 0);

  cfg.on_error = FailurePolicy::Raise;
  r = on_store_error(cfg, down);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Connection);

  // Caller mistakes and a closed client are never turned into an answer.
  cfg.on_error = FailurePolicy::Open;
  EXPECT_FALSE(on_store_error(cfg, invalid_argument("cost", "bad")).ok());
  EXPECT_FALSE(on_store_error(cfg, Error(ErrorCode::Closed, "closed")).ok());
}

}  // namespace
}  // namespace redkeeper
