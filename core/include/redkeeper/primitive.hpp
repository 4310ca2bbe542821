// Every primitive other than the limiter (tokens, token versions, sessions, cache, locks, idempotency,
// one-time codes) speaks one interface: named ops with JSON arguments and a JSON result. Bindings
// expose it generically (bindings/python/primitive.cpp, bindings/node/primitive_wrap.cpp); the
// Python and Node packages wrap it in typed classes. Logic lives once, here in the core.
#pragma once

#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "redkeeper/error.hpp"
#include "redkeeper/limiter.hpp"  // Callback

namespace redkeeper {

// Arguments and results. Raw bytes (cache values, Buffers) travel as Value::binary_t; bindings map
// them to/from Python bytes and Node Buffer. Integers stay integers (int64), floats stay floats.
using Value = nlohmann::json;

class Primitive {
 public:
  virtual ~Primitive() = default;
  // Runs op `op` with named arguments `args` (a JSON object; absent optional args may be missing or
  // null). `done` runs exactly once: inline on the calling thread (memory backend, or an argument
  // error detected before any I/O), or later on a core thread (Redis replies, waits, timers).
  // Unknown op / bad argument: Error(InvalidArgument) whose message names the parameter.
  // Primitive-specific failures use ErrorCode values added for them (see error.hpp).
  virtual void call(std::string_view op, Value args, Callback<Value> done) = 0;
};

// Kinds accepted by Client::primitive(): "tokens", "token_versions", "sessions", "cache", "lock",
// "idempotency", "otp". `config` is a JSON object of that primitive's options (see its header in
// core/src/<primitive>/). Throws InvalidArgument on an unknown kind or a bad option.

}  // namespace redkeeper
