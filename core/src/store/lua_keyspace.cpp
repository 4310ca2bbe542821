// The memory backend's keyspace and command subset. Each command follows Redis 7.0's own order of
// checks (argument parsing, then key lookup, then type check) so that error replies match too.
#include "store/lua_keyspace.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <strings.h>

namespace redkeeper {

namespace {

const char* const kWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
const char* const kNotInteger = "ERR value is not an integer or out of range";
const char* const kNotFloat = "ERR value is not a valid float";
const char* const kSyntax = "ERR syntax error";
const char* const kOverflow = "ERR increment or decrement would overflow";
const char* const kMinMax = "ERR min or max is not a float";

Reply ok() { return Reply::status("OK"); }
Reply err(std::string text) { return Reply::error(std::move(text)); }
Reply wrongtype() { return Reply::error(kWrongType); }

bool iequals(std::string_view a, const char* b) {
  size_t n = std::strlen(b);
  return a.size() == n && ::strncasecmp(a.data(), b, n) == 0;
}

// Redis string2ll: optional '-', no leading zeros, no spaces or '+', fits in int64.
bool parse_ll(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() >= 21) return false;
  if (s.size() == 1 && s[0] == '0') {
    out = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    if (s.size() == 1) return false;
    i = 1;
  }
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t v = 0;
  for (; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  const uint64_t max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) {
    if (v > max + 1) return false;
    out = v == max + 1 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(v);
  } else {
    if (v > max) return false;
    out = static_cast<int64_t>(v);
  }
  return true;
}

// Redis getDoubleFromObject: strtod over the whole string, no leading space, no NaN, no overflow.
bool parse_double(const std::string& s, double& out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  if (std::strlen(s.c_str()) != s.size()) return false;  // embedded NUL: strtod would stop there
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (static_cast<size_t>(end - s.c_str()) != s.size()) return false;
  if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || std::fpclassify(v) == FP_ZERO)) return false;
  if (std::isnan(v)) return false;
  out = v;
  return true;
}

// Redis string2ld (INCRBYFLOAT works in long double, as Redis does).
bool parse_long_double(const std::string& s, long double& out) {
  if (s.empty() || s.size() >= 5 * 1024) return false;
  if (std::strlen(s.c_str()) != s.size()) return false;
  errno = 0;
  char* end = nullptr;
  long double v = std::strtold(s.c_str(), &end);
  if (std::isspace(static_cast<unsigned char>(s[0])) || *end != '\0' ||
      static_cast<size_t>(end - s.c_str()) != s.size()) {
    return false;
  }
  if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO)) return false;
  if (std::isnan(v)) return false;
  out = v;
  return true;
}

// Redis ld2string(LD_STR_HUMAN): %.17Lf without trailing zeros, "-0" printed as "0".
std::string format_long_double(long double v) {
  char buf[5 * 1024];
  int n = std::snprintf(buf, sizeof buf, "%.17Lf", v);
  if (n < 0 || static_cast<size_t>(n) >= sizeof buf) return "0";
  std::string s(buf, static_cast<size_t>(n));
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

// A Redis score range (zslParseRange): "(" makes a bound exclusive; strtod must use the whole text.
struct ScoreRange {
  double min = 0, max = 0;
  bool minex = false, maxex = false;
};
bool parse_bound(const std::string& s, double& v, bool& exclusive) {
  const char* p = s.c_str();
  exclusive = false;
  if (p[0] == '(') {
    exclusive = true;
    ++p;
  }
  char* end = nullptr;
  v = std::strtod(p, &end);
  if (*end != '\0' || std::isnan(v)) return false;
  return true;
}
bool parse_range(const std::string& min, const std::string& max, ScoreRange& r) {
  return parse_bound(min, r.min, r.minex) && parse_bound(max, r.max, r.maxex);
}
bool gte_min(double v, const ScoreRange& r) { return r.minex ? v > r.min : v >= r.min; }
bool lte_max(double v, const ScoreRange& r) { return r.maxex ? v < r.max : v <= r.max; }
bool range_empty(const ScoreRange& r) { return r.min > r.max || (r.min == r.max && (r.minex || r.maxex)); }

const char* type_name(const LuaEntry& e) {
  switch (e.value.index()) {
    case 0: return "string";
    case 1: return "hash";
    case 2: return "set";
    case 3: return "zset";
    default: return "list";
  }
}

// Normalises a [start, end] index range over `len` items as LRANGE/ZRANGE/LTRIM do. Returns false
// when the range is empty.
bool clamp_range(int64_t& start, int64_t& end, int64_t len) {
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (start > end || start >= len) return false;
  if (end >= len) end = len - 1;
  return true;
}

struct CommandSpec {
  const char* name;
  int arity;  // Redis arity: > 0 exact, < 0 at least -arity
};

}  // namespace

std::string lua_format_score(double score) {
  if (std::isinf(score)) return score > 0 ? "inf" : "-inf";
  if (score == 0) return "0";  // Redis replies -0 as "0"
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%.17g", score);
  return std::string(buf, static_cast<size_t>(n));
}

// Port of Redis's stringmatchlen (case-sensitive).
// `skip_longer` is Redis's skipLongerMatches: once a '*' failed to match any suffix, a longer
// prefix cannot help either, which keeps patterns like "*a*a*a*b" linear instead of exponential.
static bool glob_match(const char* p, size_t plen, const char* s, size_t slen, int depth, bool& skip_longer) {
  if (depth > 1000) return false;  // pathological patterns: Redis bounds nesting the same way
  while (plen > 0 && slen > 0) {
    switch (p[0]) {
      case '*':
        while (plen > 1 && p[1] == '*') {
          ++p;
          --plen;
        }
        if (plen == 1) return true;
        while (slen > 0) {
          if (glob_match(p + 1, plen - 1, s, slen, depth + 1, skip_longer)) return true;
          if (skip_longer) return false;
          ++s;
          --slen;
        }
        skip_longer = true;
        return false;
      case '?':
        ++s;
        --slen;
        break;
      case '[': {
        ++p;
        --plen;
        bool negate = plen > 0 && p[0] == '^';
        if (negate) {
          ++p;
          --plen;
        }
        bool match = false;
        while (true) {
          if (plen == 0) {
            // Unterminated class: Redis steps back so the loop's increment lands on the end.
            break;
          }
          if (p[0] == '\\' && plen >= 2) {
            ++p;
            --plen;
            if (p[0] == s[0]) match = true;
          } else if (p[0] == ']') {
            break;
          } else if (plen >= 3 && p[1] == '-') {
            unsigned char start = static_cast<unsigned char>(p[0]);
            unsigned char end = static_cast<unsigned char>(p[2]);
            unsigned char c = static_cast<unsigned char>(s[0]);
            if (start > end) std::swap(start, end);
            p += 2;
            plen -= 2;
            if (c >= start && c <= end) match = true;
          } else if (p[0] == s[0]) {
            match = true;
          }
          ++p;
          --plen;
        }
        if (plen == 0) {
          // Redis: pattern-- ; patternLen++ so the common increment below consumes nothing more.
          if (negate) match = !match;
          if (!match) return false;
          ++s;
          --slen;
          continue;
        }
        if (negate) match = !match;
        if (!match) return false;
        ++s;
        --slen;
        break;
      }
      case '\\':
        if (plen >= 2) {
          ++p;
          --plen;
        }
        [[fallthrough]];
      default:
        if (p[0] != s[0]) return false;
        ++s;
        --slen;
        break;
    }
    ++p;
    --plen;
    if (slen == 0) {
      while (plen > 0 && *p == '*') {
        ++p;
        --plen;
      }
      break;
    }
  }
  return plen == 0 && slen == 0;
}

bool lua_glob_match(std::string_view pattern, std::string_view str) {
  bool skip_longer = false;
  return glob_match(pattern.data(), pattern.size(), str.data(), str.size(), 0, skip_longer);
}

uint64_t LuaKeyspace::hash_of(std::string_view key) {
  // FNV-1a, then never 0: cursor 0 means "start" and "finished".
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= h >> 29;
  return h == 0 ? 1 : h;
}

LuaEntry* LuaKeyspace::find(const std::string& key) {
  auto it = keys_.find(std::make_pair(hash_of(key), std::string_view(key)));
  if (it == keys_.end()) return nullptr;
  // Redis keyIsExpired: expired once now > expire time.
  if (it->second.expire_at_ms != 0 && now_ms_ > it->second.expire_at_ms) {
    erase(it);
    return nullptr;
  }
  return &it->second;
}

LuaEntry& LuaKeyspace::create(const std::string& key, LuaEntry entry) {
  auto it = keys_.find(std::make_pair(hash_of(key), std::string_view(key)));
  if (it != keys_.end()) erase(it);
  int64_t at = entry.expire_at_ms;
  entry.expire_at_ms = 0;
  auto res = keys_.emplace(LuaKeyName{hash_of(key), key}, std::move(entry));
  LuaEntry& e = res.first->second;
  if (at != 0) set_expiry(key, e, at);
  return e;
}

void LuaKeyspace::erase(KeyMap::iterator it) {
  if (it->second.expire_at_ms != 0) expiry_.erase({it->second.expire_at_ms, it->first.name});
  keys_.erase(it);
}

void LuaKeyspace::erase(const std::string& key) {
  auto it = keys_.find(std::make_pair(hash_of(key), std::string_view(key)));
  if (it != keys_.end()) erase(it);
}

void LuaKeyspace::set_expiry(const std::string& key, LuaEntry& entry, int64_t at_ms) {
  if (entry.expire_at_ms != 0) expiry_.erase({entry.expire_at_ms, key});
  entry.expire_at_ms = at_ms;
  if (at_ms != 0) expiry_.emplace(at_ms, key);
}

void LuaKeyspace::drop_if_empty(const std::string& key, LuaEntry& entry) {
  bool empty = false;
  switch (entry.value.index()) {
    case 1: empty = std::get<1>(entry.value)->items.empty(); break;
    case 2: empty = std::get<2>(entry.value)->empty(); break;
    case 3: empty = std::get<3>(entry.value)->scores.empty(); break;
    case 4: empty = std::get<4>(entry.value)->empty(); break;
    default: break;
  }
  if (empty) erase(key);
}

size_t LuaKeyspace::sweep(int64_t now_ms, size_t max_keys) {
  size_t removed = 0;
  while (removed < max_keys && !expiry_.empty()) {
    auto first = expiry_.begin();
    if (first->first >= now_ms) break;  // expired only once now > expire time
    std::string key = first->second;
    erase(key);
    ++removed;
  }
  return removed;
}

void LuaKeyspace::clear() {
  keys_.clear();
  expiry_.clear();
}

template <class T>
T* LuaKeyspace::typed(LuaEntry* e) {
  if (e == nullptr) return nullptr;
  if constexpr (std::is_same_v<T, std::string>) {
    return std::get_if<std::string>(&e->value);
  } else {
    auto* p = std::get_if<std::unique_ptr<T>>(&e->value);
    return p != nullptr ? p->get() : nullptr;
  }
}

Reply LuaKeyspace::execute(const std::vector<std::string>& a, int64_t now_ms, bool from_script,
                           std::vector<Published>& published) {
  static const CommandSpec specs[] = {
      {"get", 2},       {"set", -3},          {"del", -2},       {"unlink", -2},   {"exists", -2},
      {"incr", 2},      {"incrby", 3},        {"decr", 2},       {"decrby", 3},    {"incrbyfloat", 3},
      {"mget", -2},     {"expire", -3},       {"pexpire", -3},   {"expireat", -3}, {"pexpireat", -3},
      {"persist", 2},   {"ttl", 2},           {"pttl", 2},       {"type", 2},      {"hget", 3},
      {"hset", -4},     {"hsetnx", 4},        {"hmget", -3},     {"hgetall", 2},   {"hdel", -3},
      {"hexists", 3},   {"hincrby", 4},       {"hlen", 2},       {"hkeys", 2},     {"hvals", 2},
      {"sadd", -3},     {"srem", -3},         {"smembers", 2},   {"sismember", 3}, {"scard", 2},
      {"zadd", -4},     {"zrem", -3},         {"zscore", 3},     {"zcard", 2},     {"zrange", -4},
      {"zrangebyscore", -4}, {"zremrangebyscore", 4}, {"zcount", 4}, {"lpush", -3}, {"rpush", -3},
      {"lrange", 4},    {"ltrim", 4},         {"llen", 2},       {"publish", 3},   {"time", 1},
      {"scan", -2},
  };
  if (a.empty()) return err("ERR Please specify at least one argument for this redis lib call");
  const CommandSpec* spec = nullptr;
  for (const auto& s : specs) {
    if (iequals(a[0], s.name)) {
      spec = &s;
      break;
    }
  }
  if (spec == nullptr) {
    if (from_script) return err("ERR Unknown Redis command called from script");
    std::string args;
    for (size_t i = 1; i < a.size() && args.size() < 128; i++) {
      args += "'" + a[i].substr(0, 128 - args.size()) + "' ";
    }
    std::string text = "ERR unknown command '" + a[0].substr(0, 128) + "', with args beginning with: " + args;
    for (char& c : text) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    return err(text);
  }
  int argc = static_cast<int>(a.size());
  if ((spec->arity > 0 && spec->arity != argc) || argc < -spec->arity) {
    if (from_script) return err("ERR Wrong number of args calling Redis command from script");
    return err(std::string("ERR wrong number of arguments for '") + spec->name + "' command");
  }
  now_ms_ = now_ms;
  const std::string name = spec->name;
  if (name == "get") return cmd_get(a);
  if (name == "set") return cmd_set(a);
  if (name == "del" || name == "unlink") return cmd_del(a);
  if (name == "exists") return cmd_exists(a);
  if (name == "incr") return cmd_incrby(a, false, 1, "incr");
  if (name == "decr") return cmd_incrby(a, false, -1, "decr");
  if (name == "incrby") return cmd_incrby(a, true, 1, "incrby");
  if (name == "decrby") return cmd_incrby(a, true, -1, "decrby");
  if (name == "incrbyfloat") return cmd_incrbyfloat(a);
  if (name == "mget") return cmd_mget(a);
  if (name == "expire") return cmd_expire(a, true, false, "expire");
  if (name == "pexpire") return cmd_expire(a, false, false, "pexpire");
  if (name == "expireat") return cmd_expire(a, true, true, "expireat");
  if (name == "pexpireat") return cmd_expire(a, false, true, "pexpireat");
  if (name == "persist") return cmd_persist(a);
  if (name == "ttl") return cmd_ttl(a, false);
  if (name == "pttl") return cmd_ttl(a, true);
  if (name == "type") return cmd_type(a);
  if (name == "hget") return cmd_hget(a);
  if (name == "hset") return cmd_hset(a);
  if (name == "hsetnx") return cmd_hsetnx(a);
  if (name == "hmget") return cmd_hmget(a);
  if (name == "hgetall") return cmd_hgetall(a, true, true);
  if (name == "hkeys") return cmd_hgetall(a, false, true);
  if (name == "hvals") return cmd_hgetall(a, true, false);
  if (name == "hdel") return cmd_hdel(a);
  if (name == "hexists") return cmd_hexists(a);
  if (name == "hincrby") return cmd_hincrby(a);
  if (name == "hlen") return cmd_hlen(a);
  if (name == "sadd") return cmd_sadd(a);
  if (name == "srem") return cmd_srem(a);
  if (name == "smembers") return cmd_smembers(a);
  if (name == "sismember") return cmd_sismember(a);
  if (name == "scard") return cmd_scard(a);
  if (name == "zadd") return cmd_zadd(a);
  if (name == "zrem") return cmd_zrem(a);
  if (name == "zscore") return cmd_zscore(a);
  if (name == "zcard") return cmd_zcard(a);
  if (name == "zrange") return cmd_zrange(a);
  if (name == "zrangebyscore") return cmd_zrangebyscore(a);
  if (name == "zremrangebyscore") return cmd_zremrangebyscore(a);
  if (name == "zcount") return cmd_zcount(a);
  if (name == "lpush") return cmd_push(a, true);
  if (name == "rpush") return cmd_push(a, false);
  if (name == "lrange") return cmd_lrange(a);
  if (name == "ltrim") return cmd_ltrim(a);
  if (name == "llen") return cmd_llen(a);
  if (name == "publish") return cmd_publish(a, published);
  if (name == "time") return cmd_time();
  return cmd_scan(a);
}

// ---- strings ----

Reply LuaKeyspace::cmd_get(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::nil();
  auto* s = typed<std::string>(e);
  if (s == nullptr) return wrongtype();
  return Reply::string(*s);
}

Reply LuaKeyspace::cmd_set(const Args& a) {
  enum { NX = 1, XX = 2, GET = 4, KEEPTTL = 8, EX = 16, PX = 32, EXAT = 64, PXAT = 128 };
  int flags = 0;
  const std::string* expire = nullptr;
  for (size_t j = 3; j < a.size(); j++) {
    const std::string& opt = a[j];
    bool has_next = j + 1 < a.size();
    if (iequals(opt, "nx") && !(flags & XX)) {
      flags |= NX;
    } else if (iequals(opt, "xx") && !(flags & NX)) {
      flags |= XX;
    } else if (iequals(opt, "get")) {
      flags |= GET;
    } else if (iequals(opt, "keepttl") && !(flags & (EX | EXAT | PX | PXAT))) {
      flags |= KEEPTTL;
    } else if (iequals(opt, "ex") && !(flags & (KEEPTTL | EXAT | PX | PXAT)) && has_next) {
      flags |= EX;
      expire = &a[++j];
    } else if (iequals(opt, "px") && !(flags & (KEEPTTL | EX | EXAT | PXAT)) && has_next) {
      flags |= PX;
      expire = &a[++j];
    } else if (iequals(opt, "exat") && !(flags & (KEEPTTL | EX | PX | PXAT)) && has_next) {
      flags |= EXAT;
      expire = &a[++j];
    } else if (iequals(opt, "pxat") && !(flags & (KEEPTTL | EX | EXAT | PX)) && has_next) {
      flags |= PXAT;
      expire = &a[++j];
    } else {
      return err(kSyntax);
    }
  }
  int64_t at_ms = 0;
  if (expire != nullptr) {
    int64_t v = 0;
    if (!parse_ll(*expire, v)) return err(kNotInteger);
    bool seconds = (flags & (EX | EXAT)) != 0;
    if (v <= 0 || (seconds && v > std::numeric_limits<int64_t>::max() / 1000)) {
      return err("ERR invalid expire time in 'set' command");
    }
    if (seconds) v *= 1000;
    if (flags & (EX | PX)) {
      if (__builtin_add_overflow(v, now_ms_, &v)) return err("ERR invalid expire time in 'set' command");
    }
    if (v <= 0) return err("ERR invalid expire time in 'set' command");
    at_ms = v;
  }
  LuaEntry* e = find(a[1]);
  Reply old;
  if (flags & GET) {
    if (e != nullptr) {
      auto* s = typed<std::string>(e);
      if (s == nullptr) return wrongtype();
      old = Reply::string(*s);
    }
  }
  bool found = e != nullptr;
  if (((flags & NX) && found) || ((flags & XX) && !found)) return flags & GET ? old : Reply::nil();
  int64_t keep = (flags & KEEPTTL) && e != nullptr ? e->expire_at_ms : 0;
  LuaEntry entry;
  entry.value = a[2];
  entry.expire_at_ms = at_ms != 0 ? at_ms : keep;
  create(a[1], std::move(entry));
  return flags & GET ? old : ok();
}

Reply LuaKeyspace::cmd_del(const Args& a) {
  int64_t n = 0;
  for (size_t i = 1; i < a.size(); i++) {
    if (find(a[i]) != nullptr) {
      erase(a[i]);
      ++n;
    }
  }
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_exists(const Args& a) {
  int64_t n = 0;
  for (size_t i = 1; i < a.size(); i++) {
    if (find(a[i]) != nullptr) ++n;
  }
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_incrby(const Args& a, bool has_arg, int sign, const char*) {
  int64_t incr = sign;
  if (has_arg) {
    if (!parse_ll(a[2], incr)) return err(kNotInteger);
    if (sign < 0) {
      if (incr == std::numeric_limits<int64_t>::min()) return err("ERR decrement would overflow");
      incr = -incr;
    }
  }
  LuaEntry* e = find(a[1]);
  int64_t value = 0;
  if (e != nullptr) {
    auto* s = typed<std::string>(e);
    if (s == nullptr) return wrongtype();
    if (!parse_ll(*s, value)) return err(kNotInteger);
  }
  if ((incr < 0 && value < 0 && incr < std::numeric_limits<int64_t>::min() - value) ||
      (incr > 0 && value > 0 && incr > std::numeric_limits<int64_t>::max() - value)) {
    return err(kOverflow);
  }
  value += incr;
  if (e != nullptr) {
    e->value = std::to_string(value);
  } else {
    LuaEntry entry;
    entry.value = std::to_string(value);
    create(a[1], std::move(entry));
  }
  return Reply::integer(value);
}

Reply LuaKeyspace::cmd_incrbyfloat(const Args& a) {
  LuaEntry* e = find(a[1]);
  long double value = 0;
  if (e != nullptr) {
    auto* s = typed<std::string>(e);
    if (s == nullptr) return wrongtype();
    if (!parse_long_double(*s, value)) return err(kNotFloat);
  }
  long double incr = 0;
  if (!parse_long_double(a[2], incr)) return err(kNotFloat);
  value += incr;
  if (std::isnan(value) || std::isinf(value)) return err("ERR increment would produce NaN or Infinity");
  std::string text = format_long_double(value);
  if (e != nullptr) {
    e->value = text;
  } else {
    LuaEntry entry;
    entry.value = text;
    create(a[1], std::move(entry));
  }
  return Reply::string(text);
}

Reply LuaKeyspace::cmd_mget(const Args& a) {
  std::vector<Reply> out;
  out.reserve(a.size() - 1);
  for (size_t i = 1; i < a.size(); i++) {
    auto* s = typed<std::string>(find(a[i]));
    out.push_back(s != nullptr ? Reply::string(*s) : Reply::nil());
  }
  return Reply::array(std::move(out));
}

// ---- expiry ----

Reply LuaKeyspace::cmd_expire(const Args& a, bool seconds, bool absolute, const char* name) {
  enum { NX = 1, XX = 2, GT = 4, LT = 8 };
  int flags = 0;
  for (size_t j = 3; j < a.size(); j++) {
    if (iequals(a[j], "nx")) {
      flags |= NX;
    } else if (iequals(a[j], "xx")) {
      flags |= XX;
    } else if (iequals(a[j], "gt")) {
      flags |= GT;
    } else if (iequals(a[j], "lt")) {
      flags |= LT;
    } else {
      return err("ERR Unsupported option " + a[j]);
    }
  }
  if ((flags & NX) && (flags & (XX | GT | LT))) {
    return err("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if ((flags & GT) && (flags & LT)) return err("ERR GT and LT options at the same time are not compatible");
  int64_t when = 0;
  if (!parse_ll(a[2], when)) return err(kNotInteger);
  const std::string bad_time = std::string("ERR invalid expire time in '") + name + "' command";
  if (seconds) {
    if (when > std::numeric_limits<int64_t>::max() / 1000 || when < std::numeric_limits<int64_t>::min() / 1000) {
      return err(bad_time);
    }
    when *= 1000;
  }
  int64_t base = absolute ? 0 : now_ms_;
  if (when > std::numeric_limits<int64_t>::max() - base) return err(bad_time);
  when += base;
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  if (flags) {
    int64_t current = e->expire_at_ms == 0 ? -1 : e->expire_at_ms;
    if ((flags & NX) && current != -1) return Reply::integer(0);
    if ((flags & XX) && current == -1) return Reply::integer(0);
    if ((flags & GT) && (when <= current || current == -1)) return Reply::integer(0);
    if ((flags & LT) && current != -1 && when >= current) return Reply::integer(0);
  }
  if (when <= now_ms_) {
    erase(a[1]);
    return Reply::integer(1);
  }
  set_expiry(a[1], *e, when);
  return Reply::integer(1);
}

Reply LuaKeyspace::cmd_persist(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr || e->expire_at_ms == 0) return Reply::integer(0);
  set_expiry(a[1], *e, 0);
  return Reply::integer(1);
}

Reply LuaKeyspace::cmd_ttl(const Args& a, bool ms) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(-2);
  if (e->expire_at_ms == 0) return Reply::integer(-1);
  int64_t ttl = std::max<int64_t>(0, e->expire_at_ms - now_ms_);
  return Reply::integer(ms ? ttl : (ttl + 500) / 1000);
}

Reply LuaKeyspace::cmd_type(const Args& a) {
  LuaEntry* e = find(a[1]);
  return Reply::status(e == nullptr ? "none" : type_name(*e));
}

// ---- hashes ----

Reply LuaKeyspace::cmd_hget(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::nil();
  auto* h = typed<LuaHash>(e);
  if (h == nullptr) return wrongtype();
  auto it = h->index.find(a[2]);
  return it == h->index.end() ? Reply::nil() : Reply::string(it->second->second);
}

namespace {
LuaHash* hash_for_write(LuaEntry*& e, bool& wrong) {
  wrong = false;
  if (e == nullptr) return nullptr;
  auto* p = std::get_if<std::unique_ptr<LuaHash>>(&e->value);
  if (p == nullptr) {
    wrong = true;
    return nullptr;
  }
  return p->get();
}
// Sets field to value; true when the field is new.
bool hash_put(LuaHash& h, const std::string& field, const std::string& value) {
  auto it = h.index.find(field);
  if (it != h.index.end()) {
    it->second->second = value;
    return false;
  }
  h.items.emplace_back(field, value);
  auto last = std::prev(h.items.end());
  h.index.emplace(std::string_view(last->first), last);
  return true;
}
}  // namespace

Reply LuaKeyspace::cmd_hset(const Args& a) {
  if (a.size() % 2 == 1) return err("ERR wrong number of arguments for 'hset' command");
  LuaEntry* e = find(a[1]);
  bool wrong = false;
  LuaHash* h = hash_for_write(e, wrong);
  if (wrong) return wrongtype();
  if (h == nullptr) {
    LuaEntry entry;
    entry.value = std::make_unique<LuaHash>();
    h = std::get<1>(create(a[1], std::move(entry)).value).get();
  }
  int64_t created = 0;
  for (size_t i = 2; i + 1 < a.size(); i += 2) created += hash_put(*h, a[i], a[i + 1]) ? 1 : 0;
  return Reply::integer(created);
}

Reply LuaKeyspace::cmd_hsetnx(const Args& a) {
  LuaEntry* e = find(a[1]);
  bool wrong = false;
  LuaHash* h = hash_for_write(e, wrong);
  if (wrong) return wrongtype();
  if (h != nullptr && h->index.count(a[2]) != 0) return Reply::integer(0);
  if (h == nullptr) {
    LuaEntry entry;
    entry.value = std::make_unique<LuaHash>();
    h = std::get<1>(create(a[1], std::move(entry)).value).get();
  }
  hash_put(*h, a[2], a[3]);
  return Reply::integer(1);
}

Reply LuaKeyspace::cmd_hmget(const Args& a) {
  LuaEntry* e = find(a[1]);
  auto* h = typed<LuaHash>(e);
  if (e != nullptr && h == nullptr) return wrongtype();
  std::vector<Reply> out;
  for (size_t i = 2; i < a.size(); i++) {
    if (h == nullptr) {
      out.push_back(Reply::nil());
      continue;
    }
    auto it = h->index.find(a[i]);
    out.push_back(it == h->index.end() ? Reply::nil() : Reply::string(it->second->second));
  }
  return Reply::array(std::move(out));
}

Reply LuaKeyspace::cmd_hgetall(const Args& a, bool values, bool keys) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::array({});
  auto* h = typed<LuaHash>(e);
  if (h == nullptr) return wrongtype();
  std::vector<Reply> out;
  for (const auto& kv : h->items) {
    if (keys) out.push_back(Reply::string(kv.first));
    if (values) out.push_back(Reply::string(kv.second));
  }
  return Reply::array(std::move(out));
}

Reply LuaKeyspace::cmd_hdel(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  auto* h = typed<LuaHash>(e);
  if (h == nullptr) return wrongtype();
  int64_t n = 0;
  for (size_t i = 2; i < a.size(); i++) {
    auto it = h->index.find(a[i]);
    if (it == h->index.end()) continue;
    auto item = it->second;
    h->index.erase(it);
    h->items.erase(item);
    ++n;
  }
  drop_if_empty(a[1], *e);
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_hexists(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  auto* h = typed<LuaHash>(e);
  if (h == nullptr) return wrongtype();
  return Reply::integer(h->index.count(a[2]) != 0 ? 1 : 0);
}

Reply LuaKeyspace::cmd_hincrby(const Args& a) {
  int64_t incr = 0;
  if (!parse_ll(a[3], incr)) return err(kNotInteger);
  LuaEntry* e = find(a[1]);
  bool wrong = false;
  LuaHash* h = hash_for_write(e, wrong);
  if (wrong) return wrongtype();
  int64_t value = 0;
  if (h != nullptr) {
    auto it = h->index.find(a[2]);
    if (it != h->index.end() && !parse_ll(it->second->second, value)) return err("ERR hash value is not an integer");
  }
  if ((incr < 0 && value < 0 && incr < std::numeric_limits<int64_t>::min() - value) ||
      (incr > 0 && value > 0 && incr > std::numeric_limits<int64_t>::max() - value)) {
    return err(kOverflow);
  }
  value += incr;
  if (h == nullptr) {
    LuaEntry entry;
    entry.value = std::make_unique<LuaHash>();
    h = std::get<1>(create(a[1], std::move(entry)).value).get();
  }
  hash_put(*h, a[2], std::to_string(value));
  return Reply::integer(value);
}

Reply LuaKeyspace::cmd_hlen(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  auto* h = typed<LuaHash>(e);
  if (h == nullptr) return wrongtype();
  return Reply::integer(static_cast<int64_t>(h->items.size()));
}

// ---- sets ----

Reply LuaKeyspace::cmd_sadd(const Args& a) {
  LuaEntry* e = find(a[1]);
  LuaSet* s = typed<LuaSet>(e);
  if (e != nullptr && s == nullptr) return wrongtype();
  if (s == nullptr) {
    LuaEntry entry;
    entry.value = std::make_unique<LuaSet>();
    s = std::get<2>(create(a[1], std::move(entry)).value).get();
  }
  int64_t n = 0;
  for (size_t i = 2; i < a.size(); i++) n += s->insert(a[i]).second ? 1 : 0;
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_srem(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaSet* s = typed<LuaSet>(e);
  if (s == nullptr) return wrongtype();
  int64_t n = 0;
  for (size_t i = 2; i < a.size(); i++) n += static_cast<int64_t>(s->erase(a[i]));
  drop_if_empty(a[1], *e);
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_smembers(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::array({});
  LuaSet* s = typed<LuaSet>(e);
  if (s == nullptr) return wrongtype();
  std::vector<Reply> out;
  out.reserve(s->size());
  for (const auto& m : *s) out.push_back(Reply::string(m));
  return Reply::array(std::move(out));
}

Reply LuaKeyspace::cmd_sismember(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaSet* s = typed<LuaSet>(e);
  if (s == nullptr) return wrongtype();
  return Reply::integer(s->count(a[2]) != 0 ? 1 : 0);
}

Reply LuaKeyspace::cmd_scard(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaSet* s = typed<LuaSet>(e);
  if (s == nullptr) return wrongtype();
  return Reply::integer(static_cast<int64_t>(s->size()));
}

// ---- sorted sets ----

namespace {
void zset_put(LuaZSet& z, const std::string& member, double score) {
  auto it = z.scores.find(member);
  if (it != z.scores.end()) {
    z.ordered.erase({it->second, member});
    it->second = score;
  } else {
    z.scores.emplace(member, score);
  }
  z.ordered.emplace(score, member);
}
}  // namespace

Reply LuaKeyspace::cmd_zadd(const Args& a) {
  bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = false;
  size_t idx = 2;
  for (; idx < a.size(); idx++) {
    const std::string& o = a[idx];
    if (iequals(o, "nx")) nx = true;
    else if (iequals(o, "xx")) xx = true;
    else if (iequals(o, "ch")) ch = true;
    else if (iequals(o, "incr")) incr = true;
    else if (iequals(o, "gt")) gt = true;
    else if (iequals(o, "lt")) lt = true;
    else break;
  }
  size_t elements = a.size() - idx;
  if (elements % 2 != 0 || elements == 0) return err(kSyntax);
  elements /= 2;
  if (xx && nx) return err("ERR XX and NX options at the same time are not compatible");
  if ((gt && nx) || (lt && nx) || (gt && lt)) {
    return err("ERR GT, LT, and/or NX options at the same time are not compatible");
  }
  if (incr && elements > 1) return err("ERR INCR option supports a single increment-element pair");
  std::vector<double> scores(elements);
  for (size_t j = 0; j < elements; j++) {
    if (!parse_double(a[idx + j * 2], scores[j])) return err(kNotFloat);
  }
  LuaEntry* e = find(a[1]);
  LuaZSet* z = typed<LuaZSet>(e);
  if (e != nullptr && z == nullptr) return wrongtype();
  int64_t added = 0, updated = 0, processed = 0;
  double score = 0;
  if (z == nullptr && !xx) {
    LuaEntry entry;
    entry.value = std::make_unique<LuaZSet>();
    z = std::get<3>(create(a[1], std::move(entry)).value).get();
  }
  if (z != nullptr) {
    for (size_t j = 0; j < elements; j++) {
      score = scores[j];
      const std::string& member = a[idx + 1 + j * 2];
      auto it = z->scores.find(member);
      if (it != z->scores.end()) {
        if (nx) continue;
        double cur = it->second;
        if (incr) {
          score += cur;
          if (std::isnan(score)) return err("ERR resulting score is not a number (NaN)");
        }
        if ((lt && score >= cur) || (gt && score <= cur)) continue;
        if (score != cur) {
          zset_put(*z, member, score);
          ++updated;
        }
        ++processed;
      } else if (!xx) {
        zset_put(*z, member, score);
        ++added;
        ++processed;
      }
    }
  }
  if (incr) return processed ? Reply::string(lua_format_score(score)) : Reply::nil();
  return Reply::integer(ch ? added + updated : added);
}

Reply LuaKeyspace::cmd_zrem(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaZSet* z = typed<LuaZSet>(e);
  if (z == nullptr) return wrongtype();
  int64_t n = 0;
  for (size_t i = 2; i < a.size(); i++) {
    auto it = z->scores.find(a[i]);
    if (it == z->scores.end()) continue;
    z->ordered.erase({it->second, a[i]});
    z->scores.erase(it);
    ++n;
  }
  drop_if_empty(a[1], *e);
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_zscore(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::nil();
  LuaZSet* z = typed<LuaZSet>(e);
  if (z == nullptr) return wrongtype();
  auto it = z->scores.find(a[2]);
  return it == z->scores.end() ? Reply::nil() : Reply::string(lua_format_score(it->second));
}

Reply LuaKeyspace::cmd_zcard(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaZSet* z = typed<LuaZSet>(e);
  if (z == nullptr) return wrongtype();
  return Reply::integer(static_cast<int64_t>(z->scores.size()));
}

namespace {
// ZRANGE / ZRANGEBYSCORE share Redis's zrangeGenericCommand option parsing.
struct ZRangeRequest {
  bool by_score = false;
  bool reverse = false;
  bool withscores = false;
  int64_t offset = 0;
  int64_t limit = -1;
};
void emit(std::vector<Reply>& out, const std::pair<double, std::string>& item, bool withscores) {
  out.push_back(Reply::string(item.second));
  if (withscores) out.push_back(Reply::string(lua_format_score(item.first)));
}
}  // namespace

Reply LuaKeyspace::zrange_generic(const Args& a, bool fixed_by_score) {
  ZRangeRequest req;
  bool direction_set = fixed_by_score, type_set = fixed_by_score;
  req.by_score = fixed_by_score;
  bool by_lex = false;
  for (size_t j = 4; j < a.size(); j++) {
    size_t left = a.size() - j - 1;
    if (iequals(a[j], "withscores")) {
      req.withscores = true;
    } else if (iequals(a[j], "limit") && left >= 2) {
      if (!parse_ll(a[j + 1], req.offset) || !parse_ll(a[j + 2], req.limit)) return err(kNotInteger);
      j += 2;
    } else if (!direction_set && iequals(a[j], "rev")) {
      req.reverse = true;
      direction_set = true;
    } else if (!type_set && iequals(a[j], "bylex")) {
      by_lex = true;
      type_set = true;
    } else if (!type_set && iequals(a[j], "byscore")) {
      req.by_score = true;
      type_set = true;
    } else {
      return err(kSyntax);
    }
  }
  if (req.limit != -1 && !req.by_score && !by_lex) {
    return err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
  }
  if (req.withscores && by_lex) return err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  if (by_lex) return err("ERR BYLEX is not supported by the redkeeper memory backend");
  const std::string& min_arg = req.reverse && req.by_score ? a[3] : a[2];
  const std::string& max_arg = req.reverse && req.by_score ? a[2] : a[3];
  int64_t start = 0, end = 0;
  ScoreRange range;
  if (!req.by_score) {
    if (!parse_ll(a[2], start) || !parse_ll(a[3], end)) return err(kNotInteger);
  } else if (!parse_range(min_arg, max_arg, range)) {
    return err(kMinMax);
  }
  LuaEntry* e = find(a[1]);
  LuaZSet* z = typed<LuaZSet>(e);
  if (e != nullptr && z == nullptr) return wrongtype();
  std::vector<Reply> out;
  if (z == nullptr) return Reply::array({});
  const auto& ord = z->ordered;
  if (!req.by_score) {
    int64_t len = static_cast<int64_t>(ord.size());
    if (!clamp_range(start, end, len)) return Reply::array({});
    int64_t count = end - start + 1;
    if (!req.reverse) {
      auto it = start < len / 2 ? std::next(ord.begin(), start) : std::prev(ord.end(), len - start);
      for (int64_t i = 0; i < count; i++, ++it) emit(out, *it, req.withscores);
    } else {
      auto it = start < len / 2 ? std::next(ord.rbegin(), start) : std::prev(ord.rend(), len - start);
      for (int64_t i = 0; i < count; i++, ++it) emit(out, *it, req.withscores);
    }
    return Reply::array(std::move(out));
  }
  if (req.offset > 0 && req.offset >= static_cast<int64_t>(ord.size())) return Reply::array({});
  if (range_empty(range) || req.offset < 0) return Reply::array({});
  int64_t offset = req.offset, limit = req.limit;
  if (!req.reverse) {
    auto it = std::find_if(ord.begin(), ord.end(), [&](const auto& p) { return gte_min(p.first, range); });
    while (it != ord.end() && offset > 0) {
      ++it;
      --offset;
    }
    for (; it != ord.end() && limit != 0; ++it, --limit) {
      if (!lte_max(it->first, range)) break;
      emit(out, *it, req.withscores);
    }
  } else {
    auto it = std::find_if(ord.rbegin(), ord.rend(), [&](const auto& p) { return lte_max(p.first, range); });
    while (it != ord.rend() && offset > 0) {
      ++it;
      --offset;
    }
    for (; it != ord.rend() && limit != 0; ++it, --limit) {
      if (!gte_min(it->first, range)) break;
      emit(out, *it, req.withscores);
    }
  }
  return Reply::array(std::move(out));
}

Reply LuaKeyspace::cmd_zrange(const Args& a) { return zrange_generic(a, false); }

Reply LuaKeyspace::cmd_zrangebyscore(const Args& a) { return zrange_generic(a, true); }

Reply LuaKeyspace::cmd_zremrangebyscore(const Args& a) {
  ScoreRange range;
  if (!parse_range(a[2], a[3], range)) return err(kMinMax);
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaZSet* z = typed<LuaZSet>(e);
  if (z == nullptr) return wrongtype();
  int64_t n = 0;
  if (!range_empty(range)) {
    auto it = std::find_if(z->ordered.begin(), z->ordered.end(),
                           [&](const auto& p) { return gte_min(p.first, range); });
    while (it != z->ordered.end() && lte_max(it->first, range)) {
      z->scores.erase(it->second);
      it = z->ordered.erase(it);
      ++n;
    }
  }
  drop_if_empty(a[1], *e);
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_zcount(const Args& a) {
  ScoreRange range;
  if (!parse_range(a[2], a[3], range)) return err(kMinMax);
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaZSet* z = typed<LuaZSet>(e);
  if (z == nullptr) return wrongtype();
  if (range_empty(range)) return Reply::integer(0);
  int64_t n = 0;
  for (const auto& p : z->ordered) {
    if (!gte_min(p.first, range)) continue;
    if (!lte_max(p.first, range)) break;
    ++n;
  }
  return Reply::integer(n);
}

// ---- lists ----

Reply LuaKeyspace::cmd_push(const Args& a, bool left) {
  LuaEntry* e = find(a[1]);
  LuaList* l = typed<LuaList>(e);
  if (e != nullptr && l == nullptr) return wrongtype();
  if (l == nullptr) {
    LuaEntry entry;
    entry.value = std::make_unique<LuaList>();
    l = std::get<4>(create(a[1], std::move(entry)).value).get();
  }
  for (size_t i = 2; i < a.size(); i++) {
    if (left) {
      l->push_front(a[i]);
    } else {
      l->push_back(a[i]);
    }
  }
  return Reply::integer(static_cast<int64_t>(l->size()));
}

Reply LuaKeyspace::cmd_lrange(const Args& a) {
  int64_t start = 0, end = 0;
  if (!parse_ll(a[2], start) || !parse_ll(a[3], end)) return err(kNotInteger);
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::array({});
  LuaList* l = typed<LuaList>(e);
  if (l == nullptr) return wrongtype();
  if (!clamp_range(start, end, static_cast<int64_t>(l->size()))) return Reply::array({});
  std::vector<Reply> out;
  for (int64_t i = start; i <= end; i++) out.push_back(Reply::string((*l)[static_cast<size_t>(i)]));
  return Reply::array(std::move(out));
}

Reply LuaKeyspace::cmd_ltrim(const Args& a) {
  int64_t start = 0, end = 0;
  if (!parse_ll(a[2], start) || !parse_ll(a[3], end)) return err(kNotInteger);
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return ok();
  LuaList* l = typed<LuaList>(e);
  if (l == nullptr) return wrongtype();
  int64_t len = static_cast<int64_t>(l->size());
  if (!clamp_range(start, end, len)) {
    l->clear();
  } else {
    l->erase(l->begin() + end + 1, l->end());
    l->erase(l->begin(), l->begin() + start);
  }
  drop_if_empty(a[1], *e);
  return ok();
}

Reply LuaKeyspace::cmd_llen(const Args& a) {
  LuaEntry* e = find(a[1]);
  if (e == nullptr) return Reply::integer(0);
  LuaList* l = typed<LuaList>(e);
  if (l == nullptr) return wrongtype();
  return Reply::integer(static_cast<int64_t>(l->size()));
}

// ---- server ----

Reply LuaKeyspace::cmd_publish(const Args& a, std::vector<Published>& published) {
  int64_t n = listeners_ ? listeners_(a[1]) : 0;
  published.push_back({a[1], a[2]});
  return Reply::integer(n);
}

Reply LuaKeyspace::cmd_time() {
  int64_t s = now_ms_ / 1000, ms = now_ms_ % 1000;
  if (ms < 0) {
    ms += 1000;
    s -= 1;
  }
  return Reply::array({Reply::string(std::to_string(s)), Reply::string(std::to_string(ms * 1000))});
}

Reply LuaKeyspace::cmd_scan(const Args& a) {
  // Cursor: strtoul over the whole text, as Redis parses it.
  const std::string& c = a[1];
  errno = 0;
  char* endp = nullptr;
  unsigned long long cursor = std::strtoull(c.c_str(), &endp, 10);
  if (c.empty() || std::isspace(static_cast<unsigned char>(c[0])) || *endp != '\0' || errno == ERANGE) {
    return err("ERR invalid cursor");
  }
  int64_t count = 10;
  const std::string* pattern = nullptr;
  const std::string* type = nullptr;
  for (size_t i = 2; i < a.size();) {
    size_t left = a.size() - i;
    if (iequals(a[i], "count") && left >= 2) {
      if (!parse_ll(a[i + 1], count)) return err(kNotInteger);
      if (count < 1) return err(kSyntax);
      i += 2;
    } else if (iequals(a[i], "match") && left >= 2) {
      pattern = a[i + 1] == "*" ? nullptr : &a[i + 1];
      i += 2;
    } else if (iequals(a[i], "type") && left >= 2) {
      type = &a[i + 1];
      i += 2;
    } else {
      return err(kSyntax);
    }
  }
  std::vector<Reply> found;
  auto it = keys_.lower_bound(std::make_pair(static_cast<uint64_t>(cursor), std::string_view()));
  int64_t visited = 0;
  uint64_t last_hash = 0;
  while (it != keys_.end()) {
    // Finish every key sharing the last visited hash so the cursor resumes exactly after them.
    if (visited >= count && it->first.hash != last_hash) break;
    auto cur = it++;
    ++visited;
    last_hash = cur->first.hash;
    if (cur->second.expire_at_ms != 0 && now_ms_ > cur->second.expire_at_ms) {
      erase(cur);
      continue;
    }
    if (pattern != nullptr && !lua_glob_match(*pattern, cur->first.name)) continue;
    if (type != nullptr && ::strcasecmp(type->c_str(), type_name(cur->second)) != 0) continue;
    found.push_back(Reply::string(cur->first.name));
  }
  std::string next = it == keys_.end() ? "0" : std::to_string(it->first.hash);
  return Reply::array({Reply::string(next), Reply::array(std::move(found))});
}

}  // namespace redkeeper
