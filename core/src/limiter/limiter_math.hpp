// The limiter's arithmetic, shared by the memory backend and mirrored by the Redis Lua scripts:
// integer-only state transitions for the five algorithms (see core/src/limiter/README.md).
#pragma once

#include <cstdint>
#include <vector>

#include "redkeeper/limiter.hpp"

namespace redkeeper {

// The answer given when the store failed and the config says fail open (on_error = Open).
LimitResult degraded_result(const LimiterConfig& config);

// What a backend answers when an op failed with `error`, per config.on_error: Open → the degraded
// allow, Closed → a degraded rejection (remaining 0), Raise → the error. Caller mistakes
// (InvalidArgument) and a closed client are never masked: they are always returned as errors.
Result<LimitResult> on_store_error(const LimiterConfig& config, const Error& error);

namespace limiter_math {

// Bounds enforced by validate(): they keep every intermediate below 2^53, so Lua's doubles agree.
constexpr int64_t kMaxLimit = 1'000'000'000;
constexpr int64_t kMaxDurationMs = 10LL * 366 * 24 * 3600 * 1000;  // about ten years
constexpr int64_t kMaxLimitTimesWindow = int64_t{1} << 52;

// Exact integer division for b > 0 (rounding toward -inf / +inf).
inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// State vector layout: [blocked_until_ms, algorithm_tag, algorithm slots...]
//   fixed_window:   [count, window_end_ms]
//   sliding_window: [window_start_ms, prev, cur]
//   sliding_log:    [used, ts0, cost0, ts1, cost1, ...]   (ts ascending)
//   token_bucket:   [level, last_ms]          level = tokens * window_ms (scaled, exact)
//   gcra:           [tat_ms, tat_frac]        TAT = tat_ms + tat_frac / limit
enum Slot : size_t { kBlockedUntil = 0, kTag = 1, kBase = 2 };
using State = std::vector<int64_t>;

// True when `s` holds state of config's algorithm (layout check; a limiter renamed to another
// algorithm under the same name starts afresh instead of misreading the slots).
bool state_matches(const State& s, const LimiterConfig& config);
// An empty (full allowance) state at `now`, keeping `blocked_until_ms`.
void init_state(State& s, const LimiterConfig& config, int64_t now_ms, int64_t blocked_until_ms);
// Brings the state to `now`: rolls windows, drops old log entries, refills buckets. Lossless.
void advance(State& s, const LimiterConfig& config, int64_t now_ms);
// Whole units available now (floor). Call after advance().
int64_t available(const State& s, const LimiterConfig& config, int64_t now_ms);
// Milliseconds until `cost` units are available (0 = now; ceil). Call after advance().
int64_t wait_ms(const State& s, const LimiterConfig& config, int64_t now_ms, int64_t cost);
// Milliseconds until the full allowance is back (0 = already full; ceil). Call after advance().
int64_t full_after_ms(const State& s, const LimiterConfig& config, int64_t now_ms);
// Takes `cost` units; the caller checked wait_ms(cost) == 0.
void consume(State& s, const LimiterConfig& config, int64_t now_ms, int64_t cost);
// Gives back up to `amount` units (never beyond the full allowance).
void give_back(State& s, const LimiterConfig& config, int64_t now_ms, int64_t amount);

}  // namespace limiter_math
}  // namespace redkeeper
