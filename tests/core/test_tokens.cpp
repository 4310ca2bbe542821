// The "tokens" and "token_versions" primitives through Client::primitive on memory:// and a real
// redis-server: the shared vectors (tests/vectors/tokens.json), real TTLs, key layout, one script
// per check, failure policy with the store down, and concurrent revocations.
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "common/keys.hpp"
#include "redis_harness.hpp"
#include "tokens/tokens.hpp"
#include "vector_runner.hpp"

namespace redkeeper {
namespace {

using testing::RedisServer;

const char* short_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::TokenMalformed: return "TokenMalformed";
    case ErrorCode::TokenInvalid: return "TokenInvalid";
    case ErrorCode::TokenRevoked: return "TokenRevoked";
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    default: return error_code_name(code);
  }
}

Result<Value> call(Primitive& p, const std::string& op, Value args) {
  std::promise<Result<Value>> promise;
  auto future = promise.get_future();
  p.call(op, std::move(args), [&promise](Result<Value> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Value ok(Primitive& p, const std::string& op, Value args) {
  auto r = call(p, op, std::move(args));
  if (!r.ok()) throw std::runtime_error(op + ": " + r.error().what());
  return r.value();
}

std::string err(Primitive& p, const std::string& op, Value args) {
  auto r = call(p, op, std::move(args));
  return r.ok() ? "ok: " + r.value().dump() : short_name(r.error().code());
}

using Factory = std::function<std::shared_ptr<Client>(std::shared_ptr<ManualClock>, const std::string& prefix)>;

Factory memory_factory() {
  return [](std::shared_ptr<ManualClock> clock, const std::string& prefix) {
    ClientOptions o;
    o.clock = std::move(clock);
    o.sweep_interval_ms = 0;
    o.prefix = prefix;
    return Client::open("memory://", o);
  };
}

Factory redis_factory(const RedisServer& server) {
  const std::string url = server.url();
  return [url](std::shared_ptr<ManualClock> clock, const std::string& prefix) {
    ClientOptions o;
    o.clock = std::move(clock);
    o.prefix = prefix;
    return Client::open(url, o);
  };
}

void run_sequences(const Factory& open) {
  const auto doc = vectors::load("tokens.json");
  const int64_t t0 = doc.at("clock_start_ms").get<int64_t>();
  int n = 0;
  for (const auto& seq : doc.at("sequences")) {
    SCOPED_TRACE(seq.at("name").get<std::string>());
    auto clock = std::make_shared<ManualClock>(t0);
    auto client = open(clock, "seq" + std::to_string(n++));
    auto prim = client->primitive(seq.at("kind").get<std::string>(), seq.at("options"));
    int i = 0;
    for (const auto& step : seq.at("steps")) {
      SCOPED_TRACE("step " + std::to_string(i++) + " " + step.at("op").get<std::string>());
      if (step.contains("advance_ms")) clock->advance(step.at("advance_ms").get<int64_t>());
      auto r = call(*prim, step.at("op").get<std::string>(), step.at("args"));
      const auto& expect = step.at("expect");
      if (expect.is_object() && expect.contains("error")) {
        ASSERT_FALSE(r.ok()) << r.value().dump();
        EXPECT_EQ(short_name(r.error().code()), expect.at("error").get<std::string>()) << r.error().what();
      } else {
        ASSERT_TRUE(r.ok()) << r.error().what();
        EXPECT_EQ(r.value(), expect);
      }
    }
    client->close();
  }
  EXPECT_GE(n, 8);
}

void run_decode_and_verify(const Factory& open) {
  const auto doc = vectors::load("tokens.json");
  const int64_t t0 = doc.at("clock_start_ms").get<int64_t>();
  auto client = open(std::make_shared<ManualClock>(t0), "dv");
  auto plain = client->primitive("tokens", Value::object());
  for (const auto& c : doc.at("decode")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto& expect = c.at("expect");
    // revoke only where it must fail: a stored entry would change the verify cases below.
    for (const char* op : {"decode", "is_revoked", "revoke"}) {
      if (std::string(op) == "revoke" && !expect.contains("error")) continue;
      auto r = call(*plain, op, Value{{"token", c.at("token")}});
      if (expect.contains("error")) {
        ASSERT_FALSE(r.ok()) << op;
        EXPECT_EQ(short_name(r.error().code()), expect.at("error").get<std::string>()) << op << ": " << r.error().what();
      } else {
        ASSERT_TRUE(r.ok()) << op << ": " << r.error().what();
        if (std::string(op) == "decode") {
          EXPECT_EQ(r.value(), expect);
        }
      }
    }
  }
  for (const auto& c : doc.at("verify")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    Value options = Value::object();
    if (!c.at("key").is_null()) options["verify_key"] = doc.at("keys").at(c.at("key").get<std::string>());
    if (c.contains("algorithms")) options["algorithms"] = c.at("algorithms");
    auto prim = client->primitive("tokens", options);
    auto r = call(*prim, "check", Value{{"token", c.at("token")}});
    const std::string expect = c.at("expect").get<std::string>();
    if (expect == "ok") {
      ASSERT_TRUE(r.ok()) << r.error().what();
      EXPECT_TRUE(r.value().contains("sub"));
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(short_name(r.error().code()), expect) << r.error().what();
    }
  }
  client->close();
}

TEST(TokensMemory, Sequences) { run_sequences(memory_factory()); }
TEST(TokensMemory, DecodeAndVerifyVectors) { run_decode_and_verify(memory_factory()); }

TEST(TokensRedis, Sequences) {
  RedisServer server;
  run_sequences(redis_factory(server));
}
TEST(TokensRedis, DecodeAndVerifyVectors) {
  RedisServer server;
  run_decode_and_verify(redis_factory(server));
}

TEST(TokensConfig, RejectsBadOptions) {
  auto client = memory_factory()(std::make_shared<ManualClock>(), "cfg");
  auto bad = [&](const char* kind, Value cfg) {
    try {
      client->primitive(kind, cfg);
      return std::string("accepted");
    } catch (const Error& e) {
      return std::string(short_name(e.code())) + " " + e.what();
    }
  };
  EXPECT_NE(bad("tokens", Value{{"max_lifetime_ms", -1}}).find("InvalidArgument max_lifetime_ms"), std::string::npos);
  EXPECT_NE(bad("tokens", Value{{"leeway_ms", "five"}}).find("leeway_ms"), std::string::npos);
  EXPECT_NE(bad("tokens", Value{{"on_error", "open"}}).find("on_error"), std::string::npos);
  EXPECT_NE(bad("tokens", Value{{"algorithms", {"HS256"}}}).find("needs verify_key"), std::string::npos);
  EXPECT_NE(bad("tokens", Value{{"verify_key", "k"}, {"algorithms", {"none"}}}).find("algorithms"), std::string::npos);
  EXPECT_NE(bad("tokens", Value{{"verify_key", 5}}).find("verify_key"), std::string::npos);
  EXPECT_NE(bad("tokens", Value{{"audit_limit", 100000}}).find("audit_limit"), std::string::npos);
  EXPECT_NE(bad("tokens", Value{{"max_lifetime", 5}}).find("unknown tokens option"), std::string::npos);
  EXPECT_NE(bad("token_versions", Value{{"cache_ttl_ms", -5}}).find("cache_ttl_ms"), std::string::npos);
  EXPECT_NE(bad("token_versions", Value{{"loader", 1}}).find("unknown"), std::string::npos);
  EXPECT_EQ(bad("tokens", Value{{"verify_key", "k"}, {"algorithms", {"HS256"}}, {"on_error", "raise"}}), "accepted");
  EXPECT_EQ(bad("tokens", Value{{"max_lifetime_ms", "7 days"}, {"leeway_ms", "30s"}}), "accepted");
  EXPECT_NE(bad("tokens", Value{{"max_lifetime_ms", "soon"}}).find("max_lifetime_ms"), std::string::npos);
  EXPECT_EQ(bad("token_versions", Value{{"cache_ttl_ms", "1h"}}), "accepted");
}

// Every script's keys must share one hash tag (cluster-safe), even for ids with braces.
TEST(TokensKeys, OneSlotPerScript) {
  const Value header{{"alg", "HS256"}};
  for (const std::string& sub : std::vector<std::string>{"alice", "a{b}c", "}{", std::string(300, 'x'), "auth0|123", "x y"}) {
    const std::string token = jwt::sign_hmac("HS256", header, Value{{"sub", sub}, {"jti", sub + "-j"}}, "k");
    const auto d = jwt::decode(token);
    const std::string tag = tokens::user_tag(sub);
    const std::string entry = tokens::entry_key("rk", d, token);
    EXPECT_EQ(key_slot(entry), key_slot(tokens::user_record_key("rk", tag))) << sub;
    EXPECT_EQ(key_slot(entry), key_slot(tokens::audit_key("rk", tag))) << sub;
    EXPECT_EQ(hash_tag(entry), tag) << sub;
    EXPECT_EQ(entry.find(token), std::string::npos);
  }
  EXPECT_EQ(tokens::user_tag("alice"), "u:alice");
  EXPECT_EQ(tokens::user_tag("a{b"), "uh:" + jwt::sha256_hex("a{b"));
  EXPECT_EQ(hash_tag(tokens::denylist_index_key("rk")), hash_tag(tokens::users_index_key("rk")));
}

class TokensRedisLive : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = Client::open(server_.url(), ClientOptions{});
    admin_ = testing::open_redis(server_.url());
  }
  void TearDown() override {
    client_->close();
    admin_->close();
  }
  Reply admin(std::initializer_list<std::string_view> args) {
    auto r = testing::call(*admin_, ArgList(args));
    if (!r.ok()) throw std::runtime_error(r.error().what());
    return r.value();
  }
  static int64_t now_s() { return SystemClock().now_ms() / 1000; }
  static std::string token(const Value& claims) { return jwt::sign_hmac("HS256", Value{{"alg", "HS256"}}, claims, "s"); }

  RedisServer server_;
  std::shared_ptr<Client> client_;
  std::shared_ptr<RedisClient> admin_;
};

TEST_F(TokensRedisLive, EntriesExpireWithTheTokenAndHoldNoRawToken) {
  auto tokens = client_->primitive("tokens", Value{{"max_lifetime_ms", 1500}});
  const std::string t = token(Value{{"sub", "alice"}, {"jti", "j1"}, {"exp", now_s() + 2}});
  const std::string noexp = token(Value{{"sub", "bob"}, {"iat", now_s()}});
  EXPECT_EQ(ok(*tokens, "revoke", Value{{"token", t}})["added"], true);
  EXPECT_EQ(ok(*tokens, "revoke", Value{{"token", noexp}})["added"], true);
  const int64_t pttl = admin({"PTTL", "rk:tokens:{u:alice}:jti:j1"}).as_integer();
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 2000);
  const std::string noexp_key = "rk:tokens:{u:bob}:tok:" + jwt::sha256_hex(noexp);
  EXPECT_EQ(admin({"EXISTS", noexp_key}).as_integer(), 1);
  // No key and no value carries the token (nor its signature).
  const std::string sig = t.substr(t.rfind('.') + 1);
  const Reply keys = admin({"KEYS", "*"});
  ASSERT_GE(keys.size(), 3u);  // two entries + the stats index
  for (const Reply& k : keys.as_array()) {
    const std::string key(k.as_string());
    EXPECT_EQ(key.find(sig), std::string::npos) << key;
    if (admin({"TYPE", key}).as_string() == "string") {
      EXPECT_EQ(std::string(admin({"GET", key}).as_string()).find(sig), std::string::npos);
    }
  }
  EXPECT_EQ(ok(*tokens, "is_revoked", Value{{"token", noexp}}), true);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(admin({"EXISTS", "rk:tokens:{u:alice}:jti:j1"}).as_integer(), 0);
  EXPECT_EQ(ok(*tokens, "is_revoked", Value{{"token", t}}), true);  // expired: dead either way
  EXPECT_EQ(err(*tokens, "check", Value{{"token", t}}), "TokenInvalid");
  // The no-exp entry lived max_lifetime_ms: gone now, the token reads as not revoked.
  EXPECT_EQ(admin({"EXISTS", noexp_key}).as_integer(), 0);
  EXPECT_EQ(ok(*tokens, "is_revoked", Value{{"token", noexp}}), false);
  EXPECT_EQ(ok(*tokens, "stats", Value::object()), (Value{{"denylisted", 0}, {"users_revoked", 0}}));
}

TEST_F(TokensRedisLive, RevokeUserRecordExpiresAfterMaxLifetime) {
  auto tokens = client_->primitive("tokens", Value{{"max_lifetime_ms", 1000}, {"leeway_ms", 200}});
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = ok(*tokens, "revoke_user", Value{{"sub", "carol"}, {"reason", "suspended"}});
  const int64_t pttl = admin({"PTTL", "rk:tokens:{u:carol}:user"}).as_integer();
  const int64_t elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  // The record lives max_lifetime + leeway (1200 ms) from the revoke: at most the time these two
  // round trips took has run off it (+2 ms for the clocks' ms rounding), whatever that was on a
  // busy machine. A record kept for max_lifetime only (1000 ms) fails this unless they took
  // ~200 ms.
  EXPECT_GE(pttl, 1200 - elapsed - 2);
  EXPECT_LE(pttl, 1200);
  EXPECT_EQ(admin({"HGET", "rk:tokens:{u:carol}:user", "reason"}).as_string(), "suspended");
  EXPECT_EQ(r["expires_at_ms"].get<int64_t>() - r["revoked_before_ms"].get<int64_t>(), 1200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_EQ(admin({"EXISTS", "rk:tokens:{u:carol}:user"}).as_integer(), 0);
  EXPECT_EQ(admin({"EXISTS", "rk:tokens:{u:carol}:audit"}).as_integer(), 0);
}

// One EVALSHA per is_revoked/check, whatever the token: the "one round trip" of the issue.
TEST_F(TokensRedisLive, OneScriptPerCheck) {
  auto tokens = client_->primitive("tokens", Value::object());
  const std::string t = token(Value{{"sub", "dave"}, {"jti", "x"}, {"iat", now_s()}, {"exp", now_s() + 60}});
  ok(*tokens, "is_revoked", Value{{"token", t}});  // loads the script
  admin({"CONFIG", "RESETSTAT"});
  for (int i = 0; i < 50; ++i) ok(*tokens, i % 2 ? "is_revoked" : "check", Value{{"token", t}});
  const std::string info(admin({"INFO", "commandstats"}).as_string());
  EXPECT_NE(info.find("cmdstat_evalsha:calls=50,"), std::string::npos) << info;
  // Commands run inside the script are counted too (exists/hget/time): no client-side GET or EVAL.
  EXPECT_EQ(info.find("cmdstat_get:"), std::string::npos) << info;
  EXPECT_EQ(info.find("cmdstat_eval:"), std::string::npos) << info;
}

TEST_F(TokensRedisLive, ConcurrentRevocationsAllCounted) {
  auto tokens = client_->primitive("tokens", Value::object());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < 50; ++i) {
        const std::string t = token(Value{{"sub", "u" + std::to_string(i % 7)}, {"jti", std::to_string(th) + "-" + std::to_string(i)},
                                          {"exp", now_s() + 300}});
        auto r = call(*tokens, "revoke", Value{{"token", t}});
        if (!r.ok() || r.value()["added"] != true) failures++;
        auto c = call(*tokens, "is_revoked", Value{{"token", t}});
        if (!c.ok() || c.value() != true) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ok(*tokens, "stats", Value::object())["denylisted"], 200);
}

TEST(TokensFailurePolicy, StoreDownFailsClosedOrRaises) {
  const int port = testing::free_port();  // nothing listens there
  ClientOptions o;
  o.connect_timeout_ms = 200;
  o.command_timeout_ms = 300;
  auto client = Client::open("redis://127.0.0.1:" + std::to_string(port), o);
  const std::string t = jwt::sign_hmac("HS256", Value{{"alg", "HS256"}}, Value{{"sub", "a"}, {"exp", 4000000000}}, "s");
  auto closed = client->primitive("tokens", Value::object());
  EXPECT_EQ(ok(*closed, "is_revoked", Value{{"token", t}}), true);
  auto r = call(*closed, "check", Value{{"token", t}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::TokenRevoked);
  EXPECT_NE(std::string(r.error().what()).find("store could not be asked"), std::string::npos);
  // Malformed input is still the caller's error, not "revoked".
  EXPECT_EQ(err(*closed, "is_revoked", Value{{"token", "x"}}), "TokenMalformed");
  // Writes never pretend: the store's error comes back.
  const std::string w = err(*closed, "revoke", Value{{"token", t}});
  EXPECT_TRUE(w == "ERR_RK_CONNECTION" || w == "ERR_RK_TIMEOUT") << w;

  auto raising = client->primitive("tokens", Value{{"on_error", "raise"}});
  const std::string e = err(*raising, "is_revoked", Value{{"token", t}});
  EXPECT_TRUE(e == "ERR_RK_CONNECTION" || e == "ERR_RK_TIMEOUT") << e;

  auto versions = client->primitive("token_versions", Value::object());
  EXPECT_EQ(ok(*versions, "verify", Value{{"user", "a"}, {"version", 0}}),
            (Value{{"valid", false}, {"found", false}, {"degraded", true}}));
  auto versions_raise = client->primitive("token_versions", Value{{"on_error", "raise"}});
  const std::string ve = err(*versions_raise, "verify", Value{{"user", "a"}, {"version", 0}});
  EXPECT_TRUE(ve == "ERR_RK_CONNECTION" || ve == "ERR_RK_TIMEOUT") << ve;
  client->close();
}

TEST(TokenVersionsRedis, PrimedValueExpiresBumpedValuePersists) {
  RedisServer server;
  auto client = Client::open(server.url(), ClientOptions{});
  auto admin = testing::open_redis(server.url());
  auto versions = client->primitive("token_versions", Value{{"cache_ttl_ms", 500}});
  EXPECT_EQ(ok(*versions, "prime", Value{{"user", "u1"}, {"counter", 3}})["counter"], 3);
  const int64_t pttl = testing::call(*admin, {"PTTL", "rk:token_versions:{u:u1}"}).value().as_integer();
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 500);
  EXPECT_EQ(ok(*versions, "bump", Value{{"user", "u1"}})["counter"], 4);
  EXPECT_EQ(testing::call(*admin, {"PTTL", "rk:token_versions:{u:u1}"}).value().as_integer(), -1);
  EXPECT_EQ(ok(*versions, "prime", Value{{"user", "u2"}, {"counter", 9}})["counter"], 9);
  std::this_thread::sleep_for(std::chrono::milliseconds(650));
  EXPECT_EQ(ok(*versions, "get", Value{{"user", "u2"}})["found"], false);
  EXPECT_EQ(ok(*versions, "get", Value{{"user", "u1"}})["counter"], 4);
  admin->close();
  client->close();
}

TEST(TokenVersionsMemory, ConcurrentBumpsNeverLoseAnIncrement) {
  auto client = memory_factory()(std::make_shared<ManualClock>(), "tv");
  auto versions = client->primitive("token_versions", Value::object());
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) ok(*versions, "bump", Value{{"user", "hot"}});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok(*versions, "get", Value{{"user", "hot"}})["counter"], 1000);
}

}  // namespace
}  // namespace redkeeper
