// Differential test: the same commands and scripts run on the memory backend's Lua host and on a
// real redis-server started by the test, and every reply (or error text) must be identical. This
// is the proof that memory:// is Redis-exact for the command subset the primitives' scripts use.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "redis_harness.hpp"
#include "store/lua_backend.hpp"

namespace redkeeper {
namespace {

using testing::RedisServer;

// One step: a plain command or a script. `unordered` sorts array replies (and SCAN's key list)
// before comparing, for replies whose order Redis itself does not define (sets, hash tables).
struct Step {
  std::vector<std::string> argv;
  std::string script;
  std::vector<std::string> keys, args;
  bool unordered = false;
};

Step C(std::vector<std::string> argv, bool unordered = false) {
  Step s;
  s.argv = std::move(argv);
  s.unordered = unordered;
  return s;
}
Step E(std::string script, std::vector<std::string> keys = {}, std::vector<std::string> args = {},
       bool unordered = false) {
  Step s;
  s.script = std::move(script);
  s.keys = std::move(keys);
  s.args = std::move(args);
  s.unordered = unordered;
  return s;
}

std::string describe(const Step& s) {
  std::string out = s.script.empty() ? "command:" : "eval: " + s.script + " keys:";
  for (const auto& a : s.script.empty() ? s.argv : s.keys) out += " " + a;
  if (!s.script.empty()) {
    out += " args:";
    for (const auto& a : s.args) out += " " + a;
  }
  return out;
}

Reply normalise(Reply r, const Step& s) {
  if (!s.unordered || !r.is_array()) return r;
  std::vector<Reply> elems = r.as_array();
  auto by_text = [](const Reply& a, const Reply& b) { return a.debug_string() < b.debug_string(); };
  // SCAN: [cursor, [keys...]]: sort the keys only.
  if (elems.size() == 2 && elems[0].is_string() && elems[1].is_array()) {
    std::vector<Reply> keys = elems[1].as_array();
    std::sort(keys.begin(), keys.end(), by_text);
    return Reply::array({elems[0], Reply::array(std::move(keys))});
  }
  std::sort(elems.begin(), elems.end(), by_text);
  return Reply::array(std::move(elems));
}

std::string outcome(const Result<Reply>& r) {
  if (r.ok()) return "reply " + r.value().debug_string();
  return std::string("error ") + error_code_name(r.error().code()) + " '" + r.error().what() + "'";
}

class LuaParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new RedisServer();
    redis_ = testing::open_redis(server_->url());
  }
  static void TearDownTestSuite() {
    if (redis_) redis_->close();
    redis_.reset();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(redis_);
    ASSERT_TRUE(testing::call(*redis_, {"FLUSHALL"}).ok());
    // A standalone server is the reference: no cluster slot rules on either side.
    LuaBackendLimits limits;
    limits.cluster_slot_checks = false;
    memory_ = std::make_shared<LuaBackend>(ClientOptions{}, limits);
  }
  void TearDown() override { memory_->close(); }

  Result<Reply> on_redis(const Step& s) {
    if (s.script.empty()) {
      std::vector<std::string_view> v(s.argv.begin(), s.argv.end());
      return testing::call(*redis_, ArgList(v));
    }
    std::vector<std::string_view> k(s.keys.begin(), s.keys.end()), a(s.args.begin(), s.args.end());
    return testing::call_eval(*redis_, Script(s.script), ArgList(k), ArgList(a));
  }
  Result<Reply> on_memory(const Step& s) {
    std::optional<Result<Reply>> out;
    auto done = [&](Result<Reply> r) { out = std::move(r); };
    if (s.script.empty()) {
      std::vector<std::string_view> v(s.argv.begin(), s.argv.end());
      memory_->command(ArgList(v), done);
    } else {
      std::vector<std::string_view> k(s.keys.begin(), s.keys.end()), a(s.args.begin(), s.args.end());
      memory_->eval(Script(s.script), ArgList(k), ArgList(a), done);
    }
    return out ? std::move(*out) : Result<Reply>(Error(ErrorCode::Internal, "memory did not complete inline"));
  }

  // Runs every step on both and expects identical outcomes; returns how many steps were compared.
  size_t run(const std::vector<Step>& steps) {
    size_t compared = 0;
    for (const auto& s : steps) {
      auto r = on_redis(s);
      auto m = on_memory(s);
      ++compared;
      if (r.ok() != m.ok()) {
        ADD_FAILURE() << describe(s) << "\n  redis:  " << outcome(r) << "\n  memory: " << outcome(m);
        continue;
      }
      if (r.ok()) {
        Reply rn = normalise(r.value(), s), mn = normalise(m.value(), s);
        EXPECT_EQ(rn, mn) << describe(s) << "\n  redis:  " << rn.debug_string() << "\n  memory: " << mn.debug_string();
      } else {
        EXPECT_EQ(r.error().code(), m.error().code()) << describe(s);
        EXPECT_EQ(std::string(r.error().what()), std::string(m.error().what())) << describe(s);
      }
    }
    total_ += compared;
    return compared;
  }

  // One key of every type (and a counter), rebuilt before each write case.
  static std::vector<Step> fixture() {
    return {
        C({"DEL", "str", "num", "hash", "set", "iset", "zset", "list", "missing", "dst"}),
        C({"SET", "str", "hello"}),
        C({"SET", "num", "10"}),
        C({"HSET", "hash", "f1", "v1", "f2", "2", "f3", "v3"}),
        C({"SADD", "set", "a", "b", "c"}),
        C({"SADD", "iset", "3", "1", "2"}),
        C({"ZADD", "zset", "1", "a", "2", "b", "2", "bb", "3.5", "c", "-inf", "lo", "inf", "hi"}),
        C({"RPUSH", "list", "x", "y", "z"}),
    };
  }

  static RedisServer* server_;
  static std::shared_ptr<RedisClient> redis_;
  std::shared_ptr<LuaBackend> memory_;
  size_t total_ = 0;
};

RedisServer* LuaParityTest::server_ = nullptr;
std::shared_ptr<RedisClient> LuaParityTest::redis_;

const std::vector<std::string> kAllKeys = {"str", "num", "hash", "set", "iset", "zset", "list", "missing"};

// Read-only commands on every key type: values, empty replies and WRONGTYPE all match.
TEST_F(LuaParityTest, ReadCommandsOnEveryType) {
  run(fixture());
  std::vector<Step> steps;
  for (const auto& k : kAllKeys) {
    steps.push_back(C({"GET", k}));
    steps.push_back(C({"TYPE", k}));
    steps.push_back(C({"EXISTS", k, k, "missing"}));
    steps.push_back(C({"TTL", k}));
    steps.push_back(C({"PTTL", k}));
    steps.push_back(C({"MGET", k, "str", "missing"}));
    steps.push_back(C({"HGET", k, "f1"}));
    steps.push_back(C({"HMGET", k, "f1", "nope", "f2"}));
    steps.push_back(C({"HGETALL", k}));
    steps.push_back(C({"HKEYS", k}));
    steps.push_back(C({"HVALS", k}));
    steps.push_back(C({"HEXISTS", k, "f2"}));
    steps.push_back(C({"HLEN", k}));
    steps.push_back(C({"SMEMBERS", k}, true));
    steps.push_back(C({"SISMEMBER", k, "a"}));
    steps.push_back(C({"SCARD", k}));
    steps.push_back(C({"ZSCORE", k, "c"}));
    steps.push_back(C({"ZCARD", k}));
    steps.push_back(C({"ZRANGE", k, "0", "-1", "WITHSCORES"}));
    steps.push_back(C({"ZRANGEBYSCORE", k, "-inf", "+inf"}));
    steps.push_back(C({"ZCOUNT", k, "1", "3"}));
    steps.push_back(C({"LRANGE", k, "0", "-1"}));
    steps.push_back(C({"LLEN", k}));
  }
  run(steps);
  // Intsets come back sorted from Redis: the memory host must not depend on that, so unordered.
  EXPECT_GT(total_, 170u);
}

// Write commands on every key type, each from a fresh fixture.
TEST_F(LuaParityTest, WriteCommandsOnEveryType) {
  const std::vector<std::vector<std::string>> writes = {
      {"SET", "@", "v"},          {"SET", "@", "v", "GET"},       {"SET", "@", "v", "NX", "GET"},
      {"INCR", "@"},              {"DECRBY", "@", "5"},           {"INCRBYFLOAT", "@", "1.5"},
      {"HSET", "@", "f1", "new"}, {"HSETNX", "@", "f9", "x"},     {"HDEL", "@", "f1", "f2", "f3"},
      {"HINCRBY", "@", "f2", "3"}, {"HINCRBY", "@", "f1", "3"},   {"SADD", "@", "a", "z"},
      {"SREM", "@", "a", "b", "c"}, {"ZADD", "@", "5", "a"},      {"ZREM", "@", "a", "b", "bb", "c", "lo", "hi"},
      {"ZREMRANGEBYSCORE", "@", "-inf", "2"},                      {"LPUSH", "@", "p"},
      {"RPUSH", "@", "p", "q"},   {"LTRIM", "@", "1", "-1"},      {"LTRIM", "@", "5", "9"},
      {"EXPIRE", "@", "100"},     {"PEXPIRE", "@", "100000", "NX"}, {"PERSIST", "@"},
      {"EXPIREAT", "@", "99999999999"}, {"PEXPIREAT", "@", "1"},    {"SET", "@", "v", "KEEPTTL", "GET"},
      {"DEL", "@"},               {"UNLINK", "@", "missing"},
  };
  for (const auto& w : writes) {
    for (const auto& k : kAllKeys) {
      std::vector<Step> steps = fixture();
      std::vector<std::string> argv = w;
      std::replace(argv.begin(), argv.end(), std::string("@"), k);
      steps.push_back(C(argv));
      steps.push_back(C({"TYPE", k}));
      // TTL rounds to the nearest second, so a TTL decades away (EXPIREAT 99999999999) can cross a
      // half-second between the Redis read and the memory read: report far-off TTLs as "far".
      steps.push_back(E("local t = redis.call('TTL', KEYS[1]) if t > 100000 then return 'far' end return t", {k}));
      steps.push_back(E("local t = redis.call('TYPE', KEYS[1]).ok "
                        "if t == 'string' then return redis.call('GET', KEYS[1]) "
                        "elseif t == 'hash' then return redis.call('HGETALL', KEYS[1]) "
                        "elseif t == 'zset' then return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES') "
                        "elseif t == 'list' then return redis.call('LRANGE', KEYS[1], 0, -1) "
                        "elseif t == 'set' then return redis.call('SMEMBERS', KEYS[1]) end return t",
                        {k}, {}, true));
      run(steps);
    }
  }
  EXPECT_GT(total_, 1000u);
}

TEST_F(LuaParityTest, StringCommandsAndOptions) {
  run({
      C({"SET", "k", "v", "NX"}),          C({"SET", "k", "v2", "NX"}),         C({"SET", "k", "v3", "XX"}),
      C({"SET", "k2", "v", "XX"}),         C({"SET", "k", "v4", "XX", "GET"}),  C({"SET", "k", "v", "nx", "xx"}),
      C({"SET", "k", "v", "xx", "nx"}),    C({"SET", "k", "v", "EX", "10", "PX", "100"}),
      C({"SET", "k", "v", "EX"}),          C({"SET", "k", "v", "EX", "1.5"}),   C({"SET", "k", "v", "EX", "0"}),
      C({"SET", "k", "v", "EX", "-1"}),    C({"SET", "k", "v", "PX", "0"}),     C({"SET", "k", "v", "EX", "9223372036854775"}),
      C({"SET", "k", "v", "PX", "9223372036854775807"}), C({"SET", "k", "v", "KEEPTTL", "EX", "5"}),
      C({"SET", "k", "v", "EX", "5", "KEEPTTL"}), C({"SET", "k", "v", "EX", "100"}), C({"TTL", "k"}),
      C({"SET", "k", "w", "KEEPTTL"}),     C({"TTL", "k"}),                     C({"SET", "k", "w"}),
      C({"TTL", "k"}),                     C({"SET", "k", "v", "FOO"}),         C({"SET", "k"}),
      C({"SET", "k", "v", "GET", "GET"}),  C({"SET", "k", "v", "NX", "NX"}),    C({"SET", "k", "v", "EX", "10", "EX", "20"}),
      C({"TTL", "k"}),                     C({"SET", "k", "v", "PXAT", "1"}),   C({"GET", "k"}),
      C({"SET", "k", "v", "EXAT", "99999999999"}), C({"GET", "k"}),
      C({"GET", "k", "extra"}),            C({"GET"}),                           C({"MGET"}),
      C({"SET", "i", "9223372036854775806"}), C({"INCR", "i"}),                 C({"INCR", "i"}),
      C({"INCRBY", "i", "-1"}),            C({"SET", "i", "-9223372036854775807"}), C({"DECR", "i"}),
      C({"DECR", "i"}),                    C({"DECRBY", "i", "-9223372036854775808"}),
      C({"DECRBY", "x", "-9223372036854775808"}), C({"INCRBY", "x", "9223372036854775808"}),
      C({"SET", "z", "0"}),                C({"INCR", "z"}),                     C({"SET", "z", "01"}),
      C({"INCR", "z"}),                    C({"SET", "z", "-0"}),               C({"INCR", "z"}),
      C({"SET", "z", "+1"}),               C({"INCR", "z"}),                     C({"SET", "z", " 1"}),
      C({"INCR", "z"}),                    C({"SET", "z", "1 "}),               C({"INCR", "z"}),
      C({"SET", "z", ""}),                 C({"INCR", "z"}),                     C({"INCRBY", "z2", "abc"}),
      C({"INCRBY", "z2", ""}),             C({"INCRBY", "z2", "12345678901234567890"}),
      C({"INCRBYFLOAT", "f", "0.1"}),      C({"INCRBYFLOAT", "f", "0.2"}),       C({"INCRBYFLOAT", "f", "-0.3"}),
      C({"INCRBYFLOAT", "f", "1e3"}),      C({"INCRBYFLOAT", "f", "1.23456789012345678"}),
      C({"INCRBYFLOAT", "f", "-5000"}),    C({"INCRBYFLOAT", "f", "abc"}),       C({"INCRBYFLOAT", "f", " 1"}),
      C({"INCRBYFLOAT", "f", "inf"}),      C({"INCRBYFLOAT", "f", "nan"}),       C({"INCRBYFLOAT", "f", "1e400"}),
      C({"INCRBYFLOAT", "f", "0x10"}),     C({"INCRBYFLOAT", "g", "3"}),         C({"INCRBYFLOAT", "g", "1e-5"}),
      C({"SET", "g", "abc"}),              C({"INCRBYFLOAT", "g", "1"}),         C({"INCRBYFLOAT", "h", "-0.0"}),
      C({"MGET", "f", "g", "h", "nothing"}),
  });
  EXPECT_GT(total_, 80u);
}

TEST_F(LuaParityTest, ExpiryCommands) {
  run({
      C({"EXPIRE", "nokey", "10"}),         C({"PEXPIRE", "nokey", "10"}),      C({"PEXPIREAT", "nokey", "10"}),
      C({"PERSIST", "nokey"}),              C({"TTL", "nokey"}),                C({"PTTL", "nokey"}),
      C({"SET", "k", "v"}),                 C({"TTL", "k"}),                    C({"PTTL", "k"}),
      C({"EXPIRE", "k", "100", "XX"}),      C({"EXPIRE", "k", "100", "GT"}),    C({"EXPIRE", "k", "100", "LT"}),
      C({"TTL", "k"}),                      C({"EXPIRE", "k", "200", "NX"}),    C({"EXPIRE", "k", "200", "XX"}),
      C({"TTL", "k"}),                      C({"EXPIRE", "k", "100", "GT"}),    C({"EXPIRE", "k", "300", "GT"}),
      C({"TTL", "k"}),                      C({"EXPIRE", "k", "400", "LT"}),    C({"EXPIRE", "k", "50", "LT"}),
      C({"TTL", "k"}),                      C({"EXPIRE", "k", "50", "nx", "xx"}), C({"EXPIRE", "k", "50", "gt", "lt"}),
      C({"EXPIRE", "k", "50", "nx", "gt"}),
      // GT/LT against a TTL the key already has: never the same value, since whether "50 GT 50" is
      // greater depends on whether a millisecond passed since the last EXPIRE (it flaked under load).
      C({"EXPIRE", "k", "40", "xx", "gt"}), C({"EXPIRE", "k", "60", "xx", "gt"}), C({"TTL", "k"}),
      C({"EXPIRE", "k", "50", "bogus"}),
      C({"EXPIRE", "k", "abc"}),            C({"EXPIRE", "k", "1.5"}),          C({"EXPIRE", "k"}),
      C({"EXPIRE", "k", "9223372036854775807"}), C({"EXPIRE", "k", "-9223372036854775808"}),
      C({"PEXPIRE", "k", "9223372036854775807"}), C({"PEXPIREAT", "k", "9223372036854775807"}),
      C({"TTL", "k"}),                      C({"PERSIST", "k"}),                C({"PERSIST", "k"}),
      C({"TTL", "k"}),                      C({"PEXPIRE", "k", "100000"}),      C({"TTL", "k"}),
      C({"PEXPIREAT", "k", "99999999999999"}), C({"EXPIRE", "k", "-1"}),        C({"EXISTS", "k"}),
      C({"SET", "k", "v"}),                 C({"PEXPIREAT", "k", "1"}),         C({"GET", "k"}),
      C({"SET", "k", "v"}),                 C({"EXPIRE", "k", "0"}),            C({"GET", "k"}),
      C({"HSET", "h", "a", "1"}),           C({"EXPIRE", "h", "100"}),          C({"TTL", "h"}),
      C({"HDEL", "h", "a"}),                C({"TTL", "h"}),                    C({"EXPIREAT", "h", "1"}),
      E("redis.call('SET', KEYS[1], 'v', 'PX', 100000) local t = redis.call('PTTL', KEYS[1]) "
        "return {t > 99000 and 1 or 0, t <= 100000 and 1 or 0}", {"pk"}),
      E("local t = redis.call('TIME') return {type(t[1]), type(t[2]), #t, tonumber(t[2]) < 1000000 and 1 or 0}"),
  });
}

TEST_F(LuaParityTest, HashCommands) {
  run({
      C({"HSET", "h", "b", "1", "a", "2", "c", "3"}), C({"HGETALL", "h"}),       C({"HSET", "h", "a", "20", "d", "4"}),
      C({"HGETALL", "h"}),                    C({"HKEYS", "h"}),                  C({"HDEL", "h", "b"}),
      C({"HSET", "h", "b", "again"}),         C({"HGETALL", "h"}),                C({"HSET", "h", "x"}),
      C({"HSET", "h", "x", "1", "y"}),        C({"HSET", "h"}),                   C({"HSETNX", "h", "a", "1"}),
      C({"HSETNX", "h", "e", "5"}),           C({"HSETNX", "h", "e"}),            C({"HMGET", "h"}),
      C({"HMGET", "h", "a", "zz", "e"}),      C({"HINCRBY", "h", "c", "10"}),     C({"HINCRBY", "h", "c", "-20"}),
      C({"HINCRBY", "h", "b", "1"}),          C({"HINCRBY", "h", "n", "x"}),      C({"HINCRBY", "h", "n", "9223372036854775807"}),
      C({"HINCRBY", "h", "n", "1"}),          C({"HINCRBY", "h", "m", "-9223372036854775808"}), C({"HINCRBY", "h", "m", "-1"}),
      C({"HLEN", "h"}),                       C({"HEXISTS", "h", "m"}),           C({"HEXISTS", "h", "nope"}),
      C({"HDEL", "h", "a", "a", "nope"}),     C({"HDEL", "h"}),                   C({"HGETALL", "h"}),
      C({"HDEL", "h", "b", "c", "d", "e", "n", "m"}), C({"EXISTS", "h"}),         C({"HLEN", "h"}),
      C({"HINCRBY", "fresh", "f", "7"}),      C({"HGETALL", "fresh"}),
  });
}

TEST_F(LuaParityTest, SetAndListCommands) {
  run({
      C({"SADD", "s", "a", "b", "a"}),     C({"SADD", "s", "c"}),             C({"SADD", "s"}),
      C({"SCARD", "s"}),                   C({"SISMEMBER", "s", "a"}),        C({"SISMEMBER", "s", "z"}),
      C({"SMEMBERS", "s"}, true),          C({"SREM", "s", "a", "z"}),        C({"SREM", "s"}),
      C({"SREM", "s", "b", "c"}),          C({"EXISTS", "s"}),                C({"SMEMBERS", "s"}),
      C({"SADD", "ints", "10", "2", "33"}), C({"SMEMBERS", "ints"}, true),
      C({"RPUSH", "l", "a", "b", "c"}),    C({"LPUSH", "l", "z", "y"}),       C({"LRANGE", "l", "0", "-1"}),
      C({"LRANGE", "l", "-100", "100"}),   C({"LRANGE", "l", "2", "1"}),      C({"LRANGE", "l", "-1", "-1"}),
      C({"LRANGE", "l", "5", "10"}),       C({"LRANGE", "l", "x", "1"}),      C({"LRANGE", "l", "0"}),
      C({"LLEN", "l"}),                    C({"LTRIM", "l", "1", "-2"}),      C({"LRANGE", "l", "0", "-1"}),
      C({"LTRIM", "l", "-1", "-1"}),       C({"LRANGE", "l", "0", "-1"}),     C({"LTRIM", "l", "1", "0"}),
      C({"EXISTS", "l"}),                  C({"LTRIM", "nolist", "0", "1"}),  C({"LLEN", "nolist"}),
      C({"RPUSH", "l"}),                   C({"LPUSH", "l2", "1", "2", "3"}), C({"LTRIM", "l2", "0", "1.5"}),
  });
}

TEST_F(LuaParityTest, SortedSetCommands) {
  run({
      C({"ZADD", "z", "1", "a", "2", "b", "3", "c"}), C({"ZADD", "z", "1.5", "a", "0.1", "d"}),
      C({"ZRANGE", "z", "0", "-1", "WITHSCORES"}),     C({"ZSCORE", "z", "d"}),    C({"ZSCORE", "z", "a"}),
      C({"ZADD", "z", "NX", "10", "a", "10", "e"}),   C({"ZADD", "z", "XX", "10", "a", "10", "f"}),
      C({"ZADD", "z", "CH", "XX", "10", "a", "11", "b"}), C({"ZADD", "z", "GT", "CH", "5", "a", "20", "b"}),
      C({"ZADD", "z", "LT", "CH", "5", "a", "30", "b"}),  C({"ZADD", "z", "GT", "1", "newgt"}),
      C({"ZADD", "z", "INCR", "2.5", "a"}),           C({"ZADD", "z", "INCR", "XX", "1", "nobody"}),
      C({"ZADD", "z", "INCR", "NX", "1", "a"}),       C({"ZADD", "z", "INCR", "GT", "-1", "a"}),
      C({"ZADD", "z", "INCR", "1", "a", "2", "b"}),   C({"ZADD", "z", "NX", "XX", "1", "a"}),
      C({"ZADD", "z", "GT", "LT", "1", "a"}),         C({"ZADD", "z", "NX", "GT", "1", "a"}),
      C({"ZADD", "z", "1"}),                          C({"ZADD", "z", "1", "a", "2"}),
      C({"ZADD", "z", "x", "a"}),                     C({"ZADD", "z", "nan", "a"}),
      C({"ZADD", "z", "1e400", "a"}),                 C({"ZADD", "z", "", "a"}),
      C({"ZADD", "z", " 1", "a"}),                    C({"ZADD", "z", "0x1p3", "hex"}),
      C({"ZADD", "z", "+inf", "top", "-inf", "bottom"}), C({"ZADD", "z", "INCR", "-inf", "top"}),
      C({"ZADD", "z", "1e-300", "tiny", "123456789012345678", "big"}),
      C({"ZADD", "z", "-0.0", "negzero", "3.0000000000000004", "near3"}),
      C({"ZRANGE", "z", "0", "-1", "WITHSCORES"}),     C({"ZCARD", "z"}),
      C({"ZRANGE", "z", "0", "2"}),                   C({"ZRANGE", "z", "-3", "-1"}),
      C({"ZRANGE", "z", "5", "2"}),                   C({"ZRANGE", "z", "-100", "100", "withscores"}),
      C({"ZRANGE", "z", "0", "-1", "REV"}),           C({"ZRANGE", "z", "0", "1", "REV", "WITHSCORES"}),
      C({"ZRANGE", "z", "a", "1"}),                   C({"ZRANGE", "z", "0", "1", "FOO"}),
      C({"ZRANGE", "z", "0", "1", "LIMIT", "0", "1"}),
      C({"ZRANGE", "z", "(1", "10", "BYSCORE"}),      C({"ZRANGE", "z", "10", "(1", "BYSCORE", "REV"}),
      C({"ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "2", "3", "WITHSCORES"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf"}),     C({"ZRANGEBYSCORE", "z", "(1.5", "10", "WITHSCORES"}),
      C({"ZRANGEBYSCORE", "z", "2", "1"}),           C({"ZRANGEBYSCORE", "z", "2", "(2"}),
      C({"ZRANGEBYSCORE", "z", "(2", "2"}),          C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "-1"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "100", "2"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "x", "1"}),
      C({"ZRANGEBYSCORE", "z", "x", "1"}),           C({"ZRANGEBYSCORE", "z", "1", "(x"}),
      C({"ZRANGEBYSCORE", "z", "", "("}),            C({"ZRANGEBYSCORE", "z", "(", "10"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "REV"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "BYSCORE"}),
      C({"ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "0", "2", "WITHSCORES"}),
      C({"ZCOUNT", "z", "-inf", "+inf"}),            C({"ZCOUNT", "z", "(1", "(10"}),
      C({"ZCOUNT", "z", "x", "1"}),                  C({"ZCOUNT", "z", "5", "1"}),
      C({"ZCOUNT", "nozset", "1", "2"}),             C({"ZCOUNT", "nozset", "x", "2"}),
      C({"ZSCORE", "z", "top"}),                     C({"ZSCORE", "z", "bottom"}),
      C({"ZSCORE", "z", "tiny"}),                    C({"ZSCORE", "z", "big"}),
      C({"ZSCORE", "z", "negzero"}),                 C({"ZSCORE", "z", "near3"}),
      C({"ZSCORE", "z", "hex"}),                     C({"ZSCORE", "z", "nobody"}),
      C({"ZREM", "z", "a", "a", "nobody"}),          C({"ZREM", "z"}),
      C({"ZREMRANGEBYSCORE", "z", "(0", "2"}),       C({"ZRANGE", "z", "0", "-1", "WITHSCORES"}),
      C({"ZREMRANGEBYSCORE", "z", "x", "2"}),        C({"ZREMRANGEBYSCORE", "z", "5", "1"}),
      C({"ZREMRANGEBYSCORE", "z", "-inf", "+inf"}),  C({"EXISTS", "z"}),
      C({"ZREMRANGEBYSCORE", "nozset", "-inf", "+inf"}),
      C({"ZADD", "z2", "XX", "1", "a"}),             C({"EXISTS", "z2"}),
      C({"ZADD", "z2", "XX", "INCR", "1", "a"}),     C({"ZADD", "z2", "NX", "INCR", "1", "a"}),
  });
}

TEST_F(LuaParityTest, ScanAndGlobPatterns) {
  std::vector<Step> steps;
  const std::vector<std::string> keys = {"user:1",  "user:2",   "user:10", "user:a",  "users",    "hello",  "hallo",
                                         "hxllo",   "hllo",     "heeello", "a*b",     "a?b",      "a[b",    "ab",
                                         "x\\y",    "key-.-1",  "{tag}:1", "{tag}:2", "UPPER",    "lower",  "k]",
                                         "caf\xc3\xa9", ""};
  for (const auto& k : keys) steps.push_back(C({"SET", k, "v"}));
  steps.push_back(C({"HSET", "hkey", "f", "v"}));
  steps.push_back(C({"ZADD", "zkey", "1", "m"}));
  const std::vector<std::string> patterns = {
      "*",       "user:*",  "user:?",  "user:??", "h?llo",  "h*llo",  "h[ae]llo", "h[^e]llo", "h[a-z]llo",
      "h[z-a]llo", "a\\*b", "a\\?b",   "a\\[b",   "a[b",    "a[",     "a[\\[]b",  "x\\\\y",   "*-.-*",
      "{tag}:*", "[A-Z]*",  "*]",      "k\\]",    "caf*",   "??",     "",         "*e*l*o",   "[^a-z]*",
      "h[!e]llo", "*[0-9]", "user:[12]", "*:*",   "\\u*",
  };
  for (const auto& p : patterns) steps.push_back(C({"SCAN", "0", "MATCH", p, "COUNT", "1000"}, true));
  steps.push_back(C({"SCAN", "0", "COUNT", "1000", "TYPE", "hash"}, true));
  steps.push_back(C({"SCAN", "0", "COUNT", "1000", "TYPE", "zset"}, true));
  steps.push_back(C({"SCAN", "0", "COUNT", "1000", "TYPE", "STRING", "MATCH", "user*"}, true));
  steps.push_back(C({"SCAN", "abc"}));
  steps.push_back(C({"SCAN", "-1x"}));
  steps.push_back(C({"SCAN", "0", "COUNT", "0"}));
  steps.push_back(C({"SCAN", "0", "COUNT", "x"}));
  steps.push_back(C({"SCAN", "0", "MATCH"}));
  steps.push_back(C({"SCAN", "0", "FOO", "bar"}));
  steps.push_back(C({"SCAN"}));
  run(steps);
}

TEST_F(LuaParityTest, UnknownCommandsArityAndServerCommands) {
  run({
      C({"FOO"}),           C({"foo", "a", "b"}),          C({"GET"}),            C({"HGET", "a"}),
      C({"ZADD", "z", "1"}), C({"LRANGE", "l", "0"}),      C({"TIME", "extra"}),  C({"PUBLISH", "chan"}),
      C({"PUBLISH", "nobody-listens", "msg"}),             C({"TYPE"}),
      E("return redis.call('FOO')"),                       E("return redis.call('GET')"),
      E("return redis.pcall('FOO')"),                      E("return redis.pcall('GET', 'a', 'b')"),
      E("return redis.call('PUBLISH', 'nobody', 'x')"),
      E("return #redis.call('TIME')"),
  });
}

TEST_F(LuaParityTest, LuaToRedisConversions) {
  run({
      E("return 1"),         E("return 1.9"),        E("return -1.9"),       E("return 0.5"),
      E("return 2^53"),      E("return -2^53"),      E("return 1e15"),       E("return 'str'"),
      E("return ''"),        E("return true"),       E("return false"),      E("return nil"),
      E("return {}"),        E("return {1, 2, 3}"),  E("return {1, nil, 3}"), E("return {nil, 1}"),
      E("return {1, 'a', {2, {3, 'b'}}, true, false}"),
      E("return {1, false, 3}"), E("return {true, true}"),
      E("return {ok='FINE'}"),   E("return {ok='line\\nbreak'}"),   E("return {err='bad'}"),
      E("return {err='MYCODE bad'}"), E("return {err='line\\r\\nbreak'}"),
      E("return {ok=1}"),        E("return {err=1}"),  E("return {ok='x', err='y'}"),
      E("return {1, 2, ok='x'}"), E("return {a=1}"),    E("return {double=1.5}"),
      E("return {double=0.1}"),  E("return {double=1/0}"),
      E("return redis.status_reply('DONE')"), E("return redis.error_reply('bad')"),
      E("return redis.error_reply('MY bad')"), E("return redis.error_reply('-MY bad')"),
      E("return redis.error_reply('-bad')"),  E("return redis.error_reply('')"),
      E("return redis.error_reply(1)"),       E("return redis.status_reply()"),
      E("return redis.status_reply(1)"),      E("return {redis.error_reply('x')}"),
      E("return function() end"),             E("return KEYS"),
      E("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", {"k1", "k2"}, {"a1", "a2", "a3"}),
      E("return ARGV", {}, {"x", "", "z"}),   E("return KEYS[3]", {"a"}),
      E("return redis.sha1hex('abc')"),       E("return redis.sha1hex('')"),
      E("return redis.sha1hex()"),            E("return redis.sha1hex('a', 'b')"),
      E("return {math.floor(3.7), string.len('abc'), table.concat({'a', 'b'}, ',')}"),
      E("return tostring(1e100)"),            E("return tonumber('0x10')"),
      E("return string.format('%d %s %5.2f', 3, 'x', 2.5)"),
      E("return type(redis.LOG_WARNING)"),    E("return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}"),
      E("redis.log(redis.LOG_NOTICE, 'hi', 'there') return 1"),
      E("redis.log(redis.LOG_NOTICE) return 1"),  E("redis.log('x', 'y') return 1"),
      E("redis.log(42, 'y') return 1"),
  });
}

TEST_F(LuaParityTest, RedisToLuaConversions) {
  run({
      C({"SET", "s", "abc"}),  C({"SET", "n", "12"}),  C({"HSET", "h", "f", "v"}),
      E("return type(redis.call('GET', 'missing'))"),
      E("return type(redis.call('GET', 's'))"),
      E("return type(redis.call('INCR', 'n'))"),
      E("return redis.call('INCR', 'n') + 0.5"),
      E("return type(redis.call('SET', 'x', 'y'))"),
      E("return redis.call('SET', 'x', 'y').ok"),
      E("return redis.call('TYPE', 'h').ok"),
      E("local r = redis.call('HMGET', 'h', 'f', 'g') return {r[1], type(r[2]), #r}"),
      E("local r = redis.call('MGET', 'missing', 's', 'missing') return {type(r[1]), r[2], type(r[3])}"),
      E("return #redis.call('HGETALL', 'h')"),
      E("local r = redis.pcall('INCR', 's') return {type(r), r.err}"),
      E("return redis.pcall('INCR', 's')"),
      E("return redis.call('INCR', 's')"),
      E("return redis.pcall('HGET', 's', 'f')"),
      E("return redis.call('HGET', 's', 'f')"),
      E("local ok, e = pcall(redis.call, 'INCR', 's') return {tostring(ok), e}"),
      E("local ok, e = pcall(function() return redis.call('INCR', 's') end) return {tostring(ok), e}"),
      E("local ok, e = pcall(error, 'plain') return {tostring(ok), e}"),
      E("local ok, e = pcall(error, {err='TBL x'}) return {tostring(ok), e}"),
      E("local ok, e = pcall(error, {foo='bar'}) return {tostring(ok), type(e)}"),
      E("local ok, v = pcall(function() return 5 end) return {tostring(ok), v}"),
      E("return redis.call('SET', 'f1', 0.1) and redis.call('GET', 'f1')"),
      E("return redis.call('SET', 'f2', 3.0) and redis.call('GET', 'f2')"),
      E("return redis.call('SET', 'f3', 1e20) and redis.call('GET', 'f3')"),
      E("return redis.call('SET', 'f4', -0.0) and redis.call('GET', 'f4')"),
      E("return redis.call('SET', 'f5', 1/3) and redis.call('GET', 'f5')"),
      E("return redis.call('SET', 'f6', 2^63) and redis.call('GET', 'f6')"),
      E("return redis.call('SET', 'f7', 1/0) and redis.call('GET', 'f7')"),
      E("return redis.call('INCRBY', 'n', 2.0)"),
      E("return redis.call('INCRBY', 'n', 2.5)"),
      E("return redis.call('SET', 'k', true)"),
      E("return redis.call('SET', 'k', nil)"),
      E("return redis.call('SET', 'k', {})"),
      E("return redis.pcall('SET', 'k', {})"),
      E("return redis.call()"),
      E("return redis.pcall()"),
      E("return redis.call('ZADD', 'zz', 1.5, 'm') and redis.call('ZSCORE', 'zz', 'm')"),
      E("return redis.call('ZRANGE', 'zz', 0, -1, 'WITHSCORES')"),
      E("return redis.call('EXPIRE', 's', 100) .. ''"),
  });
}

TEST_F(LuaParityTest, ScriptErrorsAndSandbox) {
  run({
      C({"SET", "s", "abc"}),
      E("x = 1"),                       E("return y"),                      E("local a = 1\nlocal b = 2\nreturn nope"),
      E("redis = nil"),                 E("_G.z = 1"),                      E("return _G.nothing"),
      E("local f = function() g = 1 end f()"),
      E("return rawget(_G, 'nothing')"), E("error('boom')"),                 E("error('boom', 0)"),
      E("error({err='CODE custom'})"),  E("error({err='nocode'})"),
      // error({foo='bar'}) (a table without err) crashes redis-server 7.0 itself: not comparable.
      E("error()"),                     E("error(42)"),                     E("error(true)"),
      E("local t = nil return t.x"),    E("return 1 + {}"),                 E("return #nil"),
      E("return +"),                    E("return 'unterminated"),          E("end"),
      E("\n\nreturn redis.call('INCR', KEYS[1])", {"s"}),
      E("local function f()\n  return redis.call('INCR', KEYS[1])\nend\nreturn f()", {"s"}),
      E("return os"),                   E("return io"),                     E("return debug"),
      E("return package"),              E("return require"),                E("return dofile"),
      E("return loadfile"),             E("return print"),                  E("return module"),
      E("return type(loadstring)"),     E("return type(pcall)"),            E("return type(xpcall)"),
      E("return type(setmetatable)"),   E("return type(coroutine)"),        E("return type(unpack)"),
      E("return type(string.rep)"),     E("return type(math.random)"),      E("return type(table.sort)"),
      E("return type(KEYS)"),           E("return type(redis.call)"),       E("return type(redis.pcall)"),
      E("return type(redis.sha1hex)"),  E("return type(redis.error_reply)"), E("return type(redis.status_reply)"),
      E("return type(redis.log)"),      E("return type(_G)"),               E("return _VERSION"),
      E("return loadstring('return 1 + 1')()"),
      E("return loadstring('zz = 1')()"),
      E("local t = {} t.x = 1 return t.x"),
      E("return select('#', 1, 2, 3)"),
      E("local s = 0 for i, v in ipairs({4, 5, 6}) do s = s + v end return s"),
      E("return string.byte('A')"),
      E("return {string.find('hello world', 'o w')}"),
      E("return string.gsub('abc', 'b', 'x')"),
      E("return {pcall(error)}"),
      E("return {xpcall(function() error('e') end, function(m) return 'handled: ' .. m end)}"),
  });
}

}  // namespace
}  // namespace redkeeper
