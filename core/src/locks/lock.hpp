// The "lock" primitive's options and key layout (Client::primitive("lock", config)). Semantics and
// ops are documented in core/src/locks/README.md; the implementation is lock.cpp + scripts/*.lua.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "redkeeper/primitive.hpp"

namespace redkeeper {

struct LockConfig {
  std::string name;                 // required, 1..kMaxLockNameBytes bytes
  int64_t ttl_ms = 30'000;          // lease length; auto-renewal keeps extending it
  int64_t wait_ms = 10'000;         // how long acquire() waits for a held lock (0: try once)
  bool auto_renew = true;           // extend every renew_interval_ms while held
  int64_t renew_interval_ms = 0;    // 0: ttl_ms / 3
};

inline constexpr size_t kMaxLockNameBytes = 1024;
inline constexpr int64_t kMaxLockDurationMs = 30LL * 24 * 3600 * 1000;  // ttl/wait bound: 30 days

// Validates a config object (unknown keys, types, ranges): InvalidArgument naming the option.
LockConfig parse_lock_config(const Value& config);

// `{prefix}:lock:{<name>}`: holds the owner token, expires after the lease.
std::string lock_key(std::string_view prefix, std::string_view name);
// `{prefix}:lock:{<name>}:fence`: the fencing counter (same hash tag as the lock key).
std::string lock_fence_key(std::string_view prefix, std::string_view name);
// `{prefix}:lock:{<name>}:released`: the channel release publishes on, waiters listen to.
std::string lock_channel(std::string_view prefix, std::string_view name);

}  // namespace redkeeper
