// The "otp" primitive (one-time codes): CSPRNG codes without modulo bias, stored only as
// HMAC-SHA256 under a server-side secret; issue and verify are one atomic script each (scripts/*.lua).
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
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

namespace otp_lua {
// Defined in the build dir's embedded_lua.cpp, generated from scripts/*.lua by core/CMakeLists.txt.
extern const char issue[];
extern const char verify[];
}  // namespace otp_lua

namespace {

const Script& issue_script() {
  static const Script s(otp_lua::issue);
  return s;
}
const Script& verify_script() {
  static const Script s(otp_lua::verify);
  return s;
}

constexpr int64_t kMaxDurationMs = 366LL * 24 * 3600 * 1000;
constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxSubjectBytes = 512;
constexpr size_t kMaxCodeBytes = 64;
constexpr size_t kMinSecretBytes = 16;
constexpr size_t kMaxSecretBytes = 1024;
constexpr int kMinDigits = 4;
constexpr int kMaxDigits = 10;  // 10^10 < 2^64: one 64-bit draw per attempt
constexpr int64_t kMaxAttempts = 1000;

struct OtpConfig {
  std::string name = "default";
  std::string secret;  // empty until resolved (memory default: a random per-backend secret)
  int64_t ttl_ms = 300'000;
  int digits = 6;
  int64_t max_attempts = 5;
  int64_t cooldown_ms = 30'000;
};

// An integer option in [min, max] (absent/null: nullopt); `duration` options also take floats
// (rounded up to whole ms) and duration strings ("15m"), as every primitive's durations do.
std::optional<int64_t> get_int(const Value& obj, const char* field, int64_t min, int64_t max, bool duration) {
  if (duration) return optional_ms(obj, field, min, max);
  const Value* v = member(obj, field);
  if (v == nullptr) return std::nullopt;
  int64_t n = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    n = u > static_cast<uint64_t>(max) ? max + 1 : static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else {
    throw invalid_argument(field, "must be an integer");
  }
  if (n < min) throw invalid_argument(field, "must be >= " + std::to_string(min));
  if (n > max) throw invalid_argument(field, "must be <= " + std::to_string(max));
  return n;
}

std::string get_text(const Value& obj, const char* field, size_t max_bytes) {
  const Value* v = member(obj, field);
  if (v == nullptr || !v->is_string()) throw invalid_argument(field, "must be a string");
  std::string out = v->get<std::string>();
  if (out.empty()) throw invalid_argument(field, "must not be empty");
  if (out.size() > max_bytes) throw invalid_argument(field, "must be at most " + std::to_string(max_bytes) + " bytes");
  return out;
}

// The default secret on memory: random, one per backend (so every handle of one client agrees),
// never leaving the process. Backends are keyed by address and checked for liveness, so a new
// backend at a recycled address gets a fresh secret.
std::string memory_default_secret(const std::shared_ptr<Backend>& backend) {
  static std::mutex mu;
  static std::map<const Backend*, std::pair<std::weak_ptr<Backend>, std::string>> secrets;
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = secrets.begin(); it != secrets.end();) {
    it = it->second.first.expired() ? secrets.erase(it) : std::next(it);
  }
  auto& slot = secrets[backend.get()];
  if (slot.second.empty()) {
    unsigned char bytes[32];
    random_bytes(bytes, sizeof bytes);
    slot = {backend, std::string(reinterpret_cast<const char*>(bytes), sizeof bytes)};
  }
  return slot.second;
}

OtpConfig parse_config(const Value& config, const std::shared_ptr<Backend>& backend) {
  reject_unknown(config, {"name", "secret", "ttl_ms", "digits", "max_attempts", "cooldown_ms"}, "otp option");
  OtpConfig cfg;
  if (member(config, "name") != nullptr) cfg.name = get_text(config, "name", kMaxNameBytes);
  if (const Value* s = member(config, "secret")) {
    if (s->is_string()) {
      cfg.secret = s->get<std::string>();
    } else if (s->is_binary()) {
      cfg.secret.assign(s->get_binary().begin(), s->get_binary().end());
    } else {
      throw invalid_argument("secret", "must be a string or bytes");
    }
    if (cfg.secret.size() < kMinSecretBytes || cfg.secret.size() > kMaxSecretBytes) {
      throw invalid_argument("secret", "must be " + std::to_string(kMinSecretBytes) + " to " +
                                           std::to_string(kMaxSecretBytes) + " bytes");
    }
  } else if (std::string_view(backend->kind()) == "memory") {
    cfg.secret = memory_default_secret(backend);
  } else {
    // Every process sharing the store must hash codes with one secret, or a code issued by one
    // process never verifies in another: a per-process random default would fail silently.
    throw invalid_argument("secret", "is required on Redis (the same secret in every process; 32 random bytes)");
  }
  cfg.ttl_ms = get_int(config, "ttl_ms", 1, kMaxDurationMs, true).value_or(cfg.ttl_ms);
  cfg.digits = static_cast<int>(get_int(config, "digits", kMinDigits, kMaxDigits, false).value_or(cfg.digits));
  cfg.max_attempts = get_int(config, "max_attempts", 1, kMaxAttempts, false).value_or(cfg.max_attempts);
  cfg.cooldown_ms = get_int(config, "cooldown_ms", 0, kMaxDurationMs, true).value_or(cfg.cooldown_ms);
  return cfg;
}

// A uniform code of `digits` decimal digits: 64-bit draws above the largest multiple of 10^digits
// are rejected, so every code is equally likely (plain `% 10^d` would favour the low codes).
std::string random_code(int digits) {
  uint64_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % modulus);  // draws in [limit, 2^64) are biased
  uint64_t draw = 0;
  do {
    unsigned char bytes[8];
    random_bytes(bytes, sizeof bytes);
    std::memcpy(&draw, bytes, sizeof draw);
  } while (draw >= limit);
  std::string code(static_cast<size_t>(digits), '0');
  uint64_t v = draw % modulus;
  for (int i = digits - 1; i >= 0; --i) {
    code[static_cast<size_t>(i)] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return code;
}

void append_u32(std::string& out, size_t n) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
}

// HMAC-SHA256(secret, "rk-otp-v1" || u32(len name) || name || u32(len subject) || subject || code)
// as 64 hex digits. Length prefixes keep (subject, code) pairs from colliding ("ab"+"1" vs "a"+"b1");
// the name keeps namespaces' codes apart.
std::string code_hmac(const OtpConfig& cfg, std::string_view subject, std::string_view code) {
  std::string msg = "rk-otp-v1";
  append_u32(msg, cfg.name.size());
  msg.append(cfg.name);
  append_u32(msg, subject.size());
  msg.append(subject);
  msg.append(code);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), cfg.secret.data(), static_cast<int>(cfg.secret.size()),
           reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &mac_len) == nullptr) {
    throw Error(ErrorCode::Internal, "otp: HMAC failure");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(mac_len) * 2, '0');
  for (unsigned int i = 0; i < mac_len; ++i) {
    out[2 * i] = kHex[mac[i] >> 4];
    out[2 * i + 1] = kHex[mac[i] & 15];
  }
  OPENSSL_cleanse(mac, sizeof mac);
  return out;
}

std::string shorten(std::string_view s) {
  return s.size() <= 100 ? std::string(s) : std::string(s.substr(0, 100)) + "...";
}

class Otp final : public Primitive {
 public:
  Otp(std::shared_ptr<Backend> backend, OtpConfig cfg) : backend_(std::move(backend)), cfg_(std::move(cfg)) {
    key_prefix_.append(backend_->prefix()).append(":otp:").append(cfg_.name).append(":{");
  }
  ~Otp() override { OPENSSL_cleanse(cfg_.secret.data(), cfg_.secret.size()); }

  void call(std::string_view op, Value args, Callback<Value> done) override {
    try {
      if (args.is_null()) args = Value::object();
      if (!args.is_object()) throw invalid_argument("args", "must be an object");
      if (op == "issue") return op_issue(args, done);
      if (op == "verify") return op_verify(args, done);
      if (op == "revoke") return op_revoke(args, done);
      throw invalid_argument("op", "unknown otp op '" + shorten(op) + "'");
    } catch (const Error& e) {
      // Argument checks throw before `done` moves into a backend call, so it is still ours here.
      if (done) done(e);
    }
  }

 private:
  // `{prefix}:otp:{name}:{<subject>}`: one hash per subject (code HMAC, failures, issue ttl).
  std::string record_key(const std::string& subject) const {
    std::string out = key_prefix_;
    out.append(subject).push_back('}');
    return out;
  }

  void op_issue(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"subject", "ttl_ms", "digits", "code"}, "issue argument");
    const std::string subject = get_text(args, "subject", kMaxSubjectBytes);
    const int64_t ttl_ms = get_int(args, "ttl_ms", 1, kMaxDurationMs, true).value_or(cfg_.ttl_ms);
    const int digits = static_cast<int>(get_int(args, "digits", kMinDigits, kMaxDigits, false).value_or(cfg_.digits));
    std::string code = member(args, "code") ? get_text(args, "code", kMaxCodeBytes) : random_code(digits);
    const std::string hmac = code_hmac(cfg_, subject, code);
    const std::string ttl = std::to_string(ttl_ms);
    const std::string cooldown = std::to_string(cfg_.cooldown_ms);
    const std::string max_attempts = std::to_string(cfg_.max_attempts);
    backend_->eval(issue_script(), {record_key(subject)}, {hmac, ttl, cooldown, max_attempts},
                   [code = std::move(code), ttl_ms, done = std::move(done)](Result<Reply> r) mutable {
                     if (!r.ok()) return done(r.error());
                     Result<Value> out = Value();
                     try {
                       const Reply& reply = r.value();
                       const bool issued = reply.at(0).as_integer() == 1;
                       const std::string reason(reply.at(1).as_string());
                       const int64_t retry_after_ms = std::max<int64_t>(reply.at(2).as_integer(), 0);
                       out = Value{{"issued", issued},
                                   {"reason", reason},
                                   {"code", issued ? Value(code) : Value()},
                                   {"ttl_ms", issued ? Value(ttl_ms) : Value()},
                                   {"retry_after_ms", retry_after_ms}};
                     } catch (const Error& e) {
                       out = e;
                     }
                     OPENSSL_cleanse(code.data(), code.size());
                     done(std::move(out));
                   });
  }

  void op_verify(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"subject", "code"}, "verify argument");
    const std::string subject = get_text(args, "subject", kMaxSubjectBytes);
    const std::string hmac = code_hmac(cfg_, subject, get_text(args, "code", kMaxCodeBytes));
    const std::string max_attempts = std::to_string(cfg_.max_attempts);
    backend_->eval(verify_script(), {record_key(subject)}, {hmac, max_attempts},
                   [done = std::move(done)](Result<Reply> r) {
                     if (!r.ok()) return done(r.error());
                     Result<Value> out = Value();
                     try {
                       const Reply& reply = r.value();
                       out = Value{{"ok", reply.at(0).as_integer() == 1},
                                   {"reason", std::string(reply.at(1).as_string())},
                                   {"attempts_left", std::max<int64_t>(reply.at(2).as_integer(), 0)},
                                   {"retry_after_ms", std::max<int64_t>(reply.at(3).as_integer(), 0)}};
                     } catch (const Error& e) {
                       out = e;
                     }
                     done(std::move(out));
                   });
  }

  // Withdraws the subject's code (and its lockout and cooldown) at once: one DEL.
  void op_revoke(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"subject"}, "revoke argument");
    const std::string key = record_key(get_text(args, "subject", kMaxSubjectBytes));
    backend_->command({"DEL", key}, [done = std::move(done)](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      if (!r.value().is_integer()) {
        return done(Error(ErrorCode::Protocol, "otp revoke: unexpected reply " + r.value().debug_string()));
      }
      done(Value{{"revoked", r.value().as_integer() > 0}});
    });
  }

  std::shared_ptr<Backend> backend_;
  OtpConfig cfg_;
  std::string key_prefix_;
};

}  // namespace

std::shared_ptr<Primitive> make_otp(std::shared_ptr<Backend> backend, const Value& config) {
  OtpConfig cfg = parse_config(config, backend);
  return std::make_shared<Otp>(std::move(backend), std::move(cfg));
}

}  // namespace redkeeper
