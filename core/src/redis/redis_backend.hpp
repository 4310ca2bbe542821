// The Redis Backend of the script-based primitives: eval/command on the client's RedisEngine
// (pipelined, deadlines, EVALSHA -> EVAL on NOSCRIPT), plus one backend thread that owns the
// subscriber connection (listen/unlisten) and the timers (schedule/cancel).
#pragma once

#include <memory>

#include "common/backend.hpp"

namespace redkeeper {

class Engine;

// Threads: eval()/command() callbacks run on the engine's I/O thread; listeners and timers run on
// the backend thread (started by the first listen() or schedule()), so a slow user callback never
// delays replies. No lock is held while a callback runs.
//
// Listeners: besides the empty message after a reconnect (backend.hpp), every new listener is
// called once with an empty message as soon as its channel's SUBSCRIBE is confirmed by the server
// (right away, on the backend thread, when it already is): a message published between listen()
// and the subscription becoming active would otherwise be lost, so waiters re-check then.
// A listener may still be running on the backend thread when unlisten() returns on another thread.
//
// close() (also run by the destructor) cancels timers without running them (their closures are
// destroyed), drops listeners, closes the subscriber connection, joins the backend thread (unless
// called on it) and closes the engine, which settles everything in flight with Error(Closed).
class RedisBackend final : public Backend {
 public:
  RedisBackend(const RedisUrl& url, const ClientOptions& options, std::shared_ptr<Engine> engine);
  ~RedisBackend() override;
  RedisBackend(const RedisBackend&) = delete;
  RedisBackend& operator=(const RedisBackend&) = delete;

  const char* kind() const override { return "redis"; }
  const std::string& prefix() const override;
  const ClientOptions& options() const override;
  bool completes_inline() const override { return false; }

  void eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
            int64_t timeout_ms = 0) override;
  void command(ArgList args, Callback<Reply> done, int64_t timeout_ms = 0) override;

  uint64_t listen(const std::string& channel, std::function<void(std::string_view)> on_message) override;
  void unlisten(uint64_t listener_id) override;

  uint64_t schedule(int64_t delay_ms, std::function<void()> fn) override;
  bool cancel(uint64_t timer_id) override;

  int64_t now_ms() const override;
  bool closed() const override;
  void close() override;

  // The backend thread's state lives in Core, which that thread co-owns: the last reference to
  // the backend may be dropped by a callback running on the backend thread itself.
  class Core;

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace redkeeper
