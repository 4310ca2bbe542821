// Key layout and the Redis Cluster slot function (table-driven CRC16, computed once at start-up).
#include "common/keys.hpp"

#include <array>

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

}  // namespace redkeeper
