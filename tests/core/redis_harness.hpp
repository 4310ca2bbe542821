// Test harness for anything that talks to Redis: spawns a private redis-server on a free loopback
// port (plain, TLS, unix socket), generates TLS certificates with the openssl CLI, runs scripted
// fake servers (silent, garbage, closes mid-reply), and wraps callback APIs into blocking calls.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "redis/redis_client.hpp"
#include "redkeeper/client.hpp"

extern char** environ;

namespace redkeeper::testing {

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rk-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A loopback TCP port that was free a moment ago (the kernel picks it).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// CA, server and client certificates (EC P-256, fast to generate), plus an unrelated CA for
// verification-failure tests. The server certificate is valid for 127.0.0.1 and localhost.
struct TlsCerts {
  std::string ca_cert, ca_key, server_cert, server_key, client_cert, client_key, other_ca_cert;

  static const TlsCerts& shared() {
    static TempDir dir;
    static TlsCerts certs = generate(dir.path());
    return certs;
  }

  static TlsCerts generate(const std::string& dir) {
    TlsCerts c;
    auto p = [&](const char* name) { return dir + "/" + name; };
    c.ca_cert = p("ca.crt");
    c.ca_key = p("ca.key");
    c.server_cert = p("server.crt");
    c.server_key = p("server.key");
    c.client_cert = p("client.crt");
    c.client_key = p("client.key");
    c.other_ca_cert = p("other-ca.crt");
    std::ofstream(p("san.ext")) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::ofstream(p("client.ext")) << "extendedKeyUsage=clientAuth\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string q = " >/dev/null 2>&1";
    std::vector<std::string> cmds = {
        "openssl req -x509" + ec + "-keyout " + c.ca_key + " -out " + c.ca_cert + " -days 2 -subj /CN=rk-test-ca" + q,
        "openssl req -x509" + ec + "-keyout " + p("other-ca.key") + " -out " + c.other_ca_cert +
            " -days 2 -subj /CN=rk-other-ca" + q,
        "openssl req" + ec + "-keyout " + c.server_key + " -out " + p("server.csr") + " -subj /CN=localhost" + q,
        "openssl x509 -req -in " + p("server.csr") + " -CA " + c.ca_cert + " -CAkey " + c.ca_key +
            " -CAcreateserial -out " + c.server_cert + " -days 2 -extfile " + p("san.ext") + q,
        "openssl req" + ec + "-keyout " + c.client_key + " -out " + p("client.csr") + " -subj /CN=rk-client" + q,
        "openssl x509 -req -in " + p("client.csr") + " -CA " + c.ca_cert + " -CAkey " + c.ca_key +
            " -CAcreateserial -out " + c.client_cert + " -days 2 -extfile " + p("client.ext") + q,
    };
    for (const auto& cmd : cmds) {
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed: " + cmd);
    }
    return c;
  }
};

struct RedisServerOptions {
  bool tcp = true;                  // plain TCP listener on a free port
  bool tls = false;                 // TLS listener on a free port (certs from TlsCerts::shared())
  bool tls_auth_clients = false;    // require client certificates
  bool unix_socket = false;         // listen on <tmpdir>/redis.sock too
  std::string requirepass;
  std::vector<std::string> extra_args;
  bool cluster_bus_port = false;    // --cluster-port on a free port, picked with the others
  // Called with the picked TCP port before each start attempt (the harness's own test uses it to
  // take the port first, as another process might).
  std::function<void(int port)> before_launch;
};

// The whole text of a file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A private redis-server. Stopped (SIGKILL if it ignores SIGTERM) on destruction.
class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
    if (options_.unix_socket) socket_path_ = dir_.file("redis.sock");
    // A port that was free when picked can be bound by another process before this server binds
    // it (ctest runs test binaries side by side, each starting servers): pick again and retry.
    for (int attempt = 1;; ++attempt) {
      if (options_.tcp) port_ = free_port();
      if (options_.tls) tls_port_ = free_port();
      if (options_.cluster_bus_port) bus_port_ = free_port();
      if (options_.before_launch) options_.before_launch(port_);
      if (launch() || attempt == 5) break;
    }
    if (pid_ <= 0) throw std::runtime_error("redis-server: its ports were taken on 5 attempts in a row");
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  const std::string& socket_path() const { return socket_path_; }
  std::string url(const std::string& suffix = "") const {
    return "redis://127.0.0.1:" + std::to_string(port_) + suffix;
  }
  std::string tls_url() const { return "rediss://127.0.0.1:" + std::to_string(tls_port_); }
  std::string unix_url(const std::string& query = "") const { return "unix://" + socket_path_ + query; }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Starts again on the same ports (see restart()).
  void start() {
    if (pid_ > 0) return;
    if (!launch()) throw std::runtime_error("redis-server: a port it had is taken now; see " + dir_.file("redis.log"));
  }

  // Graceful stop; SIGKILL after 5 s.
  void stop() { signal_and_wait(SIGTERM); }
  // Abrupt death, like a crashed or OOM-killed server.
  void kill() { signal_and_wait(SIGKILL); }

  // Restarts on the same ports (the clients' URLs stay valid).
  void restart() {
    stop();
    start();
  }

 private:
  // Spawns the server and waits until it is ready. False when it exited because a port was taken;
  // throws on any other failure. Ready means its own log says so: a connection to the port alone
  // could reach another process's server that took the port first.
  bool launch() {
    const std::string log = dir_.file("redis.log");
    std::error_code ec;
    std::filesystem::remove(log, ec);
    std::vector<std::string> args = {"/usr/bin/redis-server",
                                     "--bind", "127.0.0.1",
                                     "--port", std::to_string(options_.tcp ? port_ : 0),
                                     "--save", "",
                                     "--appendonly", "no",
                                     "--dir", dir_.path(),
                                     "--logfile", dir_.file("redis.log"),
                                     "--enable-debug-command", "yes",
                                     "--daemonize", "no"};
    if (options_.tls) {
      const auto& certs = TlsCerts::shared();
      for (const auto& a : {std::string("--tls-port"), std::to_string(tls_port_),
                            std::string("--tls-cert-file"), certs.server_cert,
                            std::string("--tls-key-file"), certs.server_key,
                            std::string("--tls-ca-cert-file"), certs.ca_cert,
                            std::string("--tls-auth-clients"),
                            std::string(options_.tls_auth_clients ? "yes" : "no")}) {
        args.push_back(a);
      }
    }
    if (options_.unix_socket) {
      args.insert(args.end(), {"--unixsocket", socket_path_, "--unixsocketperm", "700"});
    }
    if (!options_.requirepass.empty()) args.insert(args.end(), {"--requirepass", options_.requirepass});
    if (options_.cluster_bus_port) args.insert(args.end(), {"--cluster-port", std::to_string(bus_port_)});
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());

    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot spawn redis-server");
    }
    pid_ = pid;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      // Redis logs this once every listener is bound: "Ready to accept connections" (TCP, TLS),
      // "The server is now ready to accept connections at <path>" (unix socket only).
      if (read_text(log).find("eady to accept connections") != std::string::npos) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        const std::string text = read_text(log);
        if (text.find("Address already in use") != std::string::npos) return false;
        throw std::runtime_error("redis-server exited at startup:\n" + text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop();
    throw std::runtime_error("redis-server did not start listening within 10 s:\n" + read_text(log));
  }

  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid_ = -1;
  }

  RedisServerOptions options_;
  TempDir dir_;
  int port_ = 0;
  int tls_port_ = 0;
  int bus_port_ = 0;
  std::string socket_path_;
  pid_t pid_ = -1;
};

// A scripted TCP server on a free loopback port: each accepted connection runs `handler(fd)` on
// its own thread. For wire-level faults a real server will not produce on demand.
class FakeServer {
 public:
  using Handler = std::function<void(int fd)>;
  explicit FakeServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
      throw std::runtime_error("FakeServer: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FakeServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);  // unblock handlers stuck in read()
    for (auto& t : workers_) t.join();
    for (int fd : conn_fds_) ::close(fd);
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return accepted_.load(); }

  // Reads until at least one whole command is buffered (good enough for the handshake and the
  // single-command scripts these fakes run). Returns false on EOF/error or after timeout_ms.
  static bool read_some(int fd, int timeout_ms = 5000) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    return ::read(fd, buf, sizeof buf) > 0;
  }
  static void send_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      accepted_++;
      std::lock_guard<std::mutex> lock(mu_);
      conn_fds_.push_back(fd);
      workers_.emplace_back([this, fd] { handler_(fd); ::shutdown(fd, SHUT_RDWR); });
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> conn_fds_;
  std::vector<std::thread> workers_;
};

inline std::shared_ptr<RedisClient> open_redis(const std::string& url, ClientOptions options = {}) {
  auto client = std::dynamic_pointer_cast<RedisClient>(Client::open(url, std::move(options)));
  if (!client) throw std::runtime_error("Client::open did not return a RedisClient");
  return client;
}

// Blocking wrappers. `wait_s` bounds the wait so a hang fails the test instead of the suite.
template <class T>
Result<T> wait_for(std::future<Result<T>>& f, int wait_s = 10) {
  if (f.wait_for(std::chrono::seconds(wait_s)) != std::future_status::ready) {
    return Error(ErrorCode::Internal, "test: op did not settle within " + std::to_string(wait_s) + " s");
  }
  return f.get();
}

inline Result<Reply> call(RedisClient& client, ArgList args, int64_t timeout_ms = 0) {
  auto p = std::make_shared<std::promise<Result<Reply>>>();
  auto f = p->get_future();
  client.command(args, [p](Result<Reply> r) { p->set_value(std::move(r)); }, timeout_ms);
  return wait_for(f);
}

inline Result<Reply> call_eval(RedisClient& client, const Script& script, ArgList keys, ArgList args,
                               int64_t timeout_ms = 0) {
  auto p = std::make_shared<std::promise<Result<Reply>>>();
  auto f = p->get_future();
  client.eval(script, keys, args, [p](Result<Reply> r) { p->set_value(std::move(r)); }, timeout_ms);
  return wait_for(f);
}

inline Result<double> call_ping(Client& client) {
  auto p = std::make_shared<std::promise<Result<double>>>();
  auto f = p->get_future();
  client.ping([p](Result<double> r) { p->set_value(std::move(r)); });
  return wait_for(f);
}

// Counts settlements of many concurrent ops and waits for all of them.
class Settled {
 public:
  void add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++expected_;
  }
  void done(ErrorCode code, bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    ++settled_;
    if (ok) {
      ++ok_;
    } else {
      ++by_code_[static_cast<int>(code)];
    }
    cv_.notify_all();
  }
  bool wait(int wait_s = 20) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(wait_s), [&] { return settled_ == expected_; });
  }
  int ok() const { std::lock_guard<std::mutex> lock(mu_); return ok_; }
  int count(ErrorCode code) const { std::lock_guard<std::mutex> lock(mu_); return by_code_[static_cast<int>(code)]; }
  int settled() const { std::lock_guard<std::mutex> lock(mu_); return settled_; }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int expected_ = 0, settled_ = 0, ok_ = 0;
  int by_code_[16] = {};
};

// Polls `pred` every `step_ms` until it holds (true) or `wait_ms` has passed (false). For waiting
// on what another thread, process or server does: a fixed sleep before asserting fails when a
// busy machine runs that work late.
template <class Pred>
bool eventually(Pred pred, int wait_ms = 5000, int step_ms = 5) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
  }
  return true;
}

inline std::string error_text(const Result<Reply>& r) {
  return r.ok() ? "ok: " + r.value().debug_string()
                : std::string(error_code_name(r.error().code())) + ": " + r.error().what();
}

}  // namespace redkeeper::testing
