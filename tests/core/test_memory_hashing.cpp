// The memory store's key hashing and table: the limiter's precomputed hashes agree with the store's
// general ones for every kind of id, the hash is seeded, and the open-addressing table matches a
// std::unordered_map model through random inserts and erases.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/keys.hpp"
#include "limiter/limiter_math.hpp"
#include "store/key_table.hpp"
#include "store/memory_client.hpp"
#include "store/memory_store.hpp"

namespace redkeeper {
namespace {

TEST(HashBytes, SeededAndSensitiveToEveryByteAndLength) {
  std::set<uint64_t> seen;
  std::string data;
  // Every length across the short-key branches (0, 1-3, 4-16, 17+), and a flipped byte in each.
  for (size_t len = 0; len <= 70; ++len) {
    data.assign(len, 'a');
    EXPECT_TRUE(seen.insert(hash_bytes(data, 1)).second) << len;
    for (size_t i = 0; i < len; ++i) {
      std::string flipped = data;
      flipped[i] = 'b';
      EXPECT_TRUE(seen.insert(hash_bytes(flipped, 1)).second) << len << " " << i;
    }
  }
  EXPECT_EQ(hash_bytes("10.0.0.1", 7), hash_bytes("10.0.0.1", 7));
  EXPECT_NE(hash_bytes("10.0.0.1", 7), hash_bytes("10.0.0.1", 8));
  EXPECT_NE(hash_bytes(std::string("\0", 1), 7), hash_bytes("", 7));
}

TEST(MemoryStoreKey, SplitsAroundTheHashTag) {
  MemoryStore store(std::make_shared<ManualClock>(), MemoryStore::Options{4, 0, 100});
  const MemoryKey k = store.key("rk:x:{user1}:tail");
  EXPECT_EQ(k.tag_hash, store.tag_hash("user1"));
  EXPECT_EQ(k.hash, MemoryStore::combine(store.tag_hash("user1"), store.rest_hash("rk:x:{", "}:tail")));
  // Same tag, different rest: same shard hash, different slot hash.
  EXPECT_EQ(store.key("a{user1}").tag_hash, k.tag_hash);
  EXPECT_NE(store.key("a{user1}").hash, store.key("{user1}a").hash);
  // No tag (or an empty one): the whole key is the tag.
  EXPECT_EQ(store.key("plain").tag_hash, store.tag_hash("plain"));
  EXPECT_EQ(store.key("a{}b").tag_hash, store.tag_hash("a{}b"));
}

// Every id shape: the limiter's state must sit at the documented key, where the store's general
// (plain string) API finds it, whichever way the limiter hashed it.
TEST(MemoryLimiterKeys, StateLivesAtTheDocumentedKeyForEveryIdShape) {
  ClientOptions options;
  options.prefix = "pfx";
  options.clock = std::make_shared<ManualClock>();
  auto client = std::static_pointer_cast<MemoryClient>(make_memory_client("memory://?sweep_interval_ms=0", options));
  LimiterConfig config;
  config.name = "login";
  config.algorithm = Algorithm::FixedWindow;
  config.limit = 5;
  config.window_ms = 60'000;
  auto limiter = client->limiter(config);
  MemoryStore& store = *client->store();

  const std::vector<std::string> ids = {
      "10.0.0.1", "a", "x}y", "}lead", "}", "{inner", "a{b}c", "{}", std::string("\0\xff\x01", 3),
      "caf\xc3\xa9", std::string(1024, 'z'), std::string(1023, 'q') + "}"};
  for (const std::string& id : ids) {
    LimitResult out;
    ASSERT_TRUE(limiter->hit_inline(id, 2, out));
    EXPECT_TRUE(out.allowed);
    EXPECT_EQ(out.remaining, 3);
    const std::string key = limiter_key("pfx", "login", id);
    const bool found = store.transact(key, [&](MemoryView& view) {
      MemoryEntry* entry = view.find(key);
      if (entry == nullptr) return false;
      const auto* state = std::get_if<std::vector<int64_t>>(&entry->value);
      return state != nullptr && state->size() > limiter_math::kBase &&
             (*state)[limiter_math::kBase] == 2;  // fixed window count
    });
    EXPECT_TRUE(found) << "id of " << id.size() << " bytes";
    // And the limiter finds it again: the second hit counts on top of the first.
    ASSERT_TRUE(limiter->hit_inline(id, 1, out));
    EXPECT_EQ(out.remaining, 2) << "id of " << id.size() << " bytes";
  }
  EXPECT_EQ(store.resident_keys(), ids.size());
  client->close();
}

TEST(KeyTable, MatchesAMapModelThroughRandomInsertsAndErases) {
  KeyTable<int> table;
  std::unordered_map<std::string, int> model;
  std::unordered_map<std::string, const int*> addresses;  // nodes never move
  std::mt19937_64 rng(12345);
  // Few distinct hashes force long probe runs, so backward-shift deletion is exercised hard.
  auto hash_of = [](const std::string& key) { return std::hash<std::string>{}(key) % 61; };
  for (int step = 0; step < 200'000; ++step) {
    const std::string key = "k" + std::to_string(rng() % 3000);
    const KeyPieces pieces{key, {}, {}};
    const uint64_t h = hash_of(key);
    if (rng() % 3 == 0) {
      const bool erased = table.erase(h, pieces);
      EXPECT_EQ(erased, model.erase(key) == 1);
      addresses.erase(key);
    } else if (auto* node = table.find(h, pieces)) {
      ASSERT_EQ(model.count(key), 1u);
      EXPECT_EQ(node->value, model[key]);
      EXPECT_EQ(&node->value, addresses[key]);
      node->value += 1;
      model[key] += 1;
    } else {
      ASSERT_EQ(model.count(key), 0u);
      auto& inserted = table.insert(h, key);
      inserted.value = step;
      model[key] = step;
      addresses[key] = &inserted.value;
    }
    ASSERT_EQ(table.size(), model.size());
    if (step % 50'000 == 0) table.shrink_to_fit();
  }
  for (const auto& [key, value] : model) {
    auto* node = table.find(hash_of(key), KeyPieces{key, {}, {}});
    ASSERT_NE(node, nullptr) << key;
    EXPECT_EQ(node->value, value);
  }
  // Pieces compare as their concatenation.
  EXPECT_TRUE((KeyPieces{"ab", "c", "d"}.equals("abcd")));
  EXPECT_FALSE((KeyPieces{"ab", "c", "d"}.equals("abcde")));
  EXPECT_FALSE((KeyPieces{"ab", "c", "d"}.equals("abce")));
}

TEST(KeyTable, GivesMemoryBackAfterAWaveOfErases) {
  KeyTable<int> table;
  for (int i = 0; i < 100'000; ++i) table.insert(hash_bytes(std::to_string(i), 1), std::to_string(i));
  const size_t grown = table.capacity();
  for (int i = 0; i < 99'990; ++i) {
    const std::string key = std::to_string(i);
    ASSERT_TRUE(table.erase(hash_bytes(key, 1), KeyPieces{key, {}, {}}));
  }
  table.shrink_to_fit();
  EXPECT_LT(table.capacity(), grown / 100);
  for (int i = 99'990; i < 100'000; ++i) {
    const std::string key = std::to_string(i);
    EXPECT_NE(table.find(hash_bytes(key, 1), KeyPieces{key, {}, {}}), nullptr);
  }
}

}  // namespace
}  // namespace redkeeper
