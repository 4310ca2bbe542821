// The rate limiter on Redis: every op is one EVALSHA of the algorithm's Lua script (scripts/*.lua,
// the same math as limiter_math), atomic on the server, with the fail-open/raise policy applied here.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "redkeeper/client.hpp"
#include "redkeeper/limiter.hpp"

namespace redkeeper {

class Engine;
class Script;

class RedisLimiter final : public Limiter {
 public:
  // `config` must already be validated. Holds the engine (not the RedisClient) so a limiter that
  // outlives its client still settles every op (with Closed) instead of touching freed memory.
  RedisLimiter(LimiterConfig config, std::shared_ptr<Engine> engine, const ClientOptions& options);

  void hit(std::string_view key, int64_t cost, Callback<LimitResult> done) override;
  void peek(std::string_view key, Callback<LimitResult> done) override;
  void reset(std::string_view key, Callback<Unit> done) override;
  void refund(std::string_view key, int64_t amount, Callback<LimitResult> done) override;
  void block(std::string_view key, int64_t duration_ms, Callback<LimitResult> done) override;

  // The full script source for an algorithm (prelude + its fast hit if any + helpers + algorithm +
  // ops), for tests and tooling.
  static const Script& script_for(Algorithm algorithm);
  // Client::hit_many's script: every algorithm, several checks in one atomic call (multi.lua).
  static const Script& multi_script();
  // The TTL slack for a client with these options (see kManualClockTtlPadMs).
  static int64_t ttl_pad_ms(const ClientOptions& options);
  // True when `error` means the store cannot answer now (the failure policy applies), as opposed
  // to bad input, a closed client, a malformed reply or a script bug (always surfaced).
  static bool store_unavailable(const Error& error);
  const std::shared_ptr<Engine>& engine() const { return engine_; }
  // TTL slack added to every key (see scripts/common.lua): 1 ms against the server's TIME, the
  // command timeout for a real-time injected clock, kManualClockTtlPadMs for a ManualClock.
  static constexpr int64_t kManualClockTtlPadMs = 60'000;

 private:
  enum class Op { Hit, Peek, Refund, Block, Reset };
  // Sends the op; `on_reply` turns the reply (or the store's error) into the callback's result.
  template <class T, class Convert>
  void run(Op op, std::string_view id, int64_t n, Callback<T> done, Convert convert);

  std::shared_ptr<Engine> engine_;
  const Script& script_;
  std::string prefix_;
  std::shared_ptr<Clock> clock_;  // empty: the scripts read the server's TIME
  std::string limit_arg_, window_arg_, block_arg_, pad_arg_;
};

}  // namespace redkeeper
