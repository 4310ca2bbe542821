// The "tokens" and "token_versions" primitives: JSON ops validated and shaped in C++, the state
// changes and checks done by the Lua scripts in scripts/ (one script per op, one slot per script).
#include "tokens/tokens.hpp"

#include <atomic>
#include <mutex>
#include <utility>

#include "common/args.hpp"
#include "common/factories.hpp"

namespace redkeeper {
namespace tokens_lua {
extern const char check[];
extern const char revoke[];
extern const char revoke_user[];
extern const char audit[];
extern const char stats_add[];
extern const char stats[];
extern const char bump[];
extern const char prime[];
}  // namespace tokens_lua

namespace tokens {
namespace {

// ---- argument helpers -------------------------------------------------------------------------

// Integers; for durations (`duration`) also the limiter's duration strings ("15m", "30 days").
int64_t int_option(const Value& cfg, const char* name, int64_t fallback, int64_t min, int64_t max,
                   bool duration = false) {
  const Value* v = member(cfg, name);
  if (v == nullptr) return fallback;
  int64_t n;
  if (duration && v->is_string()) {
    n = parse_duration_ms(v->get_ref<const std::string&>(), name);
  } else if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else {
    throw invalid_argument(name, duration ? "must be an integer (ms) or a duration string" : "must be an integer");
  }
  if (n < min || n > max) {
    throw invalid_argument(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return n;
}

FailurePolicy policy_option(const Value& cfg) {
  const Value* v = member(cfg, "on_error");
  if (v == nullptr) return FailurePolicy::Closed;
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s == "closed") return FailurePolicy::Closed;
    if (s == "raise") return FailurePolicy::Raise;
  }
  throw invalid_argument("on_error", "must be \"closed\" or \"raise\"");
}

// The token argument: str or bytes. Anything else is not a token at all (TokenMalformed, so a
// caller passing None or a number gets the same error class as for garbage text).
std::string_view token_arg(const Value& args) {
  const Value* v = member(args, "token");
  if (v != nullptr && v->is_string()) return v->get_ref<const std::string&>();
  if (v != nullptr && v->is_binary()) {
    const auto& b = v->get_binary();
    return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  }
  throw Error(ErrorCode::TokenMalformed, "token: must be a string");
}

// User ids: non-empty strings, or integers (written in decimal, so revoke_user(42) matches a
// token whose sub is "42").
std::string user_arg(const Value& args, const char* name) {
  const Value* v = member(args, name);
  if (v != nullptr && v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty()) throw invalid_argument(name, "must not be empty");
    if (s.size() > 4096) throw invalid_argument(name, "longer than 4096 bytes");
    return s;
  }
  if (v != nullptr && v->is_number_integer()) return v->dump();
  throw invalid_argument(name, "must be a non-empty string or an integer");
}

// Cuts to at most `max` bytes without splitting a UTF-8 sequence.
std::string cut_utf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

bool readable_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7E || c == '{' || c == '}') return false;
  }
  return true;
}

std::string ms_arg(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string(); }

// Store failures (anything but the caller's own mistakes) are what the failure policy covers.
bool store_failure(const Error& e) {
  switch (e.code()) {
    case ErrorCode::InvalidArgument:
    case ErrorCode::TokenMalformed:
    case ErrorCode::TokenInvalid:
    case ErrorCode::TokenRevoked:
      return false;
    default:
      return true;
  }
}

std::vector<std::string_view> views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// ---- tokens -----------------------------------------------------------------------------------

class TokensPrimitive final : public Primitive {
 public:
  TokensPrimitive(std::shared_ptr<Backend> backend, TokensConfig config)
      : backend_(std::move(backend)), config_(std::move(config)), prefix_(backend_->prefix()) {}

  void call(std::string_view op, Value args, Callback<Value> done) override {
    try {
      if (!args.is_object()) {
        if (!args.is_null()) throw invalid_argument("args", "must be an object");
        args = Value::object();
      }
      if (op == "is_revoked") return check(args, done, /*want_claims=*/false);
      if (op == "check") return check(args, done, /*want_claims=*/true);
      if (op == "revoke") return revoke(args, done);
      if (op == "revoke_user") return revoke_user(args, done);
      if (op == "stats") return stats(done);
      if (op == "audit") return audit(args, done);
      if (op == "decode") return decode(args, done);
      throw invalid_argument("op", "unknown tokens op '" + std::string(op.substr(0, 64)) + "'");
    } catch (const Error& e) {
      // Only reached before any I/O was started: every op hands `done` over last.
      if (done) done(e);
    }
  }

 private:
  static const Script& script(const char* source) {
    // One Script per source, hashed once (function-local statics are thread-safe).
    static const Script s_check(tokens_lua::check), s_revoke(tokens_lua::revoke),
        s_revoke_user(tokens_lua::revoke_user), s_audit(tokens_lua::audit), s_stats_add(tokens_lua::stats_add),
        s_stats(tokens_lua::stats);
    if (source == tokens_lua::check) return s_check;
    if (source == tokens_lua::revoke) return s_revoke;
    if (source == tokens_lua::revoke_user) return s_revoke_user;
    if (source == tokens_lua::audit) return s_audit;
    if (source == tokens_lua::stats_add) return s_stats_add;
    return s_stats;
  }

  std::string now_arg() const {
    const auto& clock = backend_->options().clock;
    return clock ? std::to_string(clock->now_ms()) : std::string();
  }

  void eval(const char* source, const std::vector<std::string>& keys, const std::vector<std::string>& args,
            Callback<Reply> done) {
    const auto k = views(keys);
    const auto a = views(args);
    backend_->eval(script(source), ArgList(k), ArgList(a), std::move(done));
  }

  // Decodes and, when a key is configured, verifies the signature. Without a key, check() still
  // refuses alg "none": the claims it returns are meant to be trusted.
  jwt::Decoded decode_token(std::string_view raw, bool trusted_use) const {
    jwt::Decoded d = jwt::decode(raw);
    if (config_.verify_key) {
      jwt::verify_signature(d, *config_.verify_key, config_.algorithms);
    } else if (trusted_use) {
      std::string lower = d.alg;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "none") throw Error(ErrorCode::TokenInvalid, "token: alg 'none' is never accepted");
    }
    return d;
  }

  std::string tag_of(const jwt::Decoded& d) const { return d.sub ? user_tag(*d.sub) : std::string("nosub"); }

  void check(const Value& args, Callback<Value>& done, bool want_claims) {
    const std::string_view raw = token_arg(args);
    jwt::Decoded d = decode_token(raw, want_claims);
    std::vector<std::string> keys{entry_key(prefix_, d, raw)};
    if (d.sub) keys.push_back(user_record_key(prefix_, user_tag(*d.sub)));
    std::vector<std::string> argv{now_arg(), ms_arg(d.exp_ms), ms_arg(d.nbf_ms), ms_arg(d.iat_ms),
                                  std::to_string(config_.leeway_ms)};
    const FailurePolicy policy = config_.on_error;
    Value claims = want_claims ? std::move(d.claims) : Value();
    eval(tokens_lua::check, keys, argv,
         [done = std::move(done), want_claims, policy, claims = std::move(claims)](Result<Reply> r) mutable {
           if (!r.ok()) {
             if (policy == FailurePolicy::Raise || !store_failure(r.error())) return done(r.error());
             if (!want_claims) return done(Value(true));
             return done(Error(ErrorCode::TokenRevoked,
                               std::string("token: treated as revoked, the store could not be asked (") +
                                   r.error().what() + ")"));
           }
           int64_t status = 0;
           try {
             status = r.value().as_integer();
           } catch (const Error& e) {
             return done(e);
           }
           if (!want_claims) return done(Value(status >= 1 && status <= 3));
           switch (status) {
             case 0: return done(std::move(claims));
             case 1: return done(Error(ErrorCode::TokenRevoked, "token: revoked"));
             case 2:
               return done(Error(ErrorCode::TokenRevoked, "token: every token of its user issued before a revoke_user was revoked"));
             case 3: return done(Error(ErrorCode::TokenInvalid, "token: expired"));
             case 4: return done(Error(ErrorCode::TokenInvalid, "token: not yet valid (nbf)"));
             default: return done(Error(ErrorCode::Protocol, "tokens: unexpected check status " + std::to_string(status)));
           }
         });
  }

  // The stats index is in its own slot ({stats}), so it is updated by a second script sent right
  // behind the first on the same pipeline: same round trip, cluster-safe, and a lost update only
  // makes stats() undercount until that entry would have expired anyway. Its reply is not awaited.
  void index(const std::string& index_key, std::string member, const std::string& exp_ms, int64_t extra_ms,
             int64_t lifetime_ms) {
    eval(tokens_lua::stats_add, {index_key},
         {now_arg(), std::move(member), exp_ms, std::to_string(extra_ms), std::to_string(lifetime_ms)},
         [](Result<Reply>) {});
  }

  void revoke(const Value& args, Callback<Value>& done) {
    const std::string_view raw = token_arg(args);
    const jwt::Decoded d = decode_token(raw, /*trusted_use=*/false);
    const std::string tag = tag_of(d);
    const std::string id = entry_id(d, raw);
    const std::string exp = ms_arg(d.exp_ms);
    std::vector<std::string> argv{now_arg(), exp, std::to_string(config_.leeway_ms),
                                  std::to_string(config_.max_lifetime_ms)};
    eval(tokens_lua::revoke, {prefix_ + ":tokens:{" + tag + "}:" + id}, argv,
         [done = std::move(done)](Result<Reply> r) mutable {
           if (!r.ok()) return done(r.error());
           try {
             const int64_t expires_at = r.value().at(1).as_integer();
             done(Value{{"added", r.value().at(0).as_integer() == 1},
                        {"expires_at_ms", expires_at > 0 ? Value(expires_at) : Value()}});
           } catch (const Error& e) {
             done(e);
           }
         });
    index(denylist_index_key(prefix_), "{" + tag + "}:" + id, exp, config_.leeway_ms, config_.max_lifetime_ms);
  }

  void revoke_user(const Value& args, Callback<Value>& done) {
    const std::string tag = user_tag(user_arg(args, "sub"));
    std::string reason;
    if (const Value* v = member(args, "reason")) {
      if (!v->is_string()) throw invalid_argument("reason", "must be a string");
      reason = cut_utf8(v->get<std::string>(), config_.max_reason_bytes);
    }
    const int64_t keep_ms = config_.max_lifetime_ms + config_.leeway_ms;
    std::vector<std::string> argv{now_arg(), reason, std::to_string(keep_ms), std::to_string(config_.audit_limit)};
    eval(tokens_lua::revoke_user, {user_record_key(prefix_, tag), audit_key(prefix_, tag)}, argv,
         [done = std::move(done)](Result<Reply> r) mutable {
           if (!r.ok()) return done(r.error());
           try {
             done(Value{{"revoked_before_ms", r.value().at(0).as_integer()},
                        {"expires_at_ms", r.value().at(1).as_integer()}});
           } catch (const Error& e) {
             done(e);
           }
         });
    index(users_index_key(prefix_), "{" + tag + "}", "", 0, keep_ms);
  }

  void audit(const Value& args, Callback<Value>& done) {
    const std::string tag = user_tag(user_arg(args, "sub"));
    eval(tokens_lua::audit, {user_record_key(prefix_, tag), audit_key(prefix_, tag)}, {},
         [done = std::move(done)](Result<Reply> r) mutable {
           if (!r.ok()) return done(r.error());
           try {
             const Reply& before = r.value().at(0);
             Value entries = Value::array();
             for (const Reply& e : r.value().at(1).as_array()) {
               const std::string_view s = e.as_string();
               const size_t colon = s.find(':');
               if (colon == std::string_view::npos) continue;
               entries.push_back(Value{{"at_ms", std::stoll(std::string(s.substr(0, colon)))},
                                       {"reason", std::string(s.substr(colon + 1))}});
             }
             Value out{{"revoked_before_ms", before.is_nil() ? Value() : Value(std::stoll(std::string(before.as_string())))},
                       {"entries", std::move(entries)}};
             done(std::move(out));
           } catch (const Error& e) {
             done(e);
           } catch (const std::exception&) {
             done(Error(ErrorCode::Protocol, "tokens: unreadable audit record"));
           }
         });
  }

  void stats(Callback<Value>& done) {
    eval(tokens_lua::stats, {denylist_index_key(prefix_), users_index_key(prefix_)}, {now_arg()},
         [done = std::move(done)](Result<Reply> r) mutable {
           if (!r.ok()) return done(r.error());
           try {
             done(Value{{"denylisted", r.value().at(0).as_integer()}, {"users_revoked", r.value().at(1).as_integer()}});
           } catch (const Error& e) {
             done(e);
           }
         });
  }

  void decode(const Value& args, Callback<Value>& done) {
    jwt::Decoded d = jwt::decode(token_arg(args));
    done(Value{{"header", std::move(d.header)}, {"claims", std::move(d.claims)}});
  }

  std::shared_ptr<Backend> backend_;
  TokensConfig config_;
  std::string prefix_;
};

// ---- token versions ---------------------------------------------------------------------------

// Joins the user's counter and the epoch, read by two commands sent back to back (different slots,
// one round trip). Replies may arrive on a core thread; the last one settles.
struct VersionRead {
  std::mutex mu;
  int pending = 2;
  std::optional<Error> error;
  Reply counter, epoch;
  std::function<void(Result<std::pair<Reply, Reply>>)> done;

  void settle_one() {
    // Called with mu held by the caller's lock; fires once both replies are in.
    if (--pending > 0) return;
    auto cb = std::move(done);
    if (error) cb(*error);
    else cb(std::make_pair(std::move(counter), std::move(epoch)));
  }
};

std::optional<int64_t> parse_counter(const Reply& r) {
  if (r.is_nil()) return std::nullopt;
  if (r.is_integer()) return r.as_integer();
  const std::string s(r.as_string());
  size_t pos = 0;
  int64_t v = 0;
  try {
    v = std::stoll(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos != s.size() || s.empty() || v < 0) throw Error(ErrorCode::Protocol, "token_versions: stored value is not a counter");
  return v;
}

class TokenVersionsPrimitive final : public Primitive {
 public:
  TokenVersionsPrimitive(std::shared_ptr<Backend> backend, TokenVersionsConfig config)
      : backend_(std::move(backend)), config_(config), prefix_(backend_->prefix()),
        bump_(tokens_lua::bump), prime_(tokens_lua::prime) {}

  void call(std::string_view op, Value args, Callback<Value> done) override {
    try {
      if (!args.is_object()) {
        if (!args.is_null()) throw invalid_argument("args", "must be an object");
        args = Value::object();
      }
      if (op == "get") return get(args, done, std::nullopt);
      if (op == "verify") return get(args, done, version_arg(args));
      if (op == "bump") return bump(args, done);
      if (op == "bump_all") return bump_all(done);
      if (op == "prime") return prime(args, done);
      throw invalid_argument("op", "unknown token_versions op '" + std::string(op.substr(0, 64)) + "'");
    } catch (const Error& e) {
      if (done) done(e);
    }
  }

 private:
  static int64_t version_arg(const Value& args) {
    const Value* v = member(args, "version");
    if (v == nullptr || !v->is_number_integer()) throw invalid_argument("version", "must be an integer");
    return v->get<int64_t>();
  }

  // Reads counter + epoch; `then` gets (counter or nullopt, epoch).
  void read(const std::string& user_key, std::function<void(Result<std::pair<std::optional<int64_t>, int64_t>>)> then) {
    auto st = std::make_shared<VersionRead>();
    st->done = [then = std::move(then)](Result<std::pair<Reply, Reply>> r) {
      if (!r.ok()) return then(r.error());
      try {
        const auto counter = parse_counter(r.value().first);
        const auto epoch = parse_counter(r.value().second);
        then(std::make_pair(counter, epoch.value_or(0)));
      } catch (const Error& e) {
        then(e);
      }
    };
    const std::string ek = epoch_key(prefix_);
    auto on = [st](bool first) {
      return [st, first](Result<Reply> r) {
        std::lock_guard<std::mutex> lock(st->mu);
        if (!r.ok()) {
          if (!st->error) st->error = r.error();
        } else if (first) {
          st->counter = std::move(r.value());
        } else {
          st->epoch = std::move(r.value());
        }
        st->settle_one();
      };
    };
    backend_->command({"GET", user_key}, on(true));
    backend_->command({"GET", ek}, on(false));
  }

  // get: {version, counter, epoch, found}; verify (expected set): the same plus valid.
  void get(const Value& args, Callback<Value>& done, std::optional<int64_t> expected) {
    const std::string key = version_key(prefix_, user_tag(user_arg(args, "user")));
    const FailurePolicy policy = config_.on_error;
    read(key, [done = std::move(done), expected, policy](Result<std::pair<std::optional<int64_t>, int64_t>> r) {
      if (!r.ok()) {
        if (expected && policy == FailurePolicy::Closed && store_failure(r.error())) {
          return done(Value{{"valid", false}, {"found", false}, {"degraded", true}});
        }
        return done(r.error());
      }
      const int64_t counter = r.value().first.value_or(0);
      const int64_t epoch = r.value().second;
      const int64_t version = compose_version(epoch, counter);
      Value out{{"version", version}, {"counter", counter}, {"epoch", epoch}, {"found", r.value().first.has_value()}};
      if (expected) out["valid"] = *expected == version;
      done(std::move(out));
    });
  }

  // bump {user, base?, need_load?} -> {version, counter, epoch, found}; found=false (nothing
  // changed) when need_load and the store has no value: the caller loads and retries with base.
  void bump(const Value& args, Callback<Value>& done) {
    const std::string key = version_key(prefix_, user_tag(user_arg(args, "user")));
    std::string base;
    if (const Value* b = member(args, "base")) {
      if (!b->is_number_integer() || b->get<int64_t>() < 0 || b->get<int64_t>() >= (int64_t{1} << 32) - 1) {
        throw invalid_argument("base", "must be an integer in [0, 2^32 - 1)");
      }
      base = std::to_string(b->get<int64_t>());
    }
    const Value* nl = member(args, "need_load");
    if (nl != nullptr && !nl->is_boolean()) throw invalid_argument("need_load", "must be a boolean");
    const bool need_load = nl != nullptr && nl->get<bool>();
    counter_then_epoch(bump_, key, {base, need_load ? "1" : "0"}, std::move(done));
  }

  // prime {user, counter} -> {version, ...}: stores a value loaded from the database (kept
  // cache_ttl_ms) unless one is already there, and answers with what is stored.
  void prime(const Value& args, Callback<Value>& done) {
    const std::string key = version_key(prefix_, user_tag(user_arg(args, "user")));
    const Value* c = member(args, "counter");
    if (c == nullptr || !c->is_number_integer() || c->get<int64_t>() < 0 || c->get<int64_t>() >= (int64_t{1} << 32)) {
      throw invalid_argument("counter", "must be an integer in [0, 2^32)");
    }
    counter_then_epoch(prime_, key, {std::to_string(c->get<int64_t>()), std::to_string(config_.cache_ttl_ms)},
                       std::move(done));
  }

  // Runs a counter script and reads the epoch in the same round trip.
  void counter_then_epoch(const Script& s, const std::string& key, std::vector<std::string> argv, Callback<Value> done) {
    auto st = std::make_shared<VersionRead>();
    st->done = [done = std::move(done)](Result<std::pair<Reply, Reply>> r) {
      if (!r.ok()) return done(r.error());
      try {
        const auto counter = parse_counter(r.value().first);
        const int64_t epoch = parse_counter(r.value().second).value_or(0);
        if (!counter) return done(Value{{"found", false}, {"epoch", epoch}});
        if (*counter >= (int64_t{1} << 32)) return done(Error(ErrorCode::Internal, "token_versions: counter past 2^32"));
        done(Value{{"version", compose_version(epoch, *counter)}, {"counter", *counter}, {"epoch", epoch}, {"found", true}});
      } catch (const Error& e) {
        done(e);
      }
    };
    auto on = [st](bool first) {
      return [st, first](Result<Reply> r) {
        std::lock_guard<std::mutex> lock(st->mu);
        if (!r.ok()) {
          if (!st->error) st->error = r.error();
        } else if (first) {
          st->counter = std::move(r.value());
        } else {
          st->epoch = std::move(r.value());
        }
        st->settle_one();
      };
    };
    const std::string k = key;
    const std::string_view keys[1] = {k};
    const auto a = views(argv);
    backend_->eval(s, ArgList(keys, 1), ArgList(a), on(true));
    backend_->command({"GET", epoch_key(prefix_)}, on(false));
  }

  void bump_all(Callback<Value>& done) {
    backend_->command({"INCR", epoch_key(prefix_)}, [done = std::move(done)](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      try {
        done(Value{{"epoch", r.value().as_integer()}});
      } catch (const Error& e) {
        done(e);
      }
    });
  }

  std::shared_ptr<Backend> backend_;
  TokenVersionsConfig config_;
  std::string prefix_;
  Script bump_, prime_;
};

}  // namespace

// ---- config and keys --------------------------------------------------------------------------

TokensConfig TokensConfig::parse(const Value& cfg) {
  TokensConfig c;
  constexpr int64_t kYearMs = 366LL * 24 * 3600 * 1000;
  c.max_lifetime_ms = int_option(cfg, "max_lifetime_ms", c.max_lifetime_ms, 1000, 10 * kYearMs, true);
  c.leeway_ms = int_option(cfg, "leeway_ms", c.leeway_ms, 0, 24LL * 3600 * 1000, true);
  c.audit_limit = int_option(cfg, "audit_limit", c.audit_limit, 0, 1000);
  c.on_error = policy_option(cfg);
  if (const Value* k = member(cfg, "verify_key")) {
    if (k->is_string()) {
      c.verify_key = jwt::VerifyKey::parse(k->get_ref<const std::string&>());
    } else if (k->is_binary()) {
      const auto& b = k->get_binary();
      c.verify_key = jwt::VerifyKey::parse(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    } else {
      throw invalid_argument("verify_key", "must be a string or bytes");
    }
  }
  if (const Value* a = member(cfg, "algorithms")) {
    if (!a->is_array()) throw invalid_argument("algorithms", "must be a list of strings");
    static const char* kKnown[] = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"};
    for (const Value& item : *a) {
      if (!item.is_string()) throw invalid_argument("algorithms", "must be a list of strings");
      const auto& name = item.get_ref<const std::string&>();
      bool known = false;
      for (const char* k : kKnown) known = known || name == k;
      if (!known) throw invalid_argument("algorithms", "unsupported algorithm '" + name.substr(0, 32) + "'");
      c.algorithms.push_back(name);
    }
    if (c.algorithms.empty()) throw invalid_argument("algorithms", "must not be empty");
    if (!c.verify_key) throw invalid_argument("algorithms", "needs verify_key");
  }
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    static const char* kNames[] = {"max_lifetime_ms", "leeway_ms", "audit_limit", "on_error", "verify_key", "algorithms"};
    bool known = false;
    for (const char* n : kNames) known = known || it.key() == n;
    if (!known) throw invalid_argument(it.key().substr(0, 64), "unknown tokens option");
  }
  return c;
}

TokenVersionsConfig TokenVersionsConfig::parse(const Value& cfg) {
  TokenVersionsConfig c;
  c.on_error = policy_option(cfg);
  c.cache_ttl_ms = int_option(cfg, "cache_ttl_ms", c.cache_ttl_ms, 0, 366LL * 24 * 3600 * 1000, true);
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    if (it.key() != "on_error" && it.key() != "cache_ttl_ms") {
      throw invalid_argument(it.key().substr(0, 64), "unknown token_versions option");
    }
  }
  return c;
}

std::string user_tag(std::string_view user_id) {
  if (readable_id(user_id)) return "u:" + std::string(user_id);
  return "uh:" + jwt::sha256_hex(user_id);
}

std::string entry_id(const jwt::Decoded& token, std::string_view raw_token) {
  if (token.jti) {
    if (readable_id(*token.jti)) return "jti:" + *token.jti;
    return "jtih:" + jwt::sha256_hex(*token.jti);
  }
  return "tok:" + jwt::sha256_hex(raw_token);
}

std::string entry_key(std::string_view prefix, const jwt::Decoded& token, std::string_view raw_token) {
  const std::string tag = token.sub ? user_tag(*token.sub) : std::string("nosub");
  return std::string(prefix) + ":tokens:{" + tag + "}:" + entry_id(token, raw_token);
}
std::string user_record_key(std::string_view prefix, std::string_view tag) {
  return std::string(prefix) + ":tokens:{" + std::string(tag) + "}:user";
}
std::string audit_key(std::string_view prefix, std::string_view tag) {
  return std::string(prefix) + ":tokens:{" + std::string(tag) + "}:audit";
}
std::string denylist_index_key(std::string_view prefix) { return std::string(prefix) + ":tokens:{stats}:denylist"; }
std::string users_index_key(std::string_view prefix) { return std::string(prefix) + ":tokens:{stats}:users"; }
std::string version_key(std::string_view prefix, std::string_view tag) {
  return std::string(prefix) + ":token_versions:{" + std::string(tag) + "}";
}
std::string epoch_key(std::string_view prefix) { return std::string(prefix) + ":token_versions:{epoch}"; }

}  // namespace tokens

std::shared_ptr<Primitive> make_tokens(std::shared_ptr<Backend> backend, const Value& config) {
  return std::make_shared<tokens::TokensPrimitive>(std::move(backend), tokens::TokensConfig::parse(config));
}

std::shared_ptr<Primitive> make_token_versions(std::shared_ptr<Backend> backend, const Value& config) {
  return std::make_shared<tokens::TokenVersionsPrimitive>(std::move(backend), tokens::TokenVersionsConfig::parse(config));
}

}  // namespace redkeeper
