// BlockCache (a mutex-guarded LRU keyed by the caller's id) and the BlockCacheLimiter decorator.
#include "limiter/block_cache.hpp"

#include <algorithm>
#include <utility>

namespace redkeeper {

BlockCache::BlockCache(size_t capacity, std::shared_ptr<Clock> clock)
    : capacity_(capacity), clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()) {}

void BlockCache::erase_locked(std::unordered_map<std::string, Lru::iterator>::iterator it) {
  lru_.erase(it->second);
  index_.erase(it);
}

bool BlockCache::lookup(std::string_view key, int64_t cost, LimitResult& out) {
  const int64_t now = clock_->now_ms();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(std::string(key));
  if (it == index_.end()) return false;
  Entry& entry = *it->second;
  if (entry.until_ms <= now) {
    erase_locked(it);
    return false;
  }
  if (cost != entry.cost) return false;
  lru_.splice(lru_.begin(), lru_, it->second);
  out = LimitResult{};
  out.allowed = false;
  out.limit = entry.limit;
  out.remaining = entry.remaining;
  out.retry_after_ms = entry.until_ms - now;
  out.reset_after_ms = std::max(entry.reset_at_ms - now, out.retry_after_ms);
  return true;
}

void BlockCache::note(std::string_view key, int64_t cost, const LimitResult& result) {
  const bool cacheable = !result.allowed && !result.degraded && result.retry_after_ms > 0;
  const int64_t now = clock_->now_ms();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(std::string(key));
  if (!cacheable) {
    if (result.allowed && it != index_.end()) erase_locked(it);
    return;
  }
  Entry entry{std::string(key),         now + result.retry_after_ms, cost, now + result.reset_after_ms,
              result.limit,             result.remaining};
  if (it != index_.end()) {
    // The store's latest answer wins (another cost, or an entry that was due).
    *it->second = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(std::move(entry));
  index_.emplace(lru_.front().key, lru_.begin());
  if (index_.size() > capacity_) erase_locked(index_.find(lru_.back().key));
}

void BlockCache::forget(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(std::string(key));
  if (it != index_.end()) erase_locked(it);
}

size_t BlockCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_.size();
}

BlockCacheLimiter::BlockCacheLimiter(std::shared_ptr<Limiter> inner, std::shared_ptr<Clock> clock,
                                     std::function<bool()> closed)
    : Limiter(inner->config()),
      inner_(std::move(inner)),
      cache_(std::make_shared<BlockCache>(config_.local_block_cache_size, std::move(clock))),
      closed_(std::move(closed)) {}

bool BlockCacheLimiter::answerable(int64_t cost) const {
  // Bad costs and a closed client go to the backend, which reports them.
  return cost >= 1 && cost <= config_.limit && !(closed_ && closed_());
}

template <class T>
Callback<T> BlockCacheLimiter::forgetting(std::string_view key, Callback<T> done) {
  cache_->forget(key);
  return [cache = cache_, key = std::string(key), done = std::move(done)](Result<T> result) {
    cache->forget(key);
    if (done) done(std::move(result));
  };
}

void BlockCacheLimiter::hit(std::string_view key, int64_t cost, Callback<LimitResult> done) {
  LimitResult cached;
  if (answerable(cost) && cache_->lookup(key, cost, cached)) {
    if (done) done(cached);
    return;
  }
  inner_->hit(key, cost,
              [cache = cache_, key = std::string(key), cost, done = std::move(done)](Result<LimitResult> r) {
                if (r.ok()) cache->note(key, cost, r.value());
                if (done) done(std::move(r));
              });
}

bool BlockCacheLimiter::hit_inline(std::string_view key, int64_t cost, LimitResult& out) {
  if (answerable(cost) && cache_->lookup(key, cost, out)) return true;
  if (!inner_->hit_inline(key, cost, out)) return false;
  cache_->note(key, cost, out);
  return true;
}

void BlockCacheLimiter::peek(std::string_view key, Callback<LimitResult> done) {
  inner_->peek(key, std::move(done));
}

void BlockCacheLimiter::reset(std::string_view key, Callback<Unit> done) {
  inner_->reset(key, forgetting(key, std::move(done)));
}

void BlockCacheLimiter::refund(std::string_view key, int64_t amount, Callback<LimitResult> done) {
  inner_->refund(key, amount, forgetting(key, std::move(done)));
}

void BlockCacheLimiter::block(std::string_view key, int64_t duration_ms, Callback<LimitResult> done) {
  inner_->block(key, duration_ms, forgetting(key, std::move(done)));
}

std::shared_ptr<Limiter> with_block_cache(std::shared_ptr<Limiter> limiter, std::shared_ptr<Clock> clock,
                                          std::function<bool()> closed) {
  if (limiter->config().local_block_cache_size == 0) return limiter;
  return std::make_shared<BlockCacheLimiter>(std::move(limiter), std::move(clock), std::move(closed));
}

}  // namespace redkeeper
