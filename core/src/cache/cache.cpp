// The cache primitive: JSON/bytes values with TTLs, counters, tags, namespace clear by generation,
// SCAN-based pattern deletion, and the fleet-wide single loader of get_or_set (claim/fill/fail with
// pub/sub wake-ups). Validation, encoding and waiting live here; storage is in scripts/*.lua.
#include <atomic>
#include <charconv>
#include <cmath>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/factories.hpp"
#include "common/random.hpp"
#include "redkeeper/limiter.hpp"  // parse_duration_ms

namespace redkeeper {

namespace cache_lua {
// Defined in the build dir's embedded_lua.cpp, generated from scripts/*.lua by core/CMakeLists.txt.
extern const char get[];
extern const char set[];
extern const char del[];
extern const char incr[];
extern const char claim[];
extern const char peek[];
extern const char fill[];
extern const char fail[];
extern const char invalidate_tag[];
extern const char clear[];
}  // namespace cache_lua

namespace {

constexpr size_t kMaxNamespaceBytes = 256;
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxTags = 64;
constexpr size_t kMaxMessageBytes = 4096;            // loader error text carried to waiters
constexpr int64_t kMaxTtlMs = 10LL * 365 * 86400 * 1000;  // ten years
constexpr int64_t kDefaultTtlMs = 3600 * 1000;
constexpr int64_t kDefaultLockTimeoutMs = 10 * 1000;
constexpr int64_t kDefaultMaxValueBytes = 8 * 1024 * 1024;
constexpr int64_t kMaxValueBytesLimit = 512LL * 1024 * 1024;  // Redis' own string limit
constexpr int kMaxReclaims = 3;  // a waiter whose filler vanished claims again at most this often
constexpr char kJsonMarker = 'j';
constexpr char kBytesMarker = 'b';

// Every cache script derives the value, fill-marker and tag keys from the namespace's generation
// inside the script (same hash tag, so one slot): KEYS does not list them all (see Script::Keys).
struct Scripts {
  Script get{cache_lua::get, Script::UndeclaredKeys};
  Script set{cache_lua::set, Script::UndeclaredKeys};
  Script del{cache_lua::del, Script::UndeclaredKeys};
  Script incr{cache_lua::incr, Script::UndeclaredKeys};
  Script claim{cache_lua::claim, Script::UndeclaredKeys};
  Script peek{cache_lua::peek, Script::UndeclaredKeys};
  Script fill{cache_lua::fill, Script::UndeclaredKeys};
  Script fail{cache_lua::fail, Script::UndeclaredKeys};
  Script invalidate_tag{cache_lua::invalidate_tag, Script::UndeclaredKeys};
  Script clear{cache_lua::clear, Script::UndeclaredKeys};
};

const Scripts& scripts() {
  static const Scripts s;
  return s;
}

std::string random_token() { return random_hex(16); }

const Value* arg(const Value& args, const char* name) {
  if (!args.is_object()) return nullptr;
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_arg(const Value& args, const char* name, size_t max_bytes) {
  const Value* v = arg(args, name);
  if (v == nullptr) throw invalid_argument(name, "is required");
  if (!v->is_string()) throw invalid_argument(name, "must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.empty()) throw invalid_argument(name, "must not be empty");
  if (s.size() > max_bytes) throw invalid_argument(name, "longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

// A duration in ms: a positive finite number (fractions round up, so 0.5 ms is 1 ms, never 0), or
// a duration string as the limiter takes them ("90s", "15m", "1h"), so hosts pass those through.
int64_t duration_ms(const Value& v, const char* name) {
  double d;
  if (v.is_string()) {
    d = static_cast<double>(parse_duration_ms(v.get_ref<const std::string&>(), name));
  } else if (v.is_number_integer()) {
    d = static_cast<double>(v.get<int64_t>());
  } else if (v.is_number()) {
    d = v.get<double>();
  } else {
    throw invalid_argument(name, "must be a number of milliseconds");
  }
  if (!std::isfinite(d)) throw invalid_argument(name, "must be finite");
  if (d <= 0) throw invalid_argument(name, "must be positive");
  if (d > static_cast<double>(kMaxTtlMs)) throw invalid_argument(name, "longer than ten years");
  return static_cast<int64_t>(std::ceil(d));
}

int64_t optional_duration(const Value& args, const char* name, int64_t fallback) {
  const Value* v = arg(args, name);
  return v == nullptr ? fallback : duration_ms(*v, name);
}

std::vector<std::string> tags_arg(const Value& args) {
  std::vector<std::string> tags;
  const Value* v = arg(args, "tags");
  if (v == nullptr) return tags;
  if (!v->is_array()) throw invalid_argument("tags", "must be a list of strings");
  if (v->size() > kMaxTags) throw invalid_argument("tags", "more than " + std::to_string(kMaxTags) + " tags");
  for (const auto& t : *v) {
    if (!t.is_string()) throw invalid_argument("tags", "must be a list of strings");
    const auto& s = t.get_ref<const std::string&>();
    if (s.empty()) throw invalid_argument("tags", "a tag must not be empty");
    if (s.size() > kMaxKeyBytes) throw invalid_argument("tags", "a tag is longer than 1024 bytes");
    tags.push_back(s);
  }
  return tags;
}

// JSON that round-trips through every host: no NaN/Infinity, no bytes below the top level.
void check_json(const Value& v, int depth) {
  if (depth > 512) throw invalid_argument("value", "nested deeper than 512 levels");
  switch (v.type()) {
    case Value::value_t::number_float:
      if (!std::isfinite(v.get<double>())) throw invalid_argument("value", "NaN and Infinity are not JSON");
      break;
    case Value::value_t::binary:
      throw invalid_argument("value", "bytes are supported only as the whole value, not inside JSON");
    case Value::value_t::discarded:
      throw invalid_argument("value", "not serialisable");
    case Value::value_t::array:
    case Value::value_t::object:
      for (const auto& e : v) check_json(e, depth + 1);
      break;
    default:
      break;
  }
}

// Stored form: 'b' + raw bytes, or 'j' + JSON text. Counters are the bare decimal INCRBY keeps,
// which can start with neither marker.
std::string encode_value(const Value& v, int64_t max_bytes) {
  std::string out;
  if (v.is_binary()) {
    const auto& b = v.get_binary();
    out.reserve(b.size() + 1);
    out.push_back(kBytesMarker);
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
  } else {
    check_json(v, 0);
    out.push_back(kJsonMarker);
    try {
      out += v.dump();
    } catch (const nlohmann::json::exception&) {
      throw invalid_argument("value", "strings must be valid UTF-8");
    }
  }
  if (static_cast<int64_t>(out.size()) - 1 > max_bytes) {
    throw invalid_argument("value", "larger than max_value_bytes (" + std::to_string(max_bytes) + ")");
  }
  return out;
}

Value decode_value(std::string_view s) {
  if (!s.empty() && s[0] == kBytesMarker) {
    return Value::binary(std::vector<std::uint8_t>(s.begin() + 1, s.end()));
  }
  if (!s.empty() && s[0] == kJsonMarker) {
    Value v = Value::parse(s.substr(1), nullptr, false);
    if (v.is_discarded()) throw Error(ErrorCode::Protocol, "cache: stored value is not valid JSON");
    return v;
  }
  int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    throw Error(ErrorCode::Protocol, "cache: stored value was not written by redkeeper");
  }
  return Value(n);
}

// Hosts that decode values themselves ask for raw (Node: JSON.parse is much cheaper than building
// the object through N-API): the stored bytes, marker included, come back as bytes. The format is
// the one above; hosts implement exactly its three cases.
Value shaped(std::string_view stored, bool raw) {
  if (raw) return Value::binary(std::vector<std::uint8_t>(stored.begin(), stored.end()));
  return decode_value(stored);
}

bool raw_arg(const Value& args) {
  const Value* r = arg(args, "raw");
  if (r == nullptr) return false;
  if (!r->is_boolean()) throw invalid_argument("raw", "must be a boolean");
  return r->get<bool>();
}

// SCAN MATCH treats * ? [ ] \ specially: the fixed part of the pattern must match itself only.
std::string glob_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

template <class F>
void settle_guarded(const Callback<Value>& done, F&& make) {
  Result<Value> r = [&]() -> Result<Value> {
    try {
      return make();
    } catch (const Error& e) {
      return e;
    } catch (const std::exception& e) {
      return Error(ErrorCode::Protocol, std::string("cache: ") + e.what());
    }
  }();
  done(std::move(r));
}

class Cache final : public Primitive, public std::enable_shared_from_this<Cache> {
 public:
  Cache(std::shared_ptr<Backend> backend, const Value& config) : backend_(std::move(backend)) {
    if (!config.is_object()) throw invalid_argument("options", "must be an object");
    for (auto it = config.begin(); it != config.end(); ++it) {
      const std::string& k = it.key();
      if (k != "namespace" && k != "default_ttl_ms" && k != "lock_timeout_ms" && k != "max_value_bytes") {
        throw invalid_argument(k, "unknown cache option");
      }
    }
    const std::string ns = string_arg(config, "namespace", kMaxNamespaceBytes);
    if (ns.find_first_of("{}") != std::string::npos) {
      throw invalid_argument("namespace", "must not contain '{' or '}' (it is the key's hash tag)");
    }
    default_ttl_ms_ = optional_duration(config, "default_ttl_ms", kDefaultTtlMs);
    lock_timeout_ms_ = optional_duration(config, "lock_timeout_ms", kDefaultLockTimeoutMs);
    if (const Value* m = arg(config, "max_value_bytes")) {
      if (!m->is_number_integer() || m->get<int64_t>() < 1 || m->get<int64_t>() > kMaxValueBytesLimit) {
        throw invalid_argument("max_value_bytes", "must be an integer from 1 to 512 MiB");
      }
      max_value_bytes_ = m->get<int64_t>();
    }
    ns_key_ = backend_->prefix() + ":cache:{" + ns + "}";
    channel_ = ns_key_ + ":ch";
  }

  ~Cache() override {
    if (listener_ != 0) backend_->unlisten(listener_);
  }

  void call(std::string_view op, Value args, Callback<Value> done) override {
    std::function<void()> run;
    try {
      if (!args.is_null() && !args.is_object()) throw invalid_argument("args", "must be an object");
      run = prepare(op, args, done);
    } catch (const Error& e) {
      done(e);
      return;
    }
    run();
  }

 private:
  struct Waiter {
    std::string id;   // gen + ':' + key, as published
    std::string key;
    std::string gen;
    Callback<Value> done;
    int64_t deadline_ms = 0;
    int reclaims_left = kMaxReclaims;
    uint64_t timeout_timer = 0;
    uint64_t recheck_timer = 0;
    bool raw = false;      // answer the stored bytes (see shaped())
    bool settled = false;  // guarded by Cache::mu_
  };

  std::function<void()> prepare(std::string_view op, const Value& args, const Callback<Value>& done) {
    auto self = shared_from_this();
    if (op == "get") {
      std::string key = string_arg(args, "key", kMaxKeyBytes);
      const bool raw = raw_arg(args);
      return [self, key = std::move(key), raw, done] { self->do_get(key, raw, done); };
    }
    if (op == "set") {
      std::string key = string_arg(args, "key", kMaxKeyBytes);
      const Value* v = arg(args, "value");
      if (v == nullptr) throw invalid_argument("value", "is required (None/undefined cannot be cached)");
      std::string enc = encode_value(*v, max_value_bytes_);
      int64_t ttl = optional_duration(args, "ttl_ms", default_ttl_ms_);
      auto tags = tags_arg(args);
      return [self, key = std::move(key), enc = std::move(enc), ttl, tags = std::move(tags), done] {
        self->do_set(key, enc, ttl, tags, done);
      };
    }
    if (op == "delete") {
      std::string key = string_arg(args, "key", kMaxKeyBytes);
      return [self, key = std::move(key), done] { self->do_delete(key, done); };
    }
    if (op == "incr") {
      std::string key = string_arg(args, "key", kMaxKeyBytes);
      int64_t by = 1;
      if (const Value* b = arg(args, "by")) {
        if (!b->is_number_integer()) throw invalid_argument("by", "must be an integer");
        if (b->is_number_unsigned() && b->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
          throw invalid_argument("by", "out of the 64-bit range");
        }
        by = b->get<int64_t>();
        if (by == INT64_MIN) throw invalid_argument("by", "out of the 64-bit range");
      }
      int64_t ttl = optional_duration(args, "ttl_ms", default_ttl_ms_);
      return [self, key = std::move(key), by, ttl, done] { self->do_incr(key, by, ttl, done); };
    }
    if (op == "claim") {
      std::string key = string_arg(args, "key", kMaxKeyBytes);
      int64_t lock_ms = optional_duration(args, "lock_timeout_ms", lock_timeout_ms_);
      const bool raw = raw_arg(args);
      return [self, key = std::move(key), lock_ms, raw, done] {
        self->do_claim(key, lock_ms, self->backend_->now_ms() + lock_ms, kMaxReclaims, true, raw, done);
      };
    }
    if (op == "fill") {
      std::string key = string_arg(args, "key", kMaxKeyBytes);
      std::string token = token_arg(args);
      std::string gen = string_arg(args, "gen", 32);
      const Value* v = arg(args, "value");
      if (v == nullptr) throw invalid_argument("value", "is required (None/undefined cannot be cached)");
      std::string enc = encode_value(*v, max_value_bytes_);
      int64_t ttl = optional_duration(args, "ttl_ms", default_ttl_ms_);
      auto tags = tags_arg(args);
      return [self, key = std::move(key), token = std::move(token), gen = std::move(gen), enc = std::move(enc),
              ttl, tags = std::move(tags), done] { self->do_fill(key, token, gen, enc, ttl, tags, done); };
    }
    if (op == "fail") {
      std::string key = string_arg(args, "key", kMaxKeyBytes);
      std::string token = token_arg(args);
      std::string gen = string_arg(args, "gen", 32);
      std::string message;
      if (const Value* m = arg(args, "message")) {
        if (!m->is_string()) throw invalid_argument("message", "must be a string");
        message = m->get<std::string>().substr(0, kMaxMessageBytes);
      }
      if (message.empty()) message = "loader failed";
      // release: the loader had nothing to cache (None/undefined): waiters claim again instead of
      // failing.
      bool release = false;
      if (const Value* rel = arg(args, "release")) {
        if (!rel->is_boolean()) throw invalid_argument("release", "must be a boolean");
        release = rel->get<bool>();
      }
      return [self, key = std::move(key), token = std::move(token), gen = std::move(gen),
              message = std::move(message), release, done] {
        self->do_fail(key, token, gen, message, release, done);
      };
    }
    if (op == "invalidate_tag") {
      std::string tag = string_arg(args, "tag", kMaxKeyBytes);
      return [self, tag = std::move(tag), done] { self->do_invalidate_tag(tag, done); };
    }
    if (op == "clear") {
      return [self, done] { self->do_clear(done); };
    }
    if (op == "delete_pattern") {
      std::string pattern = string_arg(args, "pattern", kMaxKeyBytes);
      return [self, pattern = std::move(pattern), done] { self->do_delete_pattern(pattern, done); };
    }
    if (op == "stats") {
      return [self, done] { done(self->stats_value()); };
    }
    throw invalid_argument("op", "unknown cache op '" + std::string(op.substr(0, 64)) + "'");
  }

  // The fill token: "" when the caller holds no marker (a waiter that timed out loads and stores).
  static std::string token_arg(const Value& args) {
    const Value* t = arg(args, "token");
    if (t == nullptr) return std::string();
    if (!t->is_string() || t->get_ref<const std::string&>().size() > 64) {
      throw invalid_argument("token", "must be the token claim returned");
    }
    return t->get<std::string>();
  }

  Value stats_value() const {
    const uint64_t hits = hits_.load(std::memory_order_relaxed);
    const uint64_t misses = misses_.load(std::memory_order_relaxed);
    Value out = Value::object();
    out["hits"] = hits;
    out["misses"] = misses;
    out["hit_ratio"] = hits + misses == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(hits + misses);
    out["sets"] = sets_.load(std::memory_order_relaxed);
    out["deletes"] = deletes_.load(std::memory_order_relaxed);
    return out;
  }

  static Error map_error(const Error& e) {
    if (e.code() == ErrorCode::Script) {
      std::string_view msg = e.what();
      if (msg.find("NOTCOUNTER") != std::string_view::npos) {
        if (msg.find("overflow") != std::string_view::npos) return invalid_argument("by", "the counter would overflow");
        return invalid_argument("key", "holds a value that is not a counter");
      }
    }
    return e;
  }

  void do_get(const std::string& key, bool raw, const Callback<Value>& done) {
    auto self = shared_from_this();
    backend_->eval(scripts().get, {ns_key_}, {key}, [self, raw, done](Result<Reply> r) {
      if (!r.ok()) return done(map_error(r.error()));
      settle_guarded(done, [&]() -> Value {
        if (r.value().is_nil()) {
          self->misses_.fetch_add(1, std::memory_order_relaxed);
          return Value();
        }
        Value v = shaped(r.value().as_string(), raw);
        self->hits_.fetch_add(1, std::memory_order_relaxed);
        return v;
      });
    });
  }

  void do_set(const std::string& key, const std::string& enc, int64_t ttl, const std::vector<std::string>& tags,
              const Callback<Value>& done) {
    auto self = shared_from_this();
    const std::string ttl_s = std::to_string(ttl);
    std::vector<std::string_view> argv{key, enc, ttl_s};
    for (const auto& t : tags) argv.emplace_back(t);
    backend_->eval(scripts().set, {ns_key_}, argv, [self, done](Result<Reply> r) {
      if (!r.ok()) return done(map_error(r.error()));
      self->sets_.fetch_add(1, std::memory_order_relaxed);
      done(Value());
    });
  }

  void do_delete(const std::string& key, const Callback<Value>& done) {
    auto self = shared_from_this();
    backend_->eval(scripts().del, {ns_key_}, {key}, [self, done](Result<Reply> r) {
      if (!r.ok()) return done(map_error(r.error()));
      settle_guarded(done, [&]() -> Value {
        const bool existed = r.value().as_integer() > 0;
        self->deletes_.fetch_add(1, std::memory_order_relaxed);
        return Value(existed);
      });
    });
  }

  void do_incr(const std::string& key, int64_t by, int64_t ttl, const Callback<Value>& done) {
    const std::string by_s = std::to_string(by);
    const std::string ttl_s = std::to_string(ttl);
    backend_->eval(scripts().incr, {ns_key_}, {key, by_s, ttl_s}, [done](Result<Reply> r) {
      if (!r.ok()) return done(map_error(r.error()));
      settle_guarded(done, [&]() -> Value { return Value(r.value().as_integer()); });
    });
  }

  void do_invalidate_tag(const std::string& tag, const Callback<Value>& done) {
    backend_->eval(scripts().invalidate_tag, {ns_key_}, {tag}, [done](Result<Reply> r) {
      if (!r.ok()) return done(map_error(r.error()));
      settle_guarded(done, [&]() -> Value { return Value(r.value().as_integer()); });
    });
  }

  void do_clear(const Callback<Value>& done) {
    backend_->eval(scripts().clear, {ns_key_}, {}, [done](Result<Reply> r) {
      if (!r.ok()) return done(map_error(r.error()));
      done(Value());
    });
  }

  // delete_pattern: the current generation, then SCAN MATCH + UNLINK page by page until the
  // cursor comes back to 0. Never KEYS; never one script over the whole keyspace.
  void do_delete_pattern(const std::string& pattern, const Callback<Value>& done) {
    auto self = shared_from_this();
    backend_->command({"GET", ns_key_}, [self, pattern, done](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      std::string gen = r.value().is_nil() ? std::string("0") : std::string(r.value().as_string());
      auto match = std::make_shared<std::string>(glob_escape(self->ns_key_ + ":" + gen + ":v:") + pattern);
      self->scan_page(std::move(match), "0", 0, done);
    });
  }

  void scan_page(std::shared_ptr<std::string> match, const std::string& cursor, int64_t deleted,
                 const Callback<Value>& done) {
    auto self = shared_from_this();
    backend_->command({"SCAN", cursor, "MATCH", *match, "COUNT", "1000"},
                      [self, match, deleted, done](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      std::string next;
      std::vector<std::string> keys;
      try {
        next = std::string(r.value().at(0).as_string());
        for (const auto& k : r.value().at(1).as_array()) keys.emplace_back(k.as_string());
      } catch (const Error& e) {
        return done(e);
      }
      auto after = [self, match, next, done](int64_t total) {
        if (next == "0") return done(Value(total));
        self->scan_page(match, next, total, done);
      };
      if (keys.empty()) return after(deleted);
      std::vector<std::string_view> argv{"UNLINK"};
      for (const auto& k : keys) argv.emplace_back(k);
      self->backend_->command(argv, [self, deleted, after, done](Result<Reply> u) {
        if (!u.ok()) return done(u.error());
        int64_t n = u.value().is_integer() ? u.value().as_integer() : 0;
        self->deletes_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        after(deleted + n);
      });
    });
  }

  // get_or_set, step 1. Answers {status:"hit", value} | {status:"fill", token, gen} (run the
  // loader, then fill or fail) | {status:"load", gen} (waited lock_timeout for another filler in
  // vain: run the loader, then fill with no token). A published loader failure settles with
  // LoaderFailed. `count` is false on a re-claim, so one get_or_set counts one hit or miss.
  void do_claim(const std::string& key, int64_t lock_ms, int64_t deadline_ms, int reclaims_left, bool count,
                bool raw, const Callback<Value>& done) {
    auto self = shared_from_this();
    std::string token = random_token();
    const std::string lock_s = std::to_string(lock_ms);
    backend_->eval(scripts().claim, {ns_key_}, {key, token, lock_s},
                   [self, key, token, lock_ms, deadline_ms, reclaims_left, count, raw, done](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      Value out = Value::object();
      std::string gen;
      int64_t marker_ms = 0;
      try {
        const Reply& rep = r.value();
        const int64_t kind = rep.at(0).as_integer();
        if (kind == 1) {
          out["status"] = "hit";
          out["value"] = shaped(rep.at(1).as_string(), raw);
          if (count) self->hits_.fetch_add(1, std::memory_order_relaxed);
          return done(std::move(out));
        }
        if (count) self->misses_.fetch_add(1, std::memory_order_relaxed);
        gen = std::string(rep.at(1).as_string());
        if (kind == 2) {
          out["status"] = "fill";
          out["token"] = token;
          out["gen"] = gen;
          return done(std::move(out));
        }
        marker_ms = rep.at(2).as_integer();
      } catch (const Error& e) {
        return done(e);
      } catch (const std::exception& e) {
        return done(Error(ErrorCode::Protocol, std::string("cache: ") + e.what()));
      }
      auto w = std::make_shared<Waiter>();
      w->id = gen + ":" + key;
      w->key = key;
      w->gen = std::move(gen);
      w->done = done;
      w->deadline_ms = deadline_ms;
      w->reclaims_left = reclaims_left;
      w->raw = raw;
      self->start_wait(std::move(w), lock_ms, marker_ms);
    });
  }

  void start_wait(std::shared_ptr<Waiter> w, int64_t lock_ms, int64_t marker_ms) {
    auto self = shared_from_this();
    const int64_t left = w->deadline_ms - backend_->now_ms();
    if (left <= 0) return settle_load(w);
    {
      // Not under mu_: a backend may call the new listener at once (subscription already active).
      std::lock_guard<std::mutex> lock(listen_mu_);
      if (listener_ == 0) {
        std::weak_ptr<Cache> weak = self;
        listener_ = backend_->listen(channel_, [weak](std::string_view msg) {
          if (auto c = weak.lock()) c->on_message(msg);
        });
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiters_[w->id].push_back(w);
      w->timeout_timer = backend_->schedule(left, [self, w] {
        if (self->take(w)) self->settle_load(w);
      });
    }
    (void)lock_ms;
    // The fill may have been published before our listener was active: look once now, and again
    // when the marker would expire (a crashed filler never publishes).
    recheck(w, marker_ms);
  }

  // Settles nothing unless `w` is still waiting; peeks the store and either settles or re-arms.
  void recheck(const std::shared_ptr<Waiter>& w, int64_t /*marker_hint_ms*/) {
    auto self = shared_from_this();
    backend_->eval(scripts().peek, {ns_key_}, {w->key, w->gen}, [self, w](Result<Reply> r) {
      if (!r.ok()) {
        if (self->take(w)) w->done(r.error());
        return;
      }
      try {
        const Reply& rep = r.value();
        const int64_t kind = rep.at(0).as_integer();
        if (kind == 1) {
          Value v = shaped(rep.at(1).as_string(), w->raw);
          if (self->take(w)) self->settle_hit(w, std::move(v));
          return;
        }
        if (kind == 3) {
          const int64_t marker_ms = rep.at(1).as_integer();
          std::lock_guard<std::mutex> lock(self->mu_);
          if (w->settled) return;
          if (w->recheck_timer != 0) self->backend_->cancel(w->recheck_timer);
          w->recheck_timer = self->backend_->schedule(marker_ms + 1, [self, w] { self->recheck(w, 0); });
          return;
        }
        // Neither value nor marker: the filler is gone (failed before we listened, crashed, or the
        // namespace was cleared). Claim again, bounded.
        if (!self->take(w)) return;
        if (w->reclaims_left <= 0) return self->settle_load(w);
        self->do_claim(w->key, self->lock_timeout_ms_, w->deadline_ms, w->reclaims_left - 1, false, w->raw,
                       w->done);
      } catch (const Error& e) {
        if (self->take(w)) w->done(e);
      }
    });
  }

  // Removes w from the wait table; true exactly once (the caller then settles it).
  bool take(const std::shared_ptr<Waiter>& w) {
    std::lock_guard<std::mutex> lock(mu_);
    if (w->settled) return false;
    w->settled = true;
    auto it = waiters_.find(w->id);
    if (it != waiters_.end()) {
      auto& list = it->second;
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i] == w) {
          list[i] = list.back();
          list.pop_back();
          break;
        }
      }
      if (list.empty()) waiters_.erase(it);
    }
    if (w->timeout_timer != 0) backend_->cancel(w->timeout_timer);
    if (w->recheck_timer != 0) backend_->cancel(w->recheck_timer);
    return true;
  }

  void settle_hit(const std::shared_ptr<Waiter>& w, Value v) {
    Value out = Value::object();
    out["status"] = "hit";
    out["value"] = std::move(v);
    w->done(std::move(out));
  }

  void settle_load(const std::shared_ptr<Waiter>& w) {
    Value out = Value::object();
    out["status"] = "load";
    out["gen"] = w->gen;
    w->done(std::move(out));
  }

  // Channel messages: 'f'|'e'|'r' gen ':' keylen ':' key payload (value, error text, nothing).
  // An empty message (subscription confirmed or re-established) makes every waiter re-check.
  void on_message(std::string_view msg) {
    if (msg.empty()) {
      std::vector<std::shared_ptr<Waiter>> all;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto& [id, list] : waiters_) all.insert(all.end(), list.begin(), list.end());
      }
      for (auto& w : all) recheck(w, 0);
      return;
    }
    const char kind = msg[0];
    if (kind != 'f' && kind != 'e' && kind != 'r') return;
    const size_t c1 = msg.find(':', 1);
    if (c1 == std::string_view::npos) return;
    const size_t c2 = msg.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return;
    size_t key_len = 0;
    auto [end, ec] = std::from_chars(msg.data() + c1 + 1, msg.data() + c2, key_len);
    if (ec != std::errc() || end != msg.data() + c2 || c2 + 1 + key_len > msg.size()) return;
    std::string id(msg.substr(1, c1 - 1));
    id.push_back(':');
    id.append(msg.substr(c2 + 1, key_len));
    std::string_view payload = msg.substr(c2 + 1 + key_len);

    std::vector<std::shared_ptr<Waiter>> hit;
    if (kind == 'r') {
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = waiters_.find(id);
        if (it == waiters_.end()) return;
        hit = it->second;
      }
      for (auto& w : hit) recheck(w, 0);  // finds no marker and claims again
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = waiters_.find(id);
      if (it == waiters_.end()) return;
      hit.swap(it->second);
      waiters_.erase(it);
      for (auto& w : hit) {
        w->settled = true;
        if (w->timeout_timer != 0) backend_->cancel(w->timeout_timer);
        if (w->recheck_timer != 0) backend_->cancel(w->recheck_timer);
      }
    }
    if (kind == 'e') {
      const std::string message(payload);
      for (auto& w : hit) w->done(Error(ErrorCode::LoaderFailed, message));
      return;
    }
    for (auto& w : hit) {
      Result<Value> v = [&]() -> Result<Value> {
        try {
          return shaped(payload, w->raw);
        } catch (const Error& e) {
          return e;
        }
      }();
      if (v.ok()) {
        settle_hit(w, std::move(v.value()));
      } else {
        w->done(v.error());
      }
    }
  }

  void do_fill(const std::string& key, const std::string& token, const std::string& gen, const std::string& enc,
               int64_t ttl, const std::vector<std::string>& tags, const Callback<Value>& done) {
    auto self = shared_from_this();
    const std::string ttl_s = std::to_string(ttl);
    std::vector<std::string_view> argv{key, token, gen, enc, ttl_s};
    for (const auto& t : tags) argv.emplace_back(t);
    backend_->eval(scripts().fill, {ns_key_}, argv, [self, done](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      self->sets_.fetch_add(1, std::memory_order_relaxed);
      done(Value());
    });
  }

  void do_fail(const std::string& key, const std::string& token, const std::string& gen, const std::string& message,
               bool release, const Callback<Value>& done) {
    const std::string_view kind = release ? "r" : "e";
    backend_->eval(scripts().fail, {ns_key_}, {key, token, gen, message, kind}, [done](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      done(Value());
    });
  }

  std::shared_ptr<Backend> backend_;
  std::string ns_key_;   // {prefix}:cache:{namespace}: holds the generation; every key extends it
  std::string channel_;  // fill/fail notifications for the namespace
  int64_t default_ttl_ms_ = kDefaultTtlMs;
  int64_t lock_timeout_ms_ = kDefaultLockTimeoutMs;
  int64_t max_value_bytes_ = kDefaultMaxValueBytes;

  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> sets_{0};
  std::atomic<uint64_t> deletes_{0};

  std::mutex listen_mu_;
  uint64_t listener_ = 0;  // the namespace channel's listener, made on the first wait, kept
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Waiter>>> waiters_;
};

}  // namespace

std::shared_ptr<Primitive> make_cache(std::shared_ptr<Backend> backend, const Value& config) {
  return std::make_shared<Cache>(std::move(backend), config);
}

}  // namespace redkeeper
