// MemoryStore: key hashing, lazy expiry on access, an expiry index per shard, and the background
// sweeper.
#include "store/memory_store.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <random>

namespace redkeeper {

namespace {

bool is_expired(const MemoryEntry& entry, int64_t now_ms) {
  return entry.expire_at_ms != 0 && entry.expire_at_ms <= now_ms;
}

}  // namespace

MemoryKey MemoryView::key_of(const std::string& key) const { return store_->key(key); }

void MemoryView::check_key([[maybe_unused]] const MemoryKey& key) const {
#ifndef NDEBUG
  const std::string bytes = key.bytes.str();
  const MemoryKey fresh = store_->key(bytes);
  assert(fresh.tag_hash == key.tag_hash && fresh.hash == key.hash &&
         "a MemoryKey's hashes must be the ones MemoryStore::key computes for its bytes");
  assert(key.tag_hash == tag_hash_ &&
         "a MemoryView only serves keys with the hash tag it was opened on");
#endif
}

MemoryEntry* MemoryView::find(const std::string& key) { return find(key_of(key)); }

MemoryEntry* MemoryView::find(const MemoryKey& key) {
  check_key(key);
  auto* node = shard_->map.find(key.hash, key.bytes);
  if (node == nullptr) return nullptr;
  if (is_expired(node->value, now_ms_)) {
    // Its index record goes stale; the sweep drops records whose key is gone.
    shard_->map.erase(key.hash, key.bytes);
    return nullptr;
  }
  return &node->value;
}

MemoryEntry& MemoryView::find_or_create(const std::string& key) { return find_or_create(key_of(key)); }

MemoryEntry& MemoryView::find_or_create(const MemoryKey& key) {
  check_key(key);
  auto* node = shard_->map.find(key.hash, key.bytes);
  if (node == nullptr) return shard_->map.insert(key.hash, key.bytes.str()).value;
  MemoryEntry& entry = node->value;
  if (is_expired(entry, now_ms_)) {
    entry.value = std::monostate{};
    entry.expire_at_ms = 0;
  }
  return entry;
}

MemoryEntry& MemoryView::put(const std::string& key, MemoryValue value, int64_t expire_at_ms) {
  const MemoryKey k = key_of(key);
  MemoryEntry& entry = find_or_create(k);
  entry.value = std::move(value);
  expire_at(k, entry, expire_at_ms);
  return entry;
}

bool MemoryView::erase(const std::string& key) { return erase(key_of(key)); }

bool MemoryView::erase(const MemoryKey& key) {
  check_key(key);
  return shard_->map.erase(key.hash, key.bytes);
}

void MemoryView::expire_at(const std::string& key, MemoryEntry& entry, int64_t expire_at_ms) {
  expire_at(key_of(key), entry, expire_at_ms);
}

void MemoryView::expire_at(const MemoryKey& key, MemoryEntry& entry, int64_t expire_at_ms) {
  entry.expire_at_ms = expire_at_ms;
  if (expire_at_ms == 0) return;  // a stale record, if any, is dropped by the sweep
  // File a new record only when the expiry moved earlier than the filed one: a later expiry is
  // found when the old record comes due, so keys whose TTL slides forward (buckets, windows) do
  // not push a record (and allocate a key copy) on every op.
  if (entry.indexed_at_ms == 0 || expire_at_ms < entry.indexed_at_ms) {
    shard_->index.push_back({expire_at_ms, key.hash, key.bytes.str()});
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

MemoryKey MemoryStore::key(std::string_view key) const {
  const std::string_view tag = hash_tag(key);
  const size_t tag_at = static_cast<size_t>(tag.data() - key.data());
  MemoryKey k;
  k.bytes = KeyPieces{key, {}, {}};
  k.tag_hash = tag_hash(tag);
  k.hash = combine(k.tag_hash, rest_hash(key.substr(0, tag_at), key.substr(tag_at + tag.size())));
  return k;
}

uint64_t MemoryStore::rest_hash(std::string_view before_tag, std::string_view after_tag) const {
  // Distinct seeds for the two sides so "a{t}" and "{t}a" differ.
  return hash_bytes(before_tag, seed_ ^ 0x5851f42d4c957f2dull) ^
         (hash_bytes(after_tag, seed_ ^ 0x14057b7ef767814full) * 0x9E3779B97F4A7C15ull);
}

MemoryStore::MemoryStore(std::shared_ptr<Clock> clock, Options options)
    : clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()),
      system_clock_(dynamic_cast<const SystemClock*>(clock_.get())),
      seed_((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()),
      options_(options) {
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
  std::lock_guard<ShardMutex> lock(shard.mu);
  size_t removed = 0;
  size_t examined = 0;
  auto& index = shard.index;
  while (!index.empty() && index.front().expire_at_ms <= now_ms) {
    if (examined == max_records) return {removed, true};
    ++examined;
    std::pop_heap(index.begin(), index.end());
    const int64_t filed_at = index.back().expire_at_ms;
    const uint64_t hash = index.back().hash;
    std::string key = std::move(index.back().key);
    index.pop_back();
    const KeyPieces bytes{key, {}, {}};
    auto* node = shard.map.find(hash, bytes);
    if (node == nullptr || node->value.indexed_at_ms != filed_at) continue;  // stale record
    MemoryEntry& entry = node->value;
    if (is_expired(entry, now_ms)) {
      shard.map.erase(hash, bytes);
      ++removed;
    } else if (entry.expire_at_ms == 0) {
      entry.indexed_at_ms = 0;
    } else {
      entry.indexed_at_ms = entry.expire_at_ms;
      index.push_back({entry.expire_at_ms, hash, std::move(key)});
      std::push_heap(index.begin(), index.end());
    }
  }
  // Give memory back once a wave of expiries has passed, so a spike does not stay resident.
  if (index.capacity() > 4096 && index.size() < index.capacity() / 4) index.shrink_to_fit();
  if (shard.map.capacity() > 4096 && shard.map.size() < shard.map.capacity() / 8) {
    shard.map.shrink_to_fit();
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
    std::lock_guard<ShardMutex> lock(shard->mu);
    total += shard->map.size();
  }
  return total;
}

uint64_t MemoryStore::ops() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard<ShardMutex> lock(shard->mu);
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
    std::lock_guard<ShardMutex> lock(shard->mu);
    shard->map.clear();
    shard->index = {};
  }
}

}  // namespace redkeeper
