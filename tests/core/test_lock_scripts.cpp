// The lock's Lua scripts on their own, on a real redis-server and on the memory backend's Lua host:
// reply shapes, owner-only compare, fencing counter seeding and growth, the release wake-up.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "common/backend.hpp"
#include "locks/lock.hpp"
#include "redis_harness.hpp"

namespace redkeeper::locks_lua {
extern const char acquire[];
extern const char release[];
extern const char extend[];
}  // namespace redkeeper::locks_lua

namespace redkeeper {
namespace {

using testing::RedisServer;

class LockScriptsTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { server_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    client_ = Client::open(GetParam() == "redis" ? server_->url() : "memory://");
    backend_ = client_->backend();
    name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    key_ = lock_key("rk", name_);
    fence_ = lock_fence_key("rk", name_);
  }
  void TearDown() override {
    backend_.reset();
    client_->close();
  }

  Reply eval(const char* source, ArgList keys, ArgList args) {
    auto p = std::make_shared<std::promise<Result<Reply>>>();
    auto f = p->get_future();
    backend_->eval(Script(source), keys, args, [p](Result<Reply> r) { p->set_value(std::move(r)); });
    EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    Result<Reply> r = f.get();
    if (!r.ok()) throw r.error();
    return r.value();
  }
  Reply command(ArgList args) {
    auto p = std::make_shared<std::promise<Result<Reply>>>();
    auto f = p->get_future();
    backend_->command(args, [p](Result<Reply> r) { p->set_value(std::move(r)); });
    EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    Result<Reply> r = f.get();
    if (!r.ok()) throw r.error();
    return r.value();
  }
  Reply acquire(const std::string& owner, int64_t ttl_ms = 10000) {
    return eval(locks_lua::acquire, {key_, fence_}, {owner, std::to_string(ttl_ms), "604800000"});
  }
  int64_t release(const std::string& owner) {
    return eval(locks_lua::release, {key_}, {owner, lock_channel("rk", name_)}).as_integer();
  }
  int64_t extend(const std::string& owner, int64_t ttl_ms) {
    return eval(locks_lua::extend, {key_}, {owner, std::to_string(ttl_ms)}).as_integer();
  }

  static RedisServer* server_;
  std::shared_ptr<Client> client_;
  std::shared_ptr<Backend> backend_;
  std::string name_, key_, fence_;
};

RedisServer* LockScriptsTest::server_ = nullptr;

TEST_P(LockScriptsTest, AcquireSetsOwnerWithTtlAndSeedsTheFenceFromServerTime) {
  const int64_t before_us = backend_->now_ms() * 1000;
  Reply r = acquire("owner-a", 5000);
  ASSERT_TRUE(r.is_array()) << r.debug_string();
  EXPECT_EQ(r.at(0).as_integer(), 1);
  const int64_t fence = r.at(1).as_integer();
  // Seeded at the server clock in µs: never below a fence handed out before the counter existed.
  EXPECT_GE(fence, before_us - 5'000'000);
  EXPECT_LE(fence, before_us + 5'000'000);
  EXPECT_EQ(command({"GET", key_}).as_string(), "owner-a");
  const int64_t pttl = command({"PTTL", key_}).as_integer();
  EXPECT_GT(pttl, 4000);
  EXPECT_LE(pttl, 5000);
  EXPECT_EQ(std::to_string(fence), std::string(command({"GET", fence_}).as_string()));
  EXPECT_GT(command({"PTTL", fence_}).as_integer(), 600'000'000);
}

TEST_P(LockScriptsTest, SecondAcquireFailsWithHolderPttlAndDoesNotMoveTheFence) {
  const int64_t fence = acquire("owner-a", 5000).at(1).as_integer();
  Reply r = acquire("owner-b", 5000);
  EXPECT_EQ(r.at(0).as_integer(), 0);
  EXPECT_GT(r.at(1).as_integer(), 4000);
  EXPECT_EQ(std::to_string(fence), std::string(command({"GET", fence_}).as_string()));
  EXPECT_EQ(command({"GET", key_}).as_string(), "owner-a");
}

TEST_P(LockScriptsTest, FenceIncreasesByOneAcrossHoldings) {
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const std::string owner = "o" + std::to_string(i);
    Reply r = acquire(owner);
    ASSERT_EQ(r.at(0).as_integer(), 1);
    if (i > 0) {
      EXPECT_EQ(r.at(1).as_integer(), last + 1);
    }
    last = r.at(1).as_integer();
    ASSERT_EQ(release(owner), 1);
  }
}

TEST_P(LockScriptsTest, EveryAcquireRefreshesTheFenceRetention) {
  const std::string first = "first";
  ASSERT_EQ(acquire(first).at(0).as_integer(), 1);
  ASSERT_EQ(release(first), 1);
  command({"PEXPIRE", fence_, "60000"});  // as if the last acquire were long ago
  const std::string second = "second";
  ASSERT_EQ(acquire(second).at(0).as_integer(), 1);  // the counter exists: the increment path
  EXPECT_GT(command({"PTTL", fence_}).as_integer(), 600'000'000);
}

TEST_P(LockScriptsTest, HolderWithoutExpiryReportsMinusOne) {
  command({"SET", key_, "someone"});
  Reply r = acquire("owner-a");
  EXPECT_EQ(r.at(0).as_integer(), 0);
  EXPECT_EQ(r.at(1).as_integer(), -1);
}

TEST_P(LockScriptsTest, ReleaseOnlyByOwner) {
  EXPECT_EQ(release("nobody"), -1);
  acquire("owner-a");
  EXPECT_EQ(release("owner-b"), 0);
  EXPECT_EQ(command({"GET", key_}).as_string(), "owner-a");
  EXPECT_EQ(release("owner-a"), 1);
  EXPECT_TRUE(command({"GET", key_}).is_nil());
  EXPECT_EQ(release("owner-a"), -1);
}

TEST_P(LockScriptsTest, ExtendOnlyByOwnerResetsTheTtl) {
  EXPECT_EQ(extend("owner-a", 1000), -1);
  acquire("owner-a", 1000);
  EXPECT_EQ(extend("owner-b", 60000), 0);
  EXPECT_LE(command({"PTTL", key_}).as_integer(), 1000);
  EXPECT_EQ(extend("owner-a", 60000), 1);
  EXPECT_GT(command({"PTTL", key_}).as_integer(), 50000);
  EXPECT_EQ(extend("owner-a", 2000), 1);
  EXPECT_LE(command({"PTTL", key_}).as_integer(), 2000);
}

TEST_P(LockScriptsTest, ReleasePublishesOnTheLockChannelOnlyWhenItReleases) {
  std::promise<std::string> heard;
  std::promise<void> subscribed;
  auto got = heard.get_future();
  auto active = subscribed.get_future();
  auto once = std::make_shared<std::once_flag>();
  auto once_subscribed = std::make_shared<std::once_flag>();
  const uint64_t id = backend_->listen(lock_channel("rk", name_), [&, once, once_subscribed](std::string_view msg) {
    if (msg.empty()) {  // the Redis backend confirms the SUBSCRIBE this way (and after reconnects)
      std::call_once(*once_subscribed, [&] { subscribed.set_value(); });
      return;
    }
    std::call_once(*once, [&] { heard.set_value(std::string(msg)); });
  });
  if (GetParam() == "redis") {
    ASSERT_EQ(active.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  }
  acquire("owner-a");
  EXPECT_EQ(release("owner-b"), 0);
  EXPECT_EQ(got.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_EQ(release("owner-a"), 1);
  ASSERT_EQ(got.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(got.get(), "released");
  backend_->unlisten(id);
}

INSTANTIATE_TEST_SUITE_P(Backends, LockScriptsTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace redkeeper
