// The entry point: a Client opened from a URL owns one backend (memory or Redis) and hands out
// primitives bound to it. Bindings hold a shared_ptr<Client> and nothing else of the backend.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "redkeeper/clock.hpp"
#include "redkeeper/error.hpp"
#include "redkeeper/limiter.hpp"
#include "redkeeper/primitive.hpp"

namespace redkeeper {

class Backend;  // core/src/common/backend.hpp

struct TlsOptions {
  std::string ca_file;         // PEM bundle; empty = system default paths
  std::string cert_file;       // client certificate (mutual TLS)
  std::string key_file;
  std::string server_name;     // SNI / verification name; empty = host from the URL
  bool verify = true;          // certificate verification; false only by explicit opt-out
};

struct ClientOptions {
  std::string prefix = "rk";
  int64_t connect_timeout_ms = 2000;
  int64_t command_timeout_ms = 1000;
  size_t max_pending = 10000;          // ops queued while disconnected before QueueFull
  int64_t reconnect_min_ms = 50;
  int64_t reconnect_max_ms = 2000;
  TlsOptions tls;
  // Memory: the time source. Redis: when set, scripts get its reading instead of calling TIME
  // (for deterministic tests); production leaves it empty.
  std::shared_ptr<Clock> clock;
  size_t memory_shards = 64;
  int64_t sweep_interval_ms = 100;     // memory background expiry sweep; 0 disables the thread
  // Redis Cluster. With `cluster` set, a redis:// or rediss:// URL names one seed node (the
  // redis+cluster:// and rediss+cluster:// schemes imply it and accept several seeds).
  bool cluster = false;
  int64_t cluster_refresh_ms = 10000;  // periodic topology refresh; 0 = refresh only on errors
  int max_redirects = 5;               // MOVED/ASK/TRYAGAIN/CLUSTERDOWN retries per op
};

struct Health {
  std::string backend;   // "memory" | "redis"
  bool connected = false;  // cluster: every known primary connected
  double latency_ms = 0;
};

struct Stats {
  uint64_t ops = 0;
  uint64_t errors = 0;
  uint64_t timeouts = 0;
  uint64_t reconnects = 0;
  uint64_t in_flight = 0;
  uint64_t keys = 0;      // memory backend: resident keys (including not-yet-swept expired ones)
  uint64_t redirects = 0;           // cluster: MOVED and ASK redirections followed
  uint64_t topology_refreshes = 0;  // cluster: topology (slot map) fetches that succeeded
  uint64_t nodes = 0;               // primaries currently known: 1 for one server, 0 for memory
};

class Client {
 public:
  // Parses the URL (memory://, redis://, rediss://, unix://, and for Redis Cluster
  // redis+cluster://[user:pass@]h1:p1[,h2:p2...] or rediss+cluster://...; a redis:// URL with
  // options.cluster is a cluster seed too); throws InvalidArgument on a bad URL or option. Redis
  // clients connect in the background: open() never blocks on the network. In a cluster, health()
  // is connected when every known primary is.
  static std::shared_ptr<Client> open(std::string_view url, ClientOptions options = {});
  virtual ~Client() = default;

  // Validates the config (throws InvalidArgument) and returns a limiter bound to this backend.
  virtual std::shared_ptr<Limiter> limiter(LimiterConfig config) = 0;

  // Several limits at one instant, all or nothing: when every check allows, each consumes its cost;
  // when any rejects, none consumes (a rejecting limiter with block_duration still blocks its own
  // key). results[i] answers checks[i]: allowed means that limit alone would admit the request.
  // Checks a local block cache already rejects are answered in-process; the other checks of such
  // a request are then not evaluated and report degraded (the store was not asked).
  // Redis: one EVALSHA carrying every key (atomic). Memory: atomic with respect to every other op.
  // Store failure: Raise on any involved limiter delivers the error; else Closed on any rejects;
  // else (all Open) allowed with degraded results. InvalidArgument (through `done`) unless there
  // are 1..kMaxLimitChecks checks with limiters made by this client, valid keys and costs, and no
  // (limiter name, key) pair twice.
  virtual void hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done) = 0;

  // A script-based primitive bound to this backend (kinds listed in primitive.hpp). Throws
  // InvalidArgument on an unknown kind or bad config, Error(Closed) on a closed client.
  std::shared_ptr<Primitive> primitive(std::string_view kind, const Value& config);
  // What script-based primitives run on (one per client, created on first use).
  virtual std::shared_ptr<Backend> backend() = 0;

  // Write-batching hint for event-loop hosts: ops started between cork() and the matching uncork()
  // go to the network together (Node corks for one event-loop turn). Nests; no-op on memory.
  virtual void cork() {}
  virtual void uncork() {}

  // True when ops complete inside the call (memory): bindings skip the thread hop then.
  virtual bool completes_inline() const = 0;

  virtual void ping(Callback<double> done) = 0;  // round-trip latency in ms
  virtual Health health() const = 0;
  virtual Stats stats() const = 0;
  // Settles everything in flight (ErrorCode::Closed) and stops background threads. Idempotent.
  virtual void close() = 0;
  virtual bool closed() const = 0;

  const ClientOptions& options() const { return options_; }

 protected:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  ClientOptions options_;
};

}  // namespace redkeeper
