// The "idempotency" primitive: begin/complete/abandon/extend over one hash per key (scripts/*.lua),
// one script per op. Responses are stored as CBOR so bytes survive; both backends run the same scripts.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/args.hpp"
#include "common/factories.hpp"
#include "common/random.hpp"
#include "redkeeper/limiter.hpp"  // parse_duration_ms

namespace redkeeper {

namespace idempotency_lua {
// Defined in the build dir's embedded_lua.cpp, generated from scripts/*.lua by core/CMakeLists.txt.
extern const char begin[];
extern const char complete[];
extern const char abandon[];
extern const char extend[];
}  // namespace idempotency_lua

namespace {

const Script& begin_script() {
  static const Script s(idempotency_lua::begin);
  return s;
}
const Script& complete_script() {
  static const Script s(idempotency_lua::complete);
  return s;
}
const Script& abandon_script() {
  static const Script s(idempotency_lua::abandon);
  return s;
}
const Script& extend_script() {
  static const Script s(idempotency_lua::extend);
  return s;
}

constexpr int64_t kMaxDurationMs = 366LL * 24 * 3600 * 1000;
constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxKeyBytes = 512;          // Stripe allows 255; room for a caller's scope prefix
constexpr size_t kMaxFingerprintBytes = 1024;
constexpr size_t kDefaultMaxResponseBytes = 1 << 20;
constexpr size_t kMaxMaxResponseBytes = 64 << 20;
constexpr size_t kTokenHexChars = 32;

struct IdempotencyConfig {
  std::string name = "default";
  int64_t ttl_ms = 24LL * 3600 * 1000;  // how long a completed response is kept
  int64_t lock_ttl_ms = 60'000;         // how long an in-progress marker lives without complete/extend
  size_t max_response_bytes = kDefaultMaxResponseBytes;
};

// A bounded string argument (the idempotency key, the owner token...). Bytes are accepted where
// `allow_bytes` (fingerprints may be raw digests).
std::string get_text(const Value& obj, const char* field, size_t max_bytes, bool allow_bytes = false) {
  const Value* v = member(obj, field);
  std::string out;
  if (v != nullptr && v->is_string()) {
    out = v->get<std::string>();
  } else if (v != nullptr && allow_bytes && v->is_binary()) {
    out.assign(v->get_binary().begin(), v->get_binary().end());
  } else {
    throw invalid_argument(field, allow_bytes ? "must be a string or bytes" : "must be a string");
  }
  if (out.size() > max_bytes) {
    throw invalid_argument(field, "must be at most " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

IdempotencyConfig parse_config(const Value& config) {
  reject_unknown(config, {"name", "ttl_ms", "lock_ttl_ms", "max_response_bytes"}, "idempotency option");
  IdempotencyConfig cfg;
  if (member(config, "name") != nullptr) {
    cfg.name = get_text(config, "name", kMaxNameBytes);
    if (cfg.name.empty()) throw invalid_argument("name", "must not be empty");
  }
  cfg.ttl_ms = optional_ms(config, "ttl_ms", 1, kMaxDurationMs).value_or(cfg.ttl_ms);
  cfg.lock_ttl_ms = optional_ms(config, "lock_ttl_ms", 1, kMaxDurationMs).value_or(cfg.lock_ttl_ms);
  if (const Value* v = member(config, "max_response_bytes")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 1 ||
        v->get<int64_t>() > static_cast<int64_t>(kMaxMaxResponseBytes)) {
      throw invalid_argument("max_response_bytes",
                             "must be an integer from 1 to " + std::to_string(kMaxMaxResponseBytes));
    }
    cfg.max_response_bytes = static_cast<size_t>(v->get<int64_t>());
  }
  return cfg;
}

// 128 bits from the OS CSPRNG as hex: only the request that claimed a key can complete or abandon it.
std::string random_token() { return random_hex(kTokenHexChars / 2); }

std::string shorten(std::string_view s) {
  return s.size() <= 100 ? std::string(s) : std::string(s.substr(0, 100)) + "...";
}

class Idempotency final : public Primitive {
 public:
  Idempotency(std::shared_ptr<Backend> backend, IdempotencyConfig cfg)
      : backend_(std::move(backend)), cfg_(std::move(cfg)) {
    key_prefix_.append(backend_->prefix()).append(":idempotency:").append(cfg_.name).append(":{");
  }

  void call(std::string_view op, Value args, Callback<Value> done) override {
    try {
      if (args.is_null()) args = Value::object();
      if (!args.is_object()) throw invalid_argument("args", "must be an object");
      if (op == "begin") return op_begin(args, done);
      if (op == "complete") return op_complete(args, done);
      if (op == "abandon") return op_abandon(args, done);
      if (op == "extend") return op_extend(args, done);
      throw invalid_argument("op", "unknown idempotency op '" + shorten(op) + "'");
    } catch (const Error& e) {
      // Argument checks throw before `done` moves into a backend call, so it is still ours here.
      if (done) done(e);
    }
  }

 private:
  // `{prefix}:idempotency:{name}:{<key>}`: one hash per key, so no op spans two keys.
  std::string record_key(const Value& args) const {
    const std::string key = get_text(args, "key", kMaxKeyBytes);
    if (key.empty()) throw invalid_argument("key", "must not be empty");
    std::string out = key_prefix_;
    out.append(key).push_back('}');
    return out;
  }

  static std::string token_arg(const Value& args) {
    std::string token = get_text(args, "token", 256);
    if (token.empty()) throw invalid_argument("token", "must not be empty");
    return token;
  }

  void op_begin(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"key", "fingerprint", "lock_ttl_ms"}, "begin argument");
    const std::string key = record_key(args);
    const std::string fingerprint =
        member(args, "fingerprint") ? get_text(args, "fingerprint", kMaxFingerprintBytes, true) : std::string();
    const int64_t lock_ttl_ms = optional_ms(args, "lock_ttl_ms", 1, kMaxDurationMs).value_or(cfg_.lock_ttl_ms);
    const std::string token = random_token();
    const std::string ttl = std::to_string(lock_ttl_ms);
    backend_->eval(begin_script(), {key}, {fingerprint, token, ttl},
                   [token, lock_ttl_ms, done = std::move(done)](Result<Reply> r) {
                     if (!r.ok()) return done(r.error());
                     Result<Value> out = Value();
                     try {
                       out = begin_result(r.value(), token, lock_ttl_ms);
                     } catch (const Error& e) {
                       out = e;
                     }
                     done(std::move(out));
                   });
  }

  static Value begin_result(const Reply& reply, const std::string& token, int64_t lock_ttl_ms) {
    const std::string_view status = reply.at(0).as_string();
    if (status == "new") {
      return Value{{"status", "new"}, {"token", token}, {"lock_ttl_ms", lock_ttl_ms}};
    }
    if (status == "in_progress") {
      const int64_t pttl = reply.at(1).as_integer();
      return Value{{"status", "in_progress"}, {"retry_after_ms", std::max<int64_t>(pttl, 0)}};
    }
    if (status == "completed") {
      const std::string_view stored = reply.at(1).as_string();
      Value response;
      try {
        response = Value::from_cbor(stored.begin(), stored.end());
      } catch (const std::exception&) {
        throw Error(ErrorCode::Protocol, "idempotency: the stored response is not valid CBOR");
      }
      return Value{{"status", "completed"}, {"response", std::move(response)}};
    }
    if (status == "mismatch") return Value{{"status", "mismatch"}};
    throw Error(ErrorCode::Protocol, "idempotency: unexpected begin reply " + reply.debug_string());
  }

  void op_complete(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"key", "token", "response", "ttl_ms"}, "complete argument");
    const std::string key = record_key(args);
    const std::string token = token_arg(args);
    const int64_t ttl_ms = optional_ms(args, "ttl_ms", 1, kMaxDurationMs).value_or(cfg_.ttl_ms);
    auto it = args.find("response");
    const Value response = it == args.end() ? Value() : *it;
    std::vector<uint8_t> cbor;
    try {
      cbor = Value::to_cbor(response);
    } catch (const std::exception& e) {
      throw invalid_argument("response", std::string("cannot be stored: ") + e.what());
    }
    if (cbor.size() > cfg_.max_response_bytes) {
      throw invalid_argument("response", "is " + std::to_string(cbor.size()) + " bytes encoded, over max_response_bytes (" +
                                             std::to_string(cfg_.max_response_bytes) + ")");
    }
    const std::string_view encoded(reinterpret_cast<const char*>(cbor.data()), cbor.size());
    const std::string ttl = std::to_string(ttl_ms);
    backend_->eval(complete_script(), {key}, {token, encoded, ttl},
                   owner_reply("complete", std::move(done), [](int64_t) { return Value{{"completed", true}}; }));
  }

  void op_abandon(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"key", "token"}, "abandon argument");
    const std::string key = record_key(args);
    const std::string token = token_arg(args);
    backend_->eval(abandon_script(), {key}, {token},
                   owner_reply("abandon", std::move(done), [](int64_t code) {
                     return Value{{"abandoned", code == 1}, {"completed", code == 2}};
                   }, /*missing_is_error=*/false));
  }

  void op_extend(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"key", "token", "lock_ttl_ms"}, "extend argument");
    const std::string key = record_key(args);
    const std::string token = token_arg(args);
    const int64_t lock_ttl_ms = optional_ms(args, "lock_ttl_ms", 1, kMaxDurationMs).value_or(cfg_.lock_ttl_ms);
    const std::string ttl = std::to_string(lock_ttl_ms);
    backend_->eval(extend_script(), {key}, {token, ttl},
                   owner_reply("extend", std::move(done), [](int64_t code) {
                     return Value{{"extended", code == 1}, {"completed", code == 2}};
                   }));
  }

  // The owner-checked ops' replies: 0 -> LockNotOwner, -1 -> LockLost (unless the op treats a
  // vanished marker as done), anything else shaped by `shape`.
  template <class Shape>
  static Callback<Reply> owner_reply(const char* op, Callback<Value> done, Shape shape, bool missing_is_error = true) {
    return [op, missing_is_error, done = std::move(done), shape](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      if (!r.value().is_integer()) {
        return done(Error(ErrorCode::Protocol, std::string("idempotency ") + op + ": unexpected reply " +
                                                   r.value().debug_string()));
      }
      const int64_t code = r.value().as_integer();
      if (code == 0) {
        return done(Error(ErrorCode::LockNotOwner, std::string("idempotency ") + op +
                                                       ": the key is held by another request (token mismatch)"));
      }
      if (code == -1 && missing_is_error) {
        return done(Error(ErrorCode::LockLost, std::string("idempotency ") + op +
                                                   ": the in-progress marker expired (lock_ttl_ms passed)"));
      }
      done(shape(code));
    };
  }

  std::shared_ptr<Backend> backend_;
  const IdempotencyConfig cfg_;
  std::string key_prefix_;
};

}  // namespace

std::shared_ptr<Primitive> make_idempotency(std::shared_ptr<Backend> backend, const Value& config) {
  IdempotencyConfig cfg = parse_config(config);
  return std::make_shared<Idempotency>(std::move(backend), std::move(cfg));
}

}  // namespace redkeeper
