// The Redis backend's Client, plus the low-level async command API the primitives' Redis side is
// built on: command(args) and eval(script, keys, args), pipelined automatically on one connection.
// Callbacks run on the client's I/O thread, except rejections decided at submit time
// (Closed, QueueFull, a bad argument), which run inline on the calling thread.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "redis/reply.hpp"
#include "redis/script.hpp"
#include "redis/url.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {

// A borrowed list of byte strings (the views must stay valid for the duration of the call only:
// the command is serialised before command()/eval() returns).
class ArgList {
 public:
  ArgList() = default;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  // Safe as a parameter: the list's array lives until the end of the caller's full-expression,
  // and the command is serialised before command()/eval() return. Never store an ArgList.
  ArgList(std::initializer_list<std::string_view> args) : data_(args.begin()), size_(args.size()) {}  // NOLINT
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  ArgList(const std::vector<std::string_view>& args) : data_(args.data()), size_(args.size()) {}     // NOLINT
  template <size_t N>
  ArgList(const std::array<std::string_view, N>& args) : data_(args.data()), size_(N) {}  // NOLINT
  ArgList(const std::string_view* data, size_t size) : data_(data), size_(size) {}

  const std::string_view* begin() const { return data_; }
  const std::string_view* end() const { return data_ + size_; }
  const std::string_view* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  const std::string_view* data_ = nullptr;
  size_t size_ = 0;
};

class Engine;

class RedisClient final : public Client {
 public:
  // Validates TLS files (InvalidArgument naming tls.*) and starts connecting in the background.
  RedisClient(RedisUrl url, ClientOptions options);
  ~RedisClient() override;

  std::shared_ptr<Limiter> limiter(LimiterConfig config) override;
  void hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done) override;
  std::shared_ptr<Backend> backend() override;
  bool completes_inline() const override { return false; }
  void cork() override;
  void uncork() override;
  void ping(Callback<double> done) override;
  Health health() const override;
  Stats stats() const override;
  void close() override;
  bool closed() const override;

  // Sends one command. A Redis error reply settles with Error(Script, <server message>); other
  // failures: Timeout, Connection, QueueFull, Protocol, Closed. timeout_ms <= 0 uses
  // options().command_timeout_ms.
  void command(ArgList args, Callback<Reply> done, int64_t timeout_ms = 0);

  // EVALSHA script.sha1() numkeys keys... args...; re-sent once as EVAL only when the server
  // answers NOSCRIPT. Any other error settles with Error(Script, message) and is never retried.
  void eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done, int64_t timeout_ms = 0);

  const RedisUrl& url() const { return url_; }
  // Socket writes so far (each carries a whole batch of pipelined commands).
  uint64_t socket_writes() const;

 private:
  RedisUrl url_;
  std::shared_ptr<Engine> engine_;
  std::mutex backend_mu_;
  std::shared_ptr<Backend> backend_;  // created on first use
};

}  // namespace redkeeper
