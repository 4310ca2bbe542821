// The memory backend: runs the same Lua scripts the Redis backend sends, in an embedded Lua 5.1
// with Redis's scripting API and conversions, over an in-process keyspace (lua_keyspace.hpp).
// One mutex serialises every script and command (Redis is single-threaded); results and
// published messages are delivered after it is released, so callbacks may call back in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/backend.hpp"

namespace redkeeper {

struct LuaBackendLimits {
  // A script running longer than this is aborted with an error reply (Redis would answer BUSY to
  // everyone else until SCRIPT KILL; in-process there is nobody to send SCRIPT KILL).
  int64_t script_time_limit_ms = 5000;
  // Background expiry: keys removed per locked batch, and the work bound per sweep tick.
  size_t sweep_batch = 1000;
  int64_t sweep_budget_ms = 25;
  // Redis Cluster's slot rules, applied on memory too: a script's KEYS, every key it then touches,
  // and the keys of one multi-key command must hash to one slot (else the cluster's CROSSSLOT /
  // "do not hash to the same slot" errors). Every primitive keeps them by construction; checking
  // them here makes every memory test prove it. Off only to compare with a standalone server.
  bool cluster_slot_checks = true;
};

class LuaBackend final : public Backend {
 public:
  explicit LuaBackend(const ClientOptions& options, LuaBackendLimits limits = {});
  ~LuaBackend() override;
  LuaBackend(const LuaBackend&) = delete;
  LuaBackend& operator=(const LuaBackend&) = delete;

  const char* kind() const override { return "memory"; }
  const std::string& prefix() const override;
  const ClientOptions& options() const override;
  bool completes_inline() const override { return true; }

  void eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done, int64_t timeout_ms = 0) override;
  void command(ArgList args, Callback<Reply> done, int64_t timeout_ms = 0) override;

  uint64_t listen(const std::string& channel, std::function<void(std::string_view)> on_message) override;
  void unlisten(uint64_t listener_id) override;

  uint64_t schedule(int64_t delay_ms, std::function<void()> fn) override;
  bool cancel(uint64_t timer_id) override;

  int64_t now_ms() const override;
  bool closed() const override;
  void close() override;

  // Keys held in memory, including expired keys not yet removed (tests, Stats::keys).
  size_t resident_keys() const;
  // One background-sweep step run now on the calling thread: removes up to max_keys expired keys.
  size_t sweep_expired(size_t max_keys);
  // Number of compiled scripts in the SHA1 cache.
  size_t cached_scripts() const;

  struct State;  // keyspace, Lua state, listeners, timers (shared with the timer thread)

 private:
  std::shared_ptr<State> state_;
  std::thread timer_thread_;
};

}  // namespace redkeeper
