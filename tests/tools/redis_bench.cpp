// Throughput of RedisClient::eval at a fixed concurrency (callers that each re-issue on
// completion), to compare with `redis-benchmark -P <concurrency> EVALSHA` on the same server.
// Build: see tests/tools/README.md. Usage: redis_bench <redis-url> [concurrency=64] [seconds=3]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "redis/redis_client.hpp"

using namespace redkeeper;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <redis-url> [concurrency] [seconds]\n", argv[0]);
    return 2;
  }
  int concurrency = argc > 2 ? std::atoi(argv[2]) : 64;
  double seconds = argc > 3 ? std::atof(argv[3]) : 3.0;
  auto client = std::dynamic_pointer_cast<RedisClient>(Client::open(argv[1]));
  // Same script as the redis-benchmark ceiling run: a fixed-window style INCR + PEXPIRE.
  Script script(
      "local n = redis.call('INCR', KEYS[1]) "
      "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n");
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0}, errors{0};
  std::atomic<int> active{0};
  std::function<void()> issue = [&] {
    if (stop.load(std::memory_order_relaxed)) {
      active--;
      return;
    }
    client->eval(script, {"bench:{k}"}, {"60000"}, [&](Result<Reply> r) {
      if (!r.ok()) errors++;
      done.fetch_add(1, std::memory_order_relaxed);
      issue();
    });
  };
  // Warm up the connection and the script cache.
  for (int i = 0; i < concurrency; ++i) {
    active++;
    issue();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  uint64_t start_count = done.load();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  uint64_t end_count = done.load();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  while (active.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Stats s = client->stats();
  std::printf("concurrency=%d ops/s=%.0f errors=%llu socket_writes=%llu ops=%llu\n", concurrency,
              static_cast<double>(end_count - start_count) / elapsed,
              static_cast<unsigned long long>(errors.load()),
              static_cast<unsigned long long>(client->socket_writes()),
              static_cast<unsigned long long>(s.ops));
  client->close();
  return errors.load() == 0 ? 0 : 1;
}
