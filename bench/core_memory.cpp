// C++ micro-benchmark of the memory:// limiter hot path (Limiter::hit_inline on existing keys), the
// figure the Node and Python bindings build on. Usage: core_memory [--ops N] [--rounds R] [--keys K]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include "redkeeper/client.hpp"
#include "redkeeper/limiter.hpp"

namespace {

using redkeeper::Algorithm;
using redkeeper::LimitResult;

struct Args {
  long ops = 2'000'000;
  int rounds = 7;
  int keys = 1000;
};

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--ops") == 0) args.ops = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "--rounds") == 0) args.rounds = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--keys") == 0) args.keys = std::atoi(argv[i + 1]);
  }
  args.ops = std::max(1L, args.ops);
  args.rounds = std::max(1, args.rounds);
  args.keys = std::max(1, args.keys);
  return args;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

// CPU time of this thread: unlike wall time it leaves out the time other processes held the core,
// which on a shared machine is most of the noise.
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Timing {
  double wall_ns;  // per hit
  double cpu_ns;   // per hit
};

// Hits keys round-robin; returns ns per hit. A result that is not what the workload must produce
// aborts the run (a fast wrong answer is no answer).
Timing run(redkeeper::Limiter& limiter, const std::vector<std::string>& keys, long ops,
           bool expect_allowed) {
  LimitResult out;
  long allowed = 0;
  const double cpu_start = thread_cpu_ns();
  const auto start = std::chrono::steady_clock::now();
  size_t k = 0;
  for (long i = 0; i < ops; ++i) {
    limiter.hit_inline(keys[k], 1, out);
    allowed += out.allowed ? 1 : 0;
    if (++k == keys.size()) k = 0;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const double cpu = thread_cpu_ns() - cpu_start;
  if (allowed != (expect_allowed ? ops : 0)) {
    std::fprintf(stderr, "unexpected results: %ld of %ld allowed\n", allowed, ops);
    std::exit(1);
  }
  const double n = static_cast<double>(ops);
  return {std::chrono::duration<double, std::nano>(elapsed).count() / n, cpu / n};
}

std::vector<std::string> make_keys(int count, const char* tag) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (int i = 0; i < count; ++i) {
    keys.push_back(std::string(tag) + "10.0." + std::to_string(i >> 8) + "." + std::to_string(i & 255));
  }
  return keys;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  std::printf("%ld hits per measurement, median of %d, %d keys round-robin, existing keys\n", args.ops,
              args.rounds, args.keys);
  std::printf("%-16s %-22s %12s %12s %14s\n", "algorithm", "case", "cpu ns/hit", "wall ns/hit",
              "hits/s (wall)");
  auto report = [](const char* algorithm, const char* label, const std::vector<Timing>& timings) {
    std::vector<double> wall;
    std::vector<double> cpu;
    for (const Timing& t : timings) {
      wall.push_back(t.wall_ns);
      cpu.push_back(t.cpu_ns);
    }
    const double w = median(wall);
    std::printf("%-16s %-22s %12.1f %12.1f %14.0f\n", algorithm, label, median(cpu), w, 1e9 / w);
  };

  struct Case {
    Algorithm algorithm;
    const char* label;
    int64_t limit;
    bool allowed;
  };
  // Admitted hits do the full accounting; the rejected case exercises the over-limit path.
  const Case cases[] = {
      {Algorithm::FixedWindow, "admitted", 1'000'000'000, true},
      {Algorithm::SlidingWindow, "admitted", 1'000'000'000, true},
      {Algorithm::TokenBucket, "admitted", 1'000'000'000, true},
      {Algorithm::Gcra, "admitted", 1'000'000'000, true},
      {Algorithm::FixedWindow, "rejected", 1, false},
  };
  const auto keys = make_keys(args.keys, "");
  for (const Case& c : cases) {
    // A client per case, so only the measured keys are resident.
    auto client = redkeeper::Client::open("memory://");
    redkeeper::LimiterConfig config;
    config.name = std::string("bench_") + redkeeper::algorithm_name(c.algorithm) + "_" + c.label;
    config.algorithm = c.algorithm;
    config.limit = c.limit;
    config.window_ms = 3'600'000;
    auto limiter = client->limiter(config);
    if (!c.allowed) {
      LimitResult out;
      for (const auto& key : keys) limiter->hit_inline(key, 1, out);  // use up the one unit
    }
    run(*limiter, keys, std::min<long>(args.ops, 200'000), c.allowed);  // warm: keys exist, caches hot
    std::vector<Timing> timings;
    for (int r = 0; r < args.rounds; ++r) timings.push_back(run(*limiter, keys, args.ops, c.allowed));
    report(redkeeper::algorithm_name(c.algorithm), c.label, timings);
    client->close();
  }

  // Two threads on one limiter, disjoint keys: the shard locks must not serialise them. Reported per
  // thread (cpu) and as aggregate throughput (wall).
  {
    auto client = redkeeper::Client::open("memory://");
    redkeeper::LimiterConfig config;
    config.name = "bench_threads";
    config.algorithm = Algorithm::FixedWindow;
    config.limit = 1'000'000'000;
    config.window_ms = 3'600'000;
    auto limiter = client->limiter(config);
    std::vector<Timing> timings;
    for (int r = 0; r < args.rounds; ++r) {
      std::vector<Timing> per_thread(2);
      std::vector<std::thread> threads;
      for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
          const auto own = make_keys(args.keys, t == 0 ? "a:" : "b:");
          per_thread[t] = run(*limiter, own, args.ops, true);
        });
      }
      for (auto& th : threads) th.join();
      timings.push_back({std::max(per_thread[0].wall_ns, per_thread[1].wall_ns) / 2,
                         std::max(per_thread[0].cpu_ns, per_thread[1].cpu_ns)});
    }
    report("fixed_window", "2 threads", timings);
    client->close();
  }
  return 0;
}
