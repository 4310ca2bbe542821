// Typed errors shared by every backend and primitive. Bindings map ErrorCode to host-language
// errors in exactly one place each (bindings/python/errors.cpp, bindings/node/errors.cpp).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace redkeeper {

enum class ErrorCode {
  InvalidArgument,  // bad input from the caller; message names the parameter
  Connection,       // store unreachable, connection lost, auth/select refused
  Timeout,          // the op's deadline passed before a reply
  QueueFull,        // too many ops waiting while disconnected (back-pressure)
  Protocol,         // malformed reply, garbage from the server
  Script,           // a Lua script or command returned an error
  Closed,           // the client was closed
  Internal,         // a bug in redkeeper: never expected
  // Primitive-specific outcomes that are errors for the caller.
  TokenMalformed,   // not a decodable JWT (parts, base64url, JSON, claim types, size)
  TokenInvalid,     // signature/algorithm check failed (alg none, confusion, bad signature, expired)
  TokenRevoked,     // check(): the token is denylisted or its user was revoked after it was issued
  LockNotAcquired,  // acquire gave up (wait elapsed) or the store could not be asked
  LockLost,         // the lock expired or was taken over while its holder still used it
  LockNotOwner,     // release/extend by someone who does not hold the lock
  LoaderFailed,     // cache get_or_set: the loader of another caller/process failed
};

// Stable names used by the bindings: Node `err.code`, Python exception class lookup.
inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "ERR_RK_INVALID_ARGUMENT";
    case ErrorCode::Connection: return "ERR_RK_CONNECTION";
    case ErrorCode::Timeout: return "ERR_RK_TIMEOUT";
    case ErrorCode::QueueFull: return "ERR_RK_QUEUE_FULL";
    case ErrorCode::Protocol: return "ERR_RK_PROTOCOL";
    case ErrorCode::Script: return "ERR_RK_SCRIPT";
    case ErrorCode::Closed: return "ERR_RK_CLOSED";
    case ErrorCode::Internal: return "ERR_RK_INTERNAL";
    case ErrorCode::TokenMalformed: return "ERR_RK_TOKEN_MALFORMED";
    case ErrorCode::TokenInvalid: return "ERR_RK_TOKEN_INVALID";
    case ErrorCode::TokenRevoked: return "ERR_RK_TOKEN_REVOKED";
    case ErrorCode::LockNotAcquired: return "ERR_RK_LOCK_NOT_ACQUIRED";
    case ErrorCode::LockLost: return "ERR_RK_LOCK_LOST";
    case ErrorCode::LockNotOwner: return "ERR_RK_LOCK_NOT_OWNER";
    case ErrorCode::LoaderFailed: return "ERR_RK_LOADER_FAILED";
  }
  return "ERR_RK_INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

inline Error invalid_argument(const std::string& param, const std::string& why) {
  return Error(ErrorCode::InvalidArgument, param + ": " + why);
}

struct Unit {};

// What a primitive does when the store cannot answer: answer anyway (limiter: allow, with
// degraded=true; token checks: report revoked) or raise the store's error.
enum class FailurePolicy { Open, Closed, Raise };

// The outcome of an asynchronous op: a value or an Error. Never both, never neither.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)
  bool ok() const noexcept { return v_.index() == 0; }
  const T& value() const { return std::get<0>(v_); }
  T& value() { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace redkeeper
