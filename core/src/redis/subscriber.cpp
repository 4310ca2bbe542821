// Subscriber: the subscribe-mode connection of the Redis backend (connect, handshake, SUBSCRIBE
// bookkeeping, push parsing, reconnect). Every member runs on the owner's io_context thread.
#include "redis/subscriber.hpp"

#include <algorithm>
#include <chrono>

#include "redis/resp.hpp"
#include "redkeeper/error.hpp"

namespace redkeeper {

std::vector<std::pair<const char*, std::vector<std::string>>> handshake_commands(const RedisUrl& url) {
  std::vector<std::pair<const char*, std::vector<std::string>>> out;
  if (!url.password.empty()) {
    if (url.user.empty()) {
      out.push_back({"AUTH", {"AUTH", url.password}});
    } else {
      out.push_back({"AUTH", {"AUTH", url.user, url.password}});
    }
  }
  if (url.db != 0) out.push_back({"SELECT", {"SELECT", std::to_string(url.db)}});
  return out;
}

int64_t Backoff::next_ms() {
  int shift = std::min(attempt_, 20);
  int64_t base = std::min(max_ms_, min_ms_ << shift);
  if (base <= 0) base = max_ms_;  // shift overflow guard
  ++attempt_;
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  int64_t half = base / 2;
  return half + static_cast<int64_t>(rng_ % static_cast<uint64_t>(base - half + 1));
}

namespace {
using std::chrono::milliseconds;

uint64_t seed_from_clock() {
  auto t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return t * 0x9E3779B97F4A7C15ull;
}
}  // namespace

Subscriber::Subscriber(asio::io_context& io, RedisUrl url, ClientOptions options, asio::ssl::context* tls_ctx,
                       Handlers handlers, int64_t health_check_ms)
    : io_(io),
      url_(std::move(url)),
      options_(std::move(options)),
      tls_ctx_(tls_ctx),
      handlers_(std::move(handlers)),
      connect_timer_(io),
      reconnect_timer_(io),
      health_timer_(io),
      health_check_ms_(health_check_ms),
      backoff_(options_.reconnect_min_ms, options_.reconnect_max_ms, seed_from_clock()) {}

Subscriber::~Subscriber() { close(); }

size_t Subscriber::wanted_count() const {
  return static_cast<size_t>(
      std::count_if(channels_.begin(), channels_.end(), [](const auto& kv) { return kv.second.wanted; }));
}

void Subscriber::want(const std::string& channel, bool subscribed) {
  if (state_ == State::Closed) return;
  auto it = channels_.find(channel);
  if (it == channels_.end()) {
    if (!subscribed) return;
    it = channels_.emplace(channel, Channel{}).first;
  }
  Channel& ch = it->second;
  if (ch.wanted == subscribed) return;
  ch.wanted = subscribed;
  if (state_ == State::Idle) {
    connect();
    return;  // the SUBSCRIBE goes out after the handshake
  }
  if (state_ != State::Connected) return;  // (re)sent after the handshake from channels_
  ++ch.pending;
  send(conn_, {subscribed ? std::string_view("SUBSCRIBE") : std::string_view("UNSUBSCRIBE"), channel});
}

void Subscriber::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  connect_timer_.cancel();
  reconnect_timer_.cancel();
  health_timer_.cancel();
  if (conn_) {
    auto conn = std::move(conn_);
    conn_.reset();
    conn->close();
  }
  channels_.clear();
}

void Subscriber::connect() {
  if (state_ == State::Closed) return;
  if (handlers_.targets) {
    std::vector<RedisUrl> targets = handlers_.targets();
    if (!targets.empty()) url_ = targets[next_target_++ % targets.size()];
  }
  state_ = State::Connecting;
  auto conn = std::make_shared<RedisConnection>(io_, tls_ctx_);
  conn_ = conn;
  handshake_left_ = 0;
  pending_out_.clear();
  connect_timer_.expires_after(milliseconds(options_.connect_timeout_ms));
  connect_timer_.async_wait([this, conn](const std::error_code& ec) {
    if (ec || conn != conn_ || state_ == State::Connected) return;
    fail_connection(conn, "redis subscriber: connecting to " + redacted_url(url_) + " timed out after " +
                              std::to_string(options_.connect_timeout_ms) + " ms");
  });
  conn->async_connect(url_, options_.tls, [this, conn](const std::string& error) {
    if (conn != conn_) return;
    if (!error.empty()) return fail_connection(conn, "redis subscriber: " + error);
    on_transport_ready(conn);
  });
}

void Subscriber::on_transport_ready(const std::shared_ptr<RedisConnection>& conn) {
  state_ = State::Handshaking;
  start_read(conn);
  auto steps = handshake_commands(url_);
  for (const auto& step : steps) {
    std::vector<std::string_view> argv(step.second.begin(), step.second.end());
    send(conn, argv);
  }
  // PING proves the peer speaks RESP before we enter subscribe mode (its replies look different).
  send(conn, {"PING"});
  handshake_left_ = steps.size() + 1;
}

void Subscriber::send(const std::shared_ptr<RedisConnection>& conn, std::initializer_list<std::string_view> args) {
  send(conn, std::vector<std::string_view>(args));
}

void Subscriber::send(const std::shared_ptr<RedisConnection>& conn, const std::vector<std::string_view>& args) {
  if (conn->writing) {
    append_command(pending_out_, args.data(), args.size());
    return;
  }
  append_command(conn->write_buffer(), args.data(), args.size());
  start_write(conn);
}

void Subscriber::start_write(const std::shared_ptr<RedisConnection>& conn) {
  conn->writing = true;
  conn->async_write([this, conn](const std::error_code& ec, size_t) {
    if (conn != conn_) return;
    conn->writing = false;
    if (ec) return fail_connection(conn, "redis subscriber: write to " + redacted_url(url_) + " failed: " + ec.message());
    conn->write_buffer().clear();
    if (!pending_out_.empty()) {
      conn->write_buffer().swap(pending_out_);
      start_write(conn);
    }
  });
}

void Subscriber::start_read(const std::shared_ptr<RedisConnection>& conn) {
  conn->async_read([this, conn](const std::error_code& ec, size_t n) {
    if (conn != conn_) return;
    if (ec) {
      std::string why = ec == asio::error::eof ? "server closed the connection" : ec.message();
      return fail_connection(conn, "redis subscriber: connection to " + redacted_url(url_) + " lost: " + why);
    }
    on_read(conn, n);
  });
}

void Subscriber::on_read(const std::shared_ptr<RedisConnection>& conn, size_t n) {
  awaiting_pong_ = false;  // the peer is alive
  try {
    conn->reader().feed(conn->read_buffer().data(), n);
    for (;;) {
      std::optional<Reply> reply = conn->reader().next();
      if (!reply) break;
      on_reply(conn, std::move(*reply));
      if (conn != conn_) return;  // a handler failed or closed the connection
    }
  } catch (const Error& e) {
    return fail_connection(conn, std::string("redis subscriber: connection reset after a protocol error (") +
                                     e.what() + ")");
  }
  start_read(conn);
}

void Subscriber::on_reply(const std::shared_ptr<RedisConnection>& conn, Reply reply) {
  if (handshake_left_ > 0) {
    if (reply.is_error()) {
      return fail_connection(conn, "redis subscriber: handshake with " + redacted_url(url_) +
                                       " failed: " + std::string(reply.as_string()));
    }
    if (--handshake_left_ > 0) return;
    state_ = State::Connected;
    connect_timer_.cancel();
    backoff_.reset();
    last_error_.clear();
    awaiting_pong_ = false;
    arm_health_check(conn);
    // One SUBSCRIBE for every wanted channel (a fresh connection has none).
    std::vector<std::string_view> argv{"SUBSCRIBE"};
    for (auto it = channels_.begin(); it != channels_.end();) {
      if (!it->second.wanted) {  // given up during the handshake
        it = channels_.erase(it);
        continue;
      }
      it->second.pending = 1;
      argv.push_back(it->first);
      ++it;
    }
    if (argv.size() > 1) send(conn, argv);
    return;
  }
  if (reply.is_error()) {
    // E.g. an ACL forbidding a channel: nothing to retry on this connection; keep the others.
    last_error_ = std::string(reply.as_string());
    return;
  }
  if (!reply.is_array() || reply.size() < 3) return;  // "pong" pushes from a health check and the like
  std::string_view kind = reply.at(0).as_string();
  if (kind == "message") {
    if (handlers_.on_message) handlers_.on_message(reply.at(1).as_string(), reply.at(2).as_string());
    return;
  }
  if (kind != "subscribe" && kind != "unsubscribe") return;
  if (reply.at(1).is_nil()) return;
  std::string name(reply.at(1).as_string());
  auto it = channels_.find(name);
  if (it == channels_.end()) return;
  Channel& ch = it->second;
  if (ch.pending > 0) --ch.pending;
  // Only the confirmation of the last command sent counts: an older SUBSCRIBE followed by an
  // UNSUBSCRIBE still in flight does not make the channel live.
  if (ch.pending > 0) return;
  if (!ch.wanted) {
    channels_.erase(it);
    return;
  }
  if (kind == "subscribe" && handlers_.on_subscribed) handlers_.on_subscribed(name);
}

void Subscriber::fail_connection(std::shared_ptr<RedisConnection> conn, const std::string& why) {
  if (!conn || conn != conn_) return;
  bool was_connected = state_ == State::Connected;
  conn_.reset();
  conn->close();
  connect_timer_.cancel();
  health_timer_.cancel();
  state_ = State::Connecting;  // until the reconnect timer fires: want() only records
  last_error_ = why;
  for (auto it = channels_.begin(); it != channels_.end();) {
    if (it->second.wanted) {
      it->second.pending = 0;
      ++it;
    } else {
      it = channels_.erase(it);
    }
  }
  schedule_reconnect();
  if (was_connected && handlers_.on_disconnected) handlers_.on_disconnected();
}

void Subscriber::arm_health_check(const std::shared_ptr<RedisConnection>& conn) {
  if (health_check_ms_ <= 0) return;
  health_timer_.expires_after(milliseconds(health_check_ms_));
  health_timer_.async_wait([this, conn](const std::error_code& ec) {
    if (ec || conn != conn_ || state_ != State::Connected) return;
    if (awaiting_pong_) {
      return fail_connection(conn, "redis subscriber: " + redacted_url(url_) + " did not answer a PING within " +
                                       std::to_string(health_check_ms_) + " ms; connection recycled");
    }
    awaiting_pong_ = true;
    send(conn, {"PING"});
    arm_health_check(conn);
  });
}

void Subscriber::schedule_reconnect() {
  if (state_ == State::Closed) return;
  reconnect_timer_.expires_after(milliseconds(backoff_.next_ms()));
  reconnect_timer_.async_wait([this](const std::error_code& ec) {
    if (ec || state_ == State::Closed) return;
    connect();
  });
}

}  // namespace redkeeper
