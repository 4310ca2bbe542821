// The opt-in local block cache (LimiterConfig::local_block_cache_size): a bounded LRU of keys the
// store rejected, and the Limiter decorator that answers hits on them in-process until their
// retry_after has passed, so an attacked key stops costing a round trip per request.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "redkeeper/clock.hpp"
#include "redkeeper/limiter.hpp"

namespace redkeeper {

// Thread-safe. Shared with in-flight callbacks, so it outlives the limiter that made it if needed.
class BlockCache {
 public:
  BlockCache(size_t capacity, std::shared_ptr<Clock> clock);

  // True (and `out` filled, retry_after counting down on the clock) when `key` is known to reject
  // a hit of `cost` now. Only the cost that was rejected is answered: a smaller one may fit now,
  // and a larger one may have to wait longer than the cached retry_after.
  bool lookup(std::string_view key, int64_t cost, LimitResult& out);
  // Learns from the store's answer to a hit of `cost`: a rejection with a retry_after (and not a
  // degraded one) is cached; an admission forgets the key.
  void note(std::string_view key, int64_t cost, const LimitResult& result);
  void forget(std::string_view key);
  size_t size() const;

 private:
  struct Entry {
    std::string key;
    int64_t until_ms;      // rejected until then
    int64_t cost;          // the cost that was rejected
    int64_t reset_at_ms;   // when the allowance is full again, per the store's answer
    int64_t limit;
    int64_t remaining;     // the allowance the store reported (a lower bound while cached)
  };
  using Lru = std::list<Entry>;  // most recently used first

  void erase_locked(std::unordered_map<std::string, Lru::iterator>::iterator it);

  const size_t capacity_;
  std::shared_ptr<Clock> clock_;
  mutable std::mutex mu_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> index_;
};

// Wraps any backend's limiter. peek passes through; reset, refund and block forget the key (before
// and after the store answers, so an in-flight rejection cannot re-cache a key just reset).
class BlockCacheLimiter final : public Limiter {
 public:
  // `closed` tells whether the client is closed: then nothing is answered from the cache.
  BlockCacheLimiter(std::shared_ptr<Limiter> inner, std::shared_ptr<Clock> clock,
                    std::function<bool()> closed);

  void hit(std::string_view key, int64_t cost, Callback<LimitResult> done) override;
  void peek(std::string_view key, Callback<LimitResult> done) override;
  void reset(std::string_view key, Callback<Unit> done) override;
  void refund(std::string_view key, int64_t amount, Callback<LimitResult> done) override;
  void block(std::string_view key, int64_t duration_ms, Callback<LimitResult> done) override;
  // Answers cached rejections inline on every backend, and delegates the rest.
  bool hit_inline(std::string_view key, int64_t cost, LimitResult& out) override;

  const std::shared_ptr<Limiter>& inner() const { return inner_; }
  const std::shared_ptr<BlockCache>& cache() const { return cache_; }

 private:
  template <class T>
  Callback<T> forgetting(std::string_view key, Callback<T> done);

  // True when the cache may answer this hit (a valid cost on an open client).
  bool answerable(int64_t cost) const;

  std::shared_ptr<Limiter> inner_;
  std::shared_ptr<BlockCache> cache_;
  std::function<bool()> closed_;
};

// `limiter` wrapped in a BlockCacheLimiter when its config asks for a cache, else itself. The clock
// is the client's injected one, or the system clock when null.
std::shared_ptr<Limiter> with_block_cache(std::shared_ptr<Limiter> limiter, std::shared_ptr<Clock> clock,
                                          std::function<bool()> closed);

}  // namespace redkeeper
