// RedisClient against a real redis-server: round trips, pipelining, scripts (EVALSHA/NOSCRIPT,
// no retry on error), deadlines under DEBUG SLEEP / CLIENT PAUSE, close semantics, stats.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "redis_harness.hpp"

namespace redkeeper {
namespace {

using namespace redkeeper::testing;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

class RedisClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override {
    client_ = open_redis(server_->url());
    ASSERT_TRUE(call(*client_, {"FLUSHALL"}).ok());
  }
  void TearDown() override { client_->close(); }

  static std::unique_ptr<RedisServer> server_;
  std::shared_ptr<RedisClient> client_;
};
std::unique_ptr<RedisServer> RedisClientTest::server_;

int64_t info_field(RedisClient& c, const std::string& section, const std::string& line_prefix,
                   const std::string& field) {
  auto r = call(c, {"INFO", section});
  if (!r.ok()) return -1;
  std::string info(r.value().as_string());
  size_t pos = info.find(line_prefix);
  if (pos == std::string::npos) return 0;
  size_t f = info.find(field + "=", pos);
  if (f == std::string::npos) return -1;
  return std::stoll(info.substr(f + field.size() + 1));
}

TEST_F(RedisClientTest, RoundTripsEveryReplyType) {
  std::string binary("v\0\r\n\xff", 5);
  auto set = call(*client_, {"SET", "k", binary});
  ASSERT_TRUE(set.ok()) << error_text(set);
  EXPECT_TRUE(set.value().is_ok());
  auto get = call(*client_, {"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.value().as_string(), binary);
  EXPECT_TRUE(call(*client_, {"GET", "missing"}).value().is_nil());
  EXPECT_EQ(call(*client_, {"INCRBY", "n", "41"}).value().as_integer(), 41);
  ASSERT_TRUE(call(*client_, {"RPUSH", "l", "a", "b"}).ok());
  auto range = call(*client_, {"LRANGE", "l", "0", "-1"});
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range.value(), Reply::array({Reply::string("a"), Reply::string("b")}));
}

TEST_F(RedisClientTest, ErrorReplyIsATypedScriptErrorWithServerMessage) {
  ASSERT_TRUE(call(*client_, {"SET", "k", "text"}).ok());
  auto r = call(*client_, {"INCR", "k"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Script);
  EXPECT_NE(std::string(r.error().what()).find("not an integer"), std::string::npos) << r.error().what();
  // The connection is still fine afterwards.
  EXPECT_EQ(call(*client_, {"GET", "k"}).value().as_string(), "text");
}

TEST_F(RedisClientTest, EmptyCommandIsInvalidArgument) {
  auto r = call(*client_, ArgList());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::InvalidArgument);
}

TEST_F(RedisClientTest, PipelinesTenThousandConcurrentCommandsInOrder) {
  constexpr int kOps = 10000;
  // The I/O thread is held inside a PING's callback while the burst is queued, so how the burst
  // is cut into writes does not depend on how the two threads happen to interleave (on a busy
  // machine the I/O thread could wake for every few commands). Unbatched, each command would
  // still be a write of its own.
  auto io_held = std::make_shared<std::promise<void>>();
  std::promise<void> burst_queued;
  std::shared_future<void> release = burst_queued.get_future().share();
  client_->command({"PING"}, [io_held, release](Result<Reply>) {
    io_held->set_value();
    release.wait_for(std::chrono::seconds(20));
  });
  ASSERT_EQ(io_held->get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  uint64_t writes_before = client_->socket_writes();
  std::vector<int64_t> got(kOps, -1);
  Settled settled;
  for (int i = 0; i < kOps; ++i) {
    settled.add();
    client_->command({"INCR", "counter"}, [&, i](Result<Reply> r) {
      if (r.ok()) got[i] = r.value().as_integer();
      settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
    }, 10000);
  }
  burst_queued.set_value();
  ASSERT_TRUE(settled.wait());
  ASSERT_EQ(settled.ok(), kOps);
  // FIFO matching: the i-th INCR sent is the i-th executed and gets i+1.
  for (int i = 0; i < kOps; ++i) ASSERT_EQ(got[i], i + 1) << "at " << i;
  uint64_t writes = client_->socket_writes() - writes_before;
  EXPECT_LT(writes, static_cast<uint64_t>(kOps / 4)) << "commands were not batched";
  EXPECT_EQ(client_->stats().in_flight, 0u);
}

TEST_F(RedisClientTest, CorkedOpsWaitForUncorkAndGoOutInOneWrite) {
  ASSERT_TRUE(call(*client_, {"PING"}).ok());  // connected, so nothing else is pending
  constexpr int kOps = 50;
  uint64_t writes_before = client_->socket_writes();
  std::atomic<int> done{0};
  Settled settled;
  client_->cork();
  client_->cork();  // nests
  for (int i = 0; i < kOps; ++i) {
    settled.add();
    client_->command({"INCR", "corked"}, [&](Result<Reply> r) {
      done.fetch_add(1);
      settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
    }, 10000);
  }
  client_->uncork();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(done.load(), 0) << "ops went out while still corked";
  EXPECT_EQ(client_->socket_writes(), writes_before);
  client_->uncork();
  ASSERT_TRUE(settled.wait());
  EXPECT_EQ(settled.ok(), kOps);
  EXPECT_EQ(client_->socket_writes() - writes_before, 1u);
  EXPECT_EQ(call(*client_, {"GET", "corked"}).value().as_string(), std::to_string(kOps));
}

TEST_F(RedisClientTest, SubmitsFromManyThreads) {
  constexpr int kThreads = 4, kPerThread = 2500;
  Settled settled;
  for (int i = 0; i < kThreads * kPerThread; ++i) settled.add();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        client_->command({"INCR", "mt"}, [&](Result<Reply> r) {
          settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
        }, 10000);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(settled.wait());
  EXPECT_EQ(settled.ok(), kThreads * kPerThread);
  EXPECT_EQ(call(*client_, {"GET", "mt"}).value().as_string(), std::to_string(kThreads * kPerThread));
}

TEST_F(RedisClientTest, EvalShaFallsBackToEvalOnlyOnNoscript) {
  Script script("return {KEYS[1], ARGV[1], ARGV[2]}");
  ASSERT_TRUE(call(*client_, {"SCRIPT", "FLUSH"}).ok());
  ASSERT_TRUE(call(*client_, {"CONFIG", "RESETSTAT"}).ok());
  for (int i = 0; i < 3; ++i) {
    auto r = call_eval(*client_, script, {"{k}"}, {"a", std::to_string(i)});
    ASSERT_TRUE(r.ok()) << error_text(r);
    EXPECT_EQ(r.value(), Reply::array({Reply::string("{k}"), Reply::string("a"), Reply::string(std::to_string(i))}));
  }
  EXPECT_EQ(info_field(*client_, "commandstats", "cmdstat_eval:", "calls"), 1);  // only the first
  ASSERT_TRUE(call(*client_, {"SCRIPT", "FLUSH"}).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(call_eval(*client_, script, {"{k}"}, {"b", "c"}).ok());
  EXPECT_EQ(info_field(*client_, "commandstats", "cmdstat_eval:", "calls"), 2);  // once more after FLUSH
  EXPECT_EQ(info_field(*client_, "commandstats", "cmdstat_evalsha:", "calls"), 5);
  auto exists = call(*client_, {"SCRIPT", "EXISTS", script.sha1()});
  EXPECT_EQ(exists.value().at(0).as_integer(), 1);
}

TEST_F(RedisClientTest, ConcurrentNoscriptFallbacksAllSucceed) {
  Script script("return redis.call('INCR', KEYS[1])");
  ASSERT_TRUE(call(*client_, {"SCRIPT", "FLUSH"}).ok());
  Settled settled;
  for (int i = 0; i < 200; ++i) {
    settled.add();
    client_->eval(script, {"c"}, {}, [&](Result<Reply> r) {
      settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
    });
  }
  ASSERT_TRUE(settled.wait());
  EXPECT_EQ(settled.ok(), 200);
  EXPECT_EQ(call(*client_, {"GET", "c"}).value().as_string(), "200");  // each ran exactly once
}

TEST_F(RedisClientTest, NoscriptFallbacksAreResentInTheOrderTheCallsWereMade) {
  ASSERT_TRUE(call(*client_, {"SCRIPT", "FLUSH"}).ok());
  static const Script script("return redis.call('INCR', KEYS[1])");
  constexpr int kCalls = 20;
  std::vector<int64_t> got(kCalls, -1);
  Settled settled;
  client_->cork();  // one write: every EVALSHA meets NOSCRIPT in the same read
  for (int i = 0; i < kCalls; ++i) {
    settled.add();
    client_->eval(script, {"order"}, {}, [&got, &settled, i](Result<Reply> r) {
      if (r.ok()) got[i] = r.value().as_integer();
      settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
    });
  }
  client_->uncork();
  ASSERT_TRUE(settled.wait());
  ASSERT_EQ(settled.ok(), kCalls);
  // Each ran once, and in call order (they were re-sent reversed before).
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(got[i], i + 1) << "call " << i;
}

TEST_F(RedisClientTest, ScriptErrorIsNeverRetried) {
  Script script("redis.call('INCR', KEYS[1]); return redis.error_reply('boom')");
  auto r = call_eval(*client_, script, {"cnt"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Script);
  EXPECT_NE(std::string(r.error().what()).find("boom"), std::string::npos);
  EXPECT_EQ(call(*client_, {"GET", "cnt"}).value().as_string(), "1");
  // Also on the EVAL fallback path: the NOSCRIPT resend errors, and is not sent a third time.
  ASSERT_TRUE(call(*client_, {"SCRIPT", "FLUSH"}).ok());
  auto r2 = call_eval(*client_, script, {"cnt"}, {});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code(), ErrorCode::Script);
  EXPECT_EQ(call(*client_, {"GET", "cnt"}).value().as_string(), "2");
}

TEST_F(RedisClientTest, RuntimeScriptErrorIsTyped) {
  Script script("return redis.call('INCR', KEYS[1], 'extra')");
  auto r = call_eval(*client_, script, {"x"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Script);
}

TEST_F(RedisClientTest, DebugSleepTimesOutAndLateReplyIsDiscarded) {
  auto slow = std::make_shared<std::promise<Result<Reply>>>();
  auto slow_f = slow->get_future();
  client_->command({"DEBUG", "SLEEP", "0.4"}, [slow](Result<Reply> r) { slow->set_value(std::move(r)); }, 3000);
  auto start = steady_clock::now();
  auto r = call(*client_, {"SET", "after", "1"}, 100);
  auto elapsed = steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Timeout) << r.error().what();
  EXPECT_GE(elapsed, milliseconds(95));
  EXPECT_LT(elapsed, milliseconds(350));
  ASSERT_TRUE(wait_for(slow_f).ok());
  // FIFO stays right: the timed-out SET's late "+OK" was dropped, not handed to this GET.
  ASSERT_TRUE(call(*client_, {"SET", "x", "fresh"}).ok());
  auto get = call(*client_, {"GET", "x"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.value().as_string(), "fresh");
  EXPECT_GE(client_->stats().timeouts, 1u);
}

TEST_F(RedisClientTest, ClientPauseTimesOutThenRecovers) {
  ASSERT_TRUE(call(*client_, {"CLIENT", "PAUSE", "400", "ALL"}).ok());
  auto start = steady_clock::now();
  auto r = call(*client_, {"GET", "k"}, 150);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Timeout);
  EXPECT_LT(steady_clock::now() - start, milliseconds(380));
  std::this_thread::sleep_for(milliseconds(450));
  auto after = call(*client_, {"SET", "k", "v"});
  EXPECT_TRUE(after.ok()) << error_text(after);
  EXPECT_EQ(call(*client_, {"GET", "k"}).value().as_string(), "v");
}

TEST_F(RedisClientTest, PingHealthAndStats) {
  auto ping = call_ping(*client_);
  ASSERT_TRUE(ping.ok());
  EXPECT_GT(ping.value(), 0.0);
  EXPECT_LT(ping.value(), 1000.0);
  Health h = client_->health();
  EXPECT_EQ(h.backend, "redis");
  EXPECT_TRUE(h.connected);
  EXPECT_GT(h.latency_ms, 0.0);
  Stats before = client_->stats();
  ASSERT_FALSE(call(*client_, {"NOSUCHCOMMAND"}).ok());
  ASSERT_TRUE(call(*client_, {"PING"}).ok());
  Stats after = client_->stats();
  EXPECT_EQ(after.ops - before.ops, 2u);
  EXPECT_EQ(after.errors - before.errors, 1u);
  EXPECT_EQ(after.in_flight, 0u);
  EXPECT_FALSE(client_->completes_inline());
}

TEST_F(RedisClientTest, CloseSettlesInFlightOpsWithClosed) {
  Settled settled;
  settled.add();
  client_->command({"DEBUG", "SLEEP", "0.3"}, [&](Result<Reply> r) {
    settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
  }, 5000);
  for (int i = 0; i < 100; ++i) {
    settled.add();
    client_->command({"GET", "k"}, [&](Result<Reply> r) {
      settled.done(r.ok() ? ErrorCode::Internal : r.error().code(), r.ok());
    }, 5000);
  }
  auto start = steady_clock::now();
  client_->close();
  EXPECT_LT(steady_clock::now() - start, milliseconds(250));
  ASSERT_TRUE(settled.wait(1));
  EXPECT_EQ(settled.count(ErrorCode::Closed), 101);
  EXPECT_TRUE(client_->closed());
  // After close: settles at once with Closed.
  auto r = call(*client_, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Closed);
  client_->close();  // idempotent
  std::this_thread::sleep_for(milliseconds(350));  // let the server finish its sleep for the next test
}

TEST_F(RedisClientTest, CloseFromACallbackDoesNotDeadlock) {
  auto done = std::make_shared<std::promise<Result<Reply>>>();
  auto f = done->get_future();
  auto c = client_;
  client_->command({"PING"}, [c](Result<Reply>) { c->close(); });
  client_->command({"PING"}, [done](Result<Reply> r) { done->set_value(std::move(r)); });
  auto r = wait_for(f, 5);
  // The second PING either made it before the deferred shutdown or was settled by it.
  if (!r.ok()) {
    EXPECT_EQ(r.error().code(), ErrorCode::Closed) << r.error().what();
  }
  client_->close();  // joins the I/O thread that is already winding down
  EXPECT_TRUE(client_->closed());
}

TEST_F(RedisClientTest, LastReferenceDroppedInsideACallback) {
  auto client = open_redis(server_->url());
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  auto holder = std::make_shared<std::shared_ptr<RedisClient>>(client);
  client->command({"PING"}, [holder, done](Result<Reply>) {
    holder->reset();  // destroys the client on its own I/O thread
    done->set_value();
  });
  client.reset();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

}  // namespace
}  // namespace redkeeper
