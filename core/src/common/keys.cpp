// Key layout, the Redis Cluster slot function (table-driven CRC16, built at compile time) and the
// in-process hash the memory store uses instead of CRC16.
#include "common/keys.hpp"

#include <array>
#include <cstring>

namespace redkeeper {

namespace {

constexpr std::array<uint16_t, 256> make_crc16_table() {
  std::array<uint16_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
    }
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kCrc16Table = make_crc16_table();

// wyhash (public domain, Wang Yi): multiply-fold mixing of 16 bytes per step.
constexpr uint64_t kWySecret0 = 0x2d358dccaa6c78a5ull;
constexpr uint64_t kWySecret1 = 0x8bb84b93962eacc9ull;

inline uint64_t wymix(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
inline uint64_t read64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t read32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

std::string limiter_key(std::string_view prefix, std::string_view name, std::string_view id) {
  std::string key;
  key.reserve(prefix.size() + name.size() + id.size() + 13);
  key.append(prefix).append(":limiter:").append(name).append(":{").append(id).push_back('}');
  return key;
}

std::string limiter_block_key(std::string_view prefix, std::string_view name, std::string_view id) {
  std::string key = limiter_key(prefix, name, id);
  key.append(":block");
  return key;
}

std::string_view hash_tag(std::string_view key) {
  const size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

uint16_t crc16_xmodem(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

uint16_t key_slot(std::string_view key) {
  return static_cast<uint16_t>(crc16_xmodem(hash_tag(key)) & 0x3fff);
}

uint64_t hash_bytes(std::string_view data, uint64_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t len = data.size();
  seed ^= wymix(seed ^ kWySecret0, kWySecret1);
  uint64_t a = 0;
  uint64_t b = 0;
  if (len <= 16) {
    if (len >= 4) {
      const size_t mid = (len >> 3) << 2;
      a = (read32(p) << 32) | read32(p + mid);
      b = (read32(p + len - 4) << 32) | read32(p + len - 4 - mid);
    } else if (len > 0) {
      a = (uint64_t{p[0]} << 16) | (uint64_t{p[len >> 1]} << 8) | p[len - 1];
    }
  } else {
    size_t i = len;
    while (i > 16) {
      seed = wymix(read64(p) ^ kWySecret1, read64(p + 8) ^ seed);
      p += 16;
      i -= 16;
    }
    a = read64(p + i - 16);
    b = read64(p + i - 8);
  }
  const unsigned __int128 r = static_cast<unsigned __int128>(a ^ kWySecret1) * (b ^ seed);
  return wymix(static_cast<uint64_t>(r) ^ kWySecret0 ^ len, static_cast<uint64_t>(r >> 64) ^ kWySecret1);
}

}  // namespace redkeeper
