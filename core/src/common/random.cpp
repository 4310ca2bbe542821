// Per-thread buffered CSPRNG output; see random.hpp.
#include "common/random.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "redkeeper/error.hpp"

namespace redkeeper {

namespace {

// Bumped in every forked child (pthread_atfork): a buffer filled under an older generation was
// inherited from the parent and must not be used. Cheaper than a getpid() syscall per draw.
std::atomic<uint64_t> g_fork_generation{1};

void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

uint64_t fork_generation() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, &on_fork_child);
    return true;
  }();
  (void)registered;
  return g_fork_generation.load(std::memory_order_relaxed);
}

void draw(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw Error(ErrorCode::Internal, "CSPRNG failure (OpenSSL RAND_bytes)");
}

struct Pool {
  static constexpr size_t kBytes = 2048;
  unsigned char bytes[kBytes];
  size_t used = kBytes;  // empty until the first draw
  uint64_t generation = 0;

  ~Pool() { OPENSSL_cleanse(bytes, sizeof bytes); }

  void refill(uint64_t gen) {
    draw(bytes, kBytes);
    used = 0;
    generation = gen;
  }
};

}  // namespace

void random_bytes(unsigned char* out, size_t n) {
  // Large draws (none of ours today) skip the pool.
  if (n > Pool::kBytes / 4) {
    draw(out, n);
    return;
  }
  thread_local Pool pool;
  const uint64_t gen = fork_generation();
  if (pool.generation != gen || pool.used + n > Pool::kBytes) pool.refill(gen);
  std::memcpy(out, pool.bytes + pool.used, n);
  OPENSSL_cleanse(pool.bytes + pool.used, n);  // a token handed out is not kept in memory
  pool.used += n;
}

std::string random_hex(size_t n_bytes) {
  static const char kHex[] = "0123456789abcdef";
  unsigned char raw[64];
  std::string out(2 * n_bytes, '0');
  size_t done = 0;
  while (done < n_bytes) {
    const size_t chunk = std::min(n_bytes - done, sizeof raw);
    random_bytes(raw, chunk);
    for (size_t i = 0; i < chunk; ++i) {
      out[2 * (done + i)] = kHex[raw[i] >> 4];
      out[2 * (done + i) + 1] = kHex[raw[i] & 15];
    }
    done += chunk;
  }
  OPENSSL_cleanse(raw, sizeof raw);
  return out;
}

}  // namespace redkeeper
