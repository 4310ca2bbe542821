// The embedded key-value store behind memory://: sharded by hash tag, values with an absolute
// expiry, lazy expiry on access plus a bounded background sweep over a per-shard index.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
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
#include "store/key_table.hpp"

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

// A key ready for the store: its bytes, in pieces so callers need not concatenate them, and its two
// hashes. `tag_hash` (of the key's hash tag) picks the shard, so every key sharing a tag shares a
// lock; `hash` (tag plus the rest) picks the slot. Made by MemoryStore::key() or, for keys whose
// layout a caller knows, from MemoryStore::tag_hash() and MemoryStore::combine().
struct MemoryKey {
  KeyPieces bytes;
  uint64_t tag_hash = 0;
  uint64_t hash = 0;
};

// The shard lock: test-and-test-and-set on one atomic, pausing briefly and then yielding while
// another thread holds it. Shard critical sections are one op (well under a microsecond) or one
// bounded sweep batch, so waits are short; uncontended it costs one atomic exchange and a plain
// release store, where std::mutex costs two atomic read-modify-writes behind two library calls
// (about an eighth of a memory:// limiter hit). A Lockable, so std::lock_guard/unique_lock work.
class ShardMutex {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      for (unsigned spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < 64) {
          pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  std::atomic<bool> locked_{false};
};

// One lock's worth of the keyspace. Internal to the store; views operate on it.
struct MemoryShard {
  struct IndexRecord {
    int64_t expire_at_ms;
    uint64_t hash;  // the key's MemoryKey::hash, so the sweep need not rehash it
    std::string key;
    // Heap order for std::push_heap/pop_heap: the earliest expiry on top.
    bool operator<(const IndexRecord& other) const { return expire_at_ms > other.expire_at_ms; }
  };
  mutable ShardMutex mu;
  KeyTable<MemoryEntry> map;
  // Min-heap of (expiry, key), a plain vector (not std::priority_queue) so its capacity can be
  // given back after an expiry wave. Records may be stale: the entry's indexed_at_ms says which
  // record is current, and the sweep re-files entries whose expiry moved later.
  std::vector<IndexRecord> index;
  uint64_t ops = 0;
};

class MemoryStore;

// What a transaction sees: one locked shard. Every key used through a view must share the hash
// tag the view was opened with (that is what makes the shard lock sufficient; debug builds assert
// it). Each op comes in two forms: a plain key (hashed here) and a MemoryKey (hashed by the caller,
// once per op).
class MemoryView {
 public:
  int64_t now_ms() const { return now_ms_; }

  // The live entry, or nullptr when absent or expired (an expired entry is dropped here).
  MemoryEntry* find(const std::string& key);
  MemoryEntry* find(const MemoryKey& key);
  // Inserts or overwrites; returns the stored entry. expire_at_ms 0 = no expiry.
  MemoryEntry& put(const std::string& key, MemoryValue value, int64_t expire_at_ms = 0);
  // The live entry, created empty (monostate, no expiry) when absent.
  MemoryEntry& find_or_create(const std::string& key);
  MemoryEntry& find_or_create(const MemoryKey& key);
  bool erase(const std::string& key);
  bool erase(const MemoryKey& key);
  // Sets an entry's absolute expiry (0 = persist); keeps the shard's expiry index in step.
  void expire_at(const std::string& key, MemoryEntry& entry, int64_t expire_at_ms);
  void expire_at(const MemoryKey& key, MemoryEntry& entry, int64_t expire_at_ms);
  // Redis PTTL semantics: -2 missing, -1 no expiry, else ms left.
  int64_t pttl_ms(const std::string& key);

 private:
  friend class MemoryStore;
  MemoryView(const MemoryStore* store, MemoryShard* shard, int64_t now_ms, uint64_t tag_hash)
      : store_(store), shard_(shard), now_ms_(now_ms), tag_hash_(tag_hash) {}
  MemoryKey key_of(const std::string& key) const;
  void check_key(const MemoryKey& key) const;
  const MemoryStore* store_;
  MemoryShard* shard_;
  int64_t now_ms_;
  uint64_t tag_hash_;  // the hash tag the view was opened with
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
    return transact_tag(tag_hash(hash_tag(tag_key)), std::forward<F>(f));
  }
  // The same for a key already hashed: locks the shard owning `key`'s hash tag.
  template <class F>
  auto transact(const MemoryKey& key, F&& f) {
    return transact_tag(key.tag_hash, std::forward<F>(f));
  }

  // Locks the shards owning every key's hash tag, each once and in one global order (so multi-key
  // transactions never deadlock with each other or with single ones), and runs
  // f(std::vector<MemoryView>&): views[i] is keys[i]'s, all at one instant.
  template <class F>
  auto transact_many(const std::vector<MemoryKey>& keys, F&& f) {
    std::vector<Shard*> shards;
    shards.reserve(keys.size());
    for (const MemoryKey& key : keys) shards.push_back(&shard_for(key.tag_hash));
    std::vector<Shard*> order = shards;
    std::sort(order.begin(), order.end(), std::less<Shard*>());
    order.erase(std::unique(order.begin(), order.end()), order.end());
    std::vector<std::unique_lock<ShardMutex>> locks;
    locks.reserve(order.size());
    for (Shard* shard : order) {
      locks.emplace_back(shard->mu);
      ++shard->ops;
    }
    const int64_t now = now_ms();
    std::vector<MemoryView> views;
    views.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) views.push_back(MemoryView(this, shards[i], now, keys[i].tag_hash));
    return f(views);
  }

  // Hashing. key(k) splits k around its hash tag; a caller that knows its layout can instead
  // combine tag_hash(tag) with rest_hash(bytes before the tag, bytes after it) and get the same
  // MemoryKey (the limiter does: its ids are the tags, the rest is fixed per limiter).
  MemoryKey key(std::string_view key) const;
  uint64_t tag_hash(std::string_view tag) const { return hash_bytes(tag, seed_); }
  uint64_t rest_hash(std::string_view before_tag, std::string_view after_tag) const;
  static uint64_t combine(uint64_t tag_hash, uint64_t rest_hash) {
    return (tag_hash ^ rest_hash) * 0xff51afd7ed558ccdull;
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

  template <class F>
  auto transact_tag(uint64_t tag_hash, F&& f) {
    Shard& shard = shard_for(tag_hash);
    std::lock_guard<ShardMutex> lock(shard.mu);
    ++shard.ops;
    MemoryView view(this, &shard, now_ms(), tag_hash);
    return f(view);
  }
  Shard& shard_for(uint64_t tag_hash) {
    // Lemire's multiply-shift range reduction: no division on the hot path.
    const auto pick = (static_cast<unsigned __int128>(tag_hash) * shards_.size()) >> 64;
    return *shards_[static_cast<size_t>(pick)];
  }
  int64_t now_ms() const {
    // The default clock called directly (SystemClock is final, so this inlines): no virtual hop.
    return system_clock_ != nullptr ? system_clock_->now_ms() : clock_->now_ms();
  }
  // Returns {removed, backlog remaining}.
  std::pair<size_t, bool> sweep_shard(Shard& shard, int64_t now_ms, size_t max_records);
  void sweeper_loop();

  std::shared_ptr<Clock> clock_;
  const SystemClock* system_clock_ = nullptr;  // clock_ when it is the system clock
  uint64_t seed_;
  Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<bool> closed_{false};
  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool stop_ = false;
  std::thread sweeper_;
};

}  // namespace redkeeper
