// Cache primitive through Client::primitive("cache"), on memory:// (ManualClock) and on a private
// redis-server: values, TTLs, counters, tags, clear, delete_pattern, stats, bad input, and the
// claim/fill/fail protocol of get_or_set across clients (a client stands in for a process).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "redis_harness.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper::testing {
namespace {

using namespace std::chrono_literals;

Result<Value> run(Primitive& p, std::string_view op, Value args = Value::object(), int wait_s = 20) {
  auto prom = std::make_shared<std::promise<Result<Value>>>();
  auto fut = prom->get_future();
  p.call(op, std::move(args), [prom](Result<Value> r) { prom->set_value(std::move(r)); });
  if (fut.wait_for(std::chrono::seconds(wait_s)) != std::future_status::ready) {
    throw std::runtime_error("cache op '" + std::string(op) + "' did not settle");
  }
  return fut.get();
}

Value ok(Primitive& p, std::string_view op, Value args = Value::object()) {
  Result<Value> r = run(p, op, std::move(args));
  if (!r.ok()) throw std::runtime_error(std::string(op) + " failed: " + r.error().what());
  return r.value();
}

ErrorCode fails(Primitive& p, std::string_view op, Value args) {
  Result<Value> r = run(p, op, std::move(args));
  if (r.ok()) throw std::runtime_error(std::string(op) + " succeeded with " + r.value().dump());
  return r.error().code();
}

Value bytes(std::string_view s) { return Value::binary(std::vector<std::uint8_t>(s.begin(), s.end())); }

// One fixture, two backends: memory with a ManualClock, or a fresh redis-server per test.
class CacheTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") server_ = std::make_unique<RedisServer>();
    clock_ = std::make_shared<ManualClock>();
  }
  std::shared_ptr<Client> client() {
    ClientOptions o;
    if (GetParam() == "memory") {
      o.clock = clock_;
      o.sweep_interval_ms = 0;
      if (!memory_) memory_ = Client::open("memory://", o);
      return memory_;  // one memory store: every "process" shares it, like one Redis
    }
    auto c = Client::open(server_->url(), o);
    clients_.push_back(c);
    return c;
  }
  std::shared_ptr<Primitive> cache(const std::string& ns = "ns", Value extra = Value::object()) {
    Value cfg = std::move(extra);
    cfg["namespace"] = ns;
    return client()->primitive("cache", cfg);
  }
  // The time unit of the TTL tests: 1 ms on memory (ManualClock: exact), 4 ms on Redis, where TTLs
  // are real and a "still there" check's slack (TTL less the time passed, 150-200 ms at 1 ms)
  // must also absorb round trips and a busy machine's scheduling delays. "Gone" checks pass more
  // than the TTL, so lateness never breaks them.
  int64_t u() const { return GetParam() == "redis" ? 4 : 1; }
  // Lets stored TTLs run out: the fake clock on memory, real time on Redis.
  void pass(int64_t ms) {
    if (GetParam() == "memory") {
      clock_->advance(ms);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
  }
  // Returns once `waiter`'s claim (running on another thread) is waiting for the filler: it has
  // counted its miss (the claim found the filler's marker) and, on Redis, the namespace's channel
  // has a subscriber, so a fill or fail sent from now on reaches it by PUBLISH. A fixed sleep
  // instead let a slow machine send the fail first (the waiter then claimed the fill itself).
  void wait_until_waiting(Primitive& waiter, const std::string& ns = "ns") {
    std::shared_ptr<RedisClient> admin = GetParam() == "redis" ? open_redis(server_->url()) : nullptr;
    const std::string channel = "rk:cache:{" + ns + "}:ch";
    auto subscribed = [&] {
      if (!admin) return true;
      Result<Reply> r = call(*admin, {"PUBSUB", "NUMSUB", channel});
      return r.ok() && r.value().at(1).as_integer() >= 1;
    };
    const bool waiting = eventually([&] { return ok(waiter, "stats")["misses"] == 1 && subscribed(); }, 10000, 2);
    if (admin) admin->close();
    ASSERT_TRUE(waiting) << "the waiter's claim never started waiting";
    // The waiter registers itself a few instructions after counting the miss and subscribing.
    std::this_thread::sleep_for(20ms);
  }
  void TearDown() override {
    for (auto& c : clients_) c->close();
    if (memory_) memory_->close();
  }

  std::unique_ptr<RedisServer> server_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<Client> memory_;
  std::vector<std::shared_ptr<Client>> clients_;
};

TEST_P(CacheTest, JsonAndBytesRoundTrip) {
  auto c = cache();
  EXPECT_TRUE(ok(*c, "get", {{"key", "missing"}}).is_null());
  Value doc = {{"a", 1}, {"b", {1.5, "x", nullptr, true}}, {"unicode", "h\u00e9"}};
  ok(*c, "set", {{"key", "doc"}, {"value", doc}});
  EXPECT_EQ(ok(*c, "get", {{"key", "doc"}}), doc);
  std::string raw("\x00\xffj{b\x01", 6);
  ok(*c, "set", {{"key", "raw"}, {"value", bytes(raw)}});
  Value got = ok(*c, "get", {{"key", "raw"}});
  ASSERT_TRUE(got.is_binary());
  EXPECT_EQ(std::string(got.get_binary().begin(), got.get_binary().end()), raw);
  ok(*c, "set", {{"key", "s"}, {"value", "42"}});
  EXPECT_EQ(ok(*c, "get", {{"key", "s"}}), Value("42"));  // a JSON string stays a string
  ok(*c, "set", {{"key", "n"}, {"value", 7}});
  EXPECT_EQ(ok(*c, "get", {{"key", "n"}}), Value(7));
}

TEST_P(CacheTest, DeleteSaysWhetherTheKeyExisted) {
  auto c = cache();
  ok(*c, "set", {{"key", "k"}, {"value", 1}});
  EXPECT_EQ(ok(*c, "delete", {{"key", "k"}}), Value(true));
  EXPECT_EQ(ok(*c, "delete", {{"key", "k"}}), Value(false));
  EXPECT_TRUE(ok(*c, "get", {{"key", "k"}}).is_null());
}

TEST_P(CacheTest, ValuesExpireOnTheirTtlAndDefaultTtl) {
  auto c = cache("ns", {{"default_ttl_ms", 300 * u()}});
  ok(*c, "set", {{"key", "short"}, {"value", 1}, {"ttl_ms", 100 * u()}});
  ok(*c, "set", {{"key", "default"}, {"value", 2}});
  ok(*c, "set", {{"key", "long"}, {"value", 3}, {"ttl_ms", 60000}});
  pass(150 * u());
  EXPECT_TRUE(ok(*c, "get", {{"key", "short"}}).is_null());
  EXPECT_EQ(ok(*c, "get", {{"key", "default"}}), Value(2));
  pass(200 * u());
  EXPECT_TRUE(ok(*c, "get", {{"key", "default"}}).is_null());
  EXPECT_EQ(ok(*c, "get", {{"key", "long"}}), Value(3));
}

TEST_P(CacheTest, NamespacesAreSeparate) {
  auto a = cache("tenant-a");
  auto b = cache("tenant-b");
  ok(*a, "set", {{"key", "k"}, {"value", "a"}});
  EXPECT_TRUE(ok(*b, "get", {{"key", "k"}}).is_null());
  ok(*b, "clear");
  EXPECT_EQ(ok(*a, "get", {{"key", "k"}}), Value("a"));
}

TEST_P(CacheTest, CountersGetTheirTtlOnCreation) {
  auto c = cache();
  EXPECT_EQ(ok(*c, "incr", {{"key", "hits"}, {"ttl_ms", 200 * u()}}), Value(1));
  EXPECT_EQ(ok(*c, "incr", {{"key", "hits"}, {"by", 5}, {"ttl_ms", 100000}}), Value(6));
  EXPECT_EQ(ok(*c, "incr", {{"key", "hits"}, {"by", -2}}), Value(4));
  EXPECT_EQ(ok(*c, "get", {{"key", "hits"}}), Value(4));
  pass(250 * u());  // the first TTL holds: later increments did not extend it
  EXPECT_TRUE(ok(*c, "get", {{"key", "hits"}}).is_null());
  EXPECT_EQ(ok(*c, "incr", {{"key", "hits"}, {"by", -1}}), Value(-1));
  ok(*c, "set", {{"key", "doc"}, {"value", {{"a", 1}}}});
  EXPECT_EQ(fails(*c, "incr", {{"key", "doc"}}), ErrorCode::InvalidArgument);
}

TEST_P(CacheTest, InvalidateTagDeletesItsKeysOnly) {
  auto c = cache();
  ok(*c, "set", {{"key", "u1"}, {"value", 1}, {"tags", {"users", "group:1"}}});
  ok(*c, "set", {{"key", "u2"}, {"value", 2}, {"tags", {"users"}}});
  ok(*c, "set", {{"key", "p1"}, {"value", 3}, {"tags", {"posts"}}});
  EXPECT_EQ(ok(*c, "invalidate_tag", {{"tag", "users"}}), Value(2));
  EXPECT_TRUE(ok(*c, "get", {{"key", "u1"}}).is_null());
  EXPECT_TRUE(ok(*c, "get", {{"key", "u2"}}).is_null());
  EXPECT_EQ(ok(*c, "get", {{"key", "p1"}}), Value(3));
  EXPECT_EQ(ok(*c, "invalidate_tag", {{"tag", "users"}}), Value(0));
  EXPECT_EQ(ok(*c, "invalidate_tag", {{"tag", "group:1"}}), Value(0));  // u1 already gone
}

TEST_P(CacheTest, ClearMakesEveryKeyUnreachable) {
  auto c = cache();
  for (int i = 0; i < 20; ++i) ok(*c, "set", {{"key", "k" + std::to_string(i)}, {"value", i}});
  ok(*c, "incr", {{"key", "ctr"}});
  ok(*c, "clear");
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(ok(*c, "get", {{"key", "k" + std::to_string(i)}}).is_null());
  EXPECT_EQ(ok(*c, "incr", {{"key", "ctr"}}), Value(1));
  ok(*c, "set", {{"key", "k1"}, {"value", "new"}});
  EXPECT_EQ(ok(*c, "get", {{"key", "k1"}}), Value("new"));
  auto other = cache();  // another process sees the same generation
  EXPECT_EQ(ok(*other, "get", {{"key", "k1"}}), Value("new"));
}

TEST_P(CacheTest, DeletePatternMatchesTheUserKeyPartOnly) {
  auto c = cache("ns*");  // glob characters in the namespace match only themselves
  auto neighbour = cache("nsX");
  for (int i = 0; i < 30; ++i) ok(*c, "set", {{"key", "user:" + std::to_string(i)}, {"value", i}});
  ok(*c, "set", {{"key", "post:1"}, {"value", 1}});
  ok(*c, "set", {{"key", "a*b"}, {"value", 1}});
  ok(*neighbour, "set", {{"key", "user:1"}, {"value", "n"}});
  EXPECT_EQ(ok(*c, "delete_pattern", {{"pattern", "user:*"}}), Value(30));
  EXPECT_TRUE(ok(*c, "get", {{"key", "user:3"}}).is_null());
  EXPECT_EQ(ok(*c, "get", {{"key", "post:1"}}), Value(1));
  EXPECT_EQ(ok(*neighbour, "get", {{"key", "user:1"}}), Value("n"));
  EXPECT_EQ(ok(*c, "delete_pattern", {{"pattern", "a\\*b"}}), Value(1));
  EXPECT_EQ(ok(*c, "delete_pattern", {{"pattern", "nothing*"}}), Value(0));
}

TEST_P(CacheTest, StatsCountHitsAndMisses) {
  auto c = cache();
  ok(*c, "set", {{"key", "k"}, {"value", 1}});
  ok(*c, "get", {{"key", "k"}});
  ok(*c, "get", {{"key", "k"}});
  ok(*c, "get", {{"key", "k"}});
  ok(*c, "get", {{"key", "nope"}});
  Value s = ok(*c, "stats");
  EXPECT_EQ(s["hits"], Value(3));
  EXPECT_EQ(s["misses"], Value(1));
  EXPECT_DOUBLE_EQ(s["hit_ratio"].get<double>(), 0.75);
  EXPECT_EQ(s["sets"], Value(1));
}

TEST_P(CacheTest, BadInputIsInvalidArgument) {
  auto c = cache("ns", {{"max_value_bytes", 64}});
  const ErrorCode bad = ErrorCode::InvalidArgument;
  EXPECT_EQ(fails(*c, "get", {{"key", ""}}), bad);
  EXPECT_EQ(fails(*c, "get", Value::object()), bad);
  EXPECT_EQ(fails(*c, "get", {{"key", 5}}), bad);
  EXPECT_EQ(fails(*c, "get", {{"key", std::string(1025, 'k')}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", 1}, {"ttl_ms", -1}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", 1}, {"ttl_ms", 0}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", 1}, {"ttl_ms", std::nan("")}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", 1}, {"ttl_ms", "soon"}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", std::string(65, 'x')}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", {{"x", std::numeric_limits<double>::infinity()}}}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", {{"x", bytes("a")}}}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", 1}, {"tags", {""}}}), bad);
  EXPECT_EQ(fails(*c, "set", {{"key", "k"}, {"value", 1}, {"tags", "t"}}), bad);
  EXPECT_EQ(fails(*c, "incr", {{"key", "k"}, {"by", 1.5}}), bad);
  EXPECT_EQ(fails(*c, "delete_pattern", {{"pattern", ""}}), bad);
  EXPECT_EQ(fails(*c, "nope", Value::object()), bad);
  Result<Value> r = run(*c, "set", {{"key", "k"}, {"value", 1}, {"ttl_ms", -5}});
  EXPECT_NE(std::string(r.error().what()).find("ttl_ms"), std::string::npos);
  EXPECT_TRUE(ok(*c, "get", {{"key", "k"}}).is_null());  // nothing was stored by the refused sets

  auto cl = client();
  EXPECT_THROW(cl->primitive("cache", {{"namespace", ""}}), Error);
  EXPECT_THROW(cl->primitive("cache", Value::object()), Error);
  EXPECT_THROW(cl->primitive("cache", {{"namespace", "a{b"}}), Error);
  EXPECT_THROW(cl->primitive("cache", {{"namespace", "a"}, {"default_ttl_ms", -1}}), Error);
  EXPECT_THROW(cl->primitive("cache", {{"namespace", "a"}, {"max_value_bytes", 0}}), Error);
  EXPECT_THROW(cl->primitive("cache", {{"namespace", "a"}, {"bogus", 1}}), Error);
}

TEST_P(CacheTest, ClaimHitFillAndWaitersGetTheValue) {
  auto filler = cache();
  auto waiter = cache();
  Value first = ok(*filler, "claim", {{"key", "k"}});
  ASSERT_EQ(first["status"], Value("fill"));
  auto pending = std::async(std::launch::async, [&] { return run(*waiter, "claim", {{"key", "k"}}); });
  wait_until_waiting(*waiter);
  ASSERT_EQ(pending.wait_for(0ms), std::future_status::timeout);  // waiting, not answered
  ok(*filler, "fill", {{"key", "k"}, {"token", first["token"]}, {"gen", first["gen"]}, {"value", {{"v", 1}}}});
  Result<Value> got = pending.get();
  ASSERT_TRUE(got.ok()) << got.error().what();
  EXPECT_EQ(got.value()["status"], Value("hit"));
  EXPECT_EQ(got.value()["value"], Value({{"v", 1}}));
  Value again = ok(*waiter, "claim", {{"key", "k"}});
  EXPECT_EQ(again["status"], Value("hit"));
}

TEST_P(CacheTest, LoaderFailureReachesWaitersAndIsNotCached) {
  auto filler = cache();
  auto waiter = cache();
  Value first = ok(*filler, "claim", {{"key", "k"}});
  ASSERT_EQ(first["status"], Value("fill"));
  auto pending = std::async(std::launch::async, [&] { return run(*waiter, "claim", {{"key", "k"}}); });
  wait_until_waiting(*waiter);
  ok(*filler, "fail", {{"key", "k"}, {"token", first["token"]}, {"gen", first["gen"]}, {"message", "db down"}});
  Result<Value> got = pending.get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ErrorCode::LoaderFailed);
  EXPECT_STREQ(got.error().what(), "db down");
  EXPECT_TRUE(ok(*filler, "get", {{"key", "k"}}).is_null());
  EXPECT_EQ(ok(*waiter, "claim", {{"key", "k"}})["status"], Value("fill"));  // the marker is gone
}

TEST_P(CacheTest, ReleasedMarkerLetsAWaiterClaimTheFill) {
  auto filler = cache();
  auto waiter = cache();
  Value first = ok(*filler, "claim", {{"key", "k"}});
  auto pending = std::async(std::launch::async, [&] { return run(*waiter, "claim", {{"key", "k"}}); });
  wait_until_waiting(*waiter);
  ok(*filler, "fail", {{"key", "k"}, {"token", first["token"]}, {"gen", first["gen"]}, {"release", true}});
  Result<Value> got = pending.get();
  ASSERT_TRUE(got.ok()) << got.error().what();
  EXPECT_EQ(got.value()["status"], Value("fill"));
}

TEST_P(CacheTest, WaiterGivesUpAfterLockTimeoutAndLoadsItself) {
  auto filler = cache("ns", {{"lock_timeout_ms", 60000}});
  auto waiter = cache("ns", {{"lock_timeout_ms", 300}});
  ASSERT_EQ(ok(*filler, "claim", {{"key", "k"}})["status"], Value("fill"));
  auto t0 = std::chrono::steady_clock::now();
  Value got = ok(*waiter, "claim", {{"key", "k"}});
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got["status"], Value("load"));
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 5s);
  // The timed-out caller stores its value without a token; the original filler's marker is kept.
  ok(*waiter, "fill", {{"key", "k"}, {"gen", got["gen"]}, {"value", "mine"}});
  EXPECT_EQ(ok(*filler, "get", {{"key", "k"}}), Value("mine"));
}

TEST_P(CacheTest, ClearDuringALoadDiscardsTheLoadedValue) {
  auto c = cache();
  Value first = ok(*c, "claim", {{"key", "k"}});
  ok(*c, "clear");
  ok(*c, "fill", {{"key", "k"}, {"token", first["token"]}, {"gen", first["gen"]}, {"value", "stale"}});
  EXPECT_TRUE(ok(*c, "get", {{"key", "k"}}).is_null());
}

TEST_P(CacheTest, ManyClaimersAcrossClientsElectOneFiller) {
  constexpr int kClients = 4;
  constexpr int kCallers = 50;
  std::vector<std::shared_ptr<Primitive>> caches;
  for (int i = 0; i < kClients; ++i) caches.push_back(cache());
  std::atomic<int> fillers{0};
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      Primitive& c = *caches[i % kClients];
      Value r = ok(c, "claim", {{"key", "hot"}});
      if (r["status"] == "fill") {
        fillers.fetch_add(1);
        std::this_thread::sleep_for(200ms);  // a slow loader: everyone else is waiting now
        ok(c, "fill", {{"key", "hot"}, {"token", r["token"]}, {"gen", r["gen"]}, {"value", "loaded"}});
      } else if (r["status"] == "hit" && r["value"] == "loaded") {
        hits.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fillers.load(), 1);
  EXPECT_EQ(hits.load(), kCallers - 1);
}

// tests/vectors/cache.json: the ops and results Python and Node check too.
Value vector_value(const Value& v) {
  if (v.is_object() && v.size() == 1 && v.contains("$bytes")) {
    const std::string hex = v["$bytes"].get<std::string>();
    std::vector<std::uint8_t> out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return Value::binary(std::move(out));
  }
  if (v.is_object()) {
    Value out = Value::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = vector_value(it.value());
    return out;
  }
  if (v.is_array()) {
    Value out = Value::array();
    for (const auto& e : v) out.push_back(vector_value(e));
    return out;
  }
  return v;
}

Value resolve(const Value& v, const std::map<std::string, Value>& kept) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    const size_t dot = s.find('.');
    if (s.size() > 1 && s[0] == '$' && dot != std::string::npos) return kept.at(s.substr(1, dot - 1)).at(s.substr(dot + 1));
    return v;
  }
  if (v.is_object()) {
    Value out = Value::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = resolve(it.value(), kept);
    return out;
  }
  return v;
}

// The vectors' durations are ManualClock values; on Redis the runner stretches every positive
// *_ms number (ttl_ms, default_ttl_ms) and advance_ms by the same unit u (see CacheTest::u).
Value scaled_ms(const Value& v, int64_t u) {
  if (u == 1 || !v.is_object()) return v;
  Value out = v;
  for (auto it = out.begin(); it != out.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() > 3 && k.compare(k.size() - 3, 3, "_ms") == 0 && it.value().is_number_integer() &&
        it.value().get<int64_t>() > 0) {
      it.value() = it.value().get<int64_t>() * u;
    }
  }
  return out;
}

Value load_vectors() {
  std::ifstream in(std::string(REDKEEPER_VECTORS_DIR) + "/cache.json");
  return Value::parse(in);
}

TEST_P(CacheTest, SharedVectors) {
  const Value data = load_vectors();
  ASSERT_FALSE(data["cases"].empty());
  int n = 0;
  for (const auto& c : data["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    Value cfg = scaled_ms(c["config"], u());
    cfg["namespace"] = cfg["namespace"].get<std::string>() + "-" + std::to_string(n++);  // fresh per case
    auto cache = client()->primitive("cache", cfg);
    std::map<std::string, Value> kept;
    int i = 0;
    for (const auto& step : c["steps"]) {
      SCOPED_TRACE("step " + std::to_string(i++));
      if (step.contains("advance_ms")) {
        pass(step["advance_ms"].get<int64_t>() * u());
        continue;
      }
      const std::string op = step["op"];
      Result<Value> r = run(*cache, op, vector_value(scaled_ms(resolve(step["args"], kept), u())));
      if (step.contains("error")) {
        ASSERT_FALSE(r.ok()) << op << " answered " << r.value().dump();
        EXPECT_STREQ(error_code_name(r.error().code()), step["error"].get<std::string>().c_str());
        continue;
      }
      ASSERT_TRUE(r.ok()) << op << ": " << r.error().what();
      const Value want = vector_value(step["result"]);
      if (op == "claim") {
        for (auto it = want.begin(); it != want.end(); ++it) EXPECT_EQ(r.value()[it.key()], it.value()) << it.key();
      } else {
        EXPECT_EQ(r.value(), want) << op;
      }
      if (step.contains("keep")) kept[step["keep"].get<std::string>()] = r.value();
    }
  }
  auto cl = client();
  for (const auto& bad : data["config_errors"]) {
    EXPECT_THROW(cl->primitive("cache", bad["config"]), Error) << bad.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, CacheTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

// Redis only: a filler that crashes (never fills, never fails) frees the key when its marker
// expires; the waiter then claims the fill itself instead of waiting out its whole timeout.
TEST(CacheRedis, CrashedFillerIsReplacedWhenItsMarkerExpires) {
  RedisServer server;
  auto a = Client::open(server.url());
  auto b = Client::open(server.url());
  auto crashed = a->primitive("cache", {{"namespace", "ns"}, {"lock_timeout_ms", 200}});
  auto waiter = b->primitive("cache", {{"namespace", "ns"}, {"lock_timeout_ms", 5000}});
  ASSERT_EQ(ok(*crashed, "claim", {{"key", "k"}})["status"], Value("fill"));
  auto t0 = std::chrono::steady_clock::now();
  Value got = ok(*waiter, "claim", {{"key", "k"}});
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got["status"], Value("fill"));
  EXPECT_LT(waited, 2s);
  a->close();
  b->close();
}

}  // namespace
}  // namespace redkeeper::testing
