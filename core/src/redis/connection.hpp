// One transport to a Redis server: TCP, unix socket or TLS over TCP, on the engine's io_context.
// Owns its socket, read buffer, write buffer and RESP reader, so a dropped connection's late
// handlers never touch the next connection's state. Used only on the I/O thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "redis/resp.hpp"
#include "redis/url.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {

// Builds the TLS client context from the options; throws InvalidArgument naming the bad option.
asio::ssl::context make_tls_context(const TlsOptions& tls);

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  // `error` is empty on success, else a sentence describing what failed.
  using ConnectHandler = std::function<void(const std::string& error)>;
  using IoHandler = std::function<void(const std::error_code&, size_t)>;

  RedisConnection(asio::io_context& io, asio::ssl::context* tls_ctx);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Resolves, connects, sets TCP_NODELAY + keepalive, and for TLS runs the handshake with
  // certificate + host name verification (unless tls.verify is false).
  void async_connect(const RedisUrl& url, const TlsOptions& tls, ConnectHandler done);
  // Reads into read_buffer(); handler gets the byte count.
  void async_read(IoHandler done);
  // Writes all of write_buffer().
  void async_write(IoHandler done);
  // Cancels everything pending; handlers then run with an error. Idempotent.
  void close();

  std::vector<char>& read_buffer() { return read_buf_; }
  std::string& write_buffer() { return write_buf_; }
  RespReader& reader() { return reader_; }
  bool writing = false;  // a write of write_buffer() is outstanding

 private:
  void on_tcp_connected(const RedisUrl& url, const TlsOptions& tls, ConnectHandler done);
  void tune_tcp(asio::ip::tcp::socket& socket);

  enum class Kind { Tcp, Unix, Tls };
  Kind kind_ = Kind::Tcp;
  asio::io_context& io_;
  asio::ssl::context* tls_ctx_;
  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket tcp_;
  asio::local::stream_protocol::socket unix_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  std::vector<char> read_buf_;
  std::string write_buf_;
  RespReader reader_;
  bool closed_ = false;
};

}  // namespace redkeeper
