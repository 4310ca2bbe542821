// RedisEngine: queueing, pipelining, reply matching, deadlines, reconnects. Everything below
// "I/O thread" runs on the single thread that owns io_; callers only touch mu_-guarded state.
#include "redis/redis_engine.hpp"

#include <algorithm>
#include <charconv>
#include <random>

#include "redis/resp.hpp"

namespace redkeeper {

namespace {
using std::chrono::milliseconds;

constexpr size_t kMaxFreeOps = 4096;
constexpr size_t kMaxRecycledCmdBytes = 64 * 1024;

// Scratch buffers for formatting on the calling thread: no allocation once warmed up.
thread_local std::string tl_cmd;
thread_local std::vector<std::string_view> tl_args;
// The engine whose I/O thread this is (null elsewhere): lets close() detect a call from a callback.
thread_local const void* tl_io_engine = nullptr;

// EVALSHA <sha> ... -> EVAL <source> ...: the tail (numkeys, keys, args) is byte-identical, so the
// fallback needs no copy of the caller's arguments.
bool rewrite_evalsha_as_eval(std::string& cmd, const Script& script) {
  static constexpr std::string_view kHead = "$7\r\nEVALSHA\r\n$40\r\n";
  size_t p = cmd.find("\r\n");
  if (p == std::string::npos) return false;
  p += 2;
  if (cmd.compare(p, kHead.size(), kHead) != 0) return false;
  size_t tail = p + kHead.size() + 40 + 2;
  if (tail > cmd.size()) return false;
  const std::string& src = script.source();
  std::string out;
  out.reserve(cmd.size() + src.size() + 16);
  out.append(cmd, 0, p);
  out += "$4\r\nEVAL\r\n$";
  out += std::to_string(src.size());
  out += "\r\n";
  out += src;
  out += "\r\n";
  out.append(cmd, tail, std::string::npos);
  cmd.swap(out);
  return true;
}

std::string endpoint_of(const RedisUrl& url) { return redacted_url(url); }
}  // namespace

void validate_connection_options(const ClientOptions& options) {
  if (options.command_timeout_ms <= 0) throw invalid_argument("command_timeout_ms", "must be > 0");
  if (options.connect_timeout_ms <= 0) throw invalid_argument("connect_timeout_ms", "must be > 0");
  if (options.reconnect_min_ms <= 0) throw invalid_argument("reconnect_min_ms", "must be > 0");
  if (options.reconnect_max_ms < options.reconnect_min_ms) {
    throw invalid_argument("reconnect_max_ms", "must be >= reconnect_min_ms");
  }
  if (options.max_pending == 0) throw invalid_argument("max_pending", "must be > 0");
}

RedisEngine::RedisEngine(RedisUrl url, ClientOptions options)
    : url_(std::move(url)),
      options_(std::move(options)),
      deadline_timer_(io_),
      reconnect_timer_(io_),
      connect_timer_(io_) {
  validate_connection_options(options_);
  if (url_.transport == RedisTransport::Tls) tls_ctx_.emplace(make_tls_context(options_.tls));
  std::random_device rd;
  rng_state_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
               static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count());
}

RedisEngine::~RedisEngine() {
  if (thread_.joinable()) {
    if (on_io_thread()) {
      // The I/O thread dropped the last reference after run() returned: nothing left to wait for.
      thread_.detach();
    } else {
      if (!closing_.exchange(true)) asio::post(io_, [this] { shutdown(); });
      thread_.join();
    }
  }
}

void RedisEngine::start() {
  work_.emplace(io_.get_executor());
  asio::post(io_, [this] { connect(); });
  thread_ = std::thread([self = shared_from_this()]() mutable {
    tl_io_engine = self.get();
    for (;;) {
      try {
        self->io_.run();
        break;
      } catch (...) {
        // A handler threw: a bug, but the I/O thread must keep settling everyone else's ops.
      }
    }
    self.reset();  // may destroy the engine here; ~RedisEngine detaches itself then
  });
}

bool RedisEngine::on_io_thread() const { return tl_io_engine == this; }
bool RedisEngine::on_any_io_thread() { return tl_io_engine != nullptr; }

// ---------------------------------------------------------------- caller side

void RedisEngine::reject(Callback<Reply>& done, Error error) {
  ops_.fetch_add(1, std::memory_order_relaxed);
  errors_.fetch_add(1, std::memory_order_relaxed);
  invoke(done, std::move(error));
}

void RedisEngine::submit(ArgList args, Callback<Reply> done, int64_t timeout_ms) {
  if (args.empty()) return reject(done, invalid_argument("args", "a command needs at least its name"));
  tl_cmd.clear();
  append_command(tl_cmd, args.data(), args.size());
  enqueue_formatted(tl_cmd, std::move(done), timeout_ms, nullptr, false);
}

void RedisEngine::submit_eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
                              int64_t timeout_ms) {
  if (!script.valid()) return reject(done, invalid_argument("script", "is empty"));
  char numkeys[24];
  auto res = std::to_chars(numkeys, numkeys + sizeof numkeys, keys.size());
  tl_args.clear();
  tl_args.reserve(3 + keys.size() + args.size());
  tl_args.push_back("EVALSHA");
  tl_args.push_back(script.sha1());
  tl_args.emplace_back(numkeys, static_cast<size_t>(res.ptr - numkeys));
  tl_args.insert(tl_args.end(), keys.begin(), keys.end());
  tl_args.insert(tl_args.end(), args.begin(), args.end());
  tl_cmd.clear();
  append_command(tl_cmd, tl_args.data(), tl_args.size());
  enqueue_formatted(tl_cmd, std::move(done), timeout_ms, &script, false);
}

void RedisEngine::submit_formatted(std::string_view cmd, const Script* script, bool asking, Callback<Reply> done,
                                   int64_t timeout_ms) {
  if (cmd.empty()) return reject(done, invalid_argument("args", "a command needs at least its name"));
  if (script != nullptr && !script->valid()) script = nullptr;
  enqueue_formatted(cmd, std::move(done), timeout_ms, script, asking);
}

RedisEngine::OpPtr RedisEngine::make_asking_op(SteadyClock::time_point deadline) {
  static constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";
  auto op = std::make_unique<Op>();
  op->cmd.assign(kAsking);
  op->internal = true;
  // The command's own deadline: should that command expire unsent, its ASKING goes with it
  // rather than being sent alone (it would apply to whatever command came next).
  op->deadline = deadline;
  return op;
}

void RedisEngine::enqueue_formatted(std::string_view cmd, Callback<Reply> done, int64_t timeout_ms,
                                    const Script* script, bool asking) {
  int64_t ms = timeout_ms > 0 ? timeout_ms : options_.command_timeout_ms;
  auto deadline = SteadyClock::now() + milliseconds(ms);
  bool post = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (shut_down_ || closing_.load(std::memory_order_acquire)) {
      lock.unlock();
      return reject(done, Error(ErrorCode::Closed, "redis: client closed"));
    }
    if (!connected_.load(std::memory_order_acquire) && queued_.size() >= options_.max_pending) {
      lock.unlock();
      return reject(done, Error(ErrorCode::QueueFull,
                                "redis: " + std::to_string(options_.max_pending) +
                                    " commands already waiting for a connection (max_pending)"));
    }
    OpPtr op;
    if (!free_ops_.empty()) {
      op = std::move(free_ops_.back());
      free_ops_.pop_back();
    } else {
      op = std::make_unique<Op>();
    }
    op->cmd.assign(cmd);
    op->done = std::move(done);
    op->deadline = deadline;
    op->timeout_ms = ms;
    if (script != nullptr) op->script = *script;
    op->asking = asking;
    if (asking) queued_.push_back(make_asking_op(deadline));
    queued_.push_back(std::move(op));
    if (deadline < earliest_new_deadline_) earliest_new_deadline_ = deadline;
    // Post only when no flush is already coming, or when this op needs an earlier deadline check.
    if (corked_ == 0 && (!flush_pending_ || deadline < timer_at_)) {
      flush_pending_ = true;
      post = true;
    }
    ops_.fetch_add(1, std::memory_order_relaxed);
    in_flight_.fetch_add(1, std::memory_order_relaxed);
  }
  if (post) asio::post(io_, [this] { flush(); });
}

void RedisEngine::cork() {
  std::lock_guard<std::mutex> lock(mu_);
  ++corked_;
}

void RedisEngine::uncork() {
  bool post = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (corked_ > 0) --corked_;
    // Queued ops need one flush: it also arms the deadline timer for them. As in enqueue: a flush
    // already pending (it stays pending while disconnected) does not arm a deadline earlier than
    // the timer's, so the corked ops' earliest deadline also posts one, else ops queued while the
    // engine waits to reconnect would settle at the next connect attempt, not at their deadline.
    if (corked_ == 0 && !queued_.empty() && (!flush_pending_ || earliest_new_deadline_ < timer_at_)) {
      flush_pending_ = true;
      post = true;
    }
  }
  if (post) asio::post(io_, [this] { flush(); });
}

void RedisEngine::close() {
  if (on_io_thread()) {
    // Called from a completion callback: we cannot join ourselves. Defer the shutdown to run
    // after the current handler; the I/O thread then exits on its own.
    if (!closing_.exchange(true)) asio::post(io_, [this] { shutdown(); });
    return;
  }
  std::lock_guard<std::mutex> guard(close_mu_);
  if (!closing_.exchange(true)) asio::post(io_, [this] { shutdown(); });
  if (thread_.joinable()) thread_.join();
}

void RedisEngine::record_latency(SteadyClock::duration d) {
  latency_us_.store(std::chrono::duration_cast<std::chrono::microseconds>(d).count(),
                    std::memory_order_relaxed);
}

Stats RedisEngine::stats() const {
  Stats s;
  s.ops = ops_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.timeouts = timeouts_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.nodes = 1;
  return s;
}

// ---------------------------------------------------------------- I/O thread

void RedisEngine::invoke(Callback<Reply>& done, Result<Reply> result) {
  if (!done) return;
  try {
    done(std::move(result));
  } catch (...) {
    // Callbacks must not throw; swallowing here keeps one bad callback from wedging the client.
  }
}

void RedisEngine::recycle(OpPtr op) {
  if (op->internal || op->cmd.capacity() > kMaxRecycledCmdBytes || io_free_.size() >= kMaxFreeOps) return;
  op->cmd.clear();
  op->done = nullptr;
  op->script = Script();
  op->eval_fallback_sent = false;
  op->asking = false;
  io_free_.push_back(std::move(op));
}

void RedisEngine::settle(OpPtr op, Result<Reply> result) {
  Callback<Reply> done = std::move(op->done);
  op->done = nullptr;
  bool internal = op->internal;
  recycle(std::move(op));
  if (!internal) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (!result.ok()) {
      if (result.error().code() == ErrorCode::Timeout) {
        timeouts_.fetch_add(1, std::memory_order_relaxed);
      } else {
        errors_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  invoke(done, std::move(result));
}

void RedisEngine::flush() {
  if (state_ == State::Closed) return;
  bool can_write = state_ == State::Connected && conn_ && !conn_->writing;
  SteadyClock::time_point earliest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    earliest = earliest_new_deadline_;
    earliest_new_deadline_ = SteadyClock::time_point::max();
    if (can_write) {
      batch_.swap(queued_);
      // A write about to start ends in flush(), which picks up whatever callers queue meanwhile:
      // they need not wake this thread (one wake per batch, not one per write in progress).
      flush_pending_ = !batch_.empty();
      while (!io_free_.empty() && free_ops_.size() < kMaxFreeOps) {
        free_ops_.push_back(std::move(io_free_.back()));
        io_free_.pop_back();
      }
    }
  }
  arm_deadline_timer(earliest);
  if (!can_write || batch_.empty()) return;
  std::string& out = conn_->write_buffer();
  for (OpPtr& op : batch_) {
    out += op->cmd;
    inflight_.push_back(std::move(op));
  }
  batch_.clear();
  start_write(conn_);
}

void RedisEngine::start_write(const std::shared_ptr<RedisConnection>& conn) {
  conn->writing = true;
  writes_.fetch_add(1, std::memory_order_relaxed);
  conn->async_write([this, conn](const std::error_code& ec, size_t) {
    if (conn != conn_) return;
    conn->writing = false;
    if (ec) return fail_connection(conn, "redis: write to " + endpoint_of(url_) + " failed: " + ec.message(), false);
    std::string& buf = conn->write_buffer();
    buf.clear();
    if (buf.capacity() > 4 * 1024 * 1024) std::string().swap(buf);  // don't pin a burst's memory
    flush();
  });
}

void RedisEngine::connect() {
  if (state_ == State::Closed) return;
  state_ = State::Connecting;
  auto conn = std::make_shared<RedisConnection>(io_, tls_ctx_ ? &*tls_ctx_ : nullptr);
  conn_ = conn;
  connect_timer_.expires_after(milliseconds(options_.connect_timeout_ms));
  connect_timer_.async_wait([this, conn](const std::error_code& ec) {
    if (ec || conn != conn_ || state_ == State::Connected) return;
    fail_connection(conn,
                    "redis: connecting to " + endpoint_of(url_) + " timed out after " +
                        std::to_string(options_.connect_timeout_ms) + " ms",
                    true);
  });
  conn->async_connect(url_, options_.tls, [this, conn](const std::string& error) {
    if (conn != conn_) return;
    if (!error.empty()) return fail_connection(conn, "redis: " + error, true);
    on_transport_ready(conn);
  });
}

void RedisEngine::on_transport_ready(const std::shared_ptr<RedisConnection>& conn) {
  state_ = State::Handshaking;
  start_read(conn);
  auto sent = SteadyClock::now();
  std::string& out = conn->write_buffer();
  auto add = [&](ArgList args, const char* step, bool last) {
    auto op = std::make_unique<Op>();
    append_command(op->cmd, args.data(), args.size());
    op->internal = true;
    op->deadline = SteadyClock::time_point::max();  // the connect timer bounds the handshake
    op->done = [this, conn, step, last, sent](Result<Reply> r) { on_handshake_reply(conn, step, r, last, sent); };
    out += op->cmd;
    inflight_.push_back(std::move(op));
  };
  if (!url_.password.empty()) {
    if (url_.user.empty()) {
      add({"AUTH", url_.password}, "AUTH", false);
    } else {
      add({"AUTH", url_.user, url_.password}, "AUTH", false);
    }
  }
  std::string db = std::to_string(url_.db);
  if (url_.db != 0) add({"SELECT", db}, "SELECT", false);
  // PING proves the peer speaks RESP and gives a first latency reading.
  add({"PING"}, "PING", true);
  start_write(conn);
}

void RedisEngine::on_handshake_reply(const std::shared_ptr<RedisConnection>& conn, const char* step,
                                     Result<Reply>& r, bool last, SteadyClock::time_point sent) {
  if (conn != conn_) return;
  if (!r.ok()) {
    return fail_connection(conn, std::string("redis: ") + step + " on " + endpoint_of(url_) +
                                     " failed: " + r.error().what(), true);
  }
  if (!last) return;
  state_ = State::Connected;
  connected_.store(true, std::memory_order_release);
  connect_timer_.cancel();
  reconnect_attempt_ = 0;
  if (ever_connected_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_connected_ = true;
  record_latency(SteadyClock::now() - sent);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_.clear();
  }
  flush();
}

void RedisEngine::start_read(const std::shared_ptr<RedisConnection>& conn) {
  conn->async_read([this, conn](const std::error_code& ec, size_t n) {
    if (conn != conn_) return;
    if (ec) {
      std::string why = ec == asio::error::eof ? "server closed the connection" : ec.message();
      return fail_connection(conn, "redis: connection to " + endpoint_of(url_) + " lost: " + why,
                             state_ != State::Connected);
    }
    on_read(conn, n);
  });
}

void RedisEngine::on_read(const std::shared_ptr<RedisConnection>& conn, size_t n) {
  try {
    conn->reader().feed(conn->read_buffer().data(), n);
    for (;;) {
      std::optional<Reply> reply = conn->reader().next();
      if (!reply) break;
      if (inflight_.empty()) {
        throw Error(ErrorCode::Protocol, "redis protocol error: a reply arrived with no command waiting for it");
      }
      OpPtr op = std::move(inflight_.front());
      inflight_.pop_front();
      deliver(std::move(op), std::move(*reply));
      if (conn != conn_) break;
    }
    if (requeue_resends() && conn == conn_) flush();
    if (conn != conn_) return;
  } catch (const Error& e) {
    requeue_resends();
    // The op whose reply was garbled learns why; the others only that the connection went away.
    if (!inflight_.empty()) {
      OpPtr op = std::move(inflight_.front());
      inflight_.pop_front();
      if (op->done) {
        settle(std::move(op), Error(ErrorCode::Protocol, e.what()));
      } else {
        recycle(std::move(op));
      }
    }
    return fail_connection(conn, std::string("redis: connection reset after a protocol error (") + e.what() + ")",
                           state_ != State::Connected);
  }
  start_read(conn);
}

bool RedisEngine::requeue_resends() {
  if (resend_.empty()) return false;
  // NOSCRIPT fallbacks go first, in the order they were sent (they never ran).
  std::lock_guard<std::mutex> lock(mu_);
  while (!resend_.empty()) {
    queued_.push_front(std::move(resend_.back()));
    resend_.pop_back();
  }
  return true;
}

void RedisEngine::deliver(OpPtr op, Reply reply) {
  if (!op->done) return recycle(std::move(op));  // timed out earlier: its late reply is dropped here
  if (reply.is_error()) {
    std::string_view msg = reply.as_string();
    if (op->script.valid() && !op->eval_fallback_sent && msg.substr(0, 8) == "NOSCRIPT" &&
        rewrite_evalsha_as_eval(op->cmd, op->script)) {
      // The script never ran, so sending it again cannot double-count.
      op->eval_fallback_sent = true;
      // An ASK-redirected script must be re-sent with its ASKING, or the importing node would
      // answer ASK again instead of running it. on_read() re-queues these in reply order.
      if (op->asking) resend_.push_back(make_asking_op(op->deadline));
      resend_.push_back(std::move(op));
      return;
    }
    return settle(std::move(op), Error(ErrorCode::Script, std::string(msg)));
  }
  settle(std::move(op), Result<Reply>(std::move(reply)));
}

void RedisEngine::fail_connection(std::shared_ptr<RedisConnection> conn, const std::string& why,
                                  bool fail_queued) {
  // By value: callers may pass conn_ itself, which is reset below.
  if (!conn || conn != conn_) return;
  conn_.reset();
  conn->close();
  state_ = State::Disconnected;
  connected_.store(false, std::memory_order_release);
  connect_timer_.cancel();
  std::deque<OpPtr> written;
  written.swap(inflight_);
  std::deque<OpPtr> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = why;
    if (fail_queued) waiting.swap(queued_);
  }
  schedule_reconnect();
  // Written ops are never re-sent: the server may have executed them, and a retry could double-count.
  for (OpPtr& op : written) {
    if (op->done) {
      settle(std::move(op), Error(ErrorCode::Connection, why));
    } else {
      recycle(std::move(op));
    }
  }
  for (OpPtr& op : waiting) settle(std::move(op), Error(ErrorCode::Connection, why));
}

void RedisEngine::schedule_reconnect() {
  if (state_ == State::Closed) return;
  int shift = std::min(reconnect_attempt_, 20);
  int64_t base = std::min(options_.reconnect_max_ms, options_.reconnect_min_ms << shift);
  if (base <= 0) base = options_.reconnect_max_ms;  // shift overflow guard
  ++reconnect_attempt_;
  // "Equal jitter": at least half the backoff, so a fleet restarting together spreads out.
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  int64_t half = base / 2;
  int64_t delay = half + static_cast<int64_t>(rng_state_ % static_cast<uint64_t>(base - half + 1));
  reconnect_timer_.expires_after(milliseconds(delay));
  reconnect_timer_.async_wait([this](const std::error_code& ec) {
    if (ec || state_ == State::Closed) return;
    connect();
  });
}

void RedisEngine::arm_deadline_timer(SteadyClock::time_point when) {
  if (when == SteadyClock::time_point::max()) return;
  if (deadline_armed_ && deadline_at_ <= when) return;
  deadline_armed_ = true;
  deadline_at_ = when;
  {
    std::lock_guard<std::mutex> lock(mu_);
    timer_at_ = when;
  }
  deadline_timer_.expires_at(when);
  deadline_timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;  // re-armed earlier, or shutting down
    deadline_armed_ = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      timer_at_ = SteadyClock::time_point::max();
    }
    on_deadline_timer();
  });
}

void RedisEngine::on_deadline_timer() {
  if (state_ == State::Closed) return;
  auto now = SteadyClock::now();
  auto next = SteadyClock::time_point::max();
  std::vector<OpPtr> expired_queued;
  std::string last_error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (OpPtr& op : queued_) {
      if (op->deadline <= now) {
        expired_queued.push_back(std::move(op));
      } else {
        next = std::min(next, op->deadline);
      }
    }
    if (!expired_queued.empty()) {
      queued_.erase(std::remove(queued_.begin(), queued_.end(), nullptr), queued_.end());
    }
    last_error = last_error_;
  }
  std::vector<std::pair<Callback<Reply>, int64_t>> expired_written;
  for (OpPtr& op : inflight_) {
    if (!op->done) continue;
    if (op->deadline <= now) {
      // Keep the slot: the reply may still come and must be matched to this op, then dropped.
      expired_written.emplace_back(std::move(op->done), op->timeout_ms);
      op->done = nullptr;
    } else {
      next = std::min(next, op->deadline);
    }
  }
  // A server that answers nothing for a whole extra timeout after a deadline is wedged (or the
  // path to it is): recycle the connection rather than let timed-out slots pile up forever.
  if (state_ == State::Connected && !inflight_.empty() && !inflight_.front()->done &&
      inflight_.front()->deadline != SteadyClock::time_point::max()) {
    auto wedge_at = inflight_.front()->deadline + milliseconds(std::max<int64_t>(options_.command_timeout_ms, 250));
    if (now >= wedge_at) {
      fail_connection(conn_,
                      "redis: " + endpoint_of(url_) + " did not answer for " +
                          std::to_string(std::chrono::duration_cast<milliseconds>(now - inflight_.front()->deadline).count() +
                                         inflight_.front()->timeout_ms) +
                          " ms; connection recycled",
                      false);
    } else {
      next = std::min(next, wedge_at);
    }
  }
  arm_deadline_timer(next);
  for (auto& [done, ms] : expired_written) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    timeouts_.fetch_add(1, std::memory_order_relaxed);
    invoke(done, Error(ErrorCode::Timeout, "redis: no reply within " + std::to_string(ms) + " ms"));
  }
  for (OpPtr& op : expired_queued) {
    std::string why = "redis: timed out after " + std::to_string(op->timeout_ms) + " ms ";
    if (connected_.load(std::memory_order_acquire)) {
      why += "before it could be sent";
    } else {
      why += "waiting for a connection to " + endpoint_of(url_);
      if (!last_error.empty()) why += " (last error: " + last_error + ")";
    }
    settle(std::move(op), Error(ErrorCode::Timeout, why));
  }
}

void RedisEngine::shutdown() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  connected_.store(false, std::memory_order_release);
  std::error_code ignored;
  deadline_timer_.cancel();
  reconnect_timer_.cancel();
  connect_timer_.cancel();
  if (conn_) {
    auto conn = std::move(conn_);
    conn_.reset();
    conn->close();
  }
  std::deque<OpPtr> written;
  written.swap(inflight_);
  std::deque<OpPtr> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    waiting.swap(queued_);
  }
  for (OpPtr& op : written) {
    if (op->done) settle(std::move(op), Error(ErrorCode::Closed, "redis: client closed"));
  }
  for (OpPtr& op : waiting) settle(std::move(op), Error(ErrorCode::Closed, "redis: client closed"));
  work_.reset();
  io_.stop();
}

}  // namespace redkeeper
