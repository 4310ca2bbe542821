// Time sources. The memory backend reads its clock for every op; tests inject a ManualClock so
// expiry and windows are deterministic. On Redis, time comes from the server's TIME unless a
// test clock is injected (then scripts receive its reading explicitly).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace redkeeper {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;
  virtual bool is_manual() const { return false; }
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(std::memory_order_acquire); }
  bool is_manual() const override { return true; }
  void advance(int64_t ms) { now_.fetch_add(ms, std::memory_order_acq_rel); }
  void set(int64_t ms) { now_.store(ms, std::memory_order_release); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace redkeeper
