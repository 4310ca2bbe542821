// Redis Cluster end to end: a private 3-primary + 3-replica cluster (cluster_harness.hpp), routing
// to every primary, the limiter vectors, every primitive's ops with no CROSSSLOT, SCAN across
// primaries, a slot resharded under traffic (ASK then MOVED), and a primary killed under traffic
// (failover). Tests run in file order on one cluster; the failover test is last (it kills a node).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "cluster_harness.hpp"
#include "common/keys.hpp"
#include "redis/script.hpp"
#include "test_helpers.hpp"
#include "vector_runner.hpp"

namespace redkeeper {
namespace {

using testing::call;
using testing::call_eval;
using testing::error_text;
using testing::eventually;
using testing::open_redis;
using testing::RedisCluster;

RedisCluster& cluster() { return RedisCluster::shared(); }

std::shared_ptr<RedisClient> open_cluster(ClientOptions options = {}) {
  static std::atomic<int> counter{0};
  if (options.prefix == "rk") options.prefix = "c" + std::to_string(counter++);
  return open_redis(cluster().url(), std::move(options));
}

// Waits until the client knows the topology (ops would wait for it anyway; tests that count
// redirects want a settled start).
void wait_connected(RedisClient& client, int seconds = 10) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!client.health().connected && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// A key whose slot the primary on `port` owns.
std::string key_on(int port, const std::string& stem) {
  for (int i = 0; i < 100000; ++i) {
    std::string k = stem + std::to_string(i);
    if (cluster().owner_of(key_slot(k)) == port) return k;
  }
  throw std::runtime_error("no key found for port " + std::to_string(port));
}

bool crossslot(const Error& e) { return std::string(e.what()).find("CROSSSLOT") != std::string::npos; }

// CROSSSLOT replies every node has sent so far (INFO errorstats), whatever the client made of them.
int64_t server_crossslot_count() {
  int64_t total = 0;
  for (int port : cluster().ports()) {
    const std::string stats = cluster().cli(port, "INFO errorstats");
    const std::string tag = "errorstat_CROSSSLOT:count=";
    const size_t at = stats.find(tag);
    if (at != std::string::npos) total += std::stoll(stats.substr(at + tag.size()));
  }
  return total;
}

TEST(RedisCluster, SlotsMatchTheServer) {
  // key_slot agrees with CLUSTER KEYSLOT, hash tags included.
  int port = cluster().ports().front();
  for (const char* k : {"foo", "bar", "hello", "123456789", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap",
                        "foo{bar}{zap}", "rk:limiter:api:{203.0.113.7}"}) {
    EXPECT_EQ(std::to_string(key_slot(k)), cluster().cli(port, std::string("CLUSTER KEYSLOT '") + k + "'")) << k;
  }
}

TEST(RedisCluster, RoutesToEveryPrimaryAndReportsTheTopology) {
  auto client = open_cluster();
  // Ops issued before the topology arrives wait for it instead of failing.
  auto early = call(*client, {"SET", "early-key", "1"});
  ASSERT_TRUE(early.ok()) << error_text(early);
  std::vector<int> primaries = cluster().primary_ports();
  ASSERT_EQ(primaries.size(), 3u);
  for (int port : primaries) {
    std::string key = key_on(port, "route-");
    auto set = call(*client, {"SET", key, "v-" + std::to_string(port)});
    ASSERT_TRUE(set.ok()) << error_text(set);
    // The value is on the node that owns the slot, and only there.
    EXPECT_EQ(cluster().cli(port, "GET " + key), "v-" + std::to_string(port));
    auto get = call(*client, {"GET", key});
    ASSERT_TRUE(get.ok()) << error_text(get);
    EXPECT_EQ(get.value().as_string(), "v-" + std::to_string(port));
  }
  // Keyless commands go to any primary.
  EXPECT_TRUE(call(*client, {"PING"}).ok());
  EXPECT_TRUE(call(*client, {"TIME"}).ok());
  wait_connected(*client);
  Health h = client->health();
  EXPECT_EQ(h.backend, "redis");
  EXPECT_TRUE(h.connected);
  Stats s = client->stats();
  EXPECT_EQ(s.nodes, 3u);
  EXPECT_GE(s.topology_refreshes, 1u);
  EXPECT_EQ(s.redirects, 0u);  // the map was right from the start
  EXPECT_EQ(s.in_flight, 0u);
  // Multi-key commands across slots are the server's to refuse.
  auto cross = call(*client, {"MGET", "a-key", "b-key"});
  ASSERT_FALSE(cross.ok());
  EXPECT_TRUE(crossslot(cross.error())) << error_text(cross);
  auto same = call(*client, {"MGET", "{t}a", "{t}b"});
  EXPECT_TRUE(same.ok()) << error_text(same);
  client->close();
}

TEST(RedisCluster, ClusterOptionOnARedisUrlAndBadSeeds) {
  ClientOptions options;
  options.cluster = true;
  auto client = open_redis("redis://127.0.0.1:" + std::to_string(cluster().ports().back()), options);
  auto r = call(*client, {"INCR", "option-seed"});
  EXPECT_TRUE(r.ok()) << error_text(r);
  wait_connected(*client);
  EXPECT_EQ(client->stats().nodes, 3u);
  client->close();
  // A dead seed first: the next one answers.
  int dead = testing::free_port();
  auto client2 = open_redis("redis+cluster://127.0.0.1:" + std::to_string(dead) + "," + cluster().url().substr(16));
  auto r2 = call(*client2, {"INCR", "second-seed"});
  EXPECT_TRUE(r2.ok()) << error_text(r2);
  client2->close();
  // No seed answers: ops settle by their deadline with a typed error.
  ClientOptions quick;
  quick.command_timeout_ms = 300;
  auto client3 = open_redis("redis+cluster://127.0.0.1:" + std::to_string(dead), quick);
  auto start = std::chrono::steady_clock::now();
  auto r3 = call(*client3, {"GET", "x"});
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error().code(), ErrorCode::Timeout) << error_text(r3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_FALSE(client3->health().connected);
  client3->close();
}

TEST(RedisCluster, LimiterVectorsPass) {
  const size_t ran = vectors::run_limiter_vectors([](std::shared_ptr<ManualClock> clock) -> std::shared_ptr<Client> {
    ClientOptions options;
    options.clock = std::move(clock);
    return open_cluster(options);
  });
  EXPECT_GE(ran, 40u);
}

TEST(RedisCluster, HitManyNeedsOneSlot) {
  auto client = open_cluster();
  LimiterConfig a;
  a.name = "per-minute";
  a.limit = 5;
  a.window_ms = 60000;
  LimiterConfig b = a;
  b.name = "per-hour";
  b.limit = 50;
  b.window_ms = 3600000;
  auto la = client->limiter(a);
  auto lb = client->limiter(b);
  auto same = testing::await_result<MultiLimitResult>(
      [&](auto cb) { client->hit_many({{la, "198.51.100.1", 1}, {lb, "198.51.100.1", 1}}, cb); });
  ASSERT_TRUE(same.ok()) << same.error().what();
  EXPECT_TRUE(same.value().allowed);
  EXPECT_FALSE(same.value().results[0].degraded);
  auto differ = testing::await_result<MultiLimitResult>(
      [&](auto cb) { client->hit_many({{la, "198.51.100.1", 1}, {lb, "198.51.100.2", 1}}, cb); });
  ASSERT_FALSE(differ.ok());
  EXPECT_EQ(differ.error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(std::string(differ.error().what()).rfind("checks:", 0), 0u) << differ.error().what();
  client->close();
}

// Replays every op of the shared primitive vectors on the cluster (expectations are checked by the
// memory/Redis runners and the Python/Node cluster suites): none may meet CROSSSLOT, a connection
// problem or a protocol error. Returns the number of ops run.
struct Replay {
  int ops = 0;
  std::vector<std::string> failures;

  static Value substitute(const Value& v, const std::map<std::string, Value>& saved) {
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (s.size() > 1 && (s[0] == '$' || s[0] == '@')) {
        // "$name" or "$name.field" (a field of a kept result).
        const size_t dot = s.find('.');
        auto it = saved.find(s.substr(1, dot == std::string::npos ? std::string::npos : dot - 1));
        if (it != saved.end()) {
          if (dot == std::string::npos) return it->second;
          const std::string field = s.substr(dot + 1);
          if (it->second.is_object() && it->second.contains(field)) return it->second.at(field);
        }
      }
      return v;
    }
    if (v.is_object() || v.is_array()) {
      Value out = v;
      for (auto it = out.begin(); it != out.end(); ++it) *it = substitute(*it, saved);
      return out;
    }
    return v;
  }

  void step(Primitive& p, const Value& st, std::map<std::string, Value>& saved, const std::string& where) {
    const std::string op = st.at("op").get<std::string>();
    Value args = substitute(st.value("args", Value::object()), saved);
    auto started = std::chrono::steady_clock::now();
    auto r = testing::await_result<Value>([&](auto cb) { p.call(op, args, cb); });
    ++ops;
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) {
      std::cout << "[replay] slow: " << where << " " << op << " " << args.dump() << " -> "
                << (r.ok() ? r.value().dump() : std::string(r.error().what())) << "\n";
    }
    if (!r.ok()) {
      const Error& e = r.error();
      bool unexpected = crossslot(e) || e.code() == ErrorCode::Connection || e.code() == ErrorCode::Timeout ||
                        e.code() == ErrorCode::Protocol || e.code() == ErrorCode::Internal;
      if (unexpected) failures.push_back(where + " " + op + ": " + error_code_name(e.code()) + " " + e.what());
      return;
    }
    if (st.contains("keep")) saved[st.at("keep").get<std::string>()] = r.value();
    for (const char* as : {"save_as", "as"}) {
      if (!st.contains(as)) continue;
      const Value& v = r.value();
      Value keep = v;
      if (v.is_object() && v.contains("token")) keep = v.at("token");
      else if (v.is_object() && v.contains("code")) keep = v.at("code");
      else if (v.is_object() && v.contains("id")) keep = v.at("id");
      saved[st.at(as).get<std::string>()] = keep;
    }
  }

  void run_cases(const std::string& file, const std::string& default_kind, const char* cases_field,
                 const char* config_field) {
    const Value doc = vectors::load(file);
    int n = 0;
    for (const Value& c : doc.at(cases_field)) {
      const std::string where = file + ": " + c.value("name", std::string("case"));
      if (c.contains("config_error")) continue;
      auto clock = std::make_shared<ManualClock>(
          c.value("start_ms", doc.value("start_ms", doc.value("clock_start_ms", int64_t{1'700'000'000'000}))));
      ClientOptions options;
      options.clock = clock;
      auto client = open_cluster(options);
      std::map<std::string, std::shared_ptr<Primitive>> handles;
      const std::string kind = c.value("kind", default_kind);
      try {
        if (c.contains("handles")) {
          for (auto it = c.at("handles").begin(); it != c.at("handles").end(); ++it) {
            Value cfg = it.value();
            if (!cfg.contains("name")) cfg["name"] = "vec-lock-" + std::to_string(n);
            handles[it.key()] = client->primitive(kind, cfg);
          }
        } else {
          handles[""] = client->primitive(kind, c.value(config_field, Value::object()));
        }
      } catch (const Error& e) {
        client->close();
        continue;  // a config the vectors expect to be refused
      }
      std::map<std::string, Value> saved;
      int index = 0;
      for (const Value& st : c.at("steps")) {
        if (st.contains("advance_ms")) clock->advance(st.at("advance_ms").get<int64_t>());
        if (!st.contains("op")) continue;
        if (st.at("op") == "advance") {
          clock->advance(st.value("ms", int64_t{0}));
          continue;
        }
        auto h = handles.find(st.value("handle", std::string()));
        if (h == handles.end()) continue;
        step(*h->second, st, saved, where + " step " + std::to_string(index++));
      }
      client->close();
      ++n;
    }
  }
};

TEST(RedisCluster, EveryPrimitiveVectorRunsWithoutCrossSlot) {
  const int64_t crossslot_before = server_crossslot_count();
  Replay replay;
  for (auto [file, kind, cases, config] : {std::tuple{"sessions.json", "sessions", "cases", "config"},
                                           std::tuple{"cache.json", "cache", "cases", "config"},
                                           std::tuple{"tokens.json", "tokens", "sequences", "options"},
                                           std::tuple{"locks.json", "lock", "cases", "config"},
                                           std::tuple{"idempotency.json", "idempotency", "cases", "config"},
                                           std::tuple{"otp.json", "otp", "cases", "config"}}) {
    auto start = std::chrono::steady_clock::now();
    const int before = replay.ops;
    replay.run_cases(file, kind, cases, config);
    std::cout << "[replay] " << file << ": " << replay.ops - before << " ops in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
              << " ms\n";
  }
  EXPECT_GE(replay.ops, 200);
  for (const auto& f : replay.failures) ADD_FAILURE() << f;
  EXPECT_EQ(server_crossslot_count(), crossslot_before);  // not even one swallowed by a primitive
}

Value ok(Primitive& p, const std::string& op, Value args = Value::object()) {
  auto r = testing::await_result<Value>([&](auto cb) { p.call(op, std::move(args), cb); });
  if (!r.ok()) {
    EXPECT_FALSE(crossslot(r.error())) << op << ": " << r.error().what();
    throw std::runtime_error(op + " failed: " + error_code_name(r.error().code()) + " " + r.error().what());
  }
  return r.value();
}

TEST(RedisCluster, MultiKeyOpsOfEveryPrimitive) {
  const int64_t crossslot_before = server_crossslot_count();
  auto client = open_cluster();
  // Sessions: the per-user index and the namespace index live in the namespace's slot.
  auto sessions = client->primitive("sessions", Value::object());
  Value a = ok(*sessions, "create", {{"data", {{"n", 1}}}, {"user_id", "u1"}});
  Value b = ok(*sessions, "create", {{"data", {{"n", 2}}}, {"user_id", "u1"}, {"device", "phone"}});
  ok(*sessions, "create", {{"data", Value::object()}, {"user_id", "u2"}});
  EXPECT_EQ(ok(*sessions, "list_user", {{"user_id", "u1"}}).size(), 2u);
  Value rotated = ok(*sessions, "rotate", {{"id", a}});
  EXPECT_TRUE(ok(*sessions, "get", {{"id", a}}).is_null());
  EXPECT_EQ(ok(*sessions, "get", {{"id", rotated}}), Value({{"n", 1}}));
  EXPECT_EQ(ok(*sessions, "count"), 3);
  EXPECT_EQ(ok(*sessions, "destroy_user", {{"user_id", "u1"}, {"except_id", b}}), 1);
  EXPECT_EQ(ok(*sessions, "count"), 2);
  ok(*sessions, "clear");
  EXPECT_EQ(ok(*sessions, "count"), 0);

  // Tokens: denylist entries and the user's revoke-all marker share the user's slot.
  auto tokens = client->primitive("tokens", Value::object());
  const std::string jwt =  // {"sub":"alice","jti":"j1","iat":1699999990,"exp":4102444800}
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImp0aSI6ImoxIiwiaWF0IjoxNjk5OTk5OTkwLCJleHAiOjQxMDI0NDQ4MDB9.c2ln";
  EXPECT_EQ(ok(*tokens, "is_revoked", {{"token", jwt}}), false);
  EXPECT_EQ(ok(*tokens, "revoke", {{"token", jwt}})["added"], true);
  EXPECT_EQ(ok(*tokens, "is_revoked", {{"token", jwt}}), true);
  ok(*tokens, "revoke_user", {{"sub", "bob"}});

  // Cache: tags, clear and a pattern deletion over several namespaces (several slots, so
  // several primaries): SCAN walks every primary.
  std::set<int> owners;
  for (int ns = 0; ns < 6; ++ns) {
    auto cache = client->primitive("cache", Value{{"namespace", "ns" + std::to_string(ns)}});
    for (int k = 0; k < 25; ++k) {
      ok(*cache, "set", {{"key", "item:" + std::to_string(k)}, {"value", k}, {"tags", {"t1"}}});
    }
    ok(*cache, "set", {{"key", "other"}, {"value", 1}});
    EXPECT_EQ(ok(*cache, "delete_pattern", {{"pattern", "item:*"}}), 25);
    EXPECT_TRUE(ok(*cache, "get", {{"key", "item:3"}}).is_null());
    EXPECT_EQ(ok(*cache, "get", {{"key", "other"}}), 1);
    ok(*cache, "set", {{"key", "tagged"}, {"value", 2}, {"tags", {"t2"}}});
    ok(*cache, "invalidate_tag", {{"tag", "t2"}});
    EXPECT_TRUE(ok(*cache, "get", {{"key", "tagged"}}).is_null());
    ok(*cache, "clear");
    EXPECT_TRUE(ok(*cache, "get", {{"key", "other"}}).is_null());
    Value claim = ok(*cache, "claim", {{"key", "gos"}});
    EXPECT_EQ(claim["status"], "fill");
  }

  // Lock: the lock key and its fencing counter share a slot.
  auto lock = client->primitive("lock", Value{{"name", "cluster-lock"}, {"ttl_ms", 5000}});
  Value got = ok(*lock, "acquire");
  EXPECT_GT(got.value("fencing_token", int64_t{0}), 0);
  EXPECT_EQ(ok(*lock, "release")["released"], true);

  // Idempotency and one-time codes.
  auto idem = client->primitive("idempotency", Value::object());
  Value begun = ok(*idem, "begin", {{"key", "order-1"}, {"fingerprint", "f"}});
  EXPECT_EQ(begun["status"], "new");
  ok(*idem, "complete", {{"key", "order-1"}, {"token", begun["token"]}, {"response", "done"}});
  EXPECT_EQ(ok(*idem, "begin", {{"key", "order-1"}, {"fingerprint", "f"}})["status"], "completed");
  auto otp = client->primitive("otp", Value{{"secret", "cluster-secret-0123456789abcdef"}});
  ok(*otp, "issue", {{"subject", "user:1"}, {"code", "123456"}});
  EXPECT_EQ(ok(*otp, "verify", {{"subject", "user:1"}, {"code", "123456"}})["ok"], true);
  client->close();
  EXPECT_EQ(server_crossslot_count(), crossslot_before);
}

TEST(RedisCluster, ScanWalksEveryPrimaryWithOneCursor) {
  auto client = open_cluster();
  std::set<std::string> written;
  for (int port : cluster().primary_ports()) {
    for (int i = 0; i < 5; ++i) {
      std::string k = key_on(port, "scan-me-" + std::to_string(i) + "-");
      ASSERT_TRUE(call(*client, {"SET", k, "1"}).ok());
      written.insert(k);
    }
  }
  std::set<std::string> seen;
  std::string cursor = "0";
  int pages = 0;
  do {
    auto r = call(*client, {"SCAN", cursor, "MATCH", "scan-me-*", "COUNT", "3"});
    ASSERT_TRUE(r.ok()) << error_text(r);
    cursor = std::string(r.value().at(0).as_string());
    for (const auto& k : r.value().at(1).as_array()) seen.insert(std::string(k.as_string()));
    ASSERT_LT(++pages, 10000);
  } while (cursor != "0");
  EXPECT_EQ(seen, written);
  EXPECT_GE(pages, 3);
  auto bad = call(*client, {"SCAN", "garbage"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::InvalidArgument);
  client->close();
}

// Traffic on one key from several threads: INCR commands and an EVALSHA script (which a node
// that never saw it answers with NOSCRIPT, so the EVAL fallback runs under ASKING too).
class Traffic {
 public:
  Traffic(RedisClient& client, std::string key, int threads) : client_(client), key_(std::move(key)) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] {
        const Script incr("return redis.call('INCR', KEYS[1])");
        for (int i = 0; !stop_.load(); ++i) {
          auto start = std::chrono::steady_clock::now();
          auto r = ((i + t) % 2 == 0) ? call(client_, {"INCR", key_}) : call_eval(client_, incr, {key_}, {});
          auto took = std::chrono::steady_clock::now() - start;
          std::lock_guard<std::mutex> lock(mu_);
          longest_ = std::max(longest_, took);
          if (r.ok()) {
            ++ok_;
            last_ok_ = std::chrono::steady_clock::now();
          } else {
            ++failed_;
            codes_.insert(error_code_name(r.error().code()));
            if (errors_.size() < 5) errors_.push_back(r.error().what());
            if (crossslot(r.error())) ++crossslot_;
          }
        }
      });
    }
  }
  ~Traffic() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int ok() const { std::lock_guard<std::mutex> lock(mu_); return ok_; }
  int failed() const { std::lock_guard<std::mutex> lock(mu_); return failed_; }
  std::string errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& e : errors_) out += e + "; ";
    return out;
  }
  std::set<std::string> codes() const { std::lock_guard<std::mutex> lock(mu_); return codes_; }
  std::chrono::steady_clock::duration longest() const { std::lock_guard<std::mutex> lock(mu_); return longest_; }
  std::chrono::steady_clock::time_point last_ok() const { std::lock_guard<std::mutex> lock(mu_); return last_ok_; }
  int crossslot_count() const { std::lock_guard<std::mutex> lock(mu_); return crossslot_; }

 private:
  RedisClient& client_;
  std::string key_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  int ok_ = 0, failed_ = 0, crossslot_ = 0;
  std::set<std::string> codes_;
  std::vector<std::string> errors_;
  std::chrono::steady_clock::duration longest_{};
  std::chrono::steady_clock::time_point last_ok_{};
};

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

TEST(RedisCluster, ReshardUnderTrafficFollowsAskThenMoved) {
  ClientOptions options;
  options.cluster_refresh_ms = 0;  // only redirections teach the client: MOVED must happen
  auto client = open_cluster(options);
  std::vector<int> primaries = cluster().primary_ports();
  const std::string key = key_on(primaries[0], "reshard-");
  const int slot = key_slot(key);
  const int src = cluster().owner_of(slot);
  int dst = 0;
  for (int p : primaries) {
    if (p != src) dst = p;
  }
  ASSERT_TRUE(call(*client, {"SET", key, "0"}).ok());
  wait_connected(*client);
  const std::string src_id = cluster().node_id(src);
  const std::string dst_id = cluster().node_id(dst);
  const std::string s = std::to_string(slot);

  Traffic traffic(*client, key, 4);
  sleep_ms(100);
  // Migration in progress: the key moves to dst, src answers ASK for it.
  EXPECT_EQ(cluster().cli(dst, "CLUSTER SETSLOT " + s + " IMPORTING " + src_id), "OK");
  EXPECT_EQ(cluster().cli(src, "CLUSTER SETSLOT " + s + " MIGRATING " + dst_id), "OK");
  EXPECT_EQ(cluster().cli(src, "MIGRATE 127.0.0.1 " + std::to_string(dst) + " \"\" 0 5000 KEYS " + key), "OK");
  EXPECT_TRUE(eventually([&] { return client->stats().redirects > 0; }, 10000, 20));  // ASK followed
  const uint64_t after_ask = client->stats().redirects;
  // Migration done: every node learns the new owner (destination first, as redis-cli does);
  // src now answers MOVED.
  EXPECT_EQ(cluster().cli(dst, "CLUSTER SETSLOT " + s + " NODE " + dst_id), "OK");
  EXPECT_EQ(cluster().cli(src, "CLUSTER SETSLOT " + s + " NODE " + dst_id), "OK");
  for (int p : cluster().primary_ports()) {
    if (p != src && p != dst) cluster().cli(p, "CLUSTER SETSLOT " + s + " NODE " + dst_id);
  }
  EXPECT_TRUE(eventually([&] { return client->stats().redirects > after_ask; }, 10000, 20));  // MOVED followed
  EXPECT_TRUE(eventually([&] { return traffic.ok() > 50; }, 10000, 20));
  traffic.stop();
  EXPECT_EQ(traffic.failed(), 0) << traffic.errors();
  EXPECT_EQ(traffic.crossslot_count(), 0);
  // Exactly-once: every acknowledged increment is in the value (nothing re-sent twice).
  auto value = call(*client, {"GET", key});
  ASSERT_TRUE(value.ok()) << error_text(value);
  EXPECT_EQ(std::stoll(std::string(value.value().as_string())), traffic.ok());
  EXPECT_EQ(cluster().owner_of(slot), dst);
  client->close();
}

// While a slot migrates, (a) a script that touches a key it does not declare waits on the source
// instead of following ASK (on the importing node its value would read as missing: lost updates),
// and (b) a multi-key script whose keys the migration splits (TRYAGAIN from the importing node)
// waits the migration out instead of failing after max_redirects.
TEST(RedisCluster, MigrationWaitsForUndeclaredKeyScriptsAndTryAgain) {
  ClientOptions options;
  options.command_timeout_ms = 5000;
  options.cluster_refresh_ms = 0;
  auto client = open_cluster(options);
  std::vector<int> primaries = cluster().primary_ports();
  const std::string tag = key_on(primaries[1], "mig-");
  const std::string declared = "{" + tag + "}:ns";     // never written: the script only names it
  const std::string value = "{" + tag + "}:value";     // what the script really updates
  const std::string pair_a = "{" + tag + "}:a";        // a multi-key script's keys: one exists,
  const std::string pair_b = "{" + tag + "}:b";        // the other never does
  const int slot = key_slot(tag);
  const int src = cluster().owner_of(slot);
  int dst = 0;
  for (int p : primaries) {
    if (p != src) dst = p;
  }
  ASSERT_TRUE(call(*client, {"SET", value, "0"}).ok());
  ASSERT_TRUE(call(*client, {"SET", pair_a, "0"}).ok());
  wait_connected(*client);
  const Script undeclared("return redis.call('INCR', (KEYS[1]:gsub(':ns$', ':value')))", Script::UndeclaredKeys);
  const Script pair("redis.call('GET', KEYS[2]) return redis.call('INCR', KEYS[1])");
  std::atomic<bool> stop{false};
  std::atomic<int> undeclared_ok{0}, pair_ok{0};
  std::mutex mu;
  std::vector<std::string> errors;
  auto worker = [&](const Script& script, std::vector<std::string> keys, std::atomic<int>& ok_count) {
    while (!stop) {
      std::vector<std::string_view> k(keys.begin(), keys.end());
      auto r = call_eval(*client, script, k, {});
      if (r.ok()) {
        ++ok_count;
      } else {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(error_text(r));
      }
    }
  };
  std::thread t1(worker, std::cref(undeclared), std::vector<std::string>{declared}, std::ref(undeclared_ok));
  std::thread t2(worker, std::cref(pair), std::vector<std::string>{pair_a, pair_b}, std::ref(pair_ok));
  sleep_ms(100);
  const std::string s = std::to_string(slot);
  EXPECT_EQ(cluster().cli(dst, "CLUSTER SETSLOT " + s + " IMPORTING " + cluster().node_id(src)), "OK");
  EXPECT_EQ(cluster().cli(src, "CLUSTER SETSLOT " + s + " MIGRATING " + cluster().node_id(dst)), "OK");
  EXPECT_EQ(cluster().cli(src, "MIGRATE 127.0.0.1 " + std::to_string(dst) + " \"\" 0 5000 KEYS " + value + " " + pair_a),
            "OK");
  sleep_ms(500);  // both kinds of op now wait (they would have failed or lost updates before)
  const int undeclared_during = undeclared_ok.load();
  EXPECT_EQ(cluster().cli(dst, "CLUSTER SETSLOT " + s + " NODE " + cluster().node_id(dst)), "OK");
  EXPECT_EQ(cluster().cli(src, "CLUSTER SETSLOT " + s + " NODE " + cluster().node_id(dst)), "OK");
  for (int p : primaries) {
    if (p != src && p != dst) cluster().cli(p, "CLUSTER SETSLOT " + s + " NODE " + cluster().node_id(dst));
  }
  EXPECT_TRUE(eventually([&] { return undeclared_ok.load() > undeclared_during; }, 10000, 20));  // resumed after the migration
  stop = true;
  t1.join();
  t2.join();
  for (const auto& e : errors) ADD_FAILURE() << e << " (src " << src << ", dst " << dst << ")";
  // No update was lost: every acknowledged INCR is in the migrated values.
  auto v = call(*client, {"GET", value});
  auto a = call(*client, {"GET", pair_a});
  ASSERT_TRUE(v.ok() && a.ok());
  EXPECT_EQ(std::stoll(std::string(v.value().as_string())), undeclared_ok.load());
  EXPECT_EQ(std::stoll(std::string(a.value().as_string())), pair_ok.load());
  EXPECT_EQ(cluster().owner_of(slot), dst);
  client->close();
}

TEST(RedisCluster, TlsClusterRoutesOverTlsPorts) {
  RedisCluster tls_cluster(3, 0, true);
  ClientOptions options;
  options.tls.ca_file = testing::TlsCerts::shared().ca_cert;
  auto client = open_redis(tls_cluster.tls_url(), options);
  for (int port : tls_cluster.primary_ports()) {
    std::string key;
    for (int i = 0;; ++i) {
      key = "tls-" + std::to_string(i);
      if (tls_cluster.owner_of(key_slot(key)) == port) break;
    }
    auto set = call(*client, {"SET", key, "over-tls"});
    ASSERT_TRUE(set.ok()) << error_text(set);
    EXPECT_EQ(tls_cluster.cli(port, "GET " + key), "over-tls");
  }
  wait_connected(*client);
  EXPECT_TRUE(client->health().connected);
  EXPECT_EQ(client->stats().nodes, 3u);
  client->close();
  // Without the CA the certificate check fails: ops settle with a typed error, nothing hangs.
  ClientOptions untrusted;
  untrusted.command_timeout_ms = 300;
  untrusted.tls.ca_file = testing::TlsCerts::shared().other_ca_cert;
  auto bad = open_redis(tls_cluster.tls_url(), untrusted);
  auto r = call(*bad, {"GET", "x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Timeout) << error_text(r);
  bad->close();
}

// Fires `n` limiter hits over `keys` ids at once and waits for all: ops per second.
double hits_per_second(Client& client, int n, int keys) {
  LimiterConfig lc;
  lc.name = "throughput";
  lc.limit = 1000000;
  lc.window_ms = 60000;
  auto limiter = client.limiter(lc);
  std::mutex mu;
  std::condition_variable cv;
  int settled = 0, failed = 0;
  std::vector<std::string> ids;
  for (int k = 0; k < keys; ++k) ids.push_back("id-" + std::to_string(k));
  auto start = std::chrono::steady_clock::now();
  // Corked as Node does for one event-loop turn: what goes out together then depends on the engine
  // alone, not on how the I/O thread happens to be scheduled on a busy machine.
  client.cork();
  for (int i = 0; i < n; ++i) {
    limiter->hit(ids[static_cast<size_t>(i % keys)], 1, [&](Result<LimitResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      ++settled;
      if (!r.ok() || r.value().degraded) ++failed;
      if (settled == n) cv.notify_all();
    });
  }
  client.uncork();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, std::chrono::seconds(60), [&] { return settled == n; });
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(settled, n);
  EXPECT_EQ(failed, 0);
  return n / secs;
}

TEST(RedisCluster, PipelinesPerNodeAndReportsThroughput) {
  constexpr int kHits = 20000;
  testing::RedisServer single;
  ClientOptions options;  // 20000 ops at once on a busy machine: deadlines are not what this measures
  options.command_timeout_ms = 30000;
  auto one = open_redis(single.url(), options);
  auto many = open_cluster(options);
  wait_connected(*many);
  hits_per_second(*one, 2000, 100);  // warm up: scripts loaded, connections up
  hits_per_second(*many, 2000, 100);
  const uint64_t writes_before = many->socket_writes();
  const double single_rate = hits_per_second(*one, kHits, 1000);
  const double cluster_rate = hits_per_second(*many, kHits, 1000);
  const uint64_t writes = many->socket_writes() - writes_before;
  std::cout << "[throughput] limiter hits, " << kHits << " in flight at once: one server " << single_rate
            << "/s, cluster of 3 " << cluster_rate << "/s (ratio " << cluster_rate / single_rate << "), cluster socket writes "
            << writes << "\n";
  // Grouped per node: the corked hits leave in about one write per primary, not one per hit.
  EXPECT_LE(writes, 30u);
  one->close();
  many->close();
}

// A waiter on `lock` (through `waiter`) is woken by pub/sub when `holder` releases: the lock is
// held with a long lease, so only the release's PUBLISH can wake the waiter before wait_ms.
// Returns how long the waiter waited, or -1 when it did not get the lock.
int64_t wakeup_ms(Primitive& holder, Primitive& waiter) {
  EXPECT_NO_THROW(ok(holder, "acquire", {{"ttl_ms", 20000}}));
  std::promise<Result<Value>> got;
  std::atomic<int64_t> settled_ms{-1};
  auto start = std::chrono::steady_clock::now();
  waiter.call("acquire", {{"wait_ms", 4000}, {"ttl_ms", 20000}}, [&](Result<Value> r) {
    settled_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    got.set_value(std::move(r));
  });
  sleep_ms(300);
  EXPECT_EQ(settled_ms.load(), -1) << "the waiter did not wait";
  EXPECT_NO_THROW(ok(holder, "release"));
  Result<Value> r = got.get_future().get();
  if (!r.ok()) return -1;
  const int64_t waited = settled_ms.load() - 300;  // from the release
  EXPECT_NO_THROW(ok(waiter, "release"));
  return waited;
}

TEST(RedisCluster, ZZFailoverResumesWithoutANewClient) {
  ClientOptions options;
  options.command_timeout_ms = 500;
  options.reconnect_max_ms = 200;
  options.prefix = "fo";
  auto client = open_cluster(options);
  ClientOptions other_options;
  other_options.prefix = "fo";  // same keys: `other` holds the locks `client` waits for
  auto other = open_cluster(other_options);
  // The victim owns slot 0: the first primary in the client's order, where its pub/sub
  // connection sits, so the subscriber has to move too.
  const int victim = cluster().owner_of(0);
  ASSERT_NE(victim, 0);
  const std::string key = key_on(victim, "failover-");
  ASSERT_TRUE(call(*client, {"SET", key, "0"}).ok());
  wait_connected(*client);
  LimiterConfig lc;
  lc.name = "fo";
  lc.limit = 1000000;
  lc.window_ms = 60000;
  auto limiter = client->limiter(lc);
  // A lock that does not live on the victim; its waiter on `client` listens through pub/sub.
  std::string lock_name;
  for (int i = 0;; ++i) {
    lock_name = "fo-lock-" + std::to_string(i);
    if (cluster().owner_of(key_slot(std::string("{") + lock_name + "}")) != victim) break;
  }
  auto holder = other->primitive("lock", Value{{"name", lock_name}});
  auto waiter = client->primitive("lock", Value{{"name", lock_name}});
  const int64_t before_ms = wakeup_ms(*holder, *waiter);
  EXPECT_GE(before_ms, 0);
  EXPECT_LT(before_ms, 1000);
  {
    // The subscriber connection sits on the victim (its last command: (UN)SUBSCRIBE).
    const std::string clients = cluster().cli(victim, "CLIENT LIST");
    std::string where;
    for (int p : cluster().ports()) {
      const std::string list = cluster().cli(p, "CLIENT LIST");
      if (list.find("subscribe") != std::string::npos) where += std::to_string(p) + " ";
    }
    EXPECT_TRUE(clients.find("cmd=unsubscribe") != std::string::npos ||
                clients.find("cmd=subscribe") != std::string::npos)
        << "victim " << victim << ", subscriber on " << where << "\n" << cluster().cli(victim, "CLUSTER NODES");
  }

  Traffic traffic(*client, key, 2);
  ASSERT_TRUE(eventually([&] { return traffic.ok() > 0; }, 10000, 20));
  auto killed_at = std::chrono::steady_clock::now();
  cluster().server_on(victim)->kill();
  // A limiter hit on the dead primary's slot fails open (degraded), within its timeout.
  sleep_ms(50);
  auto start = std::chrono::steady_clock::now();
  auto hit = testing::await_result<LimitResult>([&](auto cb) { limiter->hit(key, 1, cb); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  ASSERT_TRUE(hit.ok()) << hit.error().what();
  EXPECT_TRUE(hit.value().allowed);
  // Ops resume on the promoted replica within ~10 s, same client.
  bool resumed = false;
  while (std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(15)) {
    sleep_ms(100);
    if (traffic.last_ok() > killed_at + std::chrono::milliseconds(100)) {
      resumed = true;
      break;
    }
  }
  auto resumed_after = std::chrono::duration_cast<std::chrono::milliseconds>(traffic.last_ok() - killed_at);
  sleep_ms(200);
  traffic.stop();
  EXPECT_TRUE(resumed) << "no op succeeded after the kill; errors: " << traffic.errors();
  EXPECT_LT(resumed_after.count(), 10000);
  // Every op settled within its timeout (plus scheduling slack), with a typed error when it failed.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(traffic.longest()).count(), 1500);
  for (const auto& code : traffic.codes()) {
    EXPECT_TRUE(code == "ERR_RK_CONNECTION" || code == "ERR_RK_TIMEOUT" || code == "ERR_RK_SCRIPT") << code;
  }
  EXPECT_EQ(traffic.crossslot_count(), 0);
  auto after = testing::await_result<LimitResult>([&](auto cb) { limiter->hit(key, 1, cb); });
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after.value().degraded);
  EXPECT_EQ(client->stats().nodes, 3u);
  // Pub/sub wake-ups work again: the subscriber moved off the dead node.
  const int64_t after_ms = wakeup_ms(*holder, *waiter);
  EXPECT_GE(after_ms, 0);
  EXPECT_LT(after_ms, 1000);
  std::cout << "[failover] ops resumed " << resumed_after.count() << " ms after SIGKILL; ok=" << traffic.ok()
            << " failed=" << traffic.failed() << " (" << traffic.errors() << ") longest op="
            << std::chrono::duration_cast<std::chrono::milliseconds>(traffic.longest()).count()
            << " ms; redirects=" << client->stats().redirects
            << " refreshes=" << client->stats().topology_refreshes << "; lock waiter woken " << before_ms << " ms after the release before the kill, "
            << after_ms << " ms after it\n";
  other->close();
  client->close();
}

}  // namespace
}  // namespace redkeeper
