// Counts the ops one host event-loop turn starts on a corked client (Node's JS thread, an asyncio
// loop), so the bindings send them in chunks while the turn runs instead of all at its end: Redis
// starts on the first chunk while the host is still making the next, and its replies come back in
// chunks the loop can settle while the server works on the rest. One write per turn had the server
// and the host thread take turns idling (bench/node_redis.js, 64 callers: about 0.7x -> 1.0-1.2x
// rate-limiter-flexible). Used by bindings/node/bridge.cpp and bindings/python/bridge.cpp.
#pragma once

namespace redkeeper {

class TurnChunks {
 public:
  static constexpr int kOpsPerWrite = 32;

  // Called before each op of a corked turn is submitted: true when the ops before it fill a chunk,
  // which the caller then sends (uncork, cork again). The 33rd op of a turn sends the 32 before it.
  bool next() noexcept {
    if (count_ == kOpsPerWrite) {
      count_ = 1;
      return true;
    }
    ++count_;
    return false;
  }
  // The turn ended (everything was uncorked).
  void reset() noexcept { count_ = 0; }

 private:
  int count_ = 0;
};

}  // namespace redkeeper
