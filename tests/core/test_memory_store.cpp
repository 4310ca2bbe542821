// MemoryStore: lazy expiry, the expiry index (including TTLs that move), the bounded sweep over a
// million expired keys, the background sweeper thread, and shard-level atomicity.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "store/memory_store.hpp"

namespace redkeeper {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;

MemoryStore::Options no_sweeper(size_t shards = 16) {
  MemoryStore::Options options;
  options.shards = shards;
  options.sweep_interval_ms = 0;
  return options;
}

TEST(MemoryStore, ValuesOfEveryKindRoundTrip) {
  auto clock = std::make_shared<ManualClock>(kStart);
  MemoryStore store(clock, no_sweeper());
  // Each key through a view of its own shard: keys without a common hash tag may live apart.
  store.transact("i", [](MemoryView& v) { v.put("i", int64_t{42}); });
  store.transact("d", [](MemoryView& v) { v.put("d", 2.5); });
  store.transact("s", [](MemoryView& v) { v.put("s", std::string("bytes\0here", 10)); });
  store.transact("v", [](MemoryView& v) { v.put("v", std::vector<int64_t>{1, 2, 3}); });
  store.transact("h", [](MemoryView& v) { v.put("h", MemoryHash{{"field", "value"}}); });
  EXPECT_EQ(store.transact("i", [](MemoryView& v) { return std::get<int64_t>(v.find("i")->value); }), 42);
  EXPECT_EQ(store.transact("d", [](MemoryView& v) { return std::get<double>(v.find("d")->value); }), 2.5);
  EXPECT_EQ(store.transact("s", [](MemoryView& v) { return std::get<std::string>(v.find("s")->value).size(); }),
            10u);
  EXPECT_EQ(store.transact("v", [](MemoryView& v) { return std::get<std::vector<int64_t>>(v.find("v")->value)[2]; }),
            3);
  EXPECT_EQ(store.transact("h", [](MemoryView& v) {
    return std::get<MemoryHash>(v.find("h")->value).at("field");
  }), "value");
  EXPECT_EQ(store.resident_keys(), 5u);
}

TEST(MemoryStore, ExpiredEntriesVanishOnAccess) {
  auto clock = std::make_shared<ManualClock>(kStart);
  MemoryStore store(clock, no_sweeper());
  store.transact("k", [&](MemoryView& v) { v.put("k", int64_t{1}, kStart + 100); });
  EXPECT_EQ(store.transact("k", [](MemoryView& v) { return v.pttl_ms("k"); }), 100);
  clock->advance(99);
  EXPECT_NE(store.transact("k", [](MemoryView& v) { return v.find("k"); }), nullptr);
  clock->advance(1);
  EXPECT_EQ(store.transact("k", [](MemoryView& v) { return v.pttl_ms("k"); }), -2);
  EXPECT_EQ(store.resident_keys(), 0u);  // dropped by the access, no sweep needed
  store.transact("p", [&](MemoryView& v) { v.put("p", int64_t{1}); });
  EXPECT_EQ(store.transact("p", [](MemoryView& v) { return v.pttl_ms("p"); }), -1);
}

TEST(MemoryStore, KeysSharingAHashTagShareAShardTransaction) {
  auto clock = std::make_shared<ManualClock>(kStart);
  MemoryStore store(clock, no_sweeper(64));
  // Both keys are visible from one view opened on either of them: they live in one shard.
  store.transact("a:{user1}", [](MemoryView& v) {
    v.put("a:{user1}", int64_t{1});
    v.put("b:{user1}:block", int64_t{2});
  });
  const bool both = store.transact("b:{user1}:block", [](MemoryView& v) {
    return v.find("a:{user1}") != nullptr && v.find("b:{user1}:block") != nullptr;
  });
  EXPECT_TRUE(both);
}

TEST(MemoryStore, SweepHonoursTtlsThatMoveLaterOrEarlier) {
  auto clock = std::make_shared<ManualClock>(kStart);
  MemoryStore store(clock, no_sweeper());
  store.transact("later", [&](MemoryView& v) {
    MemoryEntry& e = v.put("later", int64_t{1}, kStart + 100);
    v.expire_at("later", e, kStart + 500);  // extended: the old index record goes stale
  });
  store.transact("earlier", [&](MemoryView& v) {
    MemoryEntry& e = v.put("earlier", int64_t{1}, kStart + 500);
    v.expire_at("earlier", e, kStart + 100);
  });
  store.transact("persist", [&](MemoryView& v) {
    MemoryEntry& e = v.put("persist", int64_t{1}, kStart + 100);
    v.expire_at("persist", e, 0);
  });
  clock->advance(100);
  EXPECT_EQ(store.sweep_expired(), 1u);  // only "earlier"
  EXPECT_EQ(store.resident_keys(), 2u);
  clock->advance(400);
  EXPECT_EQ(store.sweep_expired(), 1u);  // "later"
  clock->advance(1'000'000);
  EXPECT_EQ(store.sweep_expired(), 0u);
  EXPECT_EQ(store.resident_keys(), 1u);  // "persist"
}

TEST(MemoryStore, AMillionExpiredKeysAreSweptAway) {
  auto clock = std::make_shared<ManualClock>(kStart);
  MemoryStore store(clock, no_sweeper(64));
  constexpr int kKeys = 1'000'000;
  std::string key;
  for (int i = 0; i < kKeys; ++i) {
    key = "rk:test:{" + std::to_string(i) + "}";
    store.transact(key, [&](MemoryView& v) { v.put(key, int64_t{i}, kStart + 1000 + (i % 1000)); });
  }
  ASSERT_EQ(store.resident_keys(), static_cast<size_t>(kKeys));
  clock->advance(500);
  EXPECT_EQ(store.sweep_expired(), 0u);  // nothing due yet
  clock->advance(1500);  // all due: the last expires at +1999
  // Bounded batches: each call removes at most 1000 per shard, repeated until the backlog is gone.
  size_t removed = 0;
  for (int round = 0; round < 100000 && store.resident_keys() > 0; ++round) {
    const size_t n = store.sweep_expired(1000);
    EXPECT_LE(n, 1000u * 64);
    removed += n;
  }
  EXPECT_EQ(removed, static_cast<size_t>(kKeys));
  EXPECT_EQ(store.resident_keys(), 0u);
}

TEST(MemoryStore, BackgroundSweeperDrainsABacklog) {
  auto clock = std::make_shared<ManualClock>(kStart);
  MemoryStore::Options options;
  options.shards = 8;
  options.sweep_interval_ms = 5;
  options.sweep_batch = 100;  // small batches: the thread must keep going while there is backlog
  MemoryStore store(clock, options);
  for (int i = 0; i < 50'000; ++i) {
    const std::string key = "k" + std::to_string(i);
    store.transact(key, [&](MemoryView& v) { v.put(key, int64_t{i}, kStart + 10); });
  }
  clock->advance(10);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store.resident_keys() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(store.resident_keys(), 0u);
  store.close();  // joins the thread; a hang here fails the test by timeout
  EXPECT_TRUE(store.closed());
}

TEST(MemoryStore, TransactionsOnOneKeyAreAtomic) {
  auto clock = std::make_shared<ManualClock>(kStart);
  MemoryStore store(clock, no_sweeper(4));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        store.transact("counter", [](MemoryView& v) {
          MemoryEntry& e = v.find_or_create("counter");
          if (auto* n = std::get_if<int64_t>(&e.value)) {
            ++*n;
          } else {
            e.value = int64_t{1};
          }
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store.transact("counter", [](MemoryView& v) { return std::get<int64_t>(v.find("counter")->value); }),
            80'000);
  EXPECT_EQ(store.ops(), 80'001u);
}

}  // namespace
}  // namespace redkeeper
