// Carries completions of non-inline ops (Redis) back to Python: to an asyncio loop in batches through
// a pipe + CompletionQueue (no GIL on the I/O thread), or to a sync caller waiting with the GIL
// released. Memory limiter ops never come here: they complete inside the call (primitive ops may not:
// waits and timers complete later even on memory://, so they decide per call; see primitive.cpp).
#pragma once

#include <pybind11/pybind11.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "redkeeper/completion_queue.hpp"
#include "redkeeper/error.hpp"
#include "redkeeper/limiter.hpp"
#include "redkeeper/primitive.hpp"
#include "redkeeper/turn_chunks.hpp"
#include "multi.hpp"
#include "result.hpp"

namespace redkeeper::python {

namespace py = pybind11;

// What an op settled with, free of Python objects so it can be built on the I/O thread.
// Value: a primitive op's JSON result.
using Outcome = std::variant<LimitResult, Unit, double, MultiOutcome, Value, Error>;

// The GIL-free half of a bridge: the wake-up pipe, the completion queue and the batch drained from
// it. Shared with in-flight callbacks, so it outlives the Python object if ops are still running.
class BridgeCore {
 public:
  BridgeCore();
  ~BridgeCore();
  BridgeCore(const BridgeCore&) = delete;
  BridgeCore& operator=(const BridgeCore&) = delete;

  int read_fd() const { return read_fd_; }
  // I/O thread: queue the outcome of op `id`; the first post of a batch writes one byte to the pipe.
  void post(uint64_t id, Outcome outcome);
  // Loop thread: empties the pipe and the queue, returns the batch in posting order.
  std::vector<std::pair<uint64_t, Outcome>> take_batch();

 private:
  void wake() noexcept;

  int read_fd_ = -1;
  int write_fd_ = -1;
  CompletionQueue queue_;
  std::vector<std::pair<uint64_t, Outcome>> batch_;  // filled only inside queue_.drain()
};

// One per asyncio event loop (see redkeeper/_bridge.py): its read end is registered with
// loop.add_reader(fd, bridge.drain).
class LoopBridge {
 public:
  LoopBridge();
  ~LoopBridge();
  LoopBridge(const LoopBridge&) = delete;
  LoopBridge& operator=(const LoopBridge&) = delete;

  int fileno() const { return core_->read_fd(); }
  size_t pending() const { return pending_.size(); }

  // Registers `future` (an asyncio.Future of this loop) and returns the callback that settles it.
  // `policy` is needed to build RateLimitResult values; null for ops that return no result.
  template <class T>
  Callback<T> expect(py::object future, std::shared_ptr<const Policy> policy) {
    const uint64_t id = next_id_++;
    pending_.emplace(id, Pending{std::move(future), std::move(policy)});
    std::weak_ptr<BridgeCore> weak = core_;
    return [weak, id](Result<T> result) {
      // A bridge whose loop is gone has nobody to tell: the outcome is dropped.
      if (auto core = weak.lock()) {
        if (result.ok()) {
          core->post(id, Outcome(std::move(result.value())));
        } else {
          core->post(id, Outcome(result.error()));
        }
      }
    };
  }
  // Forgets `future` again when the op could not be started (it raised synchronously).
  void forget_last() { pending_.erase(next_id_ - 1); }

  // For ops that decide after starting whether they completed inline (primitives): register the
  // future only once the op is known to be still running, then post its outcome to core() under id.
  uint64_t register_future(py::object future) {
    const uint64_t id = next_id_++;
    pending_.emplace(id, Pending{std::move(future), nullptr});
    return id;
  }
  void forget(uint64_t id) { pending_.erase(id); }
  std::weak_ptr<BridgeCore> core() const { return core_; }

  // Loop thread, GIL held: settles every future whose op completed; cancelled ones are skipped.
  size_t drain();

  // Turn batching, as the Node binding does: the first op a loop turn starts on `client` corks it,
  // and a loop.call_soon callback uncorks it after the tasks ready in that turn have run, so their
  // ops reach the socket together, in chunks made as the turn goes (redkeeper/turn_chunks.hpp).
  // Needs set_scheduler(); a no-op before.
  void cork_for_turn(const std::shared_ptr<Client>& client);
  // `schedule()` must arrange for uncork_all() to run soon on the loop (redkeeper/_bridge.py passes
  // a closure over weak references, so neither the loop nor this bridge is kept alive by it).
  void set_scheduler(py::object schedule);
  void uncork_all();

 private:
  std::vector<std::shared_ptr<Client>> corked_;  // loop thread, GIL held
  TurnChunks chunks_;
  bool uncork_scheduled_ = false;
  py::object schedule_;

  struct Pending {
    py::object future;
    std::shared_ptr<const Policy> policy;
  };
  std::shared_ptr<BridgeCore> core_;
  std::unordered_map<uint64_t, Pending> pending_;  // touched with the GIL held only
  uint64_t next_id_ = 1;
};

// A sync caller's wait for a non-inline op. The callback may run on any thread and needs no GIL.
template <class T>
class BlockingWait {
 public:
  BlockingWait() : state_(std::make_shared<State>()) {}

  Callback<T> callback() {
    return [state = state_](Result<T> result) {
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->result.emplace(std::move(result));
      }
      state->cv.notify_one();
    };
  }

  // Blocks with the GIL released until the callback has run (the core guarantees it runs: every
  // op settles, at the latest at its deadline or at close()).
  Result<T> wait() {
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->cv.wait(lock, [&] { return state_->result.has_value(); });
    }
    return std::move(*state_->result);
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<T>> result;
  };
  std::shared_ptr<State> state_;
};

// Runs `start(callback)` and returns its outcome. Inline clients (memory) settle inside the call, so
// the result lands in a local with no allocation, no lock and no GIL release.
template <class T, class Start>
Result<T> run_sync(bool completes_inline, Start&& start) {
  if (completes_inline) {
    std::optional<Result<T>> out;
    start(Callback<T>([&out](Result<T> r) { out.emplace(std::move(r)); }));
    if (!out) throw Error(ErrorCode::Internal, "an inline backend did not complete its op inline");
    return std::move(*out);
  }
  BlockingWait<T> waiter;
  start(waiter.callback());
  return waiter.wait();
}

template <class T>
T value_or_throw(Result<T> result) {
  if (!result.ok()) throw result.error();
  return std::move(result.value());
}

void register_bridge(py::module_& m);

}  // namespace redkeeper::python
