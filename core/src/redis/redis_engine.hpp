// The I/O side of RedisClient: one I/O thread, one connection, an op queue that callers fill from
// any thread, automatic pipelining (everything queued goes out in one write), FIFO reply matching,
// per-op deadlines, reconnect with backoff + jitter, and the EVALSHA -> EVAL fallback.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "redis/connection.hpp"
#include "redis/engine.hpp"
#include "redis/redis_client.hpp"

namespace redkeeper {

// InvalidArgument naming the option unless the timeouts, backoff bounds and max_pending a Redis
// connection uses are sane (shared by the single-server and cluster engines).
void validate_connection_options(const ClientOptions& options);

class RedisEngine final : public Engine, public std::enable_shared_from_this<RedisEngine> {
 public:
  RedisEngine(RedisUrl url, ClientOptions options);
  ~RedisEngine() override;
  RedisEngine(const RedisEngine&) = delete;
  RedisEngine& operator=(const RedisEngine&) = delete;

  void start() override;  // spawns the I/O thread and the first connect attempt
  void submit(ArgList args, Callback<Reply> done, int64_t timeout_ms) override;
  void submit_eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
                   int64_t timeout_ms) override;
  // An already formatted command (RESP bytes), for the cluster router, which keeps the bytes to
  // re-send them elsewhere after a redirection. `script` (may be null) enables the NOSCRIPT
  // fallback. With `asking`, an ASKING goes out right before the command on the same connection
  // (both enqueued under one lock, so nothing can come between them; ASKING's reply is swallowed).
  void submit_formatted(std::string_view cmd, const Script* script, bool asking, Callback<Reply> done,
                        int64_t timeout_ms);
  // While corked, submitted ops wait in the queue instead of waking the I/O thread one by one;
  // uncork() sends everything queued in one write. Node corks for one event-loop turn, so the
  // requests of one turn share a write (and Redis one read) as ioredis' auto-pipelining does.
  // Corks nest; an op's deadline still holds (uncork always follows on the caller's loop).
  void cork() override;
  void uncork() override;
  void close() override;
  bool closed() const override { return closing_.load(std::memory_order_acquire); }

  bool connected() const override { return connected_.load(std::memory_order_acquire); }
  double latency_ms() const override {
    return static_cast<double>(latency_us_.load(std::memory_order_relaxed)) / 1000.0;
  }
  void record_latency(SteadyClock::duration d) override;
  Stats stats() const override;
  uint64_t socket_writes() const override { return writes_.load(std::memory_order_relaxed); }
  const RedisUrl& url() const { return url_; }
  // True on the I/O thread of any RedisEngine (a completion callback is running): whoever closes
  // from there must not wait for threads that may be closing this engine.
  static bool on_any_io_thread();

 private:
  struct Op {
    std::string cmd;              // the RESP bytes; kept after writing for script ops (EVAL fallback)
    Callback<Reply> done;         // empty once settled (a timed-out op keeps its FIFO slot)
    SteadyClock::time_point deadline;
    int64_t timeout_ms = 0;
    Script script;                // valid() for eval ops
    bool eval_fallback_sent = false;
    bool internal = false;        // handshake command or ASKING: not counted in stats
    bool asking = false;          // preceded by an ASKING (re-sent with it on the EVAL fallback)
  };
  using OpPtr = std::unique_ptr<Op>;
  enum class State { Disconnected, Connecting, Handshaking, Connected, Closed };

  // Caller side.
  void enqueue_formatted(std::string_view cmd, Callback<Reply> done, int64_t timeout_ms, const Script* script,
                         bool asking);
  static OpPtr make_asking_op(SteadyClock::time_point deadline);
  void reject(Callback<Reply>& done, Error error);

  // I/O thread.
  void flush();
  void connect();
  void on_transport_ready(const std::shared_ptr<RedisConnection>& conn);
  void on_handshake_reply(const std::shared_ptr<RedisConnection>& conn, const char* step, Result<Reply>& r,
                          bool last, SteadyClock::time_point sent);
  void start_read(const std::shared_ptr<RedisConnection>& conn);
  void on_read(const std::shared_ptr<RedisConnection>& conn, size_t n);
  void start_write(const std::shared_ptr<RedisConnection>& conn);
  void deliver(OpPtr op, Reply reply);
  // Moves resend_ to the front of the queue; true when there was anything.
  bool requeue_resends();
  // Drops the connection: written ops fail with Connection; when `fail_queued`, so do queued ones
  // (a refused connect or handshake: waiting longer would not help them).
  void fail_connection(std::shared_ptr<RedisConnection> conn, const std::string& why, bool fail_queued);
  void schedule_reconnect();
  void arm_deadline_timer(SteadyClock::time_point when);
  void on_deadline_timer();
  void shutdown();
  void settle(OpPtr op, Result<Reply> result);
  void recycle(OpPtr op);
  static void invoke(Callback<Reply>& done, Result<Reply> result);
  bool on_io_thread() const;

  const RedisUrl url_;
  const ClientOptions options_;

  asio::io_context io_;  // first member: destroyed last, after everything that refers to it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<asio::ssl::context> tls_ctx_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer connect_timer_;

  // I/O thread state.
  State state_ = State::Disconnected;
  std::shared_ptr<RedisConnection> conn_;
  std::deque<OpPtr> inflight_;       // written, awaiting a reply, in send order
  std::deque<OpPtr> batch_;          // scratch for flush(), reused
  std::deque<OpPtr> resend_;         // NOSCRIPT answers of one read, to re-queue as EVAL in order
  std::vector<OpPtr> io_free_;       // recycled ops, handed back to free_ops_ in bulk
  bool deadline_armed_ = false;
  SteadyClock::time_point deadline_at_;
  int reconnect_attempt_ = 0;
  bool ever_connected_ = false;
  std::string last_error_;           // guarded by mu_ (read by callers for Timeout messages)
  uint64_t rng_state_;

  // Shared with callers.
  mutable std::mutex mu_;
  std::deque<OpPtr> queued_;         // submitted, not yet written
  std::vector<OpPtr> free_ops_;
  int corked_ = 0;                   // cork() depth
  bool flush_pending_ = false;       // a flush is posted or guaranteed to follow (write/connect)
  bool shut_down_ = false;           // set under mu_ by shutdown(): submit() then rejects
  SteadyClock::time_point earliest_new_deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point timer_at_ = SteadyClock::time_point::max();  // copy of deadline_at_ for submit()

  std::atomic<bool> closing_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> latency_us_{0};
  std::atomic<uint64_t> ops_{0}, errors_{0}, timeouts_{0}, reconnects_{0}, in_flight_{0}, writes_{0};

  std::mutex close_mu_;
  std::thread thread_;
};

}  // namespace redkeeper
