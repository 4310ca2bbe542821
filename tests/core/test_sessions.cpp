// Sessions primitive (kind "sessions") on both backends: every op, idle/absolute expiry (ManualClock
// on memory, short real TTLs on Redis), index consistency under concurrency, bad input, key hygiene.
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "redis_harness.hpp"
#include "test_helpers.hpp"

namespace redkeeper {
namespace {

using testing::RedisServer;

// Each test runs on memory (ManualClock: advance() moves time) and on a private redis-server
// (advance() sleeps: TTLs are real).
class SessionsTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ClientOptions options;
    options.prefix = "rk" + std::to_string(++prefix_counter_);
    if (GetParam() == "memory") {
      clock_ = std::make_shared<ManualClock>();
      options.clock = clock_;
      options.sweep_interval_ms = 0;
      client_ = Client::open("memory://", options);
    } else {
      client_ = Client::open(server_->url(), options);
    }
  }
  void TearDown() override { client_->close(); }

  bool memory() const { return GetParam() == "memory"; }
  // The time unit of the expiry tests: 1 ms on memory (ManualClock: exact), 3 ms on Redis, where
  // TTLs are real and each "still alive" check's slack (timeout less the time advanced) must
  // also absorb the round trips and a busy machine's scheduling delays (100-200 ms was too
  // little on CI). "Expired" checks advance past the timeout, so lateness never breaks them.
  int64_t u() const { return memory() ? 1 : 3; }
  void advance(int64_t ms) {
    if (clock_) clock_->advance(ms);
    else std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }

  std::shared_ptr<Primitive> sessions(Value config = Value::object()) { return client_->primitive("sessions", config); }

  static Result<Value> call(Primitive& p, const std::string& op, Value args) {
    return testing::await_result<Value>([&](auto cb) { p.call(op, std::move(args), cb); });
  }
  static Value ok(Primitive& p, const std::string& op, Value args = Value::object()) {
    auto r = call(p, op, std::move(args));
    if (!r.ok()) throw std::runtime_error(op + " failed: " + r.error().what());
    return r.value();
  }
  static ErrorCode fails(Primitive& p, const std::string& op, Value args) {
    auto r = call(p, op, std::move(args));
    if (r.ok()) throw std::runtime_error(op + " unexpectedly succeeded: " + r.value().dump());
    return r.error().code();
  }

  static std::unique_ptr<RedisServer> server_;
  static int prefix_counter_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<Client> client_;
};

std::unique_ptr<RedisServer> SessionsTest::server_;
int SessionsTest::prefix_counter_ = 0;

TEST_P(SessionsTest, CreateGivesUrlSafe256BitIdsAndGetReturnsTheData) {
  auto s = sessions();
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    Value id = ok(*s, "create", {{"data", {{"n", i}}}});
    ASSERT_TRUE(id.is_string());
    const auto& text = id.get_ref<const std::string&>();
    EXPECT_EQ(text.size(), 43u);
    EXPECT_EQ(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    ids.insert(text);
  }
  EXPECT_EQ(ids.size(), 50u);
  Value id = ok(*s, "create", {{"data", {{"user", "ann"}, {"roles", {"a", "b"}}, {"n", 1.5}, {"ok", true}}}});
  Value data = ok(*s, "get", {{"id", id}});
  EXPECT_EQ(data, Value({{"user", "ann"}, {"roles", {"a", "b"}}, {"n", 1.5}, {"ok", true}}));
  EXPECT_TRUE(ok(*s, "get", {{"id", "no-such-session"}}).is_null());
  EXPECT_EQ(ok(*s, "count"), 51);
}

TEST_P(SessionsTest, GetAsJsonReturnsTheDataAsOneJsonText) {
  auto s = sessions();
  Value data = {{"quote\"key", "v\n"}, {"n", {1, {{"x", nullptr}}}}, {"u", "\u00e9"}};
  Value id = ok(*s, "create", {{"data", data}});
  for (bool touch : {true, false}) {
    Value text = ok(*s, "get", {{"id", id}, {"as_json", true}, {"touch", touch}});
    ASSERT_TRUE(text.is_string());
    EXPECT_EQ(Value::parse(text.get<std::string>()), data);
  }
  EXPECT_TRUE(ok(*s, "get", {{"id", "missing"}, {"as_json", true}}).is_null());
  Value empty = ok(*s, "create", Value::object());
  EXPECT_EQ(ok(*s, "get", {{"id", empty}, {"as_json", true}}), "{}");
}

TEST_P(SessionsTest, MetadataRecordsUserDeviceAndTimes) {
  auto s = sessions({{"idle_timeout_ms", 60000}, {"absolute_timeout_ms", 3600000}});
  Value id = ok(*s, "create", {{"data", Value::object()}, {"user_id", 42}, {"device", {{"ua", "curl"}}}});
  Value meta = ok(*s, "info", {{"id", id}});
  EXPECT_EQ(meta["user_id"], "42");
  EXPECT_EQ(meta["device"], Value({{"ua", "curl"}}));
  int64_t created = meta["created"];
  EXPECT_EQ(meta["last_seen"], created);
  EXPECT_EQ(meta["expires"], created + 60000);
  EXPECT_EQ(meta["absolute_deadline"], created + 3600000);
  EXPECT_EQ(meta["idle_timeout_ms"], 60000);
  EXPECT_EQ(meta["handle"].get<std::string>().size(), 43u);
  Value both = ok(*s, "get", {{"id", id}, {"with_meta", true}});
  EXPECT_EQ(both["data"], Value::object());
  EXPECT_EQ(both["meta"]["user_id"], "42");
}

TEST_P(SessionsTest, UpdateMergesTopLevelKeysAndNullDeletes) {
  auto s = sessions();
  Value id = ok(*s, "create", {{"data", {{"a", 1}, {"b", {{"x", 1}}}, {"c", "keep"}}}});
  EXPECT_EQ(ok(*s, "update", {{"id", id}, {"patch", {{"a", 2}, {"b", nullptr}, {"d", {1, 2}}}}}), true);
  EXPECT_EQ(ok(*s, "get", {{"id", id}}), Value({{"a", 2}, {"c", "keep"}, {"d", {1, 2}}}));
  EXPECT_EQ(ok(*s, "update", {{"id", "missing"}, {"patch", {{"a", 1}}}}), false);
  EXPECT_EQ(ok(*s, "count"), 1);
}

TEST_P(SessionsTest, IdleTimeoutSlidesOnGetAndTouch) {
  auto s = sessions({{"idle_timeout_ms", 400 * u()}});
  Value id = ok(*s, "create", {{"data", {{"k", 1}}}});
  advance(250 * u());
  EXPECT_FALSE(ok(*s, "get", {{"id", id}}).is_null());  // refreshes: expires 400 u from here
  advance(250 * u());
  EXPECT_EQ(ok(*s, "touch", {{"id", id}}), true);
  advance(250 * u());
  EXPECT_FALSE(ok(*s, "get", {{"id", id}, {"touch", false}}).is_null());
  advance(250 * u());  // 500 u since the last refresh
  EXPECT_TRUE(ok(*s, "get", {{"id", id}}).is_null());
  EXPECT_EQ(ok(*s, "touch", {{"id", id}}), false);
  EXPECT_EQ(ok(*s, "count"), 0);
}

TEST_P(SessionsTest, GetDoesNotSlideWhenTouchOnGetIsOff) {
  auto s = sessions({{"idle_timeout_ms", 400 * u()}, {"touch_on_get", false}});
  Value id = ok(*s, "create", {{"data", {{"k", 1}}}});
  advance(250 * u());
  EXPECT_FALSE(ok(*s, "get", {{"id", id}}).is_null());
  advance(250 * u());
  EXPECT_TRUE(ok(*s, "get", {{"id", id}}).is_null());
}

TEST_P(SessionsTest, AbsoluteTimeoutCapsSlidingExpiry) {
  auto s = sessions({{"idle_timeout_ms", 400 * u()}, {"absolute_timeout_ms", 700 * u()}});
  Value id = ok(*s, "create", {{"data", {{"k", 1}}}, {"user_id", "u"}});
  Value meta = ok(*s, "info", {{"id", id}});
  int64_t deadline = meta["absolute_deadline"];
  for (int i = 0; i < 2; ++i) {
    advance(300 * u());
    EXPECT_EQ(ok(*s, "touch", {{"id", id}}), true);
  }
  EXPECT_EQ(ok(*s, "info", {{"id", id}})["expires"], deadline);  // 600 + 400 capped at 700 (u)
  advance(150 * u());
  EXPECT_TRUE(ok(*s, "get", {{"id", id}}).is_null());
  EXPECT_EQ(ok(*s, "list_user", {{"user_id", "u"}}), Value::array());
}

TEST_P(SessionsTest, PerSessionTtlOverridesTheIdleTimeout) {
  auto s = sessions({{"idle_timeout_ms", 60000}});
  Value short_id = ok(*s, "create", {{"data", Value::object()}, {"ttl_ms", 300}});
  Value long_id = ok(*s, "create", {{"data", Value::object()}});
  advance(400);
  EXPECT_TRUE(ok(*s, "get", {{"id", short_id}}).is_null());
  EXPECT_FALSE(ok(*s, "get", {{"id", long_id}}).is_null());
}

TEST_P(SessionsTest, DestroyRemovesTheSessionAndItsIndexEntries) {
  auto s = sessions();
  Value id = ok(*s, "create", {{"data", {{"k", 1}}}, {"user_id", "bob"}});
  EXPECT_EQ(ok(*s, "destroy", {{"id", id}}), true);
  EXPECT_EQ(ok(*s, "destroy", {{"id", id}}), false);
  EXPECT_TRUE(ok(*s, "get", {{"id", id}}).is_null());
  EXPECT_EQ(ok(*s, "list_user", {{"user_id", "bob"}}), Value::array());
  EXPECT_EQ(ok(*s, "count"), 0);
}

TEST_P(SessionsTest, ListAndDestroyUserSessions) {
  auto s = sessions();
  Value a = ok(*s, "create", {{"data", Value::object()}, {"user_id", "u1"}, {"device", "phone"}});
  advance(5);
  Value b = ok(*s, "create", {{"data", Value::object()}, {"user_id", "u1"}, {"device", "laptop"}});
  Value c = ok(*s, "create", {{"data", Value::object()}, {"user_id", "u1"}});
  Value other = ok(*s, "create", {{"data", Value::object()}, {"user_id", "u2"}});
  Value list = ok(*s, "list_user", {{"user_id", "u1"}, {"current_id", b}});
  ASSERT_EQ(list.size(), 3u);
  std::set<std::string> devices;
  int current = 0;
  for (const auto& e : list) {
    devices.insert(e["device"].is_null() ? "none" : e["device"].get<std::string>());
    EXPECT_GE(e["expires"].get<int64_t>(), e["last_seen"].get<int64_t>());
    EXPECT_GE(e["last_seen"].get<int64_t>(), e["created"].get<int64_t>());
    if (e["current"] == true) {
      ++current;
      EXPECT_EQ(e["handle"], ok(*s, "info", {{"id", b}})["handle"]);
    }
  }
  EXPECT_EQ(devices, (std::set<std::string>{"phone", "laptop", "none"}));
  EXPECT_EQ(current, 1);

  EXPECT_EQ(ok(*s, "destroy_user", {{"user_id", "u1"}, {"except_id", b}}), 2);
  EXPECT_TRUE(ok(*s, "get", {{"id", a}}).is_null());
  EXPECT_TRUE(ok(*s, "get", {{"id", c}}).is_null());
  EXPECT_FALSE(ok(*s, "get", {{"id", b}}).is_null());
  EXPECT_FALSE(ok(*s, "get", {{"id", other}}).is_null());
  EXPECT_EQ(ok(*s, "list_user", {{"user_id", "u1"}}).size(), 1u);
  EXPECT_EQ(ok(*s, "destroy_user", {{"user_id", "u1"}}), 1);
  EXPECT_EQ(ok(*s, "destroy_user", {{"user_id", "u1"}}), 0);
  EXPECT_EQ(ok(*s, "count"), 1);
}

TEST_P(SessionsTest, DestroyHandleOnlyForTheOwningUser) {
  auto s = sessions();
  Value id = ok(*s, "create", {{"data", Value::object()}, {"user_id", "owner"}});
  std::string handle = ok(*s, "info", {{"id", id}})["handle"];
  EXPECT_EQ(ok(*s, "destroy_handle", {{"user_id", "intruder"}, {"handle", handle}}), false);
  EXPECT_FALSE(ok(*s, "get", {{"id", id}}).is_null());
  EXPECT_EQ(ok(*s, "destroy_handle", {{"user_id", "owner"}, {"handle", handle}}), true);
  EXPECT_TRUE(ok(*s, "get", {{"id", id}}).is_null());
}

TEST_P(SessionsTest, ListUserPrunesExpiredSessions) {
  auto s = sessions({{"idle_timeout_ms", 60000}});
  ok(*s, "create", {{"data", Value::object()}, {"user_id", "p"}, {"ttl_ms", 200 * u()}});
  Value keep = ok(*s, "create", {{"data", Value::object()}, {"user_id", "p"}});
  EXPECT_EQ(ok(*s, "list_user", {{"user_id", "p"}}).size(), 2u);
  advance(300 * u());
  Value list = ok(*s, "list_user", {{"user_id", "p"}});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["handle"], ok(*s, "info", {{"id", keep}})["handle"]);
  EXPECT_EQ(ok(*s, "count"), 1);
}

TEST_P(SessionsTest, RotateMovesDataAndKillsTheOldId) {
  auto s = sessions();
  Value old_id = ok(*s, "create", {{"data", {{"cart", {1, 2}}}}, {"user_id", "r"}, {"device", "tab"}});
  Value created = ok(*s, "info", {{"id", old_id}})["created"];
  Value new_id = ok(*s, "rotate", {{"id", old_id}});
  ASSERT_TRUE(new_id.is_string());
  EXPECT_NE(new_id, old_id);
  EXPECT_TRUE(ok(*s, "get", {{"id", old_id}}).is_null());
  Value both = ok(*s, "get", {{"id", new_id}, {"with_meta", true}});
  EXPECT_EQ(both["data"], Value({{"cart", {1, 2}}}));
  EXPECT_EQ(both["meta"]["created"], created);
  EXPECT_EQ(both["meta"]["device"], "tab");
  Value list = ok(*s, "list_user", {{"user_id", "r"}, {"current_id", new_id}});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["current"], true);
  EXPECT_TRUE(ok(*s, "rotate", {{"id", old_id}}).is_null());
  EXPECT_EQ(ok(*s, "count"), 1);
}

TEST_P(SessionsTest, SetUpsertsUnderAGivenIdKeepingCreated) {
  auto s = sessions();
  EXPECT_EQ(ok(*s, "set", {{"id", "express-sid-1"}, {"data", {{"a", 1}, {"b", 2}}}, {"ttl_ms", 60000}}), true);
  Value created = ok(*s, "info", {{"id", "express-sid-1"}})["created"];
  advance(20);
  EXPECT_EQ(ok(*s, "set", {{"id", "express-sid-1"}, {"data", {{"a", 3}}}, {"ttl_ms", 30000}}), true);
  Value both = ok(*s, "get", {{"id", "express-sid-1"}, {"with_meta", true}, {"touch", false}});
  EXPECT_EQ(both["data"], Value({{"a", 3}}));  // replaced wholesale, as express-session saves
  EXPECT_EQ(both["meta"]["created"], created);
  EXPECT_EQ(both["meta"]["idle_timeout_ms"], 30000);
  EXPECT_EQ(ok(*s, "count"), 1);
  EXPECT_EQ(ok(*s, "ids").size(), 1u);
  Value all = ok(*s, "all");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["data"], Value({{"a", 3}}));
  EXPECT_EQ(ok(*s, "clear"), 1);
  EXPECT_EQ(ok(*s, "count"), 0);
  EXPECT_TRUE(ok(*s, "get", {{"id", "express-sid-1"}}).is_null());
}

TEST_P(SessionsTest, SetMovesASessionBetweenUserIndexes) {
  auto s = sessions();
  ok(*s, "set", {{"id", "sid"}, {"data", Value::object()}, {"user_id", "a"}});
  ok(*s, "set", {{"id", "sid"}, {"data", Value::object()}, {"user_id", "b"}});
  EXPECT_EQ(ok(*s, "list_user", {{"user_id", "a"}}), Value::array());
  EXPECT_EQ(ok(*s, "list_user", {{"user_id", "b"}}).size(), 1u);
  ok(*s, "set", {{"id", "sid"}, {"data", {{"x", 1}}}});  // no user given: keeps b
  EXPECT_EQ(ok(*s, "info", {{"id", "sid"}})["user_id"], "b");
}

TEST_P(SessionsTest, NamespacesAreSeparate) {
  auto a = sessions({{"name", "app-a"}});
  auto b = sessions({{"name", "app-b"}});
  Value id = ok(*a, "create", {{"data", {{"k", 1}}}});
  EXPECT_TRUE(ok(*b, "get", {{"id", id}}).is_null());
  EXPECT_EQ(ok(*a, "count"), 1);
  EXPECT_EQ(ok(*b, "count"), 0);
}

TEST_P(SessionsTest, BadInputIsATypedErrorNamingTheParameter) {
  auto s = sessions();
  EXPECT_EQ(fails(*s, "create", {{"data", "not an object"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "create", {{"data", {1, 2}}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "create", {{"ttl_ms", -5}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "create", {{"ttl_ms", "5"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "create", {{"user_id", ""}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "create", {{"user_id", true}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "get", Value::object()), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "get", {{"id", 12}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "get", {{"id", std::string(5000, 'x')}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "get", {{"id", "x"}, {"touch", "yes"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "update", {{"id", "x"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "destroy_user", Value::object()), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "destroy_handle", {{"handle", "h"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "frobnicate", Value::object()), ErrorCode::InvalidArgument);
  EXPECT_EQ(fails(*s, "get", Value::array()), ErrorCode::InvalidArgument);
  auto small = sessions({{"max_bytes", 100}});
  EXPECT_EQ(fails(*small, "create", {{"data", {{"big", std::string(200, 'x')}}}}), ErrorCode::InvalidArgument);
  auto r = call(*s, "get", {{"id", 12}});
  EXPECT_NE(std::string(r.error().what()).find("id"), std::string::npos);
  EXPECT_THROW(sessions({{"idle_timeout_ms", 0}}), Error);
  EXPECT_THROW(sessions({{"name", "a{b}"}}), Error);
  EXPECT_THROW(sessions({{"bogus", 1}}), Error);
  EXPECT_EQ(ok(*s, "count"), 0);
}

TEST_P(SessionsTest, ParallelCreateAndDestroyUserLeaveNoOrphanedIndexEntries) {
  auto s = sessions();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        std::string user = "cu" + std::to_string(i % 3);
        auto r = (t % 3 == 2) ? call(*s, "destroy_user", {{"user_id", user}})
                              : call(*s, "create", {{"data", {{"i", i}}}, {"user_id", user}});
        if (!r.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  // Every listed entry is a live session and every live session is listed exactly once.
  int64_t listed = 0;
  for (int u = 0; u < 3; ++u) {
    Value list = ok(*s, "list_user", {{"user_id", "cu" + std::to_string(u)}});
    listed += static_cast<int64_t>(list.size());
  }
  EXPECT_EQ(ok(*s, "count"), listed);
  int64_t destroyed = 0;
  for (int u = 0; u < 3; ++u) destroyed += ok(*s, "destroy_user", {{"user_id", "cu" + std::to_string(u)}}).get<int64_t>();
  EXPECT_EQ(destroyed, listed);
  EXPECT_EQ(ok(*s, "count"), 0);
}

// tests/vectors/sessions.json (raw ops on memory with a ManualClock); pytest and jest run it too.
Value resolve_saved(const Value& v, const std::map<std::string, std::string>& saved) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > 1 && s[0] == '$' && saved.count(s.substr(1))) return saved.at(s.substr(1));
    return v;
  }
  if (v.is_structured()) {
    Value out = v;
    for (auto& [k, x] : out.items()) x = resolve_saved(x, saved);
    return out;
  }
  return v;
}

Value expected_times(const Value& v, int64_t start) {
  if (v.is_string() && v.get_ref<const std::string&>().rfind("$T+", 0) == 0) {
    return start + std::stoll(v.get<std::string>().substr(3));
  }
  if (v.is_structured()) {
    Value out = v;
    for (auto& [k, x] : out.items()) x = expected_times(x, start);
    return out;
  }
  return v;
}

Value drop_keys(const Value& v, const Value& keys) {
  if (v.is_array()) {
    Value out = Value::array();
    for (const auto& x : v) out.push_back(drop_keys(x, keys));
    return out;
  }
  if (v.is_object()) {
    Value out = Value::object();
    for (const auto& [k, x] : v.items()) {
      if (std::find(keys.begin(), keys.end(), Value(k)) == keys.end()) out[k] = drop_keys(x, keys);
    }
    return out;
  }
  return v;
}

TEST(SessionsVectors, MemoryMatchesTheSharedVectors) {
  std::ifstream in(std::string(REDKEEPER_VECTORS_DIR) + "/sessions.json");
  ASSERT_TRUE(in.good());
  Value vectors = Value::parse(in);
  int64_t start = vectors["start_ms"];
  for (const auto& c : vectors["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto clock = std::make_shared<ManualClock>(start);
    auto client = testing::memory_client(clock);
    auto p = client->primitive("sessions", c["config"]);
    std::map<std::string, std::string> saved;
    int i = 0;
    for (const auto& step : c["steps"]) {
      SCOPED_TRACE("step " + std::to_string(i++) + ": " + step.dump());
      if (step.contains("advance_ms")) {
        clock->advance(step["advance_ms"].get<int64_t>());
        continue;
      }
      Value args = resolve_saved(step["args"], saved);
      auto r = testing::await_result<Value>([&](auto cb) { p->call(step["op"].get<std::string>(), args, cb); });
      if (step.contains("expect_error")) {
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(error_code_name(r.error().code()), step["expect_error"].get<std::string>());
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.error().what();
      Value result = r.value();
      if (step.contains("save_as")) {
        ASSERT_TRUE(result.is_string());
        saved[step["save_as"].get<std::string>()] = result.get<std::string>();
      }
      result = drop_keys(result, step.value("ignore", Value::array()));
      if (step.contains("expect")) {
        EXPECT_EQ(result, expected_times(step["expect"], start));
      }
      if (step.contains("expect_json")) {
        EXPECT_EQ(Value::parse(result.get<std::string>()), step["expect_json"]);
      }
      if (step.contains("expect_len")) {
        EXPECT_EQ(result.size(), step["expect_len"].get<size_t>());
      }
    }
    client->close();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SessionsTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

// Raw ids never appear in Redis (keys or values): only their SHA-256 handles do.
TEST(SessionsRedisKeys, NoRawIdInTheKeyspace) {
  RedisServer server;
  auto client = testing::open_redis(server.url());
  auto s = client->primitive("sessions", Value::object());
  auto id = testing::await_result<Value>([&](auto cb) {
              s->call("create", {{"data", {{"k", 1}}}, {"user_id", "u"}}, cb);
            }).value().get<std::string>();
  auto keys = testing::call(*client, {"KEYS", "*"});
  ASSERT_TRUE(keys.ok());
  std::set<std::string> names;
  for (const auto& k : keys.value().as_array()) names.insert(std::string(k.as_string()));
  EXPECT_EQ(names.size(), 3u);  // session hash, namespace index, user index
  for (const auto& k : names) {
    EXPECT_EQ(k.find(id), std::string::npos) << k;
    EXPECT_EQ(k.rfind("rk:sessions:{default}:", 0), 0u) << k;
  }
  std::string session_key;
  for (const auto& k : names) {
    if (k.find(":s:") != std::string::npos) session_key = k;
  }
  auto fields = testing::call(*client, {"HGETALL", session_key});
  ASSERT_TRUE(fields.ok());
  EXPECT_GE(fields.value().size(), 10u);
  for (const auto& f : fields.value().as_array()) EXPECT_EQ(std::string(f.as_string()).find(id), std::string::npos);
  client->close();
}

}  // namespace
}  // namespace redkeeper
