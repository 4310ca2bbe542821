// RedisBackend: eval/command delegate to the engine; listeners, the subscriber connection and
// timers live in Core, run by one backend thread. Callers touch Core only under mu_; the
// subscriber and the Asio timers are touched only on the backend thread.
#include "redis/redis_backend.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "common/factories.hpp"
#include "redis/engine.hpp"
#include "redis/subscriber.hpp"

namespace redkeeper {

namespace {
// The Core whose backend thread this is (null elsewhere): close() must not join itself.
thread_local const void* tl_backend_core = nullptr;

// PING period of the subscriber connection: a silently dead path is noticed within two periods
// (TCP keepalive alone takes about a minute), at the cost of one tiny command per period.
constexpr int64_t kSubscriberHealthCheckMs = 10000;

using ListenerFn = std::function<void(std::string_view)>;

template <class Fn, class... Args>
void call_quietly(Fn& fn, Args&&... args) {
  try {
    fn(std::forward<Args>(args)...);
  } catch (...) {
    // A throwing user callback must not take the backend thread (and everyone's wake-ups) down.
  }
}
}  // namespace

class RedisBackend::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(const RedisUrl& url, const ClientOptions& options, std::shared_ptr<Engine> engine)
      : url_(url), options_(options), engine_(std::move(engine)) {
    if (url_.transport == RedisTransport::Tls) tls_ctx_.emplace(make_tls_context(options_.tls));
  }

  ~Core() {
    if (!thread_.joinable()) return;
    if (on_thread()) {
      thread_.detach();  // the backend thread dropped the last reference after run() returned
    } else {
      post_shutdown();
      thread_.join();
    }
  }

  const RedisUrl url_;
  const ClientOptions options_;
  const std::shared_ptr<Engine> engine_;

  uint64_t listen(const std::string& channel, ListenerFn fn);
  void unlisten(uint64_t id);
  uint64_t schedule(int64_t delay_ms, std::function<void()> fn);
  bool cancel(uint64_t id);
  void close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  struct Listener {
    std::string channel;
    std::shared_ptr<ListenerFn> fn;
    bool pending = true;  // owes the "subscription is live" empty message
  };
  struct Channel {
    std::vector<uint64_t> listeners;
    bool live = false;  // SUBSCRIBE confirmed on the current subscriber connection
  };

  bool on_thread() const { return tl_backend_core == this; }
  void start_locked();
  void post_shutdown();

  // Backend thread.
  Subscriber& subscriber();
  void reconcile(const std::string& channel);
  void notify_pending(const std::string& channel, bool now_live);
  void on_message(std::string_view channel, std::string_view payload);
  void on_disconnected();
  void arm(uint64_t id, int64_t delay_ms);
  void fire(uint64_t id);
  void shutdown();

  asio::io_context io_;  // first: destroyed last, after everything that refers to it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<asio::ssl::context> tls_ctx_;

  // Backend thread only.
  std::unique_ptr<Subscriber> subscriber_;
  std::unordered_map<uint64_t, std::unique_ptr<asio::steady_timer>> io_timers_;

  // Guarded by mu_.
  std::mutex mu_;
  bool started_ = false;
  bool shutdown_posted_ = false;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, Listener> listeners_;
  std::unordered_map<std::string, Channel> channels_;
  std::unordered_map<uint64_t, std::function<void()>> timers_;  // scheduled, not yet run or cancelled

  std::atomic<bool> closed_{false};
  std::mutex join_mu_;
  std::thread thread_;
};

// ---------------------------------------------------------------- caller side

void RedisBackend::Core::start_locked() {
  if (started_) return;
  started_ = true;
  work_.emplace(io_.get_executor());
  thread_ = std::thread([self = shared_from_this()]() mutable {
    tl_backend_core = self.get();
    for (;;) {
      try {
        self->io_.run();
        break;
      } catch (...) {
        // A handler threw: a bug, but timers and wake-ups of everyone else must keep running.
      }
    }
    self.reset();  // may destroy the Core here; ~Core detaches the thread then
  });
}

void RedisBackend::Core::post_shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || shutdown_posted_) return;
    shutdown_posted_ = true;
  }
  asio::post(io_, [this] { shutdown(); });
}

uint64_t RedisBackend::Core::listen(const std::string& channel, ListenerFn fn) {
  if (channel.empty()) throw invalid_argument("channel", "is empty");
  if (!fn) throw invalid_argument("on_message", "is empty");
  uint64_t id;
  bool first;
  bool live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed()) return 0;  // never called; fn is destroyed on return
    id = ++next_id_;
    listeners_.emplace(id, Listener{channel, std::make_shared<ListenerFn>(std::move(fn)), true});
    Channel& ch = channels_[channel];
    ch.listeners.push_back(id);
    first = ch.listeners.size() == 1;
    live = ch.live;
    start_locked();
  }
  if (first) asio::post(io_, [this, channel] { reconcile(channel); });
  if (live) asio::post(io_, [this, channel] { notify_pending(channel, false); });
  return id;
}

void RedisBackend::Core::unlisten(uint64_t id) {
  std::shared_ptr<ListenerFn> fn;  // destroyed after the lock is released
  std::string channel;
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = listeners_.find(id);
    if (it == listeners_.end()) return;
    fn = std::move(it->second.fn);
    channel = std::move(it->second.channel);
    listeners_.erase(it);
    auto ch = channels_.find(channel);
    if (ch != channels_.end()) {
      auto& ids = ch->second.listeners;
      ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
      last = ids.empty();
    }
  }
  if (last) asio::post(io_, [this, channel] { reconcile(channel); });
}

uint64_t RedisBackend::Core::schedule(int64_t delay_ms, std::function<void()> fn) {
  if (delay_ms < 0) throw invalid_argument("delay_ms", "must be >= 0");
  if (!fn) throw invalid_argument("fn", "is empty");
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed()) return 0;  // like a timer cancelled by close(): fn is destroyed, never run
    id = ++next_id_;
    timers_.emplace(id, std::move(fn));
    start_locked();
  }
  asio::post(io_, [this, id, delay_ms] { arm(id, delay_ms); });
  return id;
}

bool RedisBackend::Core::cancel(uint64_t id) {
  std::function<void()> fn;  // destroyed after the lock is released
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = timers_.find(id);
    if (it == timers_.end()) return false;
    fn = std::move(it->second);
    timers_.erase(it);
    if (shutdown_posted_) return true;  // shutdown() drops the Asio timer
  }
  asio::post(io_, [this, id] { io_timers_.erase(id); });
  return true;
}

void RedisBackend::Core::close() {
  std::unordered_map<uint64_t, std::function<void()>> timers;
  std::unordered_map<uint64_t, Listener> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_.store(true, std::memory_order_release);
    timers.swap(timers_);
    listeners.swap(listeners_);
    channels_.clear();
  }
  // Destroyed here, unlocked: a closure may settle its operation (Closed) from its destructor.
  timers.clear();
  listeners.clear();
  post_shutdown();
  if (!on_thread()) {
    std::lock_guard<std::mutex> guard(join_mu_);
    if (thread_.joinable()) thread_.join();
  }
  engine_->close();
}

// ---------------------------------------------------------------- backend thread

Subscriber& RedisBackend::Core::subscriber() {
  if (!subscriber_) {
    Subscriber::Handlers h;
    h.on_message = [this](std::string_view channel, std::string_view payload) { on_message(channel, payload); };
    h.on_subscribed = [this](const std::string& channel) { notify_pending(channel, true); };
    h.on_disconnected = [this] { on_disconnected(); };
    // A cluster: any node will do (PUBLISH reaches all of them); move on when one dies.
    h.targets = [engine = engine_.get()] { return engine->subscribe_urls(); };
    subscriber_ = std::make_unique<Subscriber>(io_, url_, options_, tls_ctx_ ? &*tls_ctx_ : nullptr, std::move(h),
                                               kSubscriberHealthCheckMs);
  }
  return *subscriber_;
}

void RedisBackend::Core::reconcile(const std::string& channel) {
  bool wanted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed()) return;
    auto it = channels_.find(channel);
    wanted = it != channels_.end() && !it->second.listeners.empty();
    if (it != channels_.end() && !wanted) channels_.erase(it);
  }
  subscriber().want(channel, wanted);
}

void RedisBackend::Core::notify_pending(const std::string& channel, bool now_live) {
  std::vector<std::shared_ptr<ListenerFn>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    if (now_live) it->second.live = true;
    if (!it->second.live) return;
    for (uint64_t id : it->second.listeners) {
      Listener& l = listeners_.at(id);
      if (!l.pending) continue;
      l.pending = false;
      due.push_back(l.fn);
    }
  }
  for (auto& fn : due) call_quietly(*fn, std::string_view());
}

void RedisBackend::Core::on_message(std::string_view channel, std::string_view payload) {
  std::vector<std::shared_ptr<ListenerFn>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = channels_.find(std::string(channel));
    if (it == channels_.end()) return;
    due.reserve(it->second.listeners.size());
    for (uint64_t id : it->second.listeners) due.push_back(listeners_.at(id).fn);
  }
  for (auto& fn : due) call_quietly(*fn, payload);
}

void RedisBackend::Core::on_disconnected() {
  // Messages may be lost until each channel is subscribed again: everyone re-checks then.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, ch] : channels_) ch.live = false;
  for (auto& [id, l] : listeners_) l.pending = true;
}

void RedisBackend::Core::arm(uint64_t id, int64_t delay_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (timers_.find(id) == timers_.end()) return;  // cancelled before it was armed
  }
  auto timer = std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(delay_ms));
  timer->async_wait([this, id](const std::error_code& ec) {
    if (ec) return;  // cancelled: cancel() already took the closure
    fire(id);
  });
  io_timers_[id] = std::move(timer);
}

void RedisBackend::Core::fire(uint64_t id) {
  io_timers_.erase(id);
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    fn = std::move(it->second);
    timers_.erase(it);
  }
  call_quietly(fn);
}

void RedisBackend::Core::shutdown() {
  if (subscriber_) subscriber_->close();
  io_timers_.clear();
  work_.reset();
  io_.stop();
}

// ---------------------------------------------------------------- RedisBackend

RedisBackend::RedisBackend(const RedisUrl& url, const ClientOptions& options, std::shared_ptr<Engine> engine)
    : core_(std::make_shared<Core>(url, options, std::move(engine))) {}

RedisBackend::~RedisBackend() { close(); }

const std::string& RedisBackend::prefix() const { return core_->options_.prefix; }
const ClientOptions& RedisBackend::options() const { return core_->options_; }

void RedisBackend::eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done, int64_t timeout_ms) {
  core_->engine_->submit_eval(script, keys, args, std::move(done), timeout_ms);
}

void RedisBackend::command(ArgList args, Callback<Reply> done, int64_t timeout_ms) {
  core_->engine_->submit(args, std::move(done), timeout_ms);
}

uint64_t RedisBackend::listen(const std::string& channel, std::function<void(std::string_view)> on_message) {
  return core_->listen(channel, std::move(on_message));
}
void RedisBackend::unlisten(uint64_t listener_id) { core_->unlisten(listener_id); }
uint64_t RedisBackend::schedule(int64_t delay_ms, std::function<void()> fn) {
  return core_->schedule(delay_ms, std::move(fn));
}
bool RedisBackend::cancel(uint64_t timer_id) { return core_->cancel(timer_id); }

int64_t RedisBackend::now_ms() const {
  if (core_->options_.clock) return core_->options_.clock->now_ms();
  return SystemClock().now_ms();
}

bool RedisBackend::closed() const { return core_->closed() || core_->engine_->closed(); }
void RedisBackend::close() { core_->close(); }

std::shared_ptr<Backend> make_redis_backend(const RedisUrl& url, const ClientOptions& options,
                                            std::shared_ptr<Engine> engine) {
  if (!engine) throw invalid_argument("engine", "is null");
  return std::make_shared<RedisBackend>(url, options, std::move(engine));
}

}  // namespace redkeeper
