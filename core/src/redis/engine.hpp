// What RedisClient, RedisBackend and the Redis limiter send commands through: one Redis server
// (RedisEngine) or a Redis Cluster (ClusterEngine, which routes to one RedisEngine per primary).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "redis/redis_client.hpp"

namespace redkeeper {

class Engine {
 public:
  using SteadyClock = std::chrono::steady_clock;

  virtual ~Engine() = default;

  virtual void start() = 0;  // starts connecting in the background; never blocks on the network
  // A Redis error reply settles with Error(Script, message); else Timeout, Connection, QueueFull,
  // Protocol, Closed. timeout_ms <= 0 uses options.command_timeout_ms.
  virtual void submit(ArgList args, Callback<Reply> done, int64_t timeout_ms) = 0;
  // EVALSHA, re-sent as EVAL only on NOSCRIPT.
  virtual void submit_eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
                           int64_t timeout_ms) = 0;
  // Write batching (see RedisEngine::cork). Nests.
  virtual void cork() = 0;
  virtual void uncork() = 0;
  // Settles everything in flight with Error(Closed). Idempotent; callable from a callback.
  virtual void close() = 0;
  virtual bool closed() const = 0;

  virtual bool connected() const = 0;
  virtual double latency_ms() const = 0;
  virtual void record_latency(SteadyClock::duration d) = 0;
  virtual Stats stats() const = 0;
  virtual uint64_t socket_writes() const = 0;

  // Where a pub/sub connection may go, in preference order: empty means "the client's URL" (one
  // server). A cluster lists its known nodes, so the subscriber can move on when its node dies
  // (a PUBLISH anywhere in a cluster reaches every node).
  virtual std::vector<RedisUrl> subscribe_urls() const { return {}; }
};

}  // namespace redkeeper
