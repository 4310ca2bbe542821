// Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384. Used by the
// cluster engine to route commands and by the memory backend to refuse cross-slot scripts exactly
// as a cluster would, so a key-layout mistake fails every memory test, not only cluster ones.
#pragma once

#include <cstdint>
#include <string_view>

namespace redkeeper {

inline constexpr uint16_t kClusterSlots = 16384;

// The part of `key` Redis Cluster hashes: the text between the first '{' and the first '}' after
// it when that is non-empty, else the whole key ("foo{}{bar}" hashes whole, "foo{{bar}}" hashes "{bar").
std::string_view hash_tag(std::string_view key);

uint16_t crc16_xmodem(std::string_view data);

// crc16_xmodem(hash_tag(key)) % 16384.
uint16_t key_slot(std::string_view key);

}  // namespace redkeeper
