// One shard's key -> entry table: open addressing over (hash, node) slots, so a lookup compares
// stored hashes in one contiguous array and touches a node only on a hash match. Nodes are heap
// allocated and never move, so entry pointers stay valid until that key is erased (as with
// std::unordered_map). Not thread-safe: the shard lock guards it.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace redkeeper {

// Byte equality for the short runs keys are made of, inline: two library memcmp calls were a
// tenth of a memory:// limiter hit, most of it call overhead for a dozen bytes.
inline bool bytes_equal(const char* x, const char* y, size_t n) {
  for (; n >= 8; x += 8, y += 8, n -= 8) {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, x, 8);
    std::memcpy(&b, y, 8);
    if (a != b) return false;
  }
  if (n >= 4) {
    uint32_t a;
    uint32_t b;
    std::memcpy(&a, x, 4);
    std::memcpy(&b, y, 4);
    if (a != b) return false;
    x += 4;
    y += 4;
    n -= 4;
  }
  for (; n > 0; ++x, ++y, --n) {
    if (*x != *y) return false;
  }
  return true;
}

// A key given as the concatenation a + b + c, so a caller that knows its key in parts (the limiter:
// a fixed head, the caller's id, a closing brace) can look it up without building it.
struct KeyPieces {
  std::string_view a, b, c;

  size_t size() const { return a.size() + b.size() + c.size(); }
  bool equals(std::string_view key) const {
    if (key.size() != size()) return false;
    // The id (b) first: it is what differs between keys of one limiter. The short tail (c, a brace
    // for limiter keys) is compared inline rather than through a library call.
    const char* k = key.data();
    // (An empty piece may have a null data(); bytes_equal reads nothing for n == 0.)
    if (!bytes_equal(k + a.size(), b.data(), b.size())) return false;
    const char* tail = k + a.size() + b.size();
    for (size_t i = 0; i < c.size(); ++i) {
      if (tail[i] != c[i]) return false;
    }
    return bytes_equal(k, a.data(), a.size());
  }
  std::string str() const {
    std::string key;
    key.reserve(size());
    key.append(a).append(b).append(c);
    return key;
  }
};

template <class Value>
class KeyTable {
 public:
  struct Node {
    explicit Node(std::string k) : key(std::move(k)) {}
    const std::string key;
    Value value{};
  };

  Node* find(uint64_t hash, const KeyPieces& key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = index_of(hash);; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (!slot.node) return nullptr;
      if (slot.hash == hash && key.equals(slot.node->key)) return slot.node.get();
    }
  }

  // The caller checked that the key is absent.
  Node& insert(uint64_t hash, std::string key) {
    if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.empty() ? 8 : slots_.size() * 2);
    size_t i = index_of(hash);
    while (slots_[i].node) i = (i + 1) & mask_;
    slots_[i].hash = hash;
    slots_[i].node = std::make_unique<Node>(std::move(key));
    ++size_;
    return *slots_[i].node;
  }

  bool erase(uint64_t hash, const KeyPieces& key) {
    if (slots_.empty()) return false;
    for (size_t i = index_of(hash);; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (!slot.node) return false;
      if (slot.hash == hash && key.equals(slot.node->key)) {
        erase_at(i);
        return true;
      }
    }
  }

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }

  // Shrinks to the smallest power of two that holds the current keys at under half load.
  void shrink_to_fit() {
    size_t want = 8;
    while (want < size_ * 2) want *= 2;
    if (size_ == 0) {
      std::vector<Slot>().swap(slots_);
      mask_ = 0;
    } else if (want < slots_.size()) {
      rehash(want);
    }
  }

  void clear() {
    std::vector<Slot>().swap(slots_);
    size_ = 0;
    mask_ = 0;
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    std::unique_ptr<Node> node;  // null = empty
  };

  // Multiplicative (Fibonacci) spreading: the top bits of the product depend on every hash bit.
  size_t index_of(uint64_t hash) const {
    return static_cast<size_t>((hash * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }

  void rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_ = std::vector<Slot>(capacity);
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    for (Slot& slot : old) {
      if (!slot.node) continue;
      size_t i = index_of(slot.hash);
      while (slots_[i].node) i = (i + 1) & mask_;
      slots_[i] = std::move(slot);
    }
  }

  // Backward-shift deletion: later members of the probe run move up so no tombstones are needed
  // and lookups stay short after many erases.
  void erase_at(size_t hole) {
    slots_[hole].node.reset();
    --size_;
    for (size_t j = (hole + 1) & mask_; slots_[j].node; j = (j + 1) & mask_) {
      const size_t home = index_of(slots_[j].hash);
      // Slot j may fill the hole when its home is not cyclically within (hole, j].
      const bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (stays) continue;
      slots_[hole] = std::move(slots_[j]);
      hole = j;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 63;
};

}  // namespace redkeeper
