// Rate limiter: parameters, result type, parsing of human-friendly limits, header rendering, and the
// Limiter interface every backend implements (memory: core/src/limiter/memory_limiter.*, Redis: Lua).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redkeeper/error.hpp"

namespace redkeeper {

template <class T>
using Callback = std::function<void(Result<T>)>;

enum class Algorithm { FixedWindow, SlidingWindow, SlidingLog, TokenBucket, Gcra };

// "fixed_window" | "sliding_window" | "sliding_log" | "token_bucket" | "gcra"; throws InvalidArgument.
Algorithm parse_algorithm(std::string_view name);
const char* algorithm_name(Algorithm algorithm);

struct LimiterConfig {
  std::string name;                      // [A-Za-z0-9_.-]{1,64}; part of the key layout
  Algorithm algorithm = Algorithm::SlidingWindow;
  int64_t limit = 0;                     // hits allowed per window (token bucket / gcra: burst size)
  int64_t window_ms = 0;                 // window (token bucket: time to refill `limit` tokens)
  int64_t block_duration_ms = 0;         // 0 = no block after a rejected hit
  FailurePolicy on_error = FailurePolicy::Open;  // Open: allowed + degraded; Raise: the error
  // Entries of an in-process LRU of rejected keys (0 = off). A key rejected with retry_after_ms > 0
  // is then rejected locally, without a store round trip, until that time has passed on the
  // client's clock; reset/refund/block through this limiter forget the entry. Ops made by other
  // processes are not seen, so a cached rejection can outlive a remote reset.
  size_t local_block_cache_size = 0;
};

// Upper bound for LimiterConfig::local_block_cache_size.
constexpr size_t kMaxLocalBlockCacheSize = 10'000'000;

// Throws InvalidArgument naming the parameter when a field is out of range.
void validate(const LimiterConfig& config);

struct LimitResult {
  bool allowed = false;
  int64_t limit = 0;
  int64_t remaining = 0;        // units left after this hit (unchanged when rejected)
  int64_t reset_after_ms = 0;   // until the limiter is back to its full allowance
  int64_t retry_after_ms = 0;   // 0 when allowed; else until a hit of the same cost can succeed
  bool degraded = false;        // answered by the fail-open policy, not by the store
};

// Durations: a number of seconds ("900", "1.5"), or with a unit ("15m", "1h", "2 hours", "500ms").
// `param` names the parameter in error messages. Throws InvalidArgument.
int64_t parse_duration_ms(std::string_view text, std::string_view param);
// Seconds from a host-language number: finite, > 0, at least 1 ms. Throws InvalidArgument.
int64_t seconds_to_ms(double seconds, std::string_view param);

struct Rate {
  int64_t limit = 0;
  int64_t window_ms = 0;
};
// "10/minute", "5/15minutes", "100 per 15 minutes", "1000/day", "10/s". Throws InvalidArgument.
Rate parse_rate(std::string_view text);

enum class HeaderStandard { None, Draft6, Draft7, Draft8 };
// "draft-6" | "draft-7" | "draft-8" | "" / "none"; throws InvalidArgument.
HeaderStandard parse_header_standard(std::string_view name);

struct HeaderOptions {
  HeaderStandard standard = HeaderStandard::Draft7;
  bool legacy = false;          // X-RateLimit-Limit / -Remaining / -Reset
  int64_t now_ms = 0;           // for legacy X-RateLimit-Reset (epoch seconds); 0 = system clock
};

// Headers for a result, in a stable order. Retry-After is added when the result is a rejection.
std::vector<std::pair<std::string, std::string>> render_headers(const LimitResult& result,
                                                                const LimiterConfig& policy,
                                                                const HeaderOptions& options);

// Validates a caller-supplied key/id: non-empty, at most 1 KiB. Throws InvalidArgument.
void validate_key(std::string_view key, std::string_view param = "key");

class Limiter {
 public:
  virtual ~Limiter() = default;
  const LimiterConfig& config() const { return config_; }

  // Consumes `cost` units when they are available; a rejected hit consumes nothing.
  virtual void hit(std::string_view key, int64_t cost, Callback<LimitResult> done) = 0;
  // The state a hit of cost 1 would see, consuming nothing (remaining is the current allowance).
  virtual void peek(std::string_view key, Callback<LimitResult> done) = 0;
  // Forgets the key's state and any block on it.
  virtual void reset(std::string_view key, Callback<Unit> done) = 0;
  // Gives back up to `amount` units consumed earlier; returns the state afterwards.
  virtual void refund(std::string_view key, int64_t amount, Callback<LimitResult> done) = 0;
  // Rejects every hit on the key for `duration_ms`; returns the blocked state.
  virtual void block(std::string_view key, int64_t duration_ms, Callback<LimitResult> done) = 0;

  // Fast path for backends that complete inline (memory): answers a hit synchronously into `out`
  // and returns true, throwing Error on bad input or a closed client. Backends that go over the
  // network return false and the caller uses hit(). Saves a std::function per op.
  virtual bool hit_inline(std::string_view /*key*/, int64_t /*cost*/, LimitResult& /*out*/) {
    return false;
  }

 protected:
  explicit Limiter(LimiterConfig config) : config_(std::move(config)) {}
  LimiterConfig config_;
};

// One limit of a multi-limit check (Client::hit_many): `cost` units of `limiter` for `key`.
struct LimitCheck {
  std::shared_ptr<Limiter> limiter;
  std::string key;
  int64_t cost = 1;
};

// At most this many checks in one Client::hit_many.
constexpr size_t kMaxLimitChecks = 16;

struct MultiLimitResult {
  bool allowed = false;               // every limit allowed, and every one consumed
  std::vector<LimitResult> results;   // one per check, in order; see Client::hit_many
  size_t deciding = 0;  // the first rejecting check, else the one with the least remaining: the
                        // result whose headers a response should carry
};

}  // namespace redkeeper
