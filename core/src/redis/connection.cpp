// Transport setup (resolve, connect, TLS handshake) and raw reads/writes for RedisConnection.
#include "redis/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>

#include "redkeeper/error.hpp"

namespace redkeeper {

namespace {
constexpr size_t kReadChunk = 64 * 1024;

std::string endpoint_text(const RedisUrl& url) {
  if (url.transport == RedisTransport::Unix) return url.path;
  if (url.host.find(':') != std::string::npos) return "[" + url.host + "]:" + std::to_string(url.port);
  return url.host + ":" + std::to_string(url.port);
}

std::string ssl_error_text(const std::error_code& ec) {
  // asio renders OpenSSL errors as their reason string ("certificate verify failed (SSL routines)").
  return ec.message();
}
}  // namespace

asio::ssl::context make_tls_context(const TlsOptions& tls) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1);
  std::error_code ec;
  if (tls.verify) {
    ctx.set_verify_mode(asio::ssl::verify_peer, ec);
    if (tls.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
      if (ec) throw invalid_argument("tls.ca_file", "cannot load the system CA paths: " + ec.message());
    } else {
      ctx.load_verify_file(tls.ca_file, ec);
      if (ec) throw invalid_argument("tls.ca_file", "cannot load '" + tls.ca_file + "': " + ssl_error_text(ec));
    }
  } else {
    ctx.set_verify_mode(asio::ssl::verify_none, ec);
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw invalid_argument(tls.cert_file.empty() ? "tls.cert_file" : "tls.key_file",
                           "a client certificate needs both cert_file and key_file");
  }
  if (!tls.cert_file.empty()) {
    ctx.use_certificate_chain_file(tls.cert_file, ec);
    if (ec) throw invalid_argument("tls.cert_file", "cannot load '" + tls.cert_file + "': " + ssl_error_text(ec));
    ctx.use_private_key_file(tls.key_file, asio::ssl::context::pem, ec);
    if (ec) throw invalid_argument("tls.key_file", "cannot load '" + tls.key_file + "': " + ssl_error_text(ec));
  }
  return ctx;
}

RedisConnection::RedisConnection(asio::io_context& io, asio::ssl::context* tls_ctx)
    : io_(io), tls_ctx_(tls_ctx), resolver_(io), tcp_(io), unix_(io), read_buf_(kReadChunk) {}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  resolver_.cancel();
  tcp_.close(ignored);
  unix_.close(ignored);
  if (tls_) tls_->lowest_layer().close(ignored);
}

void RedisConnection::tune_tcp(asio::ip::tcp::socket& socket) {
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket.set_option(asio::socket_base::keep_alive(true), ignored);
  // Notice a dead peer in ~1 minute rather than the kernel default of 2 hours.
  int idle_s = 30, interval_s = 10, count = 3;
  int fd = socket.native_handle();
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

void RedisConnection::async_connect(const RedisUrl& url, const TlsOptions& tls, ConnectHandler done) {
  auto self = shared_from_this();
  if (url.transport == RedisTransport::Unix) {
    kind_ = Kind::Unix;
    unix_.async_connect(asio::local::stream_protocol::endpoint(url.path),
                        [self, url, done = std::move(done)](const std::error_code& ec) {
                          if (ec) {
                            done("cannot connect to unix socket " + url.path + ": " + ec.message());
                          } else {
                            done(std::string());
                          }
                        });
    return;
  }
  if (url.transport == RedisTransport::Tls) {
    kind_ = Kind::Tls;
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(io_, *tls_ctx_);
  }
  resolver_.async_resolve(
      url.host, std::to_string(url.port),
      [self, url, tls, done = std::move(done)](const std::error_code& ec,
                                               asio::ip::tcp::resolver::results_type results) mutable {
        if (self->closed_) return done("connection closed while resolving " + url.host);
        if (ec) return done("cannot resolve " + url.host + ": " + ec.message());
        auto& socket = self->kind_ == Kind::Tls ? self->tls_->next_layer() : self->tcp_;
        asio::async_connect(socket, results,
                            [self, url, tls, done = std::move(done)](const std::error_code& cec,
                                                                     const asio::ip::tcp::endpoint&) mutable {
                              if (cec) return done("cannot connect to " + endpoint_text(url) + ": " + cec.message());
                              self->on_tcp_connected(url, tls, std::move(done));
                            });
      });
}

void RedisConnection::on_tcp_connected(const RedisUrl& url, const TlsOptions& tls, ConnectHandler done) {
  if (kind_ == Kind::Tcp) {
    tune_tcp(tcp_);
    return done(std::string());
  }
  tune_tcp(tls_->next_layer());
  std::string name = tls.server_name.empty() ? url.host : tls.server_name;
  std::error_code ec;
  asio::ip::make_address(name, ec);
  bool is_ip = !ec;
  if (!is_ip) {
    // SNI carries host names only (RFC 6066); IP literals are verified against the IP SAN instead.
    SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());
  }
  if (tls.verify) {
    tls_->set_verify_callback(asio::ssl::host_name_verification(name), ec);
  }
  auto self = shared_from_this();
  tls_->async_handshake(asio::ssl::stream_base::client,
                        [self, url, done = std::move(done)](const std::error_code& hec) {
                          if (hec) {
                            return done("TLS handshake with " + endpoint_text(url) +
                                        " failed: " + ssl_error_text(hec));
                          }
                          done(std::string());
                        });
}

void RedisConnection::async_read(IoHandler done) {
  auto buf = asio::buffer(read_buf_);
  auto handler = [self = shared_from_this(), done = std::move(done)](const std::error_code& ec, size_t n) {
    done(ec, n);
  };
  switch (kind_) {
    case Kind::Tcp: tcp_.async_read_some(buf, std::move(handler)); break;
    case Kind::Unix: unix_.async_read_some(buf, std::move(handler)); break;
    case Kind::Tls: tls_->async_read_some(buf, std::move(handler)); break;
  }
}

void RedisConnection::async_write(IoHandler done) {
  auto buf = asio::buffer(write_buf_);
  auto handler = [self = shared_from_this(), done = std::move(done)](const std::error_code& ec, size_t n) {
    done(ec, n);
  };
  switch (kind_) {
    case Kind::Tcp: asio::async_write(tcp_, buf, std::move(handler)); break;
    case Kind::Unix: asio::async_write(unix_, buf, std::move(handler)); break;
    case Kind::Tls: asio::async_write(*tls_, buf, std::move(handler)); break;
  }
}

}  // namespace redkeeper
