// The "lock" primitive through Client::primitive on memory:// and a real redis-server: acquire,
// release, extend, not-owner, waits woken without polling, timeouts, auto-renewal, loss detection,
// fencing under contention and after a pause longer than the lease, bad input, store failures.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/backend.hpp"
#include "common/keys.hpp"
#include "locks/lock.hpp"
#include "redis_harness.hpp"

namespace redkeeper {
namespace {

using testing::RedisServer;
using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Runs one op and waits for it (bounded, so a hang fails the test instead of the suite).
Result<Value> run(Primitive& p, std::string_view op, Value args = Value::object(), int wait_s = 20) {
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto f = promise->get_future();
  p.call(op, std::move(args), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  if (f.wait_for(std::chrono::seconds(wait_s)) != std::future_status::ready) {
    return Error(ErrorCode::Internal, "test: op '" + std::string(op) + "' did not settle");
  }
  return f.get();
}

Value ok(Result<Value> r) {
  if (!r.ok()) throw r.error();
  return std::move(r.value());
}

ErrorCode code_of(const Result<Value>& r) {
  EXPECT_FALSE(r.ok()) << (r.ok() ? r.value().dump() : "");
  return r.ok() ? ErrorCode::Internal : r.error().code();
}

class LockTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { server_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    client_ = open_client();
    name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    name_ = name_.substr(0, name_.find('/'));
  }
  void TearDown() override {
    for (auto& c : extra_clients_) c->close();
    client_->close();
  }
  bool redis() const { return GetParam() == "redis"; }

  std::shared_ptr<Client> open_client() {
    return Client::open(redis() ? server_->url() : std::string("memory://"));
  }
  // Another client on the same store (another "process" for Redis; memory shares nothing across
  // clients, so there it is the same client).
  std::shared_ptr<Client> peer_client() {
    if (!redis()) return client_;
    extra_clients_.push_back(open_client());
    return extra_clients_.back();
  }

  std::shared_ptr<Primitive> lock(Value options = Value::object(), std::shared_ptr<Client> client = nullptr) {
    options["name"] = options.value("name", name_);
    return (client ? client : client_)->primitive("lock", options);
  }

  uint64_t evalsha_calls() {
    // Counts scripts the server ran (INFO commandstats): how many attempts a waiter made.
    auto admin = testing::open_redis(server_->url());
    Result<Reply> r = testing::call(*admin, {"INFO", "commandstats"});
    admin->close();
    if (!r.ok()) return 0;
    const std::string text(r.value().as_string());
    uint64_t total = 0;
    for (const char* cmd : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
      auto pos = text.find(cmd);
      if (pos != std::string::npos) total += std::stoull(text.substr(pos + std::strlen(cmd)));
    }
    return total;
  }

  static RedisServer* server_;
  std::shared_ptr<Client> client_;
  std::vector<std::shared_ptr<Client>> extra_clients_;
  std::string name_;
};

RedisServer* LockTest::server_ = nullptr;

TEST_P(LockTest, AcquireReturnsFencingTokenOwnerAndTtl) {
  auto a = lock({{"ttl_ms", 5000}});
  Value got = ok(run(*a, "acquire"));
  EXPECT_TRUE(got["fencing_token"].is_number_integer());
  EXPECT_GT(got["fencing_token"].get<int64_t>(), 0);
  EXPECT_EQ(got["owner"].get<std::string>().size(), 32u);
  EXPECT_EQ(got["ttl_ms"], 5000);
  EXPECT_EQ(got["name"], name_);
  Value st = ok(run(*a, "state"));
  EXPECT_EQ(st["held"], true);
  EXPECT_EQ(st["lost"], false);
  EXPECT_EQ(st["fencing_token"], got["fencing_token"]);
  EXPECT_EQ(st["owner"], got["owner"]);
  EXPECT_EQ(st["key"], "rk:lock:{" + name_ + "}");
  EXPECT_GT(st["valid_for_ms"].get<int64_t>(), 4000);
  Value locked = ok(run(*a, "locked"));
  EXPECT_EQ(locked["locked"], true);
  EXPECT_GT(locked["ttl_ms"].get<int64_t>(), 4000);
  ok(run(*a, "release"));
  EXPECT_EQ(ok(run(*a, "locked"))["locked"], false);
  EXPECT_EQ(ok(run(*a, "state"))["held"], false);
}

TEST_P(LockTest, OwnersAreRandomAndDistinct) {
  auto a = lock();
  std::string first = ok(run(*a, "acquire"))["owner"];
  ok(run(*a, "release"));
  std::string second = ok(run(*a, "acquire"))["owner"];
  ok(run(*a, "release"));
  EXPECT_NE(first, second);
}

TEST_P(LockTest, SecondHolderIsRefusedUntilReleaseThenGetsAHigherFence) {
  auto a = lock();
  auto b = lock({{"wait_ms", 0}}, peer_client());
  const int64_t fa = ok(run(*a, "acquire"))["fencing_token"];
  EXPECT_EQ(code_of(run(*b, "acquire")), ErrorCode::LockNotAcquired);
  ok(run(*a, "release"));
  const int64_t fb = ok(run(*b, "acquire"))["fencing_token"];
  EXPECT_EQ(fb, fa + 1);
  EXPECT_EQ(code_of(run(*a, "acquire", {{"wait_ms", 0}})), ErrorCode::LockNotAcquired);
  ok(run(*b, "release"));
}

TEST_P(LockTest, ReleaseAndExtendOnlyByTheOwner) {
  auto a = lock();
  auto b = lock({{"wait_ms", 0}});
  EXPECT_EQ(code_of(run(*a, "release")), ErrorCode::LockNotOwner);  // never acquired
  EXPECT_EQ(code_of(run(*a, "extend", {{"ttl_ms", 1000}})), ErrorCode::LockNotOwner);
  Value got = ok(run(*a, "acquire"));
  EXPECT_EQ(code_of(run(*b, "release")), ErrorCode::LockNotOwner);
  EXPECT_EQ(code_of(run(*b, "release", {{"owner", "0123456789abcdef0123456789abcdef"}})), ErrorCode::LockNotOwner);
  EXPECT_EQ(code_of(run(*b, "extend")), ErrorCode::LockNotOwner);
  EXPECT_EQ(ok(run(*a, "state"))["held"], true);
  ok(run(*a, "release"));
  EXPECT_EQ(code_of(run(*a, "release")), ErrorCode::LockNotOwner);  // already released
}

TEST_P(LockTest, ReleaseByOwnerTokenFromAnotherHandle) {
  auto a = lock();
  auto b = lock({{"wait_ms", 0}}, peer_client());
  std::string owner = ok(run(*a, "acquire"))["owner"];
  EXPECT_EQ(ok(run(*b, "release", {{"owner", owner}}))["released"], true);
  ok(run(*b, "acquire"));
  ok(run(*b, "release"));
}

TEST_P(LockTest, ExtendResetsTheLease) {
  auto a = lock({{"ttl_ms", 1000}, {"auto_renew", false}});
  ok(run(*a, "acquire"));
  EXPECT_EQ(ok(run(*a, "extend", {{"ttl_ms", 60000}}))["ttl_ms"], 60000);
  EXPECT_GT(ok(run(*a, "locked"))["ttl_ms"].get<int64_t>(), 50000);
  EXPECT_GT(ok(run(*a, "state"))["valid_for_ms"].get<int64_t>(), 50000);
  ok(run(*a, "extend"));  // default: the current lease length again
  EXPECT_GT(ok(run(*a, "locked"))["ttl_ms"].get<int64_t>(), 50000);
  ok(run(*a, "release"));
}

TEST_P(LockTest, OneHandleHoldsOnceAtATime) {
  auto a = lock();
  ok(run(*a, "acquire"));
  EXPECT_EQ(code_of(run(*a, "acquire")), ErrorCode::InvalidArgument);
  ok(run(*a, "release"));
}

TEST_P(LockTest, WaiterIsWokenByReleaseWithoutPolling) {
  auto a = lock({{"ttl_ms", 20000}});
  auto b = lock({{"wait_ms", 10000}}, peer_client());
  ok(run(*a, "acquire"));
  const uint64_t before = redis() ? evalsha_calls() : 0;
  const auto t0 = Clock::now();  // b starts waiting
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto waiting = promise->get_future();
  b->call("acquire", Value::object(), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  if (redis()) {
    // A poller would have run dozens of scripts in 1.5 s; a listener runs its first look, the
    // look after subscribing and at most one more when the subscription is confirmed.
    EXPECT_LE(evalsha_calls() - before, 4u);
  }
  const auto released_at = Clock::now();
  ok(run(*a, "release"));
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const int64_t woke_after = ms_since(t0);
  const int64_t woke_after_release = ms_since(released_at);
  Value got = ok(waiting.get());
  EXPECT_GE(woke_after, 1500);
  // Woken by the release, not by the 20 s lease running out nor its 10 s wait ending (it has no
  // other timer). Measured from the release: the 1.5 s sleep's overshoot is not the waiter's.
  EXPECT_LT(woke_after_release, 1500);
  EXPECT_GT(got["fencing_token"].get<int64_t>(), 0);
  ok(run(*b, "release"));
}

TEST_P(LockTest, WaitGivesUpAfterWaitMs) {
  auto a = lock({{"ttl_ms", 20000}});
  auto b = lock({{"wait_ms", 400}}, peer_client());
  ok(run(*a, "acquire"));
  const auto t0 = Clock::now();
  Result<Value> r = run(*b, "acquire");
  const int64_t took = ms_since(t0);
  EXPECT_EQ(code_of(r), ErrorCode::LockNotAcquired);
  EXPECT_GE(took, 390);
  EXPECT_LT(took, 1500);
  EXPECT_NE(std::string(r.error().what()).find("held by another owner"), std::string::npos);
  // Per-call override.
  const auto t1 = Clock::now();
  EXPECT_EQ(code_of(run(*b, "acquire", {{"wait_ms", 100}})), ErrorCode::LockNotAcquired);
  EXPECT_LT(ms_since(t1), 1000);
  ok(run(*a, "release"));
}

TEST_P(LockTest, WaiterGetsALockWhoseHolderDiedWhenItsLeaseRunsOut) {
  // The holder never releases (crashed): no PUBLISH comes, the waiter wakes at the lease's end.
  auto a = lock({{"ttl_ms", 500}, {"auto_renew", false}});
  auto b = lock({{"wait_ms", 5000}}, peer_client());
  ok(run(*a, "acquire"));
  const auto t0 = Clock::now();
  ok(run(*b, "acquire"));
  const int64_t took = ms_since(t0);
  EXPECT_GE(took, 350);
  EXPECT_LT(took, 1500);
  ok(run(*b, "release"));
}

TEST_P(LockTest, AutoRenewKeepsTheLockPastItsTtl) {
  // Renewals every 500 ms (ttl / 3), each with ~1 s to land before the lease would run out: a
  // late renewal timer on a busy machine does not lose the lock. Without renewal the lease ends
  // at 1.5 s, well inside the 3.2 s (more than two leases) that b then finds the lock still held.
  auto a = lock({{"ttl_ms", 1500}});
  auto b = lock({{"wait_ms", 0}}, peer_client());
  ok(run(*a, "acquire"));
  std::this_thread::sleep_for(std::chrono::milliseconds(3200));
  EXPECT_EQ(code_of(run(*b, "acquire")), ErrorCode::LockNotAcquired);
  Value st = ok(run(*a, "state"));
  EXPECT_EQ(st["held"], true);
  EXPECT_EQ(st["lost"], false);
  ok(run(*a, "release"));
  ok(run(*b, "acquire"));
  ok(run(*b, "release"));
}

TEST_P(LockTest, WithoutRenewalTheHolderLearnsItLostTheLock) {
  auto a = lock({{"ttl_ms", 300}, {"auto_renew", false}});
  const auto t0 = Clock::now();  // before the acquire is sent: the lease cannot end earlier
  ok(run(*a, "acquire"));
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto watched = promise->get_future();
  auto reported_at = std::make_shared<Clock::time_point>();
  a->call("watch", Value::object(), [promise, reported_at](Result<Value> r) {
    *reported_at = Clock::now();
    promise->set_value(std::move(r));
  });
  ASSERT_EQ(watched.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  // Not reported while the lease was still valid: the loss comes at the lease's end (300 ms less
  // the 5 ms drift allowance, less 5 ms for the wall clock's ms rounding and rate). Timed where
  // the event fired, so a late look by this thread cannot hide an early report.
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(*reported_at - t0).count(), 300 - 5 - 5);
  EXPECT_EQ(ok(watched.get())["event"], "lost");
  Value st = ok(run(*a, "state"));
  EXPECT_EQ(st["held"], false);
  EXPECT_EQ(st["lost"], true);
  EXPECT_EQ(code_of(run(*a, "extend")), ErrorCode::LockLost);
  EXPECT_EQ(code_of(run(*a, "release")), ErrorCode::LockLost);
  // After a loss the handle can take the lock again.
  ok(run(*a, "acquire"));
  EXPECT_EQ(ok(run(*a, "state"))["lost"], false);
  ok(run(*a, "release"));
}

TEST_P(LockTest, RenewalNoticesATakeoverAndReportsLost) {
  auto a = lock({{"ttl_ms", 600}});
  auto b = lock({{"wait_ms", 0}}, peer_client());
  ok(run(*a, "acquire"));
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto watched = promise->get_future();
  a->call("watch", Value::object(), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  // Someone deletes the key (an operator, a FLUSHDB, a failover) and b takes the lock.
  auto done = std::make_shared<std::promise<Result<Reply>>>();
  auto deleted = done->get_future();
  client_->backend()->command({"DEL", lock_key("rk", name_)}, [done](Result<Reply> r) { done->set_value(std::move(r)); });
  ASSERT_TRUE(deleted.get().ok());
  ok(run(*b, "acquire"));
  ASSERT_EQ(watched.wait_for(std::chrono::seconds(3)), std::future_status::ready);  // next renewal: ~200 ms
  EXPECT_EQ(ok(watched.get())["event"], "lost");
  EXPECT_EQ(ok(run(*a, "state"))["lost"], true);
  EXPECT_EQ(code_of(run(*a, "release")), ErrorCode::LockLost);
  EXPECT_EQ(ok(run(*b, "state"))["held"], true);  // a's late release did not free b's lock
  ok(run(*b, "release"));
}

TEST_P(LockTest, WatchSettlesWithReleased) {
  auto a = lock();
  EXPECT_EQ(ok(run(*a, "watch"))["event"], "idle");
  ok(run(*a, "acquire"));
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto watched = promise->get_future();
  a->call("watch", Value::object(), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  ok(run(*a, "release"));
  ASSERT_EQ(watched.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  EXPECT_EQ(ok(watched.get())["event"], "released");
}

TEST_P(LockTest, CancelEndsAWaitingAcquire) {
  auto a = lock({{"ttl_ms", 20000}});
  auto b = lock({{"wait_ms", 10000}});
  ok(run(*a, "acquire"));
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto waiting = promise->get_future();
  b->call("acquire", Value::object(), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ok(run(*b, "cancel"))["cancelled"], true);
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  Result<Value> r = waiting.get();
  EXPECT_EQ(code_of(r), ErrorCode::LockNotAcquired);
  EXPECT_EQ(ok(run(*b, "cancel"))["cancelled"], false);
  ok(run(*a, "release"));
  // The cancelled waiter did not take the lock behind our back.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ok(run(*a, "locked"))["locked"], false);
}

TEST_P(LockTest, DroppingAHandleMidWaitSettlesItsAcquire) {
  auto a = lock({{"ttl_ms", 20000}});
  ok(run(*a, "acquire"));
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto waiting = promise->get_future();
  {
    auto b = lock({{"wait_ms", 10000}});
    b->call("acquire", Value::object(), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // The last reference may be an in-flight op's; either way the acquire settles.
  ok(run(*a, "release"));
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  Result<Value> r = waiting.get();
  if (r.ok()) {
    SUCCEED() << "the waiter was still referenced and acquired after the release";
  } else {
    EXPECT_EQ(r.error().code(), ErrorCode::Closed);
  }
}

TEST_P(LockTest, ClosingTheClientSettlesAWaitingAcquire) {
  auto a = lock({{"ttl_ms", 20000}});
  ok(run(*a, "acquire"));
  auto other = open_client();
  auto b = other->primitive("lock", {{"name", name_}, {"wait_ms", 10000}});
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto waiting = promise->get_future();
  b->call("acquire", Value::object(), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  if (!redis()) {
    // Memory clients share nothing: b took its own lock at once.
    ASSERT_EQ(waiting.wait_for(std::chrono::seconds(1)), std::future_status::ready);
    other->close();
    ok(run(*a, "release"));
    return;
  }
  other->close();
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(code_of(waiting.get()), ErrorCode::Closed);
  ok(run(*a, "release"));
}

// The safety property: two holders never both believe they hold the lock. Many threads on
// several clients contend; each records the fence and the interval of its critical section while
// it believed it held the lock; the guarded resource takes writes only with a fence above the last.
TEST_P(LockTest, NoTwoHoldersAtOnceUnderContentionAndFencesOnlyGrow) {
  constexpr int kWorkers = 8;
  constexpr int kRounds = 12;
  struct Section {
    int64_t fence;
    Clock::time_point start, end;
  };
  std::mutex mu;
  std::vector<Section> sections;
  int64_t resource_fence = 0;  // the fenced resource: rejects writes with a stale fence
  int rejected_writes = 0;
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::vector<std::shared_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(i == 0 ? client_ : peer_client());
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      auto client = clients[static_cast<size_t>(w) % clients.size()];
      for (int round = 0; round < kRounds; ++round) {
        auto lk = client->primitive("lock", {{"name", name_}, {"ttl_ms", 2000}, {"wait_ms", 20000}});
        Result<Value> got = run(*lk, "acquire", Value::object(), 30);
        if (!got.ok()) {
          ++failures;
          continue;
        }
        const int64_t fence = got.value()["fencing_token"];
        const auto start = Clock::now();
        const int now_inside = ++inside;
        int prev = max_inside.load();
        while (now_inside > prev && !max_inside.compare_exchange_weak(prev, now_inside)) {
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          if (fence > resource_fence) {
            resource_fence = fence;
          } else {
            ++rejected_writes;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        const bool still_held = ok(run(*lk, "state"))["held"].get<bool>();
        --inside;
        const auto end = Clock::now();
        if (!run(*lk, "release").ok()) ++failures;
        if (still_held) {
          std::lock_guard<std::mutex> lock(mu);
          sections.push_back({fence, start, end});
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(rejected_writes, 0);
  ASSERT_EQ(sections.size(), static_cast<size_t>(kWorkers * kRounds));
  std::sort(sections.begin(), sections.end(), [](const Section& a, const Section& b) { return a.start < b.start; });
  for (size_t i = 1; i < sections.size(); ++i) {
    EXPECT_LE(sections[i - 1].end, sections[i].start) << "overlapping critical sections at " << i;
    EXPECT_GT(sections[i].fence, sections[i - 1].fence) << "fence did not grow at " << i;
  }
}

// A holder paused longer than its lease (GC pause, stopped VM): it must not be able to act as the
// holder afterwards. It learns it lost the lock, and its stale fence is refused by a fenced resource.
TEST_P(LockTest, HolderPausedBeyondItsLeaseIsFencedOff) {
  auto a = lock({{"ttl_ms", 300}, {"auto_renew", false}});
  auto b = lock({{"wait_ms", 5000}}, peer_client());
  int64_t resource_fence = 0;
  auto write = [&](int64_t fence) {
    if (fence <= resource_fence) return false;
    resource_fence = fence;
    return true;
  };
  const int64_t fa = ok(run(*a, "acquire"))["fencing_token"];
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a is "paused"
  const int64_t fb = ok(run(*b, "acquire"))["fencing_token"];
  EXPECT_GT(fb, fa);
  EXPECT_TRUE(write(fb));
  // a wakes up: it no longer believes it holds the lock, and its write with the old fence fails.
  Value st = ok(run(*a, "state"));
  EXPECT_EQ(st["held"], false);
  EXPECT_EQ(st["lost"], true);
  EXPECT_FALSE(write(fa));
  EXPECT_EQ(code_of(run(*a, "extend")), ErrorCode::LockLost);
  EXPECT_EQ(code_of(run(*a, "release")), ErrorCode::LockLost);
  EXPECT_EQ(ok(run(*b, "state"))["held"], true);
  ok(run(*b, "release"));
}

TEST_P(LockTest, BadConfigIsInvalidArgumentNamingTheOption) {
  auto expect_bad = [&](Value cfg, const std::string& param) {
    try {
      client_->primitive("lock", cfg);
      ADD_FAILURE() << "accepted " << cfg.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << cfg.dump();
      EXPECT_EQ(std::string(e.what()).rfind(param + ":", 0), 0u) << e.what();
    }
  };
  expect_bad(Value::object(), "name");
  expect_bad({{"name", ""}}, "name");
  expect_bad({{"name", 5}}, "name");
  expect_bad({{"name", std::string(2000, 'x')}}, "name");
  expect_bad({{"name", "x"}, {"ttl_ms", -1}}, "ttl_ms");
  expect_bad({{"name", "x"}, {"ttl_ms", 0}}, "ttl_ms");
  expect_bad({{"name", "x"}, {"ttl_ms", "soon"}}, "ttl_ms");
  expect_bad({{"name", "x"}, {"ttl_ms", true}}, "ttl_ms");
  expect_bad({{"name", "x"}, {"ttl_ms", std::numeric_limits<double>::infinity()}}, "ttl_ms");
  expect_bad({{"name", "x"}, {"ttl_ms", 1e300}}, "ttl_ms");
  expect_bad({{"name", "x"}, {"wait_ms", -5}}, "wait_ms");
  expect_bad({{"name", "x"}, {"auto_renew", "yes"}}, "auto_renew");
  expect_bad({{"name", "x"}, {"ttl_ms", 100}, {"renew_interval_ms", 100}}, "renew_interval_ms");
  expect_bad({{"name", "x"}, {"tll_ms", 100}}, "tll_ms");
}

TEST_P(LockTest, BadOpArgumentsAreInvalidArgument) {
  auto a = lock();
  EXPECT_EQ(code_of(run(*a, "acquire", {{"ttl_ms", -1}})), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of(run(*a, "acquire", {{"wait_ms", -1}})), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of(run(*a, "acquire", {{"bogus", 1}})), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of(run(*a, "acquire", Value::array())), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of(run(*a, "frobnicate")), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of(run(*a, "release", {{"owner", ""}})), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of(run(*a, "release", {{"owner", 7}})), ErrorCode::InvalidArgument);
  ok(run(*a, "acquire"));
  EXPECT_EQ(code_of(run(*a, "extend", {{"ttl_ms", 0}})), ErrorCode::InvalidArgument);
  ok(run(*a, "release"));
}

TEST_P(LockTest, FloatDurationsRoundUpAndDurationStringsAreAccepted) {
  auto a = lock({{"ttl_ms", 1500.2}, {"auto_renew", false}});
  EXPECT_EQ(ok(run(*a, "acquire"))["ttl_ms"], 1501);
  ok(run(*a, "release"));
  auto b = lock({{"ttl_ms", "2m"}, {"wait_ms", "500ms"}});
  EXPECT_EQ(ok(run(*b, "acquire"))["ttl_ms"], 120000);
  EXPECT_EQ(ok(run(*b, "extend", {{"ttl_ms", "1.5"}}))["ttl_ms"], 1500);
  ok(run(*b, "release"));
}

TEST_P(LockTest, NamesWithBracesKeepBothKeysInOneSlot) {
  auto a = lock({{"name", "a}b{c"}});
  ok(run(*a, "acquire"));
  ok(run(*a, "release"));
  EXPECT_EQ(key_slot(lock_key("rk", "a}b{c")), key_slot(lock_fence_key("rk", "a}b{c")));
}

INSTANTIATE_TEST_SUITE_P(Backends, LockTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

// Redis down: acquire fails to acquire (per DESIGN: locks fail closed) with the cause.
TEST(LockRedisFaults, StoreUnreachableIsNotAcquiredWithTheCause) {
  RedisServer server;
  ClientOptions options;
  options.command_timeout_ms = 300;
  options.connect_timeout_ms = 300;
  auto client = Client::open(server.url(), options);
  auto a = client->primitive("lock", {{"name", "down"}, {"wait_ms", 0}});
  ok(run(*a, "acquire"));
  ok(run(*a, "release"));
  server.kill();
  Result<Value> r = run(*a, "acquire");
  EXPECT_EQ(code_of(r), ErrorCode::LockNotAcquired);
  if (!r.ok()) {
    EXPECT_NE(std::string(r.error().what()).find("store unavailable"), std::string::npos) << r.error().what();
  }
  server.start();
  // Back: the handle works again.
  Result<Value> again = Error(ErrorCode::Internal, "not tried");
  for (int i = 0; i < 50 && !again.ok(); ++i) {
    again = run(*a, "acquire");
    if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(again.ok());
  client->close();
}

}  // namespace
}  // namespace redkeeper
