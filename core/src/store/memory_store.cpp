// MemoryStore: lazy expiry on access, an expiry index per shard, and the background sweeper.
#include "store/memory_store.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>

namespace redkeeper {

namespace {

bool is_expired(const MemoryEntry& entry, int64_t now_ms) {
  return entry.expire_at_ms != 0 && entry.expire_at_ms <= now_ms;
}

}  // namespace

void MemoryView::check_tag([[maybe_unused]] const std::string& key) const {
  assert(hash_tag(key) == tag_ && "a MemoryView only serves keys with the hash tag it was opened on");
}

MemoryEntry* MemoryView::find(const std::string& key) {
  check_tag(key);
  auto it = shard_->map.find(key);
  if (it == shard_->map.end()) return nullptr;
  if (is_expired(it->second, now_ms_)) {
    // Its index record goes stale; the sweep drops records whose key is gone.
    shard_->map.erase(it);
    return nullptr;
  }
  return &it->second;
}

MemoryEntry& MemoryView::find_or_create(const std::string& key) {
  check_tag(key);
  auto [it, inserted] = shard_->map.try_emplace(key);
  if (!inserted && is_expired(it->second, now_ms_)) {
    it->second.value = std::monostate{};
    it->second.expire_at_ms = 0;
  }
  return it->second;
}

MemoryEntry& MemoryView::put(const std::string& key, MemoryValue value, int64_t expire_at_ms) {
  MemoryEntry& entry = find_or_create(key);
  entry.value = std::move(value);
  expire_at(key, entry, expire_at_ms);
  return entry;
}

bool MemoryView::erase(const std::string& key) {
  check_tag(key);
  return shard_->map.erase(key) > 0;
}

void MemoryView::expire_at(const std::string& key, MemoryEntry& entry, int64_t expire_at_ms) {
  entry.expire_at_ms = expire_at_ms;
  if (expire_at_ms == 0) return;  // a stale record, if any, is dropped by the sweep
  // File a new record only when the expiry moved earlier than the filed one: a later expiry is
  // found when the old record comes due, so keys whose TTL slides forward (buckets, windows) do
  // not push a record (and allocate a key copy) on every op.
  if (entry.indexed_at_ms == 0 || expire_at_ms < entry.indexed_at_ms) {
    shard_->index.push_back({expire_at_ms, key});
    std::push_heap(shard_->index.begin(), shard_->index.end());
    entry.indexed_at_ms = expire_at_ms;
  }
}

int64_t MemoryView::pttl_ms(const std::string& key) {
  MemoryEntry* entry = find(key);
  if (entry == nullptr) return -2;
  if (entry->expire_at_ms == 0) return -1;
  return entry->expire_at_ms - now_ms_;
}

MemoryStore::MemoryStore(std::shared_ptr<Clock> clock, Options options)
    : clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()), options_(options) {
  const size_t count = std::max<size_t>(1, std::min<size_t>(options_.shards, 16384));
  shards_.reserve(count);
  for (size_t i = 0; i < count; ++i) shards_.push_back(std::make_unique<Shard>());
  if (options_.sweep_batch == 0) options_.sweep_batch = 1;
  if (options_.sweep_interval_ms > 0) {
    sweeper_ = std::thread([this] { sweeper_loop(); });
  }
}

MemoryStore::~MemoryStore() { close(); }

std::pair<size_t, bool> MemoryStore::sweep_shard(Shard& shard, int64_t now_ms, size_t max_records) {
  std::lock_guard<std::mutex> lock(shard.mu);
  size_t removed = 0;
  size_t examined = 0;
  auto& index = shard.index;
  while (!index.empty() && index.front().expire_at_ms <= now_ms) {
    if (examined == max_records) return {removed, true};
    ++examined;
    std::pop_heap(index.begin(), index.end());
    const int64_t filed_at = index.back().expire_at_ms;
    std::string key = std::move(index.back().key);
    index.pop_back();
    auto it = shard.map.find(key);
    if (it == shard.map.end() || it->second.indexed_at_ms != filed_at) continue;  // stale record
    MemoryEntry& entry = it->second;
    if (is_expired(entry, now_ms)) {
      shard.map.erase(it);
      ++removed;
    } else if (entry.expire_at_ms == 0) {
      entry.indexed_at_ms = 0;
    } else {
      entry.indexed_at_ms = entry.expire_at_ms;
      index.push_back({entry.expire_at_ms, std::move(key)});
      std::push_heap(index.begin(), index.end());
    }
  }
  // Give memory back once a wave of expiries has passed, so a spike does not stay resident.
  if (index.capacity() > 4096 && index.size() < index.capacity() / 4) index.shrink_to_fit();
  if (shard.map.bucket_count() > 4096 && shard.map.size() < shard.map.bucket_count() / 8) {
    shard.map.rehash(0);
  }
  return {removed, false};
}

size_t MemoryStore::sweep_expired(size_t max_records) {
  const int64_t now = clock_->now_ms();
  size_t removed = 0;
  for (auto& shard : shards_) removed += sweep_shard(*shard, now, max_records).first;
  return removed;
}

void MemoryStore::sweeper_loop() {
  std::unique_lock<std::mutex> lock(sweeper_mu_);
  while (!stop_) {
    bool backlog = false;
    lock.unlock();
    const int64_t now = clock_->now_ms();
    for (auto& shard : shards_) {
      // Bounded per shard so a huge expiry wave never holds one lock for long.
      if (sweep_shard(*shard, now, options_.sweep_batch).second) backlog = true;
    }
    lock.lock();
    if (backlog) continue;  // keep draining (stop_ is re-checked) without waiting a full tick
    sweeper_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms),
                         [this] { return stop_; });
  }
}

size_t MemoryStore::resident_keys() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    total += shard->map.size();
  }
  return total;
}

uint64_t MemoryStore::ops() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    total += shard->ops;
  }
  return total;
}

void MemoryStore::close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  {
    std::lock_guard<std::mutex> lock(sweeper_mu_);
    stop_ = true;
  }
  sweeper_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  for (auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    shard->map.clear();
    shard->index = {};
    shard->map.rehash(0);
  }
}

}  // namespace redkeeper
