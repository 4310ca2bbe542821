// The Redis backend's pub/sub side: one dedicated connection in subscribe mode, with the engine's
// URL/TLS/unix/AUTH/SELECT handshake (rotating through a cluster's nodes when given several), reconnect with backoff + jitter, and SUBSCRIBE/UNSUBSCRIBE
// kept in step with the set of wanted channels. Runs only on its owner's io_context thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "redis/connection.hpp"
#include "redis/url.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {

// The commands every new connection sends before anything else (AUTH, SELECT), as
// {step name, argv}: shared by the engine's and the subscriber's handshakes.
std::vector<std::pair<const char*, std::vector<std::string>>> handshake_commands(const RedisUrl& url);

// Reconnect delay: exponential from min to max with "equal jitter" (at least half the backoff), so
// a fleet restarting together spreads out.
class Backoff {
 public:
  Backoff(int64_t min_ms, int64_t max_ms, uint64_t seed) : min_ms_(min_ms), max_ms_(max_ms), rng_(seed | 1) {}
  int64_t next_ms();
  void reset() { attempt_ = 0; }

 private:
  int64_t min_ms_, max_ms_;
  uint64_t rng_;
  int attempt_ = 0;
};

class Subscriber {
 public:
  struct Handlers {
    // A "message" push: payload published on a channel this connection is subscribed to.
    std::function<void(std::string_view channel, std::string_view payload)> on_message;
    // The server confirmed the SUBSCRIBE last sent for `channel` on the current connection.
    std::function<void(const std::string& channel)> on_subscribed;
    // The connection was lost: every subscription is gone until the next on_subscribed.
    std::function<void()> on_disconnected;
    // Optional: where to connect, asked before every (re)connect attempt; each attempt takes the
    // next entry in turn, so a subscriber whose node died moves on to another one (a cluster,
    // where a PUBLISH on any node reaches every node). Empty list or unset: the URL given.
    std::function<std::vector<RedisUrl>()> targets;
  };

  // `tls_ctx` must outlive the subscriber (needed for rediss:// only). Every `health_check_ms`
  // (0: never) a connected subscriber sends PING; a connection that has sent nothing back by the
  // next check is dropped and reconnected (a half-open TCP path would otherwise go unnoticed
  // until keepalive gives up, and every wake-up meanwhile would be lost).
  Subscriber(asio::io_context& io, RedisUrl url, ClientOptions options, asio::ssl::context* tls_ctx,
             Handlers handlers, int64_t health_check_ms = 0);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Wanted or not: sends SUBSCRIBE/UNSUBSCRIBE when connected, remembered for reconnects.
  // The first want() starts connecting.
  void want(const std::string& channel, bool subscribed);
  // Drops the connection and stops reconnecting. Idempotent; no handler runs afterwards.
  void close();

  bool connected() const { return state_ == State::Connected; }
  size_t wanted_count() const;
  const std::string& last_error() const { return last_error_; }

 private:
  enum class State { Idle, Connecting, Handshaking, Connected, Closed };
  struct Channel {
    bool wanted = false;
    int pending = 0;  // SUBSCRIBE/UNSUBSCRIBE sent on this connection, confirmation not yet seen
  };

  void connect();
  void on_transport_ready(const std::shared_ptr<RedisConnection>& conn);
  void start_read(const std::shared_ptr<RedisConnection>& conn);
  void on_read(const std::shared_ptr<RedisConnection>& conn, size_t n);
  void on_reply(const std::shared_ptr<RedisConnection>& conn, Reply reply);
  void send(const std::shared_ptr<RedisConnection>& conn, std::initializer_list<std::string_view> args);
  void send(const std::shared_ptr<RedisConnection>& conn, const std::vector<std::string_view>& args);
  void start_write(const std::shared_ptr<RedisConnection>& conn);
  void fail_connection(std::shared_ptr<RedisConnection> conn, const std::string& why);
  void schedule_reconnect();
  void arm_health_check(const std::shared_ptr<RedisConnection>& conn);

  asio::io_context& io_;
  RedisUrl url_;  // the current target (see Handlers::targets)
  size_t next_target_ = 0;
  const ClientOptions options_;
  asio::ssl::context* tls_ctx_;
  Handlers handlers_;
  asio::steady_timer connect_timer_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer health_timer_;
  const int64_t health_check_ms_;
  Backoff backoff_;

  State state_ = State::Idle;
  std::shared_ptr<RedisConnection> conn_;
  size_t handshake_left_ = 0;   // handshake replies still expected on conn_
  bool awaiting_pong_ = false;  // a health-check PING is out and nothing was read since
  std::string pending_out_;     // commands queued while a write is in progress
  std::unordered_map<std::string, Channel> channels_;
  std::string last_error_;
};

}  // namespace redkeeper
