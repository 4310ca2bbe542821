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

#include "errors.hpp"
#include "redkeeper/completion_queue.hpp"
#include "redkeeper/error.hpp"
#include "redkeeper/turn_chunks.hpp"

namespace redkeeper_node {

class AsyncBridge {
  struct Tag {};

 public:
  // Settles one op's promise on the JS thread; may throw Napi::Error (then the promise rejects).
  using Settle = std::function<void(Napi::Env, Napi::Promise::Deferred&)>;

  // `cork`/`uncork` (optional) bracket one event-loop turn: the first op of a turn corks the
  // client and a setImmediate uncorks it, so the ops of one turn reach the socket together: in
  // one write, or in chunks made as the turn goes (redkeeper/turn_chunks.hpp).
  static std::shared_ptr<AsyncBridge> create(Napi::Env env, std::function<void()> cork = {},
                                             std::function<void()> uncork = {});
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
  void cork_for_turn();                      // JS thread
  void uncork_now();                         // JS thread
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
  std::function<void()> cork_, uncork_;
  bool corked_ = false;
  redkeeper::TurnChunks chunks_;             // ops begun in this turn since its last write
  Napi::FunctionReference set_immediate_;    // globalThis.setImmediate
  Napi::FunctionReference uncork_fn_;        // calls uncork_now(); made once
};

// JS thread: starts a core op whose callback may run on the I/O thread and returns its promise. The
// promise resolves with to_js(env, value) or rejects with the mapped core error; if `start` throws,
// the op is forgotten and the exception propagates (the caller's guard turns it into a JS error).
template <class T, class Start, class ToJs>
Napi::Promise start_async(const std::shared_ptr<AsyncBridge>& bridge, Start&& start, ToJs to_js) {
  auto [id, promise] = bridge->begin();
  try {
    start([bridge, id = id, to_js](redkeeper::Result<T> r) {
      bridge->complete(id, [r = std::move(r), to_js](Napi::Env e, Napi::Promise::Deferred& d) {
        if (r.ok()) {
          d.Resolve(to_js(e, r.value()));
        } else {
          d.Reject(to_js_error(e, r.error()).Value());
        }
      });
    });
  } catch (...) {
    bridge->abandon(id);
    throw;
  }
  return promise;
}

}  // namespace redkeeper_node
