// The memory backend's keyspace: Redis data types (string, hash, set, sorted set, list) with per-key
// expiry, and the command subset the Lua host offers scripts, with Redis 7 replies and error texts.
// Not thread-safe: the Lua host (lua_backend.cpp) serialises every call under its one mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "redis/reply.hpp"

namespace redkeeper {

// Hash fields in insertion order: Redis keeps small hashes in a listpack, so HGETALL/HKEYS come back
// in insertion order there; matching it keeps scripts that (wrongly) rely on it portable.
struct LuaHash {
  std::list<std::pair<std::string, std::string>> items;
  std::unordered_map<std::string_view, std::list<std::pair<std::string, std::string>>::iterator> index;
};

// Members ordered by (score, member bytes), as Redis orders a sorted set.
struct LuaZSet {
  std::unordered_map<std::string, double> scores;
  std::set<std::pair<double, std::string>> ordered;
};

using LuaSet = std::unordered_set<std::string>;
using LuaList = std::deque<std::string>;

struct LuaEntry {
  // Strings inline; aggregates boxed so a string key stays small (a million keys must fit).
  std::variant<std::string, std::unique_ptr<LuaHash>, std::unique_ptr<LuaSet>, std::unique_ptr<LuaZSet>,
               std::unique_ptr<LuaList>>
      value;
  int64_t expire_at_ms = 0;  // 0: no expiry
};

// SCAN walks keys in (hash(key), key) order and returns the next hash as the cursor, so a key that
// exists for the whole scan is returned exactly once whatever is added or removed meanwhile.
struct LuaKeyName {
  uint64_t hash;
  std::string name;
};
struct LuaKeyLess {
  using is_transparent = void;
  bool operator()(const LuaKeyName& a, const LuaKeyName& b) const {
    return a.hash != b.hash ? a.hash < b.hash : a.name < b.name;
  }
  bool operator()(const LuaKeyName& a, const std::pair<uint64_t, std::string_view>& b) const {
    return a.hash != b.first ? a.hash < b.first : std::string_view(a.name) < b.second;
  }
  bool operator()(const std::pair<uint64_t, std::string_view>& a, const LuaKeyName& b) const {
    return a.first != b.hash ? a.first < b.hash : a.second < std::string_view(b.name);
  }
};

class LuaKeyspace {
 public:
  // PUBLISH asks how many listeners a channel has and records the message for delivery after the
  // script (the host delivers outside its lock).
  struct Published {
    std::string channel;
    std::string message;
  };
  using ListenerCount = std::function<int64_t(const std::string& channel)>;

  explicit LuaKeyspace(ListenerCount listeners) : listeners_(std::move(listeners)) {}

  // Runs one command (argv[0] is its name, any case) at time now_ms. from_script selects the texts
  // Redis uses for unknown commands and wrong arity inside scripts. Error replies are Reply::error.
  Reply execute(const std::vector<std::string>& argv, int64_t now_ms, bool from_script,
                std::vector<Published>& published);

  // Keys held in memory, including expired ones not yet removed.
  size_t resident_keys() const { return keys_.size(); }
  size_t keys_with_ttl() const { return expiry_.size(); }
  // Removes up to max_keys keys whose expiry is <= now_ms (earliest first); returns how many.
  size_t sweep(int64_t now_ms, size_t max_keys);
  // Drops every key.
  void clear();

 private:
  using KeyMap = std::map<LuaKeyName, LuaEntry, LuaKeyLess>;
  using Args = std::vector<std::string>;

  static uint64_t hash_of(std::string_view key);
  // The live entry for key (expired ones are removed first), or nullptr.
  LuaEntry* find(const std::string& key);
  LuaEntry& create(const std::string& key, LuaEntry entry);
  void erase(const std::string& key);
  void erase(KeyMap::iterator it);
  void set_expiry(const std::string& key, LuaEntry& entry, int64_t at_ms);
  // After a removal from an aggregate: deletes the key when it became empty (Redis never keeps one).
  void drop_if_empty(const std::string& key, LuaEntry& entry);

  Reply cmd_get(const Args& a);
  Reply cmd_set(const Args& a);
  Reply cmd_del(const Args& a);
  Reply cmd_exists(const Args& a);
  Reply cmd_incrby(const Args& a, bool has_arg, int sign, const char* name);
  Reply cmd_incrbyfloat(const Args& a);
  Reply cmd_mget(const Args& a);
  Reply cmd_expire(const Args& a, bool seconds, bool absolute, const char* name);
  Reply cmd_persist(const Args& a);
  Reply cmd_ttl(const Args& a, bool ms);
  Reply cmd_type(const Args& a);
  Reply cmd_hget(const Args& a);
  Reply cmd_hset(const Args& a);
  Reply cmd_hsetnx(const Args& a);
  Reply cmd_hmget(const Args& a);
  Reply cmd_hgetall(const Args& a, bool values, bool keys);
  Reply cmd_hdel(const Args& a);
  Reply cmd_hexists(const Args& a);
  Reply cmd_hincrby(const Args& a);
  Reply cmd_hlen(const Args& a);
  Reply cmd_sadd(const Args& a);
  Reply cmd_srem(const Args& a);
  Reply cmd_smembers(const Args& a);
  Reply cmd_sismember(const Args& a);
  Reply cmd_scard(const Args& a);
  Reply cmd_zadd(const Args& a);
  Reply cmd_zrem(const Args& a);
  Reply cmd_zscore(const Args& a);
  Reply cmd_zcard(const Args& a);
  Reply cmd_zrange(const Args& a);
  Reply cmd_zrangebyscore(const Args& a);
  Reply zrange_generic(const Args& a, bool fixed_by_score);
  Reply cmd_zremrangebyscore(const Args& a);
  Reply cmd_zcount(const Args& a);
  Reply cmd_push(const Args& a, bool left);
  Reply cmd_lrange(const Args& a);
  Reply cmd_ltrim(const Args& a);
  Reply cmd_llen(const Args& a);
  Reply cmd_publish(const Args& a, std::vector<Published>& published);
  Reply cmd_time();
  Reply cmd_scan(const Args& a);

  template <class T>
  T* typed(LuaEntry* e);

  ListenerCount listeners_;
  KeyMap keys_;
  std::set<std::pair<int64_t, std::string>> expiry_;  // (expire_at_ms, key) of keys with a TTL
  int64_t now_ms_ = 0;                                 // the running command's time
};

// Redis glob matching (stringmatchlen): * ? [abc] [^a] [a-z] and \x escapes.
bool lua_glob_match(std::string_view pattern, std::string_view str);
// Score text as Redis replies it: %.17g, "inf", "-inf".
std::string lua_format_score(double score);

}  // namespace redkeeper
