// Small helpers for the core tests: a memory client on a ManualClock and synchronous wrappers
// around the callback-style Limiter API.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "redkeeper/client.hpp"

namespace redkeeper::testing {

inline std::shared_ptr<Client> memory_client(std::shared_ptr<ManualClock> clock,
                                             int64_t sweep_interval_ms = 0) {
  ClientOptions options;
  options.clock = std::move(clock);
  options.sweep_interval_ms = sweep_interval_ms;
  return Client::open("memory://", options);
}

inline LimiterConfig config(Algorithm algorithm, int64_t limit, int64_t window_ms,
                            int64_t block_duration_ms = 0, std::string name = "t") {
  LimiterConfig cfg;
  cfg.name = std::move(name);
  cfg.algorithm = algorithm;
  cfg.limit = limit;
  cfg.window_ms = window_ms;
  cfg.block_duration_ms = block_duration_ms;
  return cfg;
}

// Runs a callback-style op and returns its Result (ops on memory complete inside the call; on
// Redis the caller waits).
template <class T, class Op>
Result<T> await_result(Op&& op) {
  std::optional<Result<T>> out;
  std::mutex mu;
  std::condition_variable cv;
  op([&](Result<T> r) {
    std::lock_guard<std::mutex> lock(mu);
    out.emplace(std::move(r));
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

template <class T>
T value_or_throw(Result<T> r) {
  if (!r.ok()) throw r.error();
  return std::move(r.value());
}

inline LimitResult hit(Limiter& l, const std::string& key, int64_t cost = 1) {
  return value_or_throw(await_result<LimitResult>([&](auto cb) { l.hit(key, cost, cb); }));
}
inline LimitResult peek(Limiter& l, const std::string& key) {
  return value_or_throw(await_result<LimitResult>([&](auto cb) { l.peek(key, cb); }));
}
inline void reset(Limiter& l, const std::string& key) {
  value_or_throw(await_result<Unit>([&](auto cb) { l.reset(key, cb); }));
}
inline LimitResult refund(Limiter& l, const std::string& key, int64_t amount) {
  return value_or_throw(await_result<LimitResult>([&](auto cb) { l.refund(key, amount, cb); }));
}
inline LimitResult block(Limiter& l, const std::string& key, int64_t ms) {
  return value_or_throw(await_result<LimitResult>([&](auto cb) { l.block(key, ms, cb); }));
}

}  // namespace redkeeper::testing
