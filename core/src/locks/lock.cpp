// The "lock" primitive: one handle per holder. Acquire (owner token + fencing token in one script),
// waits woken by the release's PUBLISH (no polling), owner-only release/extend, auto-renewal and
// local lease tracking so a holder learns it lost the lock. Runs unchanged on memory and Redis.
#include "locks/lock.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "common/args.hpp"
#include "common/factories.hpp"
#include "common/random.hpp"

namespace redkeeper {

namespace locks_lua {
// Defined in the build dir's embedded_lua.cpp, generated from scripts/*.lua by core/CMakeLists.txt.
extern const char acquire[];
extern const char release[];
extern const char extend[];
}  // namespace locks_lua

namespace {

const Script& acquire_script() {
  static const Script s(locks_lua::acquire);
  return s;
}
const Script& release_script() {
  static const Script s(locks_lua::release);
  return s;
}
const Script& extend_script() {
  static const Script s(locks_lua::extend);
  return s;
}

// The fencing counter outlives any lease by far; once idle this long it expires (per-name counters
// must not accumulate forever) and restarts at the server clock in µs, still above every old fence.
constexpr int64_t kFenceRetentionMs = 7LL * 24 * 3600 * 1000;

// Milliseconds the holder subtracts from its lease before trusting it (clock drift between this
// process and the store, timer lateness), as Redlock does: the holder gives up slightly early.
int64_t drift_ms(int64_t ttl_ms) { return ttl_ms / 100 + 2; }

std::string short_name(std::string_view name) {
  return name.size() <= 100 ? std::string(name) : std::string(name.substr(0, 100)) + "...";
}

// 128 bits from the CSPRNG as 32 hex digits: unguessable, so only the holder can release.
std::string random_owner() { return random_hex(16); }

std::optional<bool> get_bool(const Value& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw invalid_argument(field, "must be a boolean");
  return it->get<bool>();
}

// Errors meaning "the store could not be asked" (per DESIGN: locks fail to acquire then).
bool store_unavailable(const Error& e) {
  switch (e.code()) {
    case ErrorCode::Connection:
    case ErrorCode::Timeout:
    case ErrorCode::QueueFull:
      return true;
    case ErrorCode::Script: {
      const std::string_view msg = e.what();
      for (std::string_view p : {"BUSY", "LOADING", "MASTERDOWN", "READONLY", "OOM", "TRYAGAIN", "CLUSTERDOWN"}) {
        if (msg.substr(0, p.size()) == p) return true;
      }
      return false;
    }
    default:
      return false;
  }
}

// Actions gathered under the handle's mutex and run after it is released: callbacks and backend
// calls must never run with the mutex held (memory completes inline and may re-enter the handle).
class Deferred {
 public:
  Deferred() = default;
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
  ~Deferred() { run(); }
  void add(std::function<void()> fn) { fns_.push_back(std::move(fn)); }
  void run() {
    while (!fns_.empty()) {
      auto fns = std::move(fns_);
      fns_.clear();
      for (auto& fn : fns) fn();
    }
  }

 private:
  std::vector<std::function<void()>> fns_;
};

Value event(const char* name) { return Value{{"event", name}}; }

class LockHandle;

// One timer per backend drives the renewal and lease checks of every lock held through it, so
// taking and releasing a lock schedules and cancels nothing (a timer per holding cost a wake-up of
// the backend's timer thread on every acquire and release). Entries are (due ms on the backend's
// clock, id) -> the handle's current tick; the timer is re-armed only for an earlier due time.
class LockTicker : public std::enable_shared_from_this<LockTicker> {
 public:
  using Key = std::pair<int64_t, uint64_t>;
  struct Entry {
    std::weak_ptr<LockHandle> handle;
    uint64_t gen;
    uint64_t seq;
  };

  explicit LockTicker(std::shared_ptr<Backend> backend) : backend_(std::move(backend)) {}

  // The ticker shared by every lock handle of `backend`.
  static std::shared_ptr<LockTicker> of(const std::shared_ptr<Backend>& backend) {
    static std::mutex mu;
    static std::unordered_map<const Backend*, std::weak_ptr<LockTicker>> tickers;
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = tickers.begin(); it != tickers.end();) {
      it = it->second.expired() ? tickers.erase(it) : std::next(it);
    }
    auto& slot = tickers[backend.get()];
    auto ticker = slot.lock();
    if (!ticker) {
      ticker = std::make_shared<LockTicker>(backend);
      slot = ticker;
    }
    return ticker;
  }

  // Registers a tick. When the timer must be re-armed for it, returns the arm sequence number:
  // the caller then calls arm(due_ms, seq) with no lock of its own held (a closed backend drops
  // the timer inline, which settles waiters through the handles).
  uint64_t add(int64_t due_ms, Entry entry, Key* key) {
    std::lock_guard<std::mutex> lock(mu_);
    *key = Key{due_ms, ++next_id_};
    entries_.emplace(*key, std::move(entry));
    if (due_ms >= armed_due_) return 0;
    armed_due_ = due_ms;
    return ++arm_seq_;
  }

  void arm(int64_t due_ms, uint64_t arm_seq) {
    auto notice = std::make_shared<DropNotice>();
    notice->ticker = weak_from_this();
    const int64_t delay = std::max<int64_t>(due_ms - backend_->now_ms(), 1);
    backend_->schedule(delay, [notice, arm_seq] {
      notice->ran = true;
      if (auto t = notice->ticker.lock()) t->fire(arm_seq);
    });
  }

  void remove(const Key& key) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.erase(key);
  }

  void fire(uint64_t arm_seq);
  void dropped();

 private:
  // A timer callback that notices when the backend drops it without running it (client closed):
  // whatever waits on the ticker is then settled with Error(Closed) instead of hanging.
  struct DropNotice {
    std::weak_ptr<LockTicker> ticker;
    bool ran = false;
    ~DropNotice() {
      if (ran) return;
      if (auto t = ticker.lock()) t->dropped();
    }
  };

  std::shared_ptr<Backend> backend_;
  std::mutex mu_;
  std::map<Key, Entry> entries_;
  uint64_t next_id_ = 0;
  int64_t armed_due_ = std::numeric_limits<int64_t>::max();  // due time of the pending timer
  uint64_t arm_seq_ = 0;                                      // which armed timer is current
};

class LockHandle final : public Primitive, public std::enable_shared_from_this<LockHandle> {
 public:
  LockHandle(std::shared_ptr<Backend> backend, LockConfig cfg)
      : backend_(std::move(backend)),
        cfg_(std::move(cfg)),
        key_(lock_key(backend_->prefix(), cfg_.name)),
        fence_key_(lock_fence_key(backend_->prefix(), cfg_.name)),
        channel_(lock_channel(backend_->prefix(), cfg_.name)),
        lease_ttl_ms_(cfg_.ttl_ms),
        ticker_(LockTicker::of(backend_)) {}

  ~LockHandle() override {
    // No binding holds this handle any more: settle what it still owes and drop its timers and
    // listener. A lock still held simply expires after its lease (no renewal without a holder).
    std::unique_ptr<Wait> wait = std::move(wait_);
    std::vector<Callback<Value>> watchers = std::move(watchers_);
    drop_tick_locked();
    if (wait) {
      if (wait->timer != 0) backend_->cancel(wait->timer);
      if (wait->listener != 0) backend_->unlisten(wait->listener);
      wait->done(Error(ErrorCode::Closed, "lock '" + short_name(cfg_.name) + "': handle destroyed"));
    }
    for (auto& w : watchers) w(Error(ErrorCode::Closed, "lock '" + short_name(cfg_.name) + "': handle destroyed"));
  }

  void call(std::string_view op, Value args, Callback<Value> done) override {
    try {
      if (!args.is_null() && !args.is_object()) throw invalid_argument("args", "must be an object");
      if (op == "acquire") return op_acquire(args, done);
      if (op == "release") return op_release(args, done);
      if (op == "extend") return op_extend(args, done);
      if (op == "state") return op_state(args, done);
      if (op == "watch") return op_watch(args, done);
      if (op == "cancel") return op_cancel(args, done);
      if (op == "locked") return op_locked(args, done);
      throw invalid_argument("op", "unknown lock op '" + std::string(op.substr(0, 64)) + "'");
    } catch (const Error& e) {
      // Thrown by validation, before any op took ownership of `done`.
      if (done) done(e);
    }
  }

 private:
  enum class Phase { Idle, Acquiring, Held, Releasing, Lost };

  // One acquire in progress (phase Acquiring).
  struct Wait {
    Callback<Value> done;
    std::string owner;
    int64_t ttl_ms = 0;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point deadline;
    uint64_t listener = 0;
    uint64_t timer = 0;
    uint64_t timer_seq = 0;  // which scheduled wake-up is current (older ones are ignored)
    bool listening = false;
    bool in_flight = false;  // an acquire script is on its way
    bool dirty = false;      // a wake-up arrived while it was: try again when it fails
  };

  std::string not_acquired_message(const std::string& why) const {
    return "lock '" + short_name(cfg_.name) + "': not acquired: " + why;
  }
  Error lost_error(const char* when) const {
    return Error(ErrorCode::LockLost, "lock '" + short_name(cfg_.name) + "': lost " + when +
                                          " (the lease expired or another owner took it)");
  }
  Error not_owner_error() const {
    return Error(ErrorCode::LockNotOwner, "lock '" + short_name(cfg_.name) + "': not held by this owner");
  }

  template <class Fn>
  uint64_t schedule(int64_t delay_ms, Fn fn) {
    // Wait timers: a backend dropping one without running it (client closed) settles the acquire.
    auto notice = std::make_shared<WaitDropNotice>();
    notice->handle = weak_from_this();
    return backend_->schedule(std::max<int64_t>(delay_ms, 0), [notice, fn = std::move(fn)]() mutable {
      notice->ran = true;
      fn();
    });
  }

  struct WaitDropNotice {
    std::weak_ptr<LockHandle> handle;
    bool ran = false;
    ~WaitDropNotice() {
      if (ran) return;
      if (auto h = handle.lock()) h->on_timer_dropped();
    }
  };

 public:
  void on_timer_dropped() {
    if (!backend_->closed()) return;  // cancelled on purpose
    Deferred d;
    std::lock_guard<std::mutex> lock(mu_);
    const Error closed(ErrorCode::Closed, "lock '" + short_name(cfg_.name) + "': client closed");
    if (wait_) finish_wait_locked(d, closed);
    if (phase_ == Phase::Held) {
      phase_ = Phase::Lost;
      ++gen_;
      drop_tick_locked();
      settle_watchers_locked(d, closed);
    }
  }

  // Called by the ticker with the tick it registered (g, seq).
  void on_tick(uint64_t g, uint64_t seq);

 private:

  // ---- acquire ---------------------------------------------------------------------------------

  void op_acquire(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"wait_ms", "ttl_ms"}, "acquire argument");
    const int64_t wait_ms = optional_ms(args, "wait_ms", 0, kMaxLockDurationMs).value_or(cfg_.wait_ms);
    const int64_t ttl_ms = optional_ms(args, "ttl_ms", 1, kMaxLockDurationMs).value_or(cfg_.ttl_ms);
    std::string owner = random_owner();
    uint64_t g = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (phase_ == Phase::Acquiring || phase_ == Phase::Held || phase_ == Phase::Releasing) {
        throw invalid_argument("acquire", "this lock handle already holds or is acquiring '" +
                                              short_name(cfg_.name) + "' (use one handle per holder)");
      }
      phase_ = Phase::Acquiring;
      g = ++gen_;
      wait_ = std::make_unique<Wait>();
      wait_->done = std::move(done);
      wait_->owner = std::move(owner);
      wait_->ttl_ms = ttl_ms;
      wait_->started = std::chrono::steady_clock::now();
      wait_->deadline = wait_->started + std::chrono::milliseconds(wait_ms);
    }
    attempt(g);
  }

  void attempt(uint64_t g) {
    std::string owner;
    std::string ttl;
    int64_t sent_at = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (gen_ != g || !wait_) return;
      if (wait_->in_flight) {
        wait_->dirty = true;
        return;
      }
      wait_->in_flight = true;
      wait_->dirty = false;
      owner = wait_->owner;
      ttl = std::to_string(wait_->ttl_ms);
      sent_at = backend_->now_ms();
    }
    static const std::string retention = std::to_string(kFenceRetentionMs);
    backend_->eval(acquire_script(), {key_, fence_key_}, {owner, ttl, retention},
                   [self = shared_from_this(), g, sent_at, owner](Result<Reply> r) {
                     self->on_attempt(g, sent_at, owner, std::move(r));
                   });
  }

  void on_attempt(uint64_t g, int64_t sent_at, const std::string& owner, Result<Reply> r) {
    Deferred d;
    std::lock_guard<std::mutex> lock(mu_);
    // Parse first: a reply that says "acquired" must be honoured (or undone) whatever happened.
    bool acquired = false;
    int64_t fence = 0;
    int64_t holder_pttl = -1;
    std::optional<Error> failure;
    if (!r.ok()) {
      failure = r.error();
    } else {
      try {
        acquired = r.value().at(0).as_integer() == 1;
        if (acquired) {
          fence = r.value().at(1).as_integer();
        } else {
          holder_pttl = r.value().at(1).as_integer();
        }
      } catch (const Error& e) {
        failure = e;
      }
    }
    if (gen_ != g || !wait_) {
      // Cancelled or destroyed meanwhile: never keep a lock nobody will release.
      if (acquired) d.add([self = shared_from_this(), owner] { self->release_quietly(owner); });
      return;
    }
    wait_->in_flight = false;
    if (failure) {
      if (store_unavailable(*failure)) {
        // The SET may have happened before the reply was lost: undo it so others need not wait
        // for the lease to run out.
        if (failure->code() == ErrorCode::Timeout || failure->code() == ErrorCode::Connection) {
          d.add([self = shared_from_this(), owner] { self->release_quietly(owner); });
        }
        finish_wait_locked(d, Error(ErrorCode::LockNotAcquired,
                                    not_acquired_message(std::string("store unavailable: ") + failure->what())));
      } else {
        finish_wait_locked(d, *failure);
      }
      return;
    }
    if (acquired) {
      const int64_t ttl_ms = wait_->ttl_ms;
      phase_ = Phase::Held;
      owner_ = owner;
      fence_ = fence;
      lease_ttl_ms_ = ttl_ms;
      valid_until_ms_ = sent_at + ttl_ms - drift_ms(ttl_ms);
      renew_in_flight_ = false;
      Value result = {{"fencing_token", fence}, {"owner", owner}, {"ttl_ms", ttl_ms}, {"name", cfg_.name}};
      finish_wait_locked(d, std::move(result));
      const int64_t first_tick = cfg_.auto_renew ? renew_interval() : valid_until_ms_ - sent_at;
      d.add([self = shared_from_this(), g, first_tick] { self->schedule_tick(g, first_tick); });
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= wait_->deadline) {
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - wait_->started).count();
      finish_wait_locked(d, Error(ErrorCode::LockNotAcquired,
                                  not_acquired_message("held by another owner (waited " + std::to_string(waited) +
                                                       " ms)")));
      return;
    }
    if (wait_->dirty) {
      d.add([self = shared_from_this(), g] { self->attempt(g); });
      return;
    }
    if (!wait_->listening) {
      // Subscribe, then look again: a release between the first look and the subscription would
      // otherwise go unheard until the fallback timer.
      wait_->listening = true;
      d.add([self = shared_from_this(), g] {
        std::weak_ptr<LockHandle> weak = self;
        const uint64_t id = self->backend_->listen(self->channel_, [weak, g](std::string_view) {
          if (auto h = weak.lock()) h->attempt(g);
        });
        bool current = false;
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          current = self->gen_ == g && self->wait_;
          if (current) self->wait_->listener = id;
        }
        if (!current) return self->backend_->unlisten(id);  // the wait ended while subscribing
        self->attempt(g);
      });
      return;
    }
    // Sleep until a release wakes us, or the holder's lease runs out (its holder may have died),
    // or our wait ends, whichever is first.
    const int64_t left_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(wait_->deadline - now).count() + 1;
    const int64_t sleep_ms = holder_pttl >= 0 ? std::min(left_ms, holder_pttl + 1) : left_ms;
    const uint64_t seq = ++wait_->timer_seq;
    const uint64_t old_timer = std::exchange(wait_->timer, 0);
    d.add([self = shared_from_this(), g, seq, sleep_ms, old_timer] {
      if (old_timer != 0) self->backend_->cancel(old_timer);
      std::weak_ptr<LockHandle> weak = self;
      const uint64_t id = self->schedule(sleep_ms, [weak, g, seq] {
        if (auto h = weak.lock()) h->on_wait_timer(g, seq);
      });
      std::lock_guard<std::mutex> lock(self->mu_);
      if (self->gen_ == g && self->wait_ && self->wait_->timer_seq == seq) self->wait_->timer = id;
    });
  }

  void on_wait_timer(uint64_t g, uint64_t seq) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (gen_ != g || !wait_ || wait_->timer_seq != seq) return;
      wait_->timer = 0;
    }
    attempt(g);
  }

  // Ends the acquire in progress: settles its caller, drops its timer and listener.
  void finish_wait_locked(Deferred& d, Result<Value> result) {
    std::unique_ptr<Wait> wait = std::move(wait_);
    if (!result.ok() && phase_ == Phase::Acquiring) phase_ = Phase::Idle;
    auto shared_wait = std::shared_ptr<Wait>(std::move(wait));
    d.add([backend = backend_, shared_wait, result = std::move(result)]() mutable {
      if (shared_wait->timer != 0) backend->cancel(shared_wait->timer);
      if (shared_wait->listener != 0) backend->unlisten(shared_wait->listener);
      shared_wait->done(std::move(result));
    });
  }

  void release_quietly(const std::string& owner) {
    backend_->eval(release_script(), {key_}, {owner, channel_}, [](Result<Reply>) {});
  }

  // ---- holding: renewal and lease tracking -----------------------------------------------------

  int64_t renew_interval() const {
    const int64_t interval = cfg_.renew_interval_ms > 0 ? cfg_.renew_interval_ms : lease_ttl_ms_ / 3;
    return std::max<int64_t>(interval, 1);
  }

  void schedule_tick(uint64_t g, int64_t delay_ms) {
    const int64_t due = backend_->now_ms() + std::max<int64_t>(delay_ms, 1);
    uint64_t arm_seq = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (gen_ != g || phase_ != Phase::Held) return;
      drop_tick_locked();
      const uint64_t seq = ++tick_seq_;
      arm_seq = ticker_->add(due, {weak_from_this(), g, seq}, &tick_key_);
      has_tick_ = true;
    }
    if (arm_seq != 0) ticker_->arm(due, arm_seq);
  }

  void drop_tick_locked() {
    if (has_tick_) ticker_->remove(tick_key_);
    has_tick_ = false;
  }

  void tick_locked(Deferred& d, uint64_t g) {
    const int64_t now = backend_->now_ms();
    if (now >= valid_until_ms_) {
      mark_lost_locked(d);
      return;
    }
    if (!cfg_.auto_renew) {
      const int64_t delay = valid_until_ms_ - now;
      d.add([self = shared_from_this(), g, delay] { self->schedule_tick(g, delay); });
      return;
    }
    if (renew_in_flight_) return;
    renew_in_flight_ = true;
    const std::string owner = owner_;
    const int64_t ttl = lease_ttl_ms_;
    d.add([self = shared_from_this(), g, owner, ttl, now] {
      self->backend_->eval(extend_script(), {self->key_}, {owner, std::to_string(ttl)},
                           [self, g, ttl, now](Result<Reply> r) { self->on_renew(g, ttl, now, std::move(r)); });
    });
  }

  void on_renew(uint64_t g, int64_t ttl, int64_t sent_at, Result<Reply> r) {
    Deferred d;
    std::lock_guard<std::mutex> lock(mu_);
    if (gen_ != g || phase_ != Phase::Held) return;
    renew_in_flight_ = false;
    int64_t next = renew_interval();
    if (r.ok()) {
      const bool extended = r.value().is_integer() && r.value().as_integer() == 1;
      if (!extended) {
        mark_lost_locked(d);
        return;
      }
      valid_until_ms_ = std::max(valid_until_ms_, sent_at + ttl - drift_ms(ttl));
    } else {
      // Store unreachable: retry sooner; the lease check below declares the lock lost on time.
      next = std::max<int64_t>(next / 3, 1);
    }
    const int64_t now = backend_->now_ms();
    next = std::min(next, std::max<int64_t>(valid_until_ms_ - now, 1));
    d.add([self = shared_from_this(), g, next] { self->schedule_tick(g, next); });
  }

  void mark_lost_locked(Deferred& d) {
    phase_ = Phase::Lost;
    ++gen_;
    drop_tick_locked();
    settle_watchers_locked(d, event("lost"));
  }

  void settle_watchers_locked(Deferred& d, Result<Value> result) {
    for (auto& w : watchers_) {
      d.add([w = std::move(w), result]() { w(result); });
    }
    watchers_.clear();
  }

  // Lost detection without waiting for a timer (a state query after the lease ran out).
  void check_lease_locked(Deferred& d) {
    if (phase_ == Phase::Held && backend_->now_ms() >= valid_until_ms_) mark_lost_locked(d);
  }

  // ---- release / extend ------------------------------------------------------------------------

  void op_release(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"owner"}, "release argument");
    std::optional<std::string> given;
    if (auto it = args.find("owner"); args.is_object() && it != args.end() && !it->is_null()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty() || it->get_ref<const std::string&>().size() > 256) {
        throw invalid_argument("owner", "must be a non-empty owner token string");
      }
      given = it->get<std::string>();
    }
    Deferred d;
    std::unique_lock<std::mutex> lock(mu_);
    check_lease_locked(d);
    const bool mine = !given || *given == owner_;
    if (!mine || (given && phase_ != Phase::Held && phase_ != Phase::Lost)) {
      // Releasing by token (e.g. handed over from another process): the script decides.
      lock.unlock();
      backend_->eval(release_script(), {key_}, {*given, channel_},
                     [self = shared_from_this(), done = std::move(done)](Result<Reply> r) {
                       if (!r.ok()) return done(r.error());
                       if (r.value().is_integer() && r.value().as_integer() == 1) return done(Value{{"released", true}});
                       done(self->not_owner_error());
                     });
      return;
    }
    if (phase_ != Phase::Held && phase_ != Phase::Lost) {
      lock.unlock();
      return done(not_owner_error());
    }
    const bool was_lost = phase_ == Phase::Lost;
    phase_ = Phase::Releasing;
    const uint64_t g = ++gen_;
    drop_tick_locked();
    const std::string owner = owner_;
    const int64_t fence = fence_;
    d.add([self = shared_from_this(), g, owner, fence, was_lost, done = std::move(done)]() mutable {
      self->backend_->eval(release_script(), {self->key_}, {owner, self->channel_},
                           [self, g, fence, was_lost, done = std::move(done)](Result<Reply> r) {
                             self->on_release(g, fence, was_lost, std::move(r), done);
                           });
    });
  }

  void on_release(uint64_t g, int64_t fence, bool was_lost, Result<Reply> r, const Callback<Value>& done) {
    Deferred d;
    std::unique_lock<std::mutex> lock(mu_);
    const bool released = r.ok() && r.value().is_integer() && r.value().as_integer() == 1;
    const bool lost = was_lost || (r.ok() && !released);
    if (gen_ == g && phase_ == Phase::Releasing) {
      phase_ = lost ? Phase::Lost : Phase::Idle;
      // A store error leaves the lock to expire by itself: the holder did not lose it early.
      settle_watchers_locked(d, event(lost ? "lost" : "released"));
    }
    lock.unlock();
    d.run();
    if (lost) return done(lost_error("before release"));
    if (!r.ok()) return done(r.error());
    done(Value{{"released", true}, {"fencing_token", fence}});
  }

  void op_extend(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {"ttl_ms"}, "extend argument");
    Deferred d;
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t ttl = optional_ms(args, "ttl_ms", 1, kMaxLockDurationMs).value_or(lease_ttl_ms_);
    check_lease_locked(d);
    if (phase_ == Phase::Lost) {
      lock.unlock();
      return done(lost_error("before extend"));
    }
    if (phase_ != Phase::Held) {
      lock.unlock();
      return done(not_owner_error());
    }
    const uint64_t g = gen_;
    const std::string owner = owner_;
    const int64_t sent_at = backend_->now_ms();
    lock.unlock();
    backend_->eval(extend_script(), {key_}, {owner, std::to_string(ttl)},
                   [self = shared_from_this(), g, ttl, sent_at, done = std::move(done)](Result<Reply> r) {
                     self->on_extend(g, ttl, sent_at, std::move(r), done);
                   });
  }

  void on_extend(uint64_t g, int64_t ttl, int64_t sent_at, Result<Reply> r, const Callback<Value>& done) {
    if (!r.ok()) return done(r.error());
    const bool extended = r.value().is_integer() && r.value().as_integer() == 1;
    Deferred d;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (gen_ == g && phase_ == Phase::Held) {
        if (extended) {
          lease_ttl_ms_ = ttl;
          valid_until_ms_ = sent_at + ttl - drift_ms(ttl);
        } else {
          mark_lost_locked(d);
        }
      }
    }
    d.run();
    if (!extended) return done(lost_error("before extend"));
    done(Value{{"ttl_ms", ttl}});
  }

  // ---- queries ---------------------------------------------------------------------------------

  static const char* phase_name(Phase p) {
    switch (p) {
      case Phase::Idle: return "idle";
      case Phase::Acquiring: return "acquiring";
      case Phase::Held: return "held";
      case Phase::Releasing: return "releasing";
      case Phase::Lost: return "lost";
    }
    return "idle";
  }

  void op_state(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {}, "state argument");
    Deferred d;
    Value out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      check_lease_locked(d);
      const bool has_holding = phase_ == Phase::Held || phase_ == Phase::Lost || phase_ == Phase::Releasing;
      out = Value{{"name", cfg_.name},
                  {"key", key_},
                  {"state", phase_name(phase_)},
                  {"held", phase_ == Phase::Held},
                  {"lost", phase_ == Phase::Lost},
                  {"fencing_token", has_holding ? Value(fence_) : Value()},
                  {"owner", has_holding ? Value(owner_) : Value()},
                  {"valid_for_ms", phase_ == Phase::Held ? Value(std::max<int64_t>(valid_until_ms_ - backend_->now_ms(), 0))
                                                         : Value()}};
    }
    d.run();
    done(std::move(out));
  }

  // Settles when the current holding ends: {"event": "lost"} or {"event": "released"}; at once
  // with "lost" or "idle" when nothing is held. Bindings use it to tell the holder of a loss.
  void op_watch(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {}, "watch argument");
    Deferred d;
    std::unique_lock<std::mutex> lock(mu_);
    check_lease_locked(d);
    if (phase_ == Phase::Held || phase_ == Phase::Releasing) {
      watchers_.push_back(std::move(done));
      return;
    }
    const char* ev = phase_ == Phase::Lost ? "lost" : "idle";
    lock.unlock();
    d.run();
    done(event(ev));
  }

  // Abandons an acquire in progress (a cancelled await): it settles with LockNotAcquired, and a lock
  // its in-flight attempt still obtains is released at once.
  void op_cancel(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {}, "cancel argument");
    Deferred d;
    bool cancelled = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (wait_) {
        cancelled = true;
        ++gen_;
        finish_wait_locked(d, Error(ErrorCode::LockNotAcquired, not_acquired_message("cancelled")));
      }
    }
    d.run();
    done(Value{{"cancelled", cancelled}});
  }

  // Whether anyone holds the lock now (one PTTL).
  void op_locked(const Value& args, Callback<Value>& done) {
    reject_unknown(args, {}, "locked argument");
    backend_->command({"PTTL", key_}, [done = std::move(done)](Result<Reply> r) {
      if (!r.ok()) return done(r.error());
      if (!r.value().is_integer()) return done(Error(ErrorCode::Protocol, "lock: PTTL reply is not an integer"));
      const int64_t pttl = r.value().as_integer();
      done(Value{{"locked", pttl != -2}, {"ttl_ms", pttl >= 0 ? Value(pttl) : Value()}});
    });
  }

  std::shared_ptr<Backend> backend_;
  const LockConfig cfg_;
  const std::string key_;
  const std::string fence_key_;
  const std::string channel_;

  std::mutex mu_;
  Phase phase_ = Phase::Idle;
  uint64_t gen_ = 0;  // bumped when a holding or an acquire begins/ends: stale replies and timers compare it
  std::unique_ptr<Wait> wait_;
  std::string owner_;
  int64_t fence_ = 0;
  int64_t lease_ttl_ms_;
  int64_t valid_until_ms_ = 0;  // backend clock: the holder trusts the lock until then
  std::shared_ptr<LockTicker> ticker_;
  LockTicker::Key tick_key_{};
  bool has_tick_ = false;
  uint64_t tick_seq_ = 0;  // which registered tick is current
  bool renew_in_flight_ = false;
  std::vector<Callback<Value>> watchers_;
};


void LockHandle::on_tick(uint64_t g, uint64_t seq) {
  Deferred d;
  std::lock_guard<std::mutex> lock(mu_);
  if (gen_ != g || phase_ != Phase::Held || tick_seq_ != seq) return;
  has_tick_ = false;  // the ticker took the entry out
  tick_locked(d, g);
}

void LockTicker::fire(uint64_t arm_seq) {
  std::vector<Entry> due;
  int64_t arm_due = 0;
  uint64_t next_arm = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = backend_->now_ms();
    while (!entries_.empty() && entries_.begin()->first.first <= now) {
      due.push_back(std::move(entries_.begin()->second));
      entries_.erase(entries_.begin());
    }
    if (arm_seq == arm_seq_) armed_due_ = std::numeric_limits<int64_t>::max();  // this timer is spent
    if (!entries_.empty() && entries_.begin()->first.first < armed_due_) {
      armed_due_ = arm_due = entries_.begin()->first.first;
      next_arm = ++arm_seq_;
    }
  }
  if (next_arm != 0) arm(arm_due, next_arm);
  for (auto& e : due) {
    if (auto h = e.handle.lock()) h->on_tick(e.gen, e.seq);
  }
}

void LockTicker::dropped() {
  if (!backend_->closed()) return;
  std::vector<Entry> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, e] : entries_) all.push_back(e);
  }
  for (auto& e : all) {
    if (auto h = e.handle.lock()) h->on_timer_dropped();
  }
}

}  // namespace

LockConfig parse_lock_config(const Value& config) {
  reject_unknown(config, {"name", "ttl_ms", "wait_ms", "auto_renew", "renew_interval_ms"}, "lock option");
  LockConfig cfg;
  auto name = config.find("name");
  if (name == config.end() || !name->is_string()) throw invalid_argument("name", "must be a string");
  cfg.name = name->get<std::string>();
  if (cfg.name.empty()) throw invalid_argument("name", "must not be empty");
  if (cfg.name.size() > kMaxLockNameBytes) {
    throw invalid_argument("name", "must be at most " + std::to_string(kMaxLockNameBytes) + " bytes");
  }
  cfg.ttl_ms = optional_ms(config, "ttl_ms", 1, kMaxLockDurationMs).value_or(cfg.ttl_ms);
  cfg.wait_ms = optional_ms(config, "wait_ms", 0, kMaxLockDurationMs).value_or(cfg.wait_ms);
  cfg.auto_renew = get_bool(config, "auto_renew").value_or(cfg.auto_renew);
  cfg.renew_interval_ms = optional_ms(config, "renew_interval_ms", 1, kMaxLockDurationMs).value_or(0);
  if (cfg.renew_interval_ms >= cfg.ttl_ms) throw invalid_argument("renew_interval_ms", "must be less than ttl_ms");
  return cfg;
}

std::string lock_key(std::string_view prefix, std::string_view name) {
  std::string k;
  k.reserve(prefix.size() + name.size() + 8);
  k.append(prefix).append(":lock:{").append(name).append("}");
  return k;
}

std::string lock_fence_key(std::string_view prefix, std::string_view name) {
  return lock_key(prefix, name) + ":fence";
}

std::string lock_channel(std::string_view prefix, std::string_view name) {
  return lock_key(prefix, name) + ":released";
}

std::shared_ptr<Primitive> make_lock(std::shared_ptr<Backend> backend, const Value& config) {
  LockConfig cfg = parse_lock_config(config);
  return std::make_shared<LockHandle>(std::move(backend), std::move(cfg));
}

}  // namespace redkeeper
