// The embedded key-value store behind memory://: sharded by Redis Cluster slot, values with an
// absolute expiry, lazy expiry on access plus a bounded background sweep over a per-shard index.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/keys.hpp"
#include "redkeeper/clock.hpp"

namespace redkeeper {

using MemoryHash = std::unordered_map<std::string, std::string>;
// int64 counters, doubles, strings/bytes, int64 vectors (limiter state, logs), small hashes.
using MemoryValue =
    std::variant<std::monostate, int64_t, double, std::string, std::vector<int64_t>, MemoryHash>;

struct MemoryEntry {
  MemoryValue value;
  int64_t expire_at_ms = 0;   // absolute; 0 = never
  int64_t indexed_at_ms = 0;  // the expiry this key is filed under in the shard's index; 0 = none
};

// One lock's worth of the keyspace. Internal to the store; views operate on it.
struct MemoryShard {
  struct IndexRecord {
    int64_t expire_at_ms;
    std::string key;
    // Heap order for std::push_heap/pop_heap: the earliest expiry on top.
    bool operator<(const IndexRecord& other) const { return expire_at_ms > other.expire_at_ms; }
  };
  mutable std::mutex mu;
  std::unordered_map<std::string, MemoryEntry> map;
  // Min-heap of (expiry, key), a plain vector (not std::priority_queue) so its capacity can be
  // given back after an expiry wave. Records may be stale: the entry's indexed_at_ms says which
  // record is current, and the sweep re-files entries whose expiry moved later.
  std::vector<IndexRecord> index;
  uint64_t ops = 0;
};

class MemoryStore;

// What a transaction sees: one locked shard. Every key used through a view must share the hash
// tag the view was opened with (that is what makes the shard lock sufficient; debug builds assert
// it).
class MemoryView {
 public:
  int64_t now_ms() const { return now_ms_; }

  // The live entry, or nullptr when absent or expired (an expired entry is dropped here).
  MemoryEntry* find(const std::string& key);
  // Inserts or overwrites; returns the stored entry. expire_at_ms 0 = no expiry.
  MemoryEntry& put(const std::string& key, MemoryValue value, int64_t expire_at_ms = 0);
  // The live entry, created empty (monostate, no expiry) when absent.
  MemoryEntry& find_or_create(const std::string& key);
  bool erase(const std::string& key);
  // Sets an entry's absolute expiry (0 = persist); keeps the shard's expiry index in step.
  void expire_at(const std::string& key, MemoryEntry& entry, int64_t expire_at_ms);
  // Redis PTTL semantics: -2 missing, -1 no expiry, else ms left.
  int64_t pttl_ms(const std::string& key);

 private:
  friend class MemoryStore;
  MemoryView(MemoryShard* shard, int64_t now_ms, std::string_view tag)
      : shard_(shard), now_ms_(now_ms), tag_(tag) {}
  void check_tag(const std::string& key) const;
  MemoryShard* shard_;
  int64_t now_ms_;
  std::string_view tag_;  // the hash tag the view was opened with
};

class MemoryStore {
 public:
  struct Options {
    size_t shards = 64;
    int64_t sweep_interval_ms = 100;   // 0 = no background thread (tests call sweep_expired)
    size_t sweep_batch = 2000;         // index records examined per shard per tick
  };

  MemoryStore(std::shared_ptr<Clock> clock, Options options);
  ~MemoryStore();
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // Locks the shard owning `tag_key`'s hash tag and runs f(MemoryView&); returns what f returns.
  template <class F>
  auto transact(std::string_view tag_key, F&& f) {
    Shard& shard = shard_for(tag_key);
    std::lock_guard<std::mutex> lock(shard.mu);
    ++shard.ops;
    MemoryView view(&shard, clock_->now_ms(), hash_tag(tag_key));
    return f(view);
  }

  // Removes up to `max_records` expired keys per shard; returns how many keys were removed.
  size_t sweep_expired(size_t max_records = SIZE_MAX);
  size_t resident_keys() const;
  uint64_t ops() const;
  const Clock& clock() const { return *clock_; }

  // Stops the sweeper and drops all data. Idempotent.
  void close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  using Shard = MemoryShard;

  Shard& shard_for(std::string_view key) {
    return *shards_[key_slot(key) % shards_.size()];
  }
  // Returns {removed, backlog remaining}.
  std::pair<size_t, bool> sweep_shard(Shard& shard, int64_t now_ms, size_t max_records);
  void sweeper_loop();

  std::shared_ptr<Clock> clock_;
  Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<bool> closed_{false};
  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool stop_ = false;
  std::thread sweeper_;
};

}  // namespace redkeeper
