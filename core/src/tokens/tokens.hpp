// The "tokens" (JWT denylist + per-user revoke-all) and "token_versions" primitives: configuration
// and the key layout both share. Ops, keys and rules are documented in core/src/tokens/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokens/jwt.hpp"

namespace redkeeper::tokens {

struct TokensConfig {
  int64_t max_lifetime_ms = 30LL * 24 * 3600 * 1000;  // lifetime assumed for tokens without exp
  int64_t leeway_ms = 0;                              // clock skew allowed on exp / nbf
  std::shared_ptr<const jwt::VerifyKey> verify_key;   // null = decode only
  std::vector<std::string> algorithms;                // allow-list (empty = the key's own)
  FailurePolicy on_error = FailurePolicy::Closed;     // Closed or Raise
  int64_t audit_limit = 20;                           // revoke_user reasons kept per user
  size_t max_reason_bytes = 256;                      // longer reasons are cut (UTF-8 safe)

  // Throws InvalidArgument naming the option. Options: max_lifetime_ms, leeway_ms, verify_key
  // (string or bytes), algorithms (list of strings), on_error ("closed" | "raise"), audit_limit.
  static TokensConfig parse(const Value& config);
};

struct TokenVersionsConfig {
  FailurePolicy on_error = FailurePolicy::Closed;  // verify() on a store failure: false, or raise
  int64_t cache_ttl_ms = 3600 * 1000;              // how long a value primed from the loader stays

  static TokenVersionsConfig parse(const Value& config);
};

// The hash-tag body for a user id: `u:<id>` when the id is 1..128 printable ASCII bytes without
// braces (readable keys), else `uh:<sha256 hex>` (any bytes, any length, still one tag).
std::string user_tag(std::string_view user_id);
// The id part of a denylist entry under its tag: `jti:<jti>` (same rule as user ids), `jtih:<sha256>`,
// or `tok:<sha256 of the whole token>` when there is no jti.
std::string entry_id(const jwt::Decoded& token, std::string_view raw_token);

// Keys. `prefix` is the client's prefix ("rk").
std::string entry_key(std::string_view prefix, const jwt::Decoded& token, std::string_view raw_token);
std::string user_record_key(std::string_view prefix, std::string_view user_tag);
std::string audit_key(std::string_view prefix, std::string_view user_tag);
std::string denylist_index_key(std::string_view prefix);
std::string users_index_key(std::string_view prefix);
std::string version_key(std::string_view prefix, std::string_view user_tag);
std::string epoch_key(std::string_view prefix);

// A token version: the global epoch in the high 32 bits, the user's counter in the low 32.
constexpr int64_t compose_version(int64_t epoch, int64_t counter) { return (epoch << 32) | counter; }

}  // namespace redkeeper::tokens
