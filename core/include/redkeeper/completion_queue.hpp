// Hands completions from the I/O thread to a host event loop (Node's JS thread, an asyncio loop)
// in batches: the first post after a drain wakes the host once; the host drains everything queued.
#pragma once

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace redkeeper {

class CompletionQueue {
 public:
  // `wake` is called from the posting thread, outside the lock, once per batch.
  explicit CompletionQueue(std::function<void()> wake) : wake_(std::move(wake)) {}

  void post(std::function<void()> fn) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = pending_.empty() && !wake_pending_;
      pending_.push_back(std::move(fn));
      if (first) wake_pending_ = true;
    }
    if (first && wake_) wake_();
  }

  // Runs on the host thread. Returns how many completions ran.
  size_t drain() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);
      wake_pending_ = false;
    }
    for (auto& fn : batch) fn();
    return batch.size();
  }

 private:
  std::function<void()> wake_;
  std::mutex mu_;
  std::vector<std::function<void()>> pending_;
  bool wake_pending_ = false;
};

}  // namespace redkeeper
