// Carries completions of ops that finish on the core's I/O thread to the JS thread in batches: one
// CompletionQueue and one ThreadSafeFunction per client, referenced only while ops are in flight.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "redkeeper/completion_queue.hpp"

namespace redkeeper_node {

class AsyncBridge {
  struct Tag {};

 public:
  // Settles one op's promise on the JS thread; may throw Napi::Error (then the promise rejects).
  using Settle = std::function<void(Napi::Env, Napi::Promise::Deferred&)>;

  static std::shared_ptr<AsyncBridge> create(Napi::Env env);
  explicit AsyncBridge(Tag, Napi::Env env);

  // JS thread: registers an op and returns its id and the promise the caller hands out.
  std::pair<uint64_t, Napi::Promise> begin();
  // JS thread: the op threw before it started; forget it (its promise was never handed out).
  void abandon(uint64_t id);
  // Any thread: queue the settlement of op `id`; the JS thread is woken once per batch.
  void complete(uint64_t id, Settle settle);
  // JS thread: runs what is queued, rejects what is still pending with `closed_error`, and releases
  // the wake line so the process can exit. Idempotent.
  void shutdown(const std::function<Napi::Value(Napi::Env)>& closed_error);

  size_t in_flight() const { return pending_.size(); }

 private:
  void wake();                               // any thread
  void settle_now(uint64_t id, Settle& fn);  // JS thread
  void update_ref();                         // JS thread

  Napi::Env env_;
  redkeeper::CompletionQueue queue_;
  std::mutex tsfn_mu_;
  bool tsfn_open_ = false;                   // guarded by tsfn_mu_
  Napi::ThreadSafeFunction tsfn_;
  // JS thread only.
  std::unordered_map<uint64_t, Napi::Promise::Deferred> pending_;
  uint64_t next_id_ = 1;
  bool referenced_ = false;
};

}  // namespace redkeeper_node
