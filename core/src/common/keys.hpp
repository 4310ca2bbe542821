// Key layout and Redis Cluster slot math shared by every backend: keys that must co-locate carry
// the same hash tag, and the memory store shards by the same slot function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace redkeeper {

// `{prefix}:limiter:{name}:{<id>}` — the id inside a hash tag so the state and its block marker
// share a slot.
std::string limiter_key(std::string_view prefix, std::string_view name, std::string_view id);
// `{prefix}:limiter:{name}:{<id>}:block`
std::string limiter_block_key(std::string_view prefix, std::string_view name, std::string_view id);

// The part of a key Redis Cluster hashes: from the first '{' to the next '}' when that is
// non-empty, else the whole key.
std::string_view hash_tag(std::string_view key);

// CRC16-XMODEM (poly 0x1021, init 0) as Redis Cluster uses it.
uint16_t crc16_xmodem(std::string_view data);

// CRC16(hash_tag(key)) mod 16384.
uint16_t key_slot(std::string_view key);

// A fast seeded 64-bit hash of bytes (wyhash's construction) for in-process tables; never part of
// the key layout or of anything that crosses a process boundary. A random seed per table keeps
// crafted colliding keys from degrading it.
uint64_t hash_bytes(std::string_view data, uint64_t seed);

}  // namespace redkeeper
