// RedisLimiter: validates input like MemoryLimiter, sends one EVALSHA per op (keys per the layout
// in common/keys.hpp, both in one hash-tag slot), and maps the reply or the store's failure.
#include "limiter/redis_limiter.hpp"

#include <array>
#include <charconv>
#include <optional>
#include <string>

#include "common/keys.hpp"
#include "limiter/limiter_math.hpp"
#include "redis/engine.hpp"
#include "redis/script.hpp"

namespace redkeeper {

namespace limiter_lua {
// Defined in the build dir's embedded_lua.cpp, generated from scripts/*.lua by core/CMakeLists.txt.
extern const char common[];
extern const char helpers[];
extern const char ops[];
extern const char multi_prelude[];
extern const char multi[];
extern const char fixed_window[];
extern const char fixed_window_hit[];
extern const char sliding_window[];
extern const char sliding_window_hit[];
extern const char sliding_log[];
extern const char token_bucket[];
extern const char gcra[];
}  // namespace limiter_lua

namespace {

std::string to_dec(int64_t v) { return std::to_string(v); }

}  // namespace

// Redis error replies that report a transient server state count as unavailability too.
bool RedisLimiter::store_unavailable(const Error& error) {
  switch (error.code()) {
    case ErrorCode::Connection:
    case ErrorCode::Timeout:
    case ErrorCode::QueueFull:
      return true;
    case ErrorCode::Script: {
      const std::string_view msg = error.what();
      for (std::string_view prefix : {"BUSY", "LOADING", "MASTERDOWN", "READONLY", "OOM", "TRYAGAIN",
                                      "CLUSTERDOWN", "NOREPLICAS"}) {
        if (msg.substr(0, prefix.size()) == prefix &&
            (msg.size() == prefix.size() || msg[prefix.size()] == ' ')) {
          return true;
        }
      }
      return false;
    }
    default:
      return false;
  }
}

namespace {

// The policy's answer when the store cannot answer, or nullopt to deliver the error.
std::optional<LimitResult> policy_result(FailurePolicy policy, int64_t limit) {
  switch (policy) {
    case FailurePolicy::Open: {
      LimiterConfig config;
      config.limit = limit;
      return degraded_result(config);
    }
    case FailurePolicy::Closed: {
      LimitResult denied;  // fail closed: reject, and say the store did not decide
      denied.allowed = false;
      denied.limit = limit;
      denied.degraded = true;
      return denied;
    }
    case FailurePolicy::Raise:
      break;
  }
  return std::nullopt;
}

LimitResult to_limit_result(const Reply& reply, int64_t limit) {
  if (reply.size() != 4) {
    throw Error(ErrorCode::Protocol, "limiter script: expected 4 integers, got " + reply.debug_string());
  }
  LimitResult result;
  result.allowed = reply.at(0).as_integer() != 0;
  result.limit = limit;
  result.remaining = reply.at(1).as_integer();
  result.reset_after_ms = reply.at(2).as_integer();
  result.retry_after_ms = reply.at(3).as_integer();
  return result;
}

template <class T>
void deliver(const Callback<T>& done, Result<T> result) {
  if (done) done(std::move(result));
}

}  // namespace

const Script& RedisLimiter::script_for(Algorithm algorithm) {
  // Built once; Script is immutable and shares its source, so concurrent use is safe.
  static const std::array<Script, 5> scripts = [] {
    // `fast` answers the hot op before helpers.lua: building the helpers' and the algorithm's
    // closures on every call cost about a third of a hit's server time.
    auto make = [](const char* body, const char* fast = "") {
      return Script(std::string(limiter_lua::common) + fast + limiter_lua::helpers + body + limiter_lua::ops);
    };
    return std::array<Script, 5>{make(limiter_lua::fixed_window, limiter_lua::fixed_window_hit),
                                 make(limiter_lua::sliding_window, limiter_lua::sliding_window_hit),
                                 make(limiter_lua::sliding_log),
                                 make(limiter_lua::token_bucket), make(limiter_lua::gcra)};
  }();
  switch (algorithm) {
    case Algorithm::FixedWindow: return scripts[0];
    case Algorithm::SlidingWindow: return scripts[1];
    case Algorithm::SlidingLog: return scripts[2];
    case Algorithm::TokenBucket: return scripts[3];
    case Algorithm::Gcra: return scripts[4];
  }
  throw invalid_argument("algorithm", "unknown algorithm");
}

const Script& RedisLimiter::multi_script() {
  static const Script script = [] {
    // Each algorithm's functions in a table of their own; the upvalues they share (K_STATE, L,
    // W, ...) are pointed at one check at a time by multi.lua.
    std::string source = std::string(limiter_lua::multi_prelude) + limiter_lua::helpers;
    const std::pair<const char*, const char*> algorithms[] = {
        {"fixed_window", limiter_lua::fixed_window}, {"sliding_window", limiter_lua::sliding_window},
        {"sliding_log", limiter_lua::sliding_log},   {"token_bucket", limiter_lua::token_bucket},
        {"gcra", limiter_lua::gcra}};
    for (const auto& [name, body] : algorithms) {
      source.append("ALGORITHMS['").append(name).append("'] = (function()\nlocal A = {}\n");
      source.append(body).append("\nreturn A\nend)()\n");
    }
    return Script(source + limiter_lua::multi);
  }();
  return script;
}

int64_t RedisLimiter::ttl_pad_ms(const ClientOptions& options) {
  if (options.clock && options.clock->is_manual()) {
    return kManualClockTtlPadMs;  // test time jumps; real time between ops must not expire keys
  }
  if (options.clock) return options.command_timeout_ms + 1;  // `now` was read before the op waited in the queue
  return 1;  // the server's expiry clock may trail TIME by under a millisecond
}

RedisLimiter::RedisLimiter(LimiterConfig config, std::shared_ptr<Engine> engine,
                           const ClientOptions& options)
    : Limiter(std::move(config)),
      engine_(std::move(engine)),
      script_(script_for(config_.algorithm)),
      prefix_(options.prefix),
      clock_(options.clock),
      limit_arg_(to_dec(config_.limit)),
      window_arg_(to_dec(config_.window_ms)),
      block_arg_(to_dec(config_.block_duration_ms)),
      pad_arg_(to_dec(ttl_pad_ms(options))) {}

template <class T, class Convert>
void RedisLimiter::run(Op op, std::string_view id, int64_t n, Callback<T> done, Convert convert) {
  static constexpr std::array<std::string_view, 5> kOpNames = {"hit", "peek", "refund", "block", "reset"};
  const std::string state_key = limiter_key(prefix_, config_.name, id);
  const std::string block_key = limiter_block_key(prefix_, config_.name, id);
  char now_buf[24];
  char n_buf[24];
  std::string_view now_arg;  // empty: the script reads TIME
  if (clock_) {
    auto res = std::to_chars(now_buf, now_buf + sizeof now_buf, clock_->now_ms());
    now_arg = std::string_view(now_buf, static_cast<size_t>(res.ptr - now_buf));
  }
  auto res = std::to_chars(n_buf, n_buf + sizeof n_buf, n);
  const std::array<std::string_view, 2> keys = {state_key, block_key};
  const std::array<std::string_view, 7> args = {kOpNames[static_cast<size_t>(op)],
                                                now_arg,
                                                limit_arg_,
                                                window_arg_,
                                                block_arg_,
                                                std::string_view(n_buf, static_cast<size_t>(res.ptr - n_buf)),
                                                pad_arg_};
  engine_->submit_eval(
      script_, keys, args,
      [done = std::move(done), convert = std::move(convert)](Result<Reply> reply) {
        std::optional<Result<T>> result;
        if (reply.ok()) {
          try {
            result.emplace(convert(reply.value()));
          } catch (const Error& error) {
            result.emplace(error);
          } catch (const std::exception& error) {
            result.emplace(Error(ErrorCode::Internal, error.what()));
          }
        } else {
          result.emplace(convert(reply.error()));
        }
        deliver(done, std::move(*result));
      },
      0);
}

namespace {

// Converts a script reply or a store error into a LimitResult outcome (policy applied).
// Holds copies, not the limiter: a callback may run after the limiter is gone.
struct ToLimitResult {
  int64_t limit;
  FailurePolicy on_error;
  Result<LimitResult> operator()(const Reply& reply) const { return to_limit_result(reply, limit); }
  Result<LimitResult> operator()(const Error& error) const {
    if (RedisLimiter::store_unavailable(error)) {
      if (auto answer = policy_result(on_error, limit)) return *answer;
    }
    return error;
  }
};

// reset has nothing to answer on the store's behalf: its failure is always surfaced.
struct ToUnit {
  Result<Unit> operator()(const Reply&) const { return Unit{}; }
  Result<Unit> operator()(const Error& error) const { return error; }
};

// Checks input before anything is sent; a failure is delivered through the callback, like memory.
template <class T, class Check>
bool reject_early(const Callback<T>& done, bool closed, Check&& check) {
  try {
    if (closed) throw Error(ErrorCode::Closed, "client: closed");
    check();
  } catch (const Error& error) {
    deliver(done, Result<T>(error));
    return true;
  }
  return false;
}

}  // namespace

void RedisLimiter::hit(std::string_view key, int64_t cost, Callback<LimitResult> done) {
  if (reject_early(done, engine_->closed(), [&] {
        if (cost < 1 || cost > config_.limit) {
          throw invalid_argument("cost", "must be an integer from 1 to the limit (" +
                                             std::to_string(config_.limit) + ")");
        }
        validate_key(key);
      })) {
    return;
  }
  run(Op::Hit, key, cost, std::move(done), ToLimitResult{config_.limit, config_.on_error});
}

void RedisLimiter::peek(std::string_view key, Callback<LimitResult> done) {
  if (reject_early(done, engine_->closed(), [&] { validate_key(key); })) return;
  run(Op::Peek, key, 0, std::move(done), ToLimitResult{config_.limit, config_.on_error});
}

void RedisLimiter::reset(std::string_view key, Callback<Unit> done) {
  if (reject_early(done, engine_->closed(), [&] { validate_key(key); })) return;
  run(Op::Reset, key, 0, std::move(done), ToUnit{});
}

void RedisLimiter::refund(std::string_view key, int64_t amount, Callback<LimitResult> done) {
  if (reject_early(done, engine_->closed(), [&] {
        if (amount < 1) throw invalid_argument("amount", "must be a positive integer");
        validate_key(key);
      })) {
    return;
  }
  run(Op::Refund, key, amount, std::move(done), ToLimitResult{config_.limit, config_.on_error});
}

void RedisLimiter::block(std::string_view key, int64_t duration_ms, Callback<LimitResult> done) {
  if (reject_early(done, engine_->closed(), [&] {
        if (duration_ms < 1 || duration_ms > limiter_math::kMaxDurationMs) {
          throw invalid_argument("duration", "must be from 1 ms to about ten years");
        }
        validate_key(key);
      })) {
    return;
  }
  run(Op::Block, key, duration_ms, std::move(done), ToLimitResult{config_.limit, config_.on_error});
}

}  // namespace redkeeper
