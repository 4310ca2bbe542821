// The Redis Backend against a real redis-server: eval/command replies, pub/sub wake-ups (PUBLISH
// from another connection and from a script, many channels, unlisten, reconnect after a restart),
// timers (fire, cancel, close), close while connecting, and no leaked threads.
#include <gtest/gtest.h>

#include <dirent.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <thread>

#include "common/backend.hpp"
#include "common/factories.hpp"
#include "redis/redis_engine.hpp"
#include "redis/subscriber.hpp"
#include "redis_harness.hpp"

namespace redkeeper {
namespace {

using namespace redkeeper::testing;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Collects what one listener hears; waits with a bound so a lost message fails instead of hanging.
class Inbox {
 public:
  std::function<void(std::string_view)> listener() {
    return [this](std::string_view m) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.emplace_back(m);
      cv_.notify_all();
    };
  }
  // Waits for the next message and returns it; "<none>" after the timeout.
  std::string next(int wait_ms = 5000) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, milliseconds(wait_ms), [&] { return !got_.empty(); })) return "<none>";
    std::string m = std::move(got_.front());
    got_.pop_front();
    return m;
  }
  size_t pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> got_;
};

Result<Reply> backend_call(Backend& b, ArgList args) {
  auto p = std::make_shared<std::promise<Result<Reply>>>();
  auto f = p->get_future();
  b.command(args, [p](Result<Reply> r) { p->set_value(std::move(r)); });
  return wait_for(f);
}

Result<Reply> backend_eval(Backend& b, const Script& s, ArgList keys, ArgList args) {
  auto p = std::make_shared<std::promise<Result<Reply>>>();
  auto f = p->get_future();
  b.eval(s, keys, args, [p](Result<Reply> r) { p->set_value(std::move(r)); });
  return wait_for(f);
}

int64_t numsub(RedisClient& c, const std::string& channel) {
  auto r = call(c, {"PUBSUB", "NUMSUB", channel});
  if (!r.ok()) return -1;
  return r.value().at(1).as_integer();
}

size_t thread_count() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// Flags its own destruction: shows a closure was destroyed (not leaked) without being run.
struct DropFlag {
  explicit DropFlag(std::shared_ptr<std::atomic<int>> d) : drops(std::move(d)) {}
  DropFlag(const DropFlag&) = delete;
  ~DropFlag() { drops->fetch_add(1); }
  std::shared_ptr<std::atomic<int>> drops;
};

class RedisBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<RedisServer>();
    ClientOptions opts;
    opts.reconnect_min_ms = 20;
    opts.reconnect_max_ms = 200;
    client_ = open_redis(server_->url(), opts);
    other_ = open_redis(server_->url(), opts);
    backend_ = client_->backend();
  }
  void TearDown() override {
    client_->close();
    other_->close();
  }

  int64_t publish(const std::string& channel, const std::string& message) {
    auto r = call(*other_, {"PUBLISH", channel, message});
    return r.ok() ? r.value().as_integer() : -1;
  }

  std::unique_ptr<RedisServer> server_;
  std::shared_ptr<RedisClient> client_;
  std::shared_ptr<RedisClient> other_;  // a separate connection, like another process
  std::shared_ptr<Backend> backend_;
};

TEST_F(RedisBackendTest, DescribesItself) {
  EXPECT_STREQ(backend_->kind(), "redis");
  EXPECT_EQ(backend_->prefix(), "rk");
  EXPECT_FALSE(backend_->completes_inline());
  EXPECT_FALSE(backend_->closed());
  EXPECT_EQ(backend_.get(), client_->backend().get());  // one per client
  int64_t before = SystemClock().now_ms();
  int64_t now = backend_->now_ms();
  EXPECT_GE(now, before);
  EXPECT_LE(now, SystemClock().now_ms());
}

TEST_F(RedisBackendTest, NowFollowsAnInjectedClock) {
  auto clock = std::make_shared<ManualClock>(1'000'000);
  ClientOptions opts;
  opts.clock = clock;
  opts.prefix = "app";
  auto c = open_redis(server_->url(), opts);
  auto b = c->backend();
  EXPECT_EQ(b->now_ms(), 1'000'000);
  clock->advance(1500);
  EXPECT_EQ(b->now_ms(), 1'001'500);
  EXPECT_EQ(b->prefix(), "app");
  c->close();
}

TEST_F(RedisBackendTest, CommandAndEvalReplies) {
  auto set = backend_call(*backend_, {"SET", "rk:t:a", "1"});
  ASSERT_TRUE(set.ok()) << error_text(set);
  EXPECT_TRUE(set.value().is_ok());
  auto get = backend_call(*backend_, {"GET", "rk:t:a"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.value().as_string(), "1");

  Script s("local v = redis.call('INCRBY', KEYS[1], ARGV[1]); return {v, ARGV[2], false}");
  auto r = backend_eval(*backend_, s, {"rk:t:a"}, {"41", "x"});
  ASSERT_TRUE(r.ok()) << error_text(r);
  ASSERT_EQ(r.value().size(), 3u);
  EXPECT_EQ(r.value().at(0).as_integer(), 42);
  EXPECT_EQ(r.value().at(1).as_string(), "x");
  EXPECT_TRUE(r.value().at(2).is_nil());

  // NOSCRIPT after a flush: the backend re-sends the source once, transparently.
  ASSERT_TRUE(call(*other_, {"SCRIPT", "FLUSH"}).ok());
  auto again = backend_eval(*backend_, s, {"rk:t:a"}, {"1", "y"});
  ASSERT_TRUE(again.ok()) << error_text(again);
  EXPECT_EQ(again.value().at(0).as_integer(), 43);

  Script bad("return redis.error_reply('NOPE custom')");
  auto err = backend_eval(*backend_, bad, {}, {});
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code(), ErrorCode::Script);
  EXPECT_NE(std::string(err.error().what()).find("NOPE custom"), std::string::npos);

  auto wrong = backend_call(*backend_, {"NOSUCHCOMMAND"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), ErrorCode::Script);
}

TEST_F(RedisBackendTest, ListenerHearsPublishFromAnotherConnectionAndFromAScript) {
  Inbox inbox;
  uint64_t id = backend_->listen("rk:wake:a", inbox.listener());
  ASSERT_NE(id, 0u);
  // The first call says the subscription is live: nothing published from now on is missed.
  EXPECT_EQ(inbox.next(), "");
  EXPECT_EQ(publish("rk:wake:a", "hello"), 1);
  EXPECT_EQ(inbox.next(), "hello");
  EXPECT_EQ(publish("rk:wake:other", "nope"), 0);

  Script s("return redis.call('PUBLISH', KEYS[1], ARGV[1])");
  auto r = backend_eval(*backend_, s, {"rk:wake:a"}, {std::string_view("bin\0ary", 7)});
  ASSERT_TRUE(r.ok()) << error_text(r);
  EXPECT_EQ(r.value().as_integer(), 1);
  EXPECT_EQ(inbox.next(), std::string("bin\0ary", 7));
  EXPECT_EQ(inbox.pending(), 0u);
}

TEST_F(RedisBackendTest, ListenerOnAnAlreadyLiveChannelIsToldRightAway) {
  Inbox first, second;
  backend_->listen("rk:wake:b", first.listener());
  ASSERT_EQ(first.next(), "");
  backend_->listen("rk:wake:b", second.listener());
  EXPECT_EQ(second.next(), "");
  EXPECT_EQ(first.pending(), 0u);  // only the newcomer owed a re-check
  EXPECT_EQ(publish("rk:wake:b", "m"), 1);  // one subscriber connection for both listeners
  EXPECT_EQ(first.next(), "m");
  EXPECT_EQ(second.next(), "m");
}

TEST_F(RedisBackendTest, ManyChannelsEachHearOnlyTheirOwn) {
  constexpr int kChannels = 40;
  std::vector<std::unique_ptr<Inbox>> inboxes;
  for (int i = 0; i < kChannels; ++i) {
    inboxes.push_back(std::make_unique<Inbox>());
    backend_->listen("rk:many:" + std::to_string(i), inboxes.back()->listener());
  }
  for (auto& in : inboxes) ASSERT_EQ(in->next(), "");
  for (int i = 0; i < kChannels; ++i) {
    ASSERT_EQ(publish("rk:many:" + std::to_string(i), "to-" + std::to_string(i)), 1);
  }
  for (int i = 0; i < kChannels; ++i) {
    EXPECT_EQ(inboxes[i]->next(), "to-" + std::to_string(i));
    EXPECT_EQ(inboxes[i]->pending(), 0u);
  }
  auto r = call(*other_, {"PUBSUB", "NUMSUB", "rk:many:0", "rk:many:39"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().at(1).as_integer(), 1);
  EXPECT_EQ(r.value().at(3).as_integer(), 1);
}

TEST_F(RedisBackendTest, UnlistenStopsDeliveryAndUnsubscribesAfterTheLast) {
  Inbox a, b;
  uint64_t ia = backend_->listen("rk:wake:u", a.listener());
  uint64_t ib = backend_->listen("rk:wake:u", b.listener());
  ASSERT_EQ(a.next(), "");
  ASSERT_EQ(b.next(), "");
  backend_->unlisten(ia);
  EXPECT_EQ(publish("rk:wake:u", "1"), 1);
  EXPECT_EQ(b.next(), "1");
  EXPECT_EQ(a.next(200), "<none>");
  EXPECT_EQ(numsub(*other_, "rk:wake:u"), 1);
  backend_->unlisten(ib);
  backend_->unlisten(ib);        // twice: no effect
  backend_->unlisten(999999);    // unknown: no effect
  EXPECT_TRUE(eventually([&] { return numsub(*other_, "rk:wake:u") == 0; }));
  EXPECT_EQ(publish("rk:wake:u", "2"), 0);
  EXPECT_EQ(b.next(200), "<none>");

  // Listening again re-subscribes, and the new listener is told when that is live.
  Inbox c;
  backend_->listen("rk:wake:u", c.listener());
  EXPECT_EQ(c.next(), "");
  EXPECT_EQ(publish("rk:wake:u", "3"), 1);
  EXPECT_EQ(c.next(), "3");
}

TEST_F(RedisBackendTest, ListenUnlistenChurnKeepsSubscriptionsInStep) {
  // Racing first-listen / last-unlisten from several threads must end with exactly the channels
  // that still have listeners subscribed.
  std::vector<std::thread> threads;
  std::vector<uint64_t> kept(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string ch = "rk:churn:" + std::to_string(t % 2);
      for (int i = 0; i < 200; ++i) backend_->unlisten(backend_->listen(ch, [](std::string_view) {}));
      if (t == 0) kept[t] = backend_->listen(ch, [](std::string_view) {});
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(eventually([&] { return numsub(*other_, "rk:churn:0") == 1 && numsub(*other_, "rk:churn:1") == 0; }));
}

TEST_F(RedisBackendTest, AThrowingListenerDoesNotStopTheOthers) {
  Inbox inbox;
  std::atomic<int> thrown{0};
  backend_->listen("rk:wake:t", [&](std::string_view) {
    ++thrown;
    throw std::runtime_error("listener bug");
  });
  backend_->listen("rk:wake:t", inbox.listener());
  ASSERT_EQ(inbox.next(), "");
  EXPECT_EQ(publish("rk:wake:t", "x"), 1);
  EXPECT_EQ(inbox.next(), "x");
  EXPECT_GE(thrown.load(), 2);  // its own "live" call and the message
}

TEST_F(RedisBackendTest, ReconnectResubscribesAndTellsEveryListener) {
  Inbox a, b;
  backend_->listen("rk:wake:r1", a.listener());
  backend_->listen("rk:wake:r2", b.listener());
  ASSERT_EQ(a.next(), "");
  ASSERT_EQ(b.next(), "");
  server_->restart();
  // After the restart each listener hears the empty "you may have missed something" message, sent
  // once its channel is subscribed again: a publish after that must arrive.
  EXPECT_EQ(a.next(10000), "");
  EXPECT_EQ(b.next(10000), "");
  EXPECT_TRUE(eventually([&] { return publish("rk:wake:r1", "after") == 1; }, 10000));
  EXPECT_EQ(a.next(), "after");
  EXPECT_EQ(publish("rk:wake:r2", "after2"), 1);
  EXPECT_EQ(b.next(), "after2");
  EXPECT_EQ(a.pending(), 0u);
  EXPECT_EQ(b.pending(), 0u);
}

TEST_F(RedisBackendTest, ListenersAddedWhileTheServerIsDownAreToldOnceItIsBack) {
  Inbox a;
  backend_->listen("rk:wake:d1", a.listener());
  ASSERT_EQ(a.next(), "");
  server_->stop();
  Inbox late;
  backend_->listen("rk:wake:d2", late.listener());
  EXPECT_EQ(late.next(300), "<none>");  // nothing is live yet
  server_->start();
  EXPECT_EQ(a.next(10000), "");
  EXPECT_EQ(late.next(10000), "");
  EXPECT_TRUE(eventually([&] { return publish("rk:wake:d2", "hi") == 1; }, 10000));
  EXPECT_EQ(late.next(), "hi");
}

TEST_F(RedisBackendTest, SubscriberUsesAuthAndSelect) {
  RedisServerOptions auth;
  auth.requirepass = "s3cret";
  RedisServer secured(auth);
  auto c = open_redis("redis://:s3cret@127.0.0.1:" + std::to_string(secured.port()) + "/3");
  auto pub = open_redis("redis://:s3cret@127.0.0.1:" + std::to_string(secured.port()));
  Inbox inbox;
  c->backend()->listen("rk:wake:auth", inbox.listener());
  ASSERT_EQ(inbox.next(), "");
  EXPECT_EQ(call(*pub, {"PUBLISH", "rk:wake:auth", "ok"}).value().as_integer(), 1);
  EXPECT_EQ(inbox.next(), "ok");
  c->close();
  pub->close();
}

TEST_F(RedisBackendTest, SubscriberOverAUnixSocket) {
  RedisServerOptions with_socket;
  with_socket.unix_socket = true;
  RedisServer unix_server(with_socket);
  auto c = open_redis(unix_server.unix_url());
  auto pub = open_redis(unix_server.url());
  Inbox inbox;
  c->backend()->listen("rk:wake:unix", inbox.listener());
  ASSERT_EQ(inbox.next(), "");
  EXPECT_EQ(call(*pub, {"PUBLISH", "rk:wake:unix", "ok"}).value().as_integer(), 1);
  EXPECT_EQ(inbox.next(), "ok");
  c->close();
  pub->close();
}

TEST_F(RedisBackendTest, TimersFireInDelayOrder) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> order;
  auto start = steady_clock::now();
  std::vector<int64_t> fired_after_ms(3);
  auto add = [&](int tag, int64_t delay) {
    backend_->schedule(delay, [&, tag] {
      std::lock_guard<std::mutex> lock(mu);
      fired_after_ms[tag] = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count();
      order.push_back(tag);
      cv.notify_all();
    });
  };
  // Scheduled out of order, 300 ms apart: the order stays right unless this thread stalls
  // 300 ms between two schedule() calls (60 ms was within a busy machine's reach).
  add(2, 600);
  add(0, 0);
  add(1, 300);
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_GE(fired_after_ms[1], 300);
  EXPECT_GE(fired_after_ms[2], 600);
}

TEST_F(RedisBackendTest, CancelBeforeAndAfterFiring) {
  auto drops = std::make_shared<std::atomic<int>>(0);
  std::atomic<int> ran{0};
  auto flag = std::make_shared<DropFlag>(drops);
  // 500 ms: the cancel below comes first even if this thread stalls that long in between.
  const auto scheduled_at = steady_clock::now();
  uint64_t t = backend_->schedule(500, [&ran, flag] { ++ran; });
  flag.reset();
  ASSERT_NE(t, 0u);
  EXPECT_TRUE(backend_->cancel(t));
  EXPECT_EQ(drops->load(), 1);  // the closure is released at cancel(), not kept until its time
  EXPECT_FALSE(backend_->cancel(t));

  std::promise<void> done;
  uint64_t quick = backend_->schedule(0, [&] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(eventually([&] { return !backend_->cancel(quick); }));  // ran: nothing to cancel
  EXPECT_FALSE(backend_->cancel(424242));

  std::this_thread::sleep_until(scheduled_at + milliseconds(600));  // past the cancelled timer's time
  EXPECT_EQ(ran.load(), 0);
}

TEST_F(RedisBackendTest, CancelFromInsideAnotherTimer) {
  std::atomic<bool> later_ran{false};
  std::promise<bool> cancelled;
  // 750 ms apart: `later` stays later even if this thread stalls that long between the calls.
  const auto scheduled_at = steady_clock::now();
  uint64_t later = backend_->schedule(750, [&] { later_ran = true; });
  backend_->schedule(10, [&] { cancelled.set_value(backend_->cancel(later)); });
  auto f = cancelled.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(f.get());
  std::this_thread::sleep_until(scheduled_at + milliseconds(900));  // past `later`'s time
  EXPECT_FALSE(later_ran.load());
}

TEST_F(RedisBackendTest, InvalidArguments) {
  EXPECT_THROW(backend_->listen("", [](std::string_view) {}), Error);
  EXPECT_THROW(backend_->listen("c", nullptr), Error);
  EXPECT_THROW(backend_->schedule(-1, [] {}), Error);
  EXPECT_THROW(backend_->schedule(1, nullptr), Error);
  try {
    backend_->schedule(-5, [] {});
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("delay_ms"), std::string::npos);
  }
}

TEST_F(RedisBackendTest, CloseCancelsTimersWithoutRunningThemAndDropsListeners) {
  auto drops = std::make_shared<std::atomic<int>>(0);
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i) {
    auto flag = std::make_shared<DropFlag>(drops);
    // Far off: none may fire before close() on a busy machine (200 ms could). close() must run
    // none of them and release every closure (the drop count below).
    backend_->schedule(60000 + i, [&ran, flag] { ++ran; });
  }
  std::atomic<int> heard{0};
  auto flag = std::make_shared<DropFlag>(drops);
  backend_->listen("rk:wake:c", [&heard, flag](std::string_view) { ++heard; });
  flag.reset();
  ASSERT_TRUE(eventually([&] { return heard.load() == 1; }));  // live
  client_->close();
  EXPECT_TRUE(backend_->closed());
  EXPECT_EQ(drops->load(), 11);  // every closure released by close()
  EXPECT_EQ(publish("rk:wake:c", "x"), 0);  // the subscriber connection is gone
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(heard.load(), 1);

  // After close: nothing is accepted, ops settle Closed.
  EXPECT_EQ(backend_->schedule(0, [&ran] { ++ran; }), 0u);
  EXPECT_EQ(backend_->listen("rk:wake:c", [](std::string_view) {}), 0u);
  auto r = backend_call(*backend_, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Closed);
  backend_->close();  // idempotent
}

TEST_F(RedisBackendTest, CloseWhileConnectingSettlesEverything) {
  // A server that accepts and never answers: both connections hang in their handshakes.
  FakeServer silent([](int fd) {
    while (FakeServer::read_some(fd, 3000)) {
    }
  });
  ClientOptions opts;
  opts.connect_timeout_ms = 10000;
  opts.command_timeout_ms = 10000;
  auto c = open_redis(silent.url(), opts);
  auto b = c->backend();
  std::atomic<int> heard{0};
  b->listen("rk:wake:x", [&](std::string_view) { ++heard; });
  auto drops = std::make_shared<std::atomic<int>>(0);
  auto flag = std::make_shared<DropFlag>(drops);
  b->schedule(5000, [flag] {});
  flag.reset();
  auto p = std::make_shared<std::promise<Result<Reply>>>();
  auto f = p->get_future();
  b->eval(Script("return 1"), {}, {}, [p](Result<Reply> r) { p->set_value(std::move(r)); });
  ASSERT_TRUE(eventually([&] { return silent.connections() >= 2; }));  // engine + subscriber
  auto t0 = steady_clock::now();
  c->close();
  EXPECT_LT(steady_clock::now() - t0, std::chrono::seconds(2));
  auto r = wait_for(f, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Closed);
  EXPECT_EQ(drops->load(), 1);
  EXPECT_EQ(heard.load(), 0);
}

TEST_F(RedisBackendTest, CloseFromATimerOnTheBackendThread) {
  std::promise<void> closed;
  backend_->schedule(0, [&] {
    backend_->close();  // must not join its own thread
    closed.set_value();
  });
  auto f = closed.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(backend_->closed());
  EXPECT_TRUE(client_->closed());
}

TEST_F(RedisBackendTest, CloseFromAListener) {
  std::promise<void> closed;
  backend_->listen("rk:wake:cl", [&](std::string_view m) {
    if (m == "bye") {
      client_->close();
      closed.set_value();
    }
  });
  ASSERT_TRUE(eventually([&] { return numsub(*other_, "rk:wake:cl") == 1; }));
  EXPECT_EQ(publish("rk:wake:cl", "bye"), 1);
  auto f = closed.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(backend_->closed());
}

TEST_F(RedisBackendTest, LastReferenceDroppedOnTheBackendThread) {
  // A timer closure owning the backend: when it is destroyed after running, the backend goes with
  // it on its own thread (a primitive's pending timer may be the last owner).
  RedisUrl url = parse_redis_url(server_->url());
  auto engine = std::make_shared<RedisEngine>(url, ClientOptions{});
  engine->start();
  auto b = make_redis_backend(url, ClientOptions{}, engine);
  std::promise<void> ran;
  b->schedule(10, [b, &ran] { ran.set_value(); });
  std::weak_ptr<Backend> weak = b;
  b.reset();
  ASSERT_EQ(ran.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(eventually([&] { return weak.expired(); }));
  EXPECT_TRUE(eventually([&] { return engine->closed(); }));
}

TEST_F(RedisBackendTest, NoThreadsLeftBehind) {
  // The fixture's clients first finish connecting: each engine's io_context gains Asio's resolver
  // thread on its first connect, which must not be mistaken for a leak.
  ASSERT_TRUE(call_ping(*client_).ok());
  ASSERT_TRUE(call_ping(*other_).ok());
  size_t before = thread_count();
  for (int i = 0; i < 5; ++i) {
    auto c = open_redis(server_->url());
    auto b = c->backend();
    Inbox inbox;
    b->listen("rk:wake:leak", inbox.listener());
    ASSERT_EQ(inbox.next(), "");
    b->schedule(1000, [] {});
    c->close();
  }
  for (int i = 0; i < 3; ++i) {
    auto c = open_redis(server_->url());
    c->backend()->schedule(0, [] {});
    // Dropped without an explicit close: the destructors close and join.
  }
  EXPECT_TRUE(eventually([&] { return thread_count() == before; })) << thread_count() << " vs " << before;
}

// ---------------------------------------------------------------- Subscriber on its own

// Runs a Subscriber on a private io thread, recording what its handlers see.
class SubscriberRig {
 public:
  SubscriberRig(const std::string& url, int64_t health_check_ms) {
    ClientOptions opts;
    opts.reconnect_min_ms = 20;
    opts.reconnect_max_ms = 100;
    opts.connect_timeout_ms = 2000;
    Subscriber::Handlers h;
    h.on_message = [this](std::string_view, std::string_view payload) {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.emplace_back(payload);
    };
    h.on_subscribed = [this](const std::string&) { ++subscribed; };
    h.on_disconnected = [this] { ++disconnected; };
    sub_ = std::make_unique<Subscriber>(io_, parse_redis_url(url), opts, nullptr, std::move(h), health_check_ms);
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~SubscriberRig() {
    asio::post(io_, [this] {
      sub_->close();
      work_.reset();
    });
    thread_.join();
  }
  void want(const std::string& channel, bool on) {
    asio::post(io_, [this, channel, on] { sub_->want(channel, on); });
  }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

  std::atomic<int> subscribed{0};
  std::atomic<int> disconnected{0};

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::unique_ptr<Subscriber> sub_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> messages_;
};

TEST(Subscriber, HealthCheckRecyclesAConnectionThatStoppedAnswering) {
  // Answers the handshake and the SUBSCRIBE, then reads PINGs forever without a word: a half-open
  // path as far as the client can tell.
  FakeServer mute([](int fd) {
    if (!FakeServer::read_some(fd)) return;
    FakeServer::send_all(fd, "+PONG\r\n");
    if (!FakeServer::read_some(fd)) return;
    FakeServer::send_all(fd, "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    while (FakeServer::read_some(fd, 3000)) {
    }
  });
  SubscriberRig rig(mute.url(), 100);
  rig.want("c", true);
  EXPECT_TRUE(eventually([&] { return rig.subscribed.load() >= 1; }));
  EXPECT_TRUE(eventually([&] { return rig.disconnected.load() >= 1; }));
  // ...and it reconnects and subscribes again.
  EXPECT_TRUE(eventually([&] { return rig.subscribed.load() >= 2 && mute.connections() >= 2; }));
}

TEST(Subscriber, HealthCheckKeepsAQuietHealthyConnection) {
  RedisServer server;
  auto pub = open_redis(server.url());
  // Checks every 200 ms: each PONG has 200 ms to come back, so a busy machine's scheduling
  // delay is no reason for a recycle. A subscriber that never counted the PONGs as an answer
  // would drop the connection at its second check (~400 ms), well inside the quiet 1.5 s.
  SubscriberRig rig(server.url(), 200);
  rig.want("c", true);
  ASSERT_TRUE(eventually([&] { return rig.subscribed.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(1500));  // seven checks, nothing else on the wire
  EXPECT_EQ(rig.disconnected.load(), 0);
  EXPECT_EQ(call(*pub, {"PUBLISH", "c", "still here"}).value().as_integer(), 1);
  EXPECT_TRUE(eventually([&] { return rig.messages() == std::vector<std::string>{"still here"}; }));
  // Unwanted and wanted again at once: the final state (subscribed) wins, confirmed once more.
  rig.want("c", false);
  rig.want("c", true);
  EXPECT_TRUE(eventually([&] { return rig.subscribed.load() == 2; }));
  EXPECT_EQ(call(*pub, {"PUBSUB", "NUMSUB", "c"}).value().at(1).as_integer(), 1);
  pub->close();
}

TEST(Subscriber, BackoffGrowsWithJitterWithinBounds) {
  Backoff b(50, 400, 12345);
  int64_t prev_base = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    int64_t base = std::min<int64_t>(400, int64_t{50} << attempt);
    int64_t d = b.next_ms();
    EXPECT_GE(d, base / 2) << attempt;
    EXPECT_LE(d, base) << attempt;
    EXPECT_GE(base, prev_base);
    prev_base = base;
  }
  b.reset();
  int64_t first = b.next_ms();
  EXPECT_GE(first, 25);
  EXPECT_LE(first, 50);
}

TEST(Subscriber, HandshakeCommandsFollowTheUrl) {
  EXPECT_TRUE(handshake_commands(parse_redis_url("redis://127.0.0.1:6380")).empty());
  auto full = handshake_commands(parse_redis_url("redis://alice:pw@127.0.0.1:6380/2"));
  ASSERT_EQ(full.size(), 2u);
  EXPECT_EQ(full[0].second, (std::vector<std::string>{"AUTH", "alice", "pw"}));
  EXPECT_EQ(full[1].second, (std::vector<std::string>{"SELECT", "2"}));
  auto pw_only = handshake_commands(parse_redis_url("redis://:pw@127.0.0.1"));
  ASSERT_EQ(pw_only.size(), 1u);
  EXPECT_EQ(pw_only[0].second, (std::vector<std::string>{"AUTH", "pw"}));
}

}  // namespace
}  // namespace redkeeper
