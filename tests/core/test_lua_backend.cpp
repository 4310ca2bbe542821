// The memory backend's Lua host: commands and their Redis semantics, Lua <-> reply conversions,
// the scripting sandbox, expiry on the injected clock, the bounded sweep, timers, listen/publish,
// close, and the runaway-script guard. Redis-exactness is checked separately in test_lua_parity.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/lua_backend.hpp"
#include "store/lua_keyspace.hpp"

namespace redkeeper {

// Readable failures: gtest prints Reply through this instead of raw bytes.
static void PrintTo(const Reply& r, std::ostream* os) { *os << r.debug_string(); }

namespace {

Reply S(const std::string& s) { return Reply::string(s); }
Reply I(int64_t v) { return Reply::integer(v); }
Reply A(std::vector<Reply> v) { return Reply::array(std::move(v)); }
Reply N() { return Reply::nil(); }
Reply OK() { return Reply::status("OK"); }

class LuaHostTest : public ::testing::Test {
 protected:
  // The host's command semantics are compared with a standalone server's: keys of any slot. The
  // cluster slot rules (on by default) have their own tests below.
  void SetUp() override {
    LuaBackendLimits standalone;
    standalone.cluster_slot_checks = false;
    open(standalone);
  }
  void open(LuaBackendLimits limits = {}, int64_t sweep_interval_ms = 0) {
    ClientOptions options;
    options.clock = clock;
    options.sweep_interval_ms = sweep_interval_ms;
    backend = std::make_shared<LuaBackend>(options, limits);
  }

  Result<Reply> cmd(std::vector<std::string> args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    std::optional<Result<Reply>> out;
    backend->command(ArgList(views), [&](Result<Reply> r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "command did not complete inline";
    return out ? std::move(*out) : Result<Reply>(Error(ErrorCode::Internal, "no result"));
  }
  Result<Reply> eval(const std::string& src, std::vector<std::string> keys = {}, std::vector<std::string> args = {}) {
    std::vector<std::string_view> k(keys.begin(), keys.end()), a(args.begin(), args.end());
    std::optional<Result<Reply>> out;
    backend->eval(Script(src, script_keys), ArgList(k), ArgList(a), [&](Result<Reply> r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "eval did not complete inline";
    return out ? std::move(*out) : Result<Reply>(Error(ErrorCode::Internal, "no result"));
  }
  Reply ok_reply(std::vector<std::string> args) {
    auto r = cmd(args);
    EXPECT_TRUE(r.ok()) << args[0] << ": " << (r.ok() ? "" : r.error().what());
    return r.ok() ? r.value() : Reply::error("failed");
  }
  std::string err_text(std::vector<std::string> args) {
    auto r = cmd(args);
    EXPECT_FALSE(r.ok()) << args[0] << " unexpectedly answered " << (r.ok() ? r.value().debug_string() : "");
    if (r.ok()) return "";
    EXPECT_EQ(r.error().code(), ErrorCode::Script);
    return r.error().what();
  }
  std::string eval_err(const std::string& src, std::vector<std::string> keys = {}, std::vector<std::string> args = {}) {
    auto r = eval(src, std::move(keys), std::move(args));
    EXPECT_FALSE(r.ok()) << src << " unexpectedly answered " << (r.ok() ? r.value().debug_string() : "");
    if (r.ok()) return "";
    EXPECT_EQ(r.error().code(), ErrorCode::Script);
    return r.error().what();
  }
  Reply eval_ok(const std::string& src, std::vector<std::string> keys = {}, std::vector<std::string> args = {}) {
    auto r = eval(src, std::move(keys), std::move(args));
    EXPECT_TRUE(r.ok()) << src << ": " << (r.ok() ? "" : r.error().what());
    return r.ok() ? r.value() : Reply::error("failed");
  }

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(1'700'000'000'000);
  std::shared_ptr<LuaBackend> backend;
  Script::Keys script_keys = Script::DeclaredKeys;  // how eval() builds its scripts
};

const std::string kWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
const std::string kNotInt = "ERR value is not an integer or out of range";

TEST_F(LuaHostTest, KindPrefixInlineAndClock) {
  EXPECT_STREQ(backend->kind(), "memory");
  EXPECT_EQ(backend->prefix(), "rk");
  EXPECT_TRUE(backend->completes_inline());
  EXPECT_EQ(backend->now_ms(), 1'700'000'000'000);
  clock->advance(1234);
  EXPECT_EQ(backend->now_ms(), 1'700'000'001'234);
  EXPECT_EQ(ok_reply({"TIME"}), A({S("1700000001"), S("234000")}));
}

TEST_F(LuaHostTest, SetGetAndOptions) {
  EXPECT_EQ(ok_reply({"SET", "k", "v"}), OK());
  EXPECT_EQ(ok_reply({"get", "k"}), S("v"));
  EXPECT_EQ(ok_reply({"SET", "k", "w", "NX"}), N());
  EXPECT_EQ(ok_reply({"SET", "k2", "w", "XX"}), N());
  EXPECT_EQ(ok_reply({"SET", "k", "w", "XX", "GET"}), S("v"));
  EXPECT_EQ(ok_reply({"SET", "new", "x", "GET"}), N());
  EXPECT_EQ(ok_reply({"GET", "new"}), S("x"));
  EXPECT_EQ(ok_reply({"SET", "k", "z", "NX", "GET"}), S("w"));  // NX fails, GET still answers
  EXPECT_EQ(ok_reply({"GET", "k"}), S("w"));
  EXPECT_EQ(err_text({"SET", "k", "v", "NX", "XX"}), "ERR syntax error");
  EXPECT_EQ(err_text({"SET", "k", "v", "EX", "1", "PX", "1"}), "ERR syntax error");
  EXPECT_EQ(err_text({"SET", "k", "v", "EX"}), "ERR syntax error");
  EXPECT_EQ(err_text({"SET", "k", "v", "EX", "abc"}), kNotInt);
  EXPECT_EQ(err_text({"SET", "k", "v", "EX", "0"}), "ERR invalid expire time in 'set' command");
  EXPECT_EQ(err_text({"SET", "k", "v", "PX", "-5"}), "ERR invalid expire time in 'set' command");
  EXPECT_EQ(err_text({"SET", "k", "v", "EX", "9223372036854775"}), "ERR invalid expire time in 'set' command");
  EXPECT_EQ(err_text({"SET", "k", "v", "KEEPTTL", "EX", "5"}), "ERR syntax error");
  EXPECT_EQ(err_text({"SET", "k"}), "ERR wrong number of arguments for 'set' command");
  ok_reply({"HSET", "h", "f", "v"});
  EXPECT_EQ(err_text({"SET", "h", "v", "GET"}), kWrongType);
  EXPECT_EQ(ok_reply({"SET", "h", "v"}), OK());  // plain SET overwrites any type
  EXPECT_EQ(ok_reply({"TYPE", "h"}), Reply::status("string"));
}

TEST_F(LuaHostTest, SetExpiryKeepTtlAndClockExpiry) {
  ok_reply({"SET", "k", "v", "EX", "10"});
  EXPECT_EQ(ok_reply({"PTTL", "k"}), I(10000));
  EXPECT_EQ(ok_reply({"TTL", "k"}), I(10));
  ok_reply({"SET", "k", "v2", "KEEPTTL"});
  EXPECT_EQ(ok_reply({"PTTL", "k"}), I(10000));
  ok_reply({"SET", "k", "v3"});
  EXPECT_EQ(ok_reply({"PTTL", "k"}), I(-1));
  ok_reply({"SET", "k", "v", "PX", "1500"});
  clock->advance(1000);
  EXPECT_EQ(ok_reply({"TTL", "k"}), I(1));  // 500 ms rounds up as in Redis
  clock->advance(500);
  EXPECT_EQ(ok_reply({"GET", "k"}), S("v"));  // expired only once now > expire time
  clock->advance(1);
  EXPECT_EQ(ok_reply({"GET", "k"}), N());
  EXPECT_EQ(ok_reply({"PTTL", "k"}), I(-2));
  EXPECT_EQ(ok_reply({"EXISTS", "k"}), I(0));
  ok_reply({"SET", "a", "1", "PXAT", std::to_string(clock->now_ms() + 50)});
  EXPECT_EQ(ok_reply({"PTTL", "a"}), I(50));
  ok_reply({"SET", "b", "1", "EXAT", std::to_string(clock->now_ms() / 1000 + 100)});
  EXPECT_GT(ok_reply({"PTTL", "b"}).as_integer(), 98000);
}

TEST_F(LuaHostTest, ExpireFamily) {
  EXPECT_EQ(ok_reply({"EXPIRE", "missing", "10"}), I(0));
  ok_reply({"SET", "k", "v"});
  EXPECT_EQ(ok_reply({"EXPIRE", "k", "10", "XX"}), I(0));
  EXPECT_EQ(ok_reply({"EXPIRE", "k", "10", "GT"}), I(0));  // no TTL counts as infinite
  EXPECT_EQ(ok_reply({"EXPIRE", "k", "10", "NX"}), I(1));
  EXPECT_EQ(ok_reply({"EXPIRE", "k", "20", "NX"}), I(0));
  EXPECT_EQ(ok_reply({"EXPIRE", "k", "5", "GT"}), I(0));
  EXPECT_EQ(ok_reply({"EXPIRE", "k", "20", "GT"}), I(1));
  EXPECT_EQ(ok_reply({"PEXPIRE", "k", "30000", "LT"}), I(0));
  EXPECT_EQ(ok_reply({"PEXPIRE", "k", "3000", "LT"}), I(1));
  EXPECT_EQ(ok_reply({"PTTL", "k"}), I(3000));
  EXPECT_EQ(ok_reply({"PEXPIREAT", "k", std::to_string(clock->now_ms() + 700)}), I(1));
  EXPECT_EQ(ok_reply({"PTTL", "k"}), I(700));
  EXPECT_EQ(ok_reply({"PERSIST", "k"}), I(1));
  EXPECT_EQ(ok_reply({"PERSIST", "k"}), I(0));
  EXPECT_EQ(ok_reply({"TTL", "k"}), I(-1));
  EXPECT_EQ(ok_reply({"EXPIRE", "k", "-1"}), I(1));  // a past time deletes
  EXPECT_EQ(ok_reply({"EXISTS", "k"}), I(0));
  EXPECT_EQ(err_text({"EXPIRE", "k", "10", "NX", "XX"}),
            "ERR NX and XX, GT or LT options at the same time are not compatible");
  EXPECT_EQ(err_text({"EXPIRE", "k", "10", "GT", "LT"}), "ERR GT and LT options at the same time are not compatible");
  EXPECT_EQ(err_text({"EXPIRE", "k", "10", "FOO"}), "ERR Unsupported option FOO");
  EXPECT_EQ(err_text({"EXPIRE", "k", "x"}), kNotInt);
  EXPECT_EQ(err_text({"EXPIRE", "k", "9223372036854775807"}), "ERR invalid expire time in 'expire' command");
  EXPECT_EQ(err_text({"PEXPIRE", "k", "9223372036854775807"}), "ERR invalid expire time in 'pexpire' command");
}

TEST_F(LuaHostTest, IntegerCommandsAndOverflow) {
  EXPECT_EQ(ok_reply({"INCR", "n"}), I(1));
  EXPECT_EQ(ok_reply({"INCRBY", "n", "41"}), I(42));
  EXPECT_EQ(ok_reply({"DECR", "n"}), I(41));
  EXPECT_EQ(ok_reply({"DECRBY", "n", "-9"}), I(50));
  EXPECT_EQ(ok_reply({"GET", "n"}), S("50"));
  ok_reply({"SET", "n", "9223372036854775806"});
  EXPECT_EQ(ok_reply({"INCR", "n"}), I(INT64_MAX));
  EXPECT_EQ(err_text({"INCR", "n"}), "ERR increment or decrement would overflow");
  EXPECT_EQ(err_text({"DECRBY", "n", "-9223372036854775808"}), "ERR decrement would overflow");
  ok_reply({"SET", "s", "01"});
  EXPECT_EQ(err_text({"INCR", "s"}), kNotInt);  // leading zero: not an integer for Redis
  ok_reply({"SET", "s", " 1"});
  EXPECT_EQ(err_text({"INCR", "s"}), kNotInt);
  EXPECT_EQ(err_text({"INCRBY", "n", "1.5"}), kNotInt);
  ok_reply({"LPUSH", "l", "x"});
  EXPECT_EQ(err_text({"INCR", "l"}), kWrongType);
  EXPECT_EQ(ok_reply({"INCRBYFLOAT", "f", "10.5"}), S("10.5"));
  EXPECT_EQ(ok_reply({"INCRBYFLOAT", "f", "0.1"}), S("10.6"));
  EXPECT_EQ(ok_reply({"INCRBYFLOAT", "f", "-10.6"}), S("0"));
  EXPECT_EQ(ok_reply({"INCRBYFLOAT", "f", "5.0e3"}), S("5000"));
  EXPECT_EQ(err_text({"INCRBYFLOAT", "f", "abc"}), "ERR value is not a valid float");
  EXPECT_EQ(err_text({"INCRBYFLOAT", "f", "inf"}), "ERR increment would produce NaN or Infinity");
  EXPECT_EQ(ok_reply({"MGET", "n", "l", "missing"}), A({S(std::to_string(INT64_MAX)), N(), N()}));
}

TEST_F(LuaHostTest, DelExistsTypeUnlink) {
  ok_reply({"SET", "a", "1"});
  ok_reply({"SADD", "s", "m"});
  EXPECT_EQ(ok_reply({"EXISTS", "a", "a", "s", "x"}), I(3));
  EXPECT_EQ(ok_reply({"TYPE", "s"}), Reply::status("set"));
  EXPECT_EQ(ok_reply({"TYPE", "x"}), Reply::status("none"));
  EXPECT_EQ(ok_reply({"DEL", "a", "a", "x"}), I(1));
  EXPECT_EQ(ok_reply({"UNLINK", "s"}), I(1));
  EXPECT_EQ(backend->resident_keys(), 0u);
}

TEST_F(LuaHostTest, HashesKeepInsertionOrderAndVanishWhenEmpty) {
  EXPECT_EQ(ok_reply({"HSET", "h", "b", "1", "a", "2"}), I(2));
  EXPECT_EQ(ok_reply({"HSET", "h", "b", "3", "c", "4"}), I(1));
  EXPECT_EQ(ok_reply({"HGETALL", "h"}), A({S("b"), S("3"), S("a"), S("2"), S("c"), S("4")}));
  EXPECT_EQ(ok_reply({"HKEYS", "h"}), A({S("b"), S("a"), S("c")}));
  EXPECT_EQ(ok_reply({"HMGET", "h", "a", "zz"}), A({S("2"), N()}));
  EXPECT_EQ(ok_reply({"HSETNX", "h", "a", "9"}), I(0));
  EXPECT_EQ(ok_reply({"HSETNX", "h", "d", "9"}), I(1));
  EXPECT_EQ(ok_reply({"HLEN", "h"}), I(4));
  EXPECT_EQ(ok_reply({"HEXISTS", "h", "d"}), I(1));
  EXPECT_EQ(ok_reply({"HINCRBY", "h", "a", "5"}), I(7));
  EXPECT_EQ(ok_reply({"HINCRBY", "h", "new", "-5"}), I(-5));
  ok_reply({"HSET", "h", "text", "abc"});
  EXPECT_EQ(err_text({"HINCRBY", "h", "text", "1"}), "ERR hash value is not an integer");
  EXPECT_EQ(err_text({"HINCRBY", "h", "a", "x"}), kNotInt);
  EXPECT_EQ(err_text({"HSET", "h", "a", "1", "b"}), "ERR wrong number of arguments for 'hset' command");
  EXPECT_EQ(ok_reply({"HDEL", "h", "a", "b", "c", "d", "new", "text", "zz"}), I(6));
  EXPECT_EQ(ok_reply({"EXISTS", "h"}), I(0));
  EXPECT_EQ(ok_reply({"HGETALL", "h"}), A({}));
  ok_reply({"SET", "str", "x"});
  EXPECT_EQ(err_text({"HGET", "str", "f"}), kWrongType);
  EXPECT_EQ(err_text({"HSET", "str", "f", "v"}), kWrongType);
}

TEST_F(LuaHostTest, SetsVanishWhenEmpty) {
  EXPECT_EQ(ok_reply({"SADD", "s", "a", "b", "a"}), I(2));
  EXPECT_EQ(ok_reply({"SCARD", "s"}), I(2));
  EXPECT_EQ(ok_reply({"SISMEMBER", "s", "b"}), I(1));
  auto members = ok_reply({"SMEMBERS", "s"}).as_array();
  std::set<std::string> got;
  for (const auto& m : members) got.insert(std::string(m.as_string()));
  EXPECT_EQ(got, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(ok_reply({"SREM", "s", "a", "b", "c"}), I(2));
  EXPECT_EQ(ok_reply({"TYPE", "s"}), Reply::status("none"));
}

TEST_F(LuaHostTest, SortedSets) {
  EXPECT_EQ(ok_reply({"ZADD", "z", "1", "a", "2", "b", "1.5", "c"}), I(3));
  EXPECT_EQ(ok_reply({"ZRANGE", "z", "0", "-1", "WITHSCORES"}),
            A({S("a"), S("1"), S("c"), S("1.5"), S("b"), S("2")}));
  EXPECT_EQ(ok_reply({"ZADD", "z", "CH", "GT", "3", "a", "0", "b"}), I(1));
  EXPECT_EQ(ok_reply({"ZSCORE", "z", "a"}), S("3"));
  EXPECT_EQ(ok_reply({"ZADD", "z", "INCR", "0.1", "c"}), S("1.6000000000000001"));
  EXPECT_EQ(ok_reply({"ZADD", "z", "NX", "INCR", "1", "c"}), N());
  EXPECT_EQ(ok_reply({"ZADD", "z", "XX", "5", "new"}), I(0));
  EXPECT_EQ(ok_reply({"ZADD", "z", "-inf", "lo", "+inf", "hi"}), I(2));
  EXPECT_EQ(ok_reply({"ZSCORE", "z", "hi"}), S("inf"));
  EXPECT_EQ(ok_reply({"ZRANGEBYSCORE", "z", "(1.6", "+inf", "LIMIT", "1", "1"}), A({S("a")}));
  EXPECT_EQ(ok_reply({"ZRANGEBYSCORE", "z", "-inf", "(2", "WITHSCORES"}),
            A({S("lo"), S("-inf"), S("c"), S("1.6000000000000001")}));
  EXPECT_EQ(ok_reply({"ZRANGE", "z", "+inf", "(2", "BYSCORE", "REV"}), A({S("hi"), S("a")}));
  EXPECT_EQ(ok_reply({"ZCOUNT", "z", "1", "3"}), I(3));
  EXPECT_EQ(ok_reply({"ZCARD", "z"}), I(5));
  EXPECT_EQ(ok_reply({"ZREMRANGEBYSCORE", "z", "-inf", "(3"}), I(3));
  EXPECT_EQ(ok_reply({"ZREM", "z", "a", "hi", "zz"}), I(2));
  EXPECT_EQ(ok_reply({"EXISTS", "z"}), I(0));
  EXPECT_EQ(err_text({"ZADD", "z", "NX", "XX", "1", "a"}), "ERR XX and NX options at the same time are not compatible");
  EXPECT_EQ(err_text({"ZADD", "z", "GT", "LT", "1", "a"}),
            "ERR GT, LT, and/or NX options at the same time are not compatible");
  EXPECT_EQ(err_text({"ZADD", "z", "INCR", "1", "a", "2", "b"}), "ERR INCR option supports a single increment-element pair");
  EXPECT_EQ(err_text({"ZADD", "z", "nan", "a"}), "ERR value is not a valid float");
  EXPECT_EQ(err_text({"ZADD", "z", "1", "a", "2"}), "ERR syntax error");
  EXPECT_EQ(err_text({"ZRANGEBYSCORE", "z", "x", "1"}), "ERR min or max is not a float");
  EXPECT_EQ(err_text({"ZRANGE", "z", "0", "1", "LIMIT", "0", "1"}),
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
  ok_reply({"ZADD", "inc", "inf", "m"});
  EXPECT_EQ(err_text({"ZADD", "inc", "INCR", "-inf", "m"}), "ERR resulting score is not a number (NaN)");
}

TEST_F(LuaHostTest, Lists) {
  EXPECT_EQ(ok_reply({"RPUSH", "l", "a", "b"}), I(2));
  EXPECT_EQ(ok_reply({"LPUSH", "l", "x", "y"}), I(4));
  EXPECT_EQ(ok_reply({"LRANGE", "l", "0", "-1"}), A({S("y"), S("x"), S("a"), S("b")}));
  EXPECT_EQ(ok_reply({"LRANGE", "l", "-2", "100"}), A({S("a"), S("b")}));
  EXPECT_EQ(ok_reply({"LRANGE", "l", "3", "1"}), A({}));
  EXPECT_EQ(ok_reply({"LTRIM", "l", "1", "2"}), OK());
  EXPECT_EQ(ok_reply({"LRANGE", "l", "0", "-1"}), A({S("x"), S("a")}));
  EXPECT_EQ(ok_reply({"LLEN", "l"}), I(2));
  EXPECT_EQ(ok_reply({"LTRIM", "l", "5", "10"}), OK());
  EXPECT_EQ(ok_reply({"EXISTS", "l"}), I(0));
  EXPECT_EQ(err_text({"LRANGE", "l", "a", "1"}), kNotInt);
}

TEST_F(LuaHostTest, UnknownCommandsAndArity) {
  EXPECT_EQ(err_text({"FLUSHALL"}), "ERR unknown command 'FLUSHALL', with args beginning with: ");
  EXPECT_EQ(err_text({"foo", "a", "b"}), "ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
  EXPECT_EQ(err_text({"GET"}), "ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(err_text({"GET", "a", "b"}), "ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(eval_err("return redis.call('foo')"),
            "ERR Unknown Redis command called from script script: " + Script("return redis.call('foo')").sha1() +
                ", on @user_script:1.");
  EXPECT_EQ(eval_err("return redis.call('get')").rfind("ERR Wrong number of args calling Redis command from script ", 0),
            0u);
}

TEST_F(LuaHostTest, GlobMatching) {
  EXPECT_TRUE(lua_glob_match("*", "anything"));
  EXPECT_TRUE(lua_glob_match("h?llo", "hello"));
  EXPECT_FALSE(lua_glob_match("h?llo", "hllo"));
  EXPECT_TRUE(lua_glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(lua_glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(lua_glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(lua_glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(lua_glob_match("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(lua_glob_match("h[b-a]llo", "hbllo"));  // reversed ranges work in Redis
  EXPECT_TRUE(lua_glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(lua_glob_match("a\\*b", "axb"));
  EXPECT_TRUE(lua_glob_match("rk:*:{x}", "rk:lock:{x}"));
  EXPECT_TRUE(lua_glob_match("a[b", "ab"));  // unterminated class: Redis still matches its members
  EXPECT_FALSE(lua_glob_match("a[", "ab"));
  EXPECT_FALSE(lua_glob_match("*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));  // and returns quickly
}

TEST_F(LuaHostTest, ScanReturnsEveryStableKeyDespiteChurn) {
  for (int i = 0; i < 500; i++) ok_reply({"SET", "stable:" + std::to_string(i), "v"});
  std::set<std::string> seen;
  std::string cursor = "0";
  int churn = 0, rounds = 0;
  do {
    auto r = ok_reply({"SCAN", cursor, "MATCH", "stable:*", "COUNT", "7"});
    cursor = std::string(r.at(0).as_string());
    for (const auto& k : r.at(1).as_array()) {
      std::string key(k.as_string());
      EXPECT_EQ(key.rfind("stable:", 0), 0u);
      seen.insert(key);
    }
    // Keys come and go during the scan; the stable ones must all be returned anyway.
    ok_reply({"SET", "churn:" + std::to_string(churn++), "v"});
    if (churn > 3) ok_reply({"DEL", "churn:" + std::to_string(churn - 3)});
    ASSERT_LT(++rounds, 10000);
  } while (cursor != "0");
  EXPECT_EQ(seen.size(), 500u);
  EXPECT_EQ(err_text({"SCAN", "abc"}), "ERR invalid cursor");
  EXPECT_EQ(err_text({"SCAN", "0", "COUNT", "0"}), "ERR syntax error");
  ok_reply({"HSET", "ahash", "f", "v"});
  auto typed = ok_reply({"SCAN", "0", "TYPE", "hash", "COUNT", "100000"});
  EXPECT_EQ(typed.at(1), A({S("ahash")}));
}

TEST_F(LuaHostTest, LuaToReplyConversions) {
  EXPECT_EQ(eval_ok("return 1.9"), I(1));
  EXPECT_EQ(eval_ok("return -1.9"), I(-1));
  EXPECT_EQ(eval_ok("return 'x'"), S("x"));
  EXPECT_EQ(eval_ok("return true"), I(1));
  EXPECT_EQ(eval_ok("return false"), N());
  EXPECT_EQ(eval_ok("return nil"), N());
  EXPECT_EQ(eval_ok("return {1, 'two', {3}, nil, 5}"), A({I(1), S("two"), A({I(3)})}));
  EXPECT_EQ(eval_ok("return {ok='FINE'}"), Reply::status("FINE"));
  EXPECT_EQ(eval_ok("return redis.status_reply('DONE')"), Reply::status("DONE"));
  EXPECT_EQ(eval_ok("return {double=1.5}"), S("1.5"));
  EXPECT_EQ(eval_err("return {err='bad thing'}"), "bad thing");
  EXPECT_EQ(eval_err("return redis.error_reply('bad')"), "ERR bad");
  EXPECT_EQ(eval_err("return redis.error_reply('MY bad')"), "MY bad");
  EXPECT_EQ(eval_ok("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", {"k"}, {"a", "b"}), A({S("k"), S("a"), I(1), I(2)}));
}

TEST_F(LuaHostTest, ReplyToLuaConversions) {
  ok_reply({"SET", "k", "v"});
  EXPECT_EQ(eval_ok("return type(redis.call('GET', 'missing'))"), S("boolean"));
  EXPECT_EQ(eval_ok("return redis.call('GET', 'missing') == false and 1 or 0"), I(1));
  EXPECT_EQ(eval_ok("return type(redis.call('INCR', 'n'))"), S("number"));
  EXPECT_EQ(eval_ok("return redis.call('SET', 'k', 'v')['ok']"), S("OK"));
  EXPECT_EQ(eval_ok("local r = redis.call('MGET', 'k', 'missing') return {r[1], type(r[2])}"),
            A({S("v"), S("boolean")}));
  EXPECT_EQ(eval_ok("local r = redis.pcall('INCR', 'k') return r['err']"), S(kNotInt));
  EXPECT_EQ(eval_err("return redis.pcall('INCR', 'k')"), kNotInt);  // returned, so no position
  EXPECT_EQ(eval_ok("local ok, e = pcall(function() redis.call('INCR', 'k') end) return {tostring(ok), e}"),
            A({S("false"), S(kNotInt)}));
  // Numbers go to commands as %.17g, as Redis formats them.
  eval_ok("redis.call('SET', 'f', 0.1) redis.call('SET', 'g', 3.0) redis.call('SET', 'h', 1e20)");
  EXPECT_EQ(ok_reply({"MGET", "f", "g", "h"}), A({S("0.10000000000000001"), S("3"), S("1e+20")}));
}

TEST_F(LuaHostTest, ScriptErrorsCarryRedisPositionSuffix) {
  const std::string src = "local x = 1\nreturn redis.call('INCR', KEYS[1])";
  ok_reply({"SET", "s", "abc"});
  EXPECT_EQ(eval_err(src, {"s"}), kNotInt + " script: " + Script(src).sha1() + ", on @user_script:2.");
  const std::string e1 = "error('boom')";
  EXPECT_EQ(eval_err(e1), "ERR user_script:1: boom script: " + Script(e1).sha1() + ", on @user_script:1.");
  const std::string e2 = "error({err='CODE custom'})";
  EXPECT_EQ(eval_err(e2), "CODE custom script: " + Script(e2).sha1() + ", on @user_script:1.");
  const std::string e3 = "return redis.call('SET', 'k', {})";
  EXPECT_EQ(eval_err(e3), "ERR Lua redis lib command arguments must be strings or integers script: " +
                              Script(e3).sha1() + ", on @user_script:1.");
  const std::string e4 = "return redis.call()";
  EXPECT_EQ(eval_err(e4), "ERR Please specify at least one argument for this redis lib call script: " +
                              Script(e4).sha1() + ", on @user_script:1.");
  EXPECT_EQ(eval_err("return +").rfind("ERR Error compiling script (new function): user_script:1:", 0), 0u);
}

TEST_F(LuaHostTest, SandboxForbidsGlobalsAndUnsafeLibraries) {
  const std::string w = "x = 1";
  EXPECT_EQ(eval_err(w), "ERR user_script:1: Attempt to modify a readonly table script: " + Script(w).sha1() +
                             ", on @user_script:1.");
  const std::string r = "return y";
  EXPECT_EQ(eval_err(r), "ERR user_script:1: Script attempted to access nonexistent global variable 'y' script: " +
                             Script(r).sha1() + ", on @user_script:1.");
  EXPECT_FALSE(eval("redis = nil").ok());
  EXPECT_FALSE(eval("_G.z = 1").ok());
  EXPECT_FALSE(eval("local f = function() newglobal = 1 end f()").ok());
  EXPECT_FALSE(eval("return loadstring('zz = 1')()").ok());
  for (const char* lib : {"os", "io", "debug", "package", "dofile", "loadfile", "require", "print"}) {
    EXPECT_FALSE(eval(std::string("return ") + lib).ok()) << lib;
  }
  // The allowed libraries are there, and local variables are fine.
  EXPECT_EQ(eval_ok("local t = {} table.insert(t, string.upper('a')) return {t[1], math.floor(2.7)}"),
            A({S("A"), I(2)}));
  EXPECT_EQ(eval_ok("return redis.sha1hex('')"), S("da39a3ee5e6b4b0d3255bfef95601890afd80709"));
  EXPECT_TRUE(eval("redis.log(redis.LOG_WARNING, 'hello')").ok());
  EXPECT_FALSE(eval("redis.log('x')").ok());
}

TEST_F(LuaHostTest, ScriptsAreCompiledOncePerSha) {
  for (int i = 0; i < 5; i++) eval_ok("return 1");
  eval_ok("return 2");
  EXPECT_EQ(backend->cached_scripts(), 2u);
}

TEST_F(LuaHostTest, RunawayScriptIsAbortedWithAnErrorReply) {
  LuaBackendLimits limits;
  limits.script_time_limit_ms = 200;
  open(limits);
  auto start = std::chrono::steady_clock::now();
  std::string text = eval_err("local i = 0 while true do i = i + 1 end");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(text.find("Script killed"), std::string::npos) << text;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  // pcall cannot swallow the abort for good.
  EXPECT_NE(eval_err("while true do pcall(function() while true do end end) end").find("Script killed"),
            std::string::npos);
  // The host still works afterwards.
  EXPECT_EQ(eval_ok("return 7"), I(7));
}

TEST_F(LuaHostTest, ExpiredKeysAreSweptInBoundedSteps) {
  LuaBackendLimits limits;
  limits.script_time_limit_ms = 120'000;  // filling is slow under sanitizers and a loaded machine
  limits.cluster_slot_checks = false;      // one script fills keys of every slot
  open(limits);
  const int total = 1'000'000;
  const std::string fill =
      "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do redis.call('SET', 'k' .. i, 'v', 'PX', 1000) end";
  for (int from = 0; from < total; from += 10'000) {
    eval_ok(fill, {}, {std::to_string(from), std::to_string(from + 9'999)});
  }
  ASSERT_EQ(backend->resident_keys(), static_cast<size_t>(total));
  EXPECT_EQ(backend->sweep_expired(1000), 0u);  // nothing expired yet
  clock->advance(1001);
  size_t steps = 0;
  while (backend->resident_keys() > 0) {
    size_t removed = backend->sweep_expired(5000);
    ASSERT_LE(removed, 5000u);  // each step's work is bounded
    ASSERT_GT(removed, 0u);
    ++steps;
  }
  EXPECT_EQ(steps, static_cast<size_t>(total / 5000));
}

TEST_F(LuaHostTest, BackgroundSweepRemovesExpiredKeysWithoutAccess) {
  LuaBackendLimits limits;
  limits.script_time_limit_ms = 120'000;
  limits.cluster_slot_checks = false;
  open(limits, 10);
  eval_ok("for i = 1, 50000 do redis.call('SET', 'k' .. i, 'v', 'EX', 5) end");
  eval_ok("for i = 1, 10 do redis.call('SET', 'keep' .. i, 'v') end");
  clock->advance(5001);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (backend->resident_keys() > 10 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(backend->resident_keys(), 10u);
}

TEST_F(LuaHostTest, PublishCountsListenersAndDeliversAfterTheScript) {
  std::vector<std::string> got;
  std::vector<int64_t> seen_during_delivery;
  uint64_t id = backend->listen("chan", [&](std::string_view m) {
    got.emplace_back(m);
    // The host's lock is free during delivery: a listener may run scripts.
    seen_during_delivery.push_back(eval_ok("return redis.call('GET', 'k')") == S("set-before-publish") ? 1 : 0);
  });
  backend->listen("other", [&](std::string_view) { got.emplace_back("wrong channel"); });
  EXPECT_EQ(eval_ok("redis.call('PUBLISH', 'chan', 'hello') redis.call('SET', 'k', 'set-before-publish') "
                    "return redis.call('PUBLISH', 'chan', 'again')"),
            I(1));
  EXPECT_EQ(got, (std::vector<std::string>{"hello", "again"}));
  EXPECT_EQ(seen_during_delivery, (std::vector<int64_t>{1, 1}));  // delivered after the script finished
  EXPECT_EQ(ok_reply({"PUBLISH", "chan", "cmd"}), I(1));
  EXPECT_EQ(got.back(), "cmd");
  backend->unlisten(id);
  EXPECT_EQ(ok_reply({"PUBLISH", "chan", "gone"}), I(0));
  EXPECT_EQ(got.back(), "cmd");
}

TEST_F(LuaHostTest, ThrowingListenersAndTimersDoNotBreakTheHost) {
  int heard = 0;
  backend->listen("c", [](std::string_view) { throw std::runtime_error("listener bug"); });
  backend->listen("c", [&](std::string_view) { ++heard; });
  EXPECT_EQ(ok_reply({"PUBLISH", "c", "m"}), I(2));  // the op still settles
  EXPECT_EQ(heard, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool later_ran = false;
  backend->schedule(0, [] { throw std::runtime_error("timer bug"); });
  backend->schedule(20, [&] {
    std::lock_guard<std::mutex> lock(mu);
    later_ran = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return later_ran; }));
}

TEST_F(LuaHostTest, TimersRunInOrderAndCancel) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> order;
  auto push = [&](int v) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(v);
    cv.notify_all();
  };
  // Real-time timers (the ManualClock is the keyspace's), 150 ms apart: the order and the cancel
  // hold unless this thread stalls that long between two calls (30-40 ms did on a busy machine).
  backend->schedule(300, [&] { push(3); });
  backend->schedule(0, [&] { push(1); });
  backend->schedule(150, [&] { push(2); });
  uint64_t cancelled = backend->schedule(200, [&] { push(99); });
  EXPECT_TRUE(backend->cancel(cancelled));
  EXPECT_FALSE(backend->cancel(cancelled));
  // A timer may use the backend (the lock is not held while it runs).
  backend->schedule(400, [&] {
    std::optional<Result<Reply>> r;
    backend->command({"SET", "from-timer", "1"}, [&](Result<Reply> x) { r = std::move(x); });
    push(r && r->ok() ? 4 : -4);
  });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return order.size() >= 4; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  lock.unlock();
  uint64_t ran = backend->schedule(0, [] {});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(backend->cancel(ran));  // already ran
}

TEST_F(LuaHostTest, CloseCancelsTimersAndRejectsLaterOps) {
  std::atomic<bool> ran{false};
  // 250 ms: close() comes first even if this thread stalls that long; the check below waits
  // past that time, so a timer close() failed to cancel would have run.
  const auto scheduled_at = std::chrono::steady_clock::now();
  backend->schedule(250, [&] { ran = true; });
  backend->listen("c", [&](std::string_view) { ran = true; });
  EXPECT_FALSE(backend->closed());
  backend->close();
  backend->close();  // idempotent
  EXPECT_TRUE(backend->closed());
  std::this_thread::sleep_until(scheduled_at + std::chrono::milliseconds(350));
  EXPECT_FALSE(ran.load());
  auto r = cmd({"GET", "k"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Closed);
  auto e = eval("return 1");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), ErrorCode::Closed);
  backend->schedule(0, [&] { ran = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(ran.load());
}

TEST_F(LuaHostTest, TimerMayDropTheLastReferenceToItsBackend) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::weak_ptr<LuaBackend> weak = backend;
  auto holder = std::make_shared<std::shared_ptr<LuaBackend>>(backend);
  backend.reset();
  (*holder)->schedule(0, [holder, &mu, &cv, &done]() mutable {
    holder->reset();  // destroys the backend on its own timer thread
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return done; }));
  lock.unlock();
  // The capture (and with it the backend) is released once the callback returns.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!weak.expired() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(weak.expired());
}

TEST_F(LuaHostTest, ManyThreadsSeeAtomicScripts) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([this] {
      for (int i = 0; i < 500; i++) {
        std::vector<std::string_view> keys = {"counter"};
        backend->eval(Script("local v = tonumber(redis.call('GET', KEYS[1]) or '0') "
                             "redis.call('SET', KEYS[1], v + 1) return v + 1"),
                      ArgList(keys), ArgList(), [](Result<Reply>) {});
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok_reply({"GET", "counter"}), S("2000"));
}

// Redis Cluster's slot rules hold on memory too (LuaBackendLimits::cluster_slot_checks, on by
// default), so every primitive test on memory proves its keys co-locate as a cluster needs.
TEST_F(LuaHostTest, ClusterSlotRulesRefuseCrossSlotKeys) {
  const std::string cross = "CROSSSLOT Keys in request don't hash to the same slot";
  const std::string script_cross = "ERR Script attempted to access keys that do not hash to the same slot";
  open(LuaBackendLimits{});  // the default: checks on
  script_keys = Script::UndeclaredKeys;  // slots only here; the KEYS promise has its own test
  // Declared keys in different slots: refused before the script runs (nothing written).
  EXPECT_EQ(eval_err("redis.call('SET', KEYS[1], 'x') return 1", {"rk:a:{u1}:x", "rk:a:{u2}:x"}), cross);
  EXPECT_EQ(ok_reply({"EXISTS", "rk:a:{u1}:x"}), I(0));
  // One hash tag: one slot, whatever the rest of the key.
  EXPECT_EQ(eval_ok("redis.call('SET', KEYS[1], 'x') redis.call('SET', KEYS[2], 'y') return redis.call('MGET', KEYS[1], KEYS[2])",
                    {"rk:a:{u1}:x", "other:{u1}:y"}),
            A({S("x"), S("y")}));
  // A key built inside the script that leaves the declared slot.
  EXPECT_EQ(eval_err("return redis.call('GET', KEYS[1] .. 'z')", {"plain"}).rfind(script_cross, 0), 0u);
  EXPECT_EQ(eval_ok("return redis.call('GET', 'rk:b:{u1}:other')", {"rk:a:{u1}:x"}), N());
  EXPECT_EQ(eval_err("return redis.call('GET', 'rk:b:{u2}:other')", {"rk:a:{u1}:x"}).rfind(script_cross, 0), 0u);
  // No declared keys: the first key touched fixes the slot.
  EXPECT_EQ(eval_err("redis.call('GET', '{a}1') return redis.call('GET', '{b}1')").rfind(script_cross, 0), 0u);
  EXPECT_EQ(eval_ok("redis.call('GET', '{a}1') return redis.call('GET', '{a}2')"), N());
  // redis.pcall returns the error instead of raising it.
  EXPECT_EQ(eval_ok("local r = redis.pcall('GET', '{b}1') return r.err", {"{a}x"}).as_string().rfind(script_cross, 0), 0u);
  // Keyless commands are fine; multi-key commands need one slot.
  EXPECT_EQ(eval_ok("redis.call('TIME') redis.call('PUBLISH', 'ch', 'm') return 1", {"{a}x"}), I(1));
  EXPECT_EQ(err_text({"DEL", "{a}1", "{b}1"}), cross);
  EXPECT_EQ(err_text({"MGET", "{a}1", "{b}1"}), cross);
  EXPECT_EQ(ok_reply({"DEL", "{a}1", "{a}2"}), I(0));
  EXPECT_EQ(ok_reply({"GET", "anything"}), N());
}

TEST_F(LuaHostTest, ScriptsThatPromiseToDeclareTheirKeysAreHeldToIt) {
  // Script::DeclaredKeys (the default) lets the cluster engine follow ASK with the script, which
  // is only safe when KEYS lists every key it touches: the host refuses any other key.
  open(LuaBackendLimits{});
  const std::string undeclared = "ERR redkeeper: the script touched key 'rk:x:{u1}:other' that KEYS does not list";
  EXPECT_EQ(eval_err("return redis.call('GET', 'rk:x:{u1}:other')", {"rk:x:{u1}"}).rfind(undeclared, 0), 0u);
  EXPECT_EQ(eval_err("return redis.call('DEL', KEYS[1], 'rk:x:{u1}:other')", {"rk:x:{u1}"}).rfind(undeclared, 0), 0u);
  EXPECT_EQ(eval_ok("redis.call('SET', KEYS[2], 'v') redis.call('PUBLISH', 'c', 'm') return redis.call('MGET', KEYS[1], KEYS[2])",
                    {"rk:x:{u1}", "rk:x:{u1}:other"}),
            A({N(), S("v")}));
  script_keys = Script::UndeclaredKeys;
  EXPECT_EQ(eval_ok("return redis.call('GET', 'rk:x:{u1}:other')", {"rk:x:{u1}"}), S("v"));
}

TEST_F(LuaHostTest, ClusterSlotChecksCanBeTurnedOffForStandaloneSemantics) {
  LuaBackendLimits limits;
  limits.cluster_slot_checks = false;
  open(limits);
  EXPECT_EQ(eval_ok("redis.call('SET', KEYS[1], 'x') redis.call('SET', KEYS[2], 'y') return redis.call('GET', 'free')",
                    {"{u1}", "{u2}"}),
            N());
  EXPECT_EQ(ok_reply({"DEL", "{u1}", "{u2}"}), I(2));
}

}  // namespace
}  // namespace redkeeper
