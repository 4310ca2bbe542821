// The surface every script-based primitive is built on, implemented once per backend: Redis
// (core/src/redis/redis_backend.*: EVALSHA on the pipelined connection, a subscriber connection for
// wake-ups, timers on an Asio thread) and memory (core/src/store/lua_backend.*: the same Lua scripts
// run by an embedded Lua 5.1 over an in-process keyspace, so both backends behave identically by
// construction). A primitive holds a shared_ptr<Backend> and never knows which one it has.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "redis/redis_client.hpp"  // ArgList
#include "redis/reply.hpp"
#include "redis/script.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {

class Backend {
 public:
  virtual ~Backend() = default;

  // "memory" or "redis".
  virtual const char* kind() const = 0;
  // Key prefix of the owning client (ClientOptions::prefix, default "rk").
  virtual const std::string& prefix() const = 0;
  virtual const ClientOptions& options() const = 0;

  // True when eval()/command() settle inside the call (memory).
  virtual bool completes_inline() const = 0;

  // Runs one Lua script atomically. Redis: EVALSHA, EVAL only on NOSCRIPT. Memory: the embedded
  // Lua 5.1 host, same redis.call/pcall semantics and the same Lua<->reply conversions as Redis.
  // Scripts may use only the command subset the memory host implements (listed in
  // core/src/store/README.md) and the Lua base/string/table/math libraries (no cjson: JSON is
  // done in C++). Error replies settle with Error(Script, message).
  virtual void eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
                    int64_t timeout_ms = 0) = 0;
  // One plain command (SCAN, UNLINK, PUBLISH...). Same subset rule as eval().
  virtual void command(ArgList args, Callback<Reply> done, int64_t timeout_ms = 0) = 0;

  // Wake-ups across processes. A script does redis.call('PUBLISH', channel, message); every client
  // of this backend kind that listens on `channel` hears it (Redis: one subscriber connection per
  // client, re-subscribed after reconnects; memory: delivered in-process after the script returns).
  // on_message runs on a core thread and must not block. After a subscriber reconnect, every
  // listener is called once with an empty message (messages may have been missed: re-check).
  virtual uint64_t listen(const std::string& channel, std::function<void(std::string_view)> on_message) = 0;
  virtual void unlisten(uint64_t listener_id) = 0;

  // Runs fn on a core thread after delay_ms (>= 0). cancel() returns true when fn will not run
  // (false when it already ran or is running). close() cancels every pending timer without running it.
  virtual uint64_t schedule(int64_t delay_ms, std::function<void()> fn) = 0;
  virtual bool cancel(uint64_t timer_id) = 0;

  // The client's clock in ms since the epoch (memory: the injected ManualClock when set; Redis:
  // system clock; scripts use Redis TIME / the host's TIME for anything stored).
  virtual int64_t now_ms() const = 0;
  virtual bool closed() const = 0;
  // Settles everything in flight with Error(Closed), cancels timers, drops listeners. Idempotent.
  virtual void close() = 0;
};

}  // namespace redkeeper
