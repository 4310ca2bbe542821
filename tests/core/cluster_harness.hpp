// A private Redis Cluster for tests: 3 primaries + 3 replicas (redis-server --cluster-enabled on
// free loopback ports, joined by `redis-cli --cluster create --cluster-replicas 1`), started once
// per test binary and killed at exit. Helpers read the live topology and run redis-cli on a node.
#pragma once

#include <array>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "redis_harness.hpp"

namespace redkeeper::testing {

// Runs a shell command, returns its stdout (and whether it exited 0).
inline std::string run_capture(const std::string& cmd, bool* ok = nullptr) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed: " + cmd);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = ::pclose(p);
  if (ok != nullptr) *ok = status == 0;
  return out;
}

class RedisCluster {
 public:
  static constexpr int kPrimaries = 3;
  static constexpr int kNodes = 6;

  // The binary's cluster, created on first use (a few seconds) and torn down at exit.
  static RedisCluster& shared() {
    static RedisCluster cluster;
    return cluster;
  }

  // `primaries` x (1 + `replicas_each`) nodes; with `tls`, every node also listens for TLS clients
  // and the bus runs on TLS (certificates from TlsCerts::shared(); redis-cli stays on plain TCP).
  explicit RedisCluster(int primaries = kPrimaries, int replicas_each = 1, bool tls = false) {
    for (int i = 0; i < primaries * (1 + replicas_each); ++i) {
      RedisServerOptions o;
      o.tls = tls;
      // The bus port is chosen too: the default (port + 10000) may be taken or above 65535.
      o.cluster_bus_port = true;
      o.extra_args = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
                      "1000", "--cluster-replica-validity-factor", "0"};
      // Nodes advertise their TLS ports (CLUSTER SHARDS "tls-port", MOVED over TLS) only when the
      // bus runs on TLS too.
      if (tls) o.extra_args.insert(o.extra_args.end(), {"--tls-cluster", "yes", "--tls-replication", "yes"});
      servers_.push_back(std::make_unique<RedisServer>(o));
    }
    std::string cmd = "redis-cli --cluster create";
    for (const auto& s : servers_) cmd += " 127.0.0.1:" + std::to_string(s->port());
    cmd += " --cluster-replicas " + std::to_string(replicas_each) + " --cluster-yes 2>&1";
    bool ok = false;
    std::string out = run_capture(cmd, &ok);
    if (!ok) throw std::runtime_error("redis-cli --cluster create failed:\n" + out);
    wait_healthy(30);
  }

  std::vector<int> ports() const {
    std::vector<int> out;
    for (const auto& s : servers_) {
      if (s->running()) out.push_back(s->port());
    }
    return out;
  }
  // Seeds: every node (as an application would list a few).
  std::string url() const {
    std::string u = "redis+cluster://";
    bool first = true;
    for (const auto& s : servers_) {
      if (!first) u += ",";
      first = false;
      u += "127.0.0.1:" + std::to_string(s->port());
    }
    return u;
  }

  // The TLS seeds (clusters made with `tls`).
  std::string tls_url() const {
    std::string u = "rediss+cluster://";
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (i > 0) u += ",";
      u += "127.0.0.1:" + std::to_string(servers_[i]->tls_port());
    }
    return u;
  }

  // redis-cli -p <port> <args>, raw output (trailing newline removed).
  std::string cli(int port, const std::string& args, bool* ok = nullptr) const {
    std::string out = run_capture("redis-cli -p " + std::to_string(port) + " " + args + " 2>&1", ok);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  // Node id of the node on `port`.
  std::string node_id(int port) const { return cli(port, "CLUSTER MYID"); }

  // Port of the primary that owns `slot`, asked from any live node (0 when unknown).
  int owner_of(int slot) const {
    for (int port : ports()) {
      bool ok = false;
      std::string out = cli(port, "CLUSTER NODES", &ok);
      if (!ok || out.empty()) continue;
      std::istringstream lines(out);
      std::string line;
      while (std::getline(lines, line)) {
        std::istringstream f(line);
        std::string id, addr, flags, master, ping, pong, epoch, link;
        f >> id >> addr >> flags >> master >> ping >> pong >> epoch >> link;
        if (flags.find("master") == std::string::npos || flags.find("fail") != std::string::npos) continue;
        std::string range;
        while (f >> range) {
          if (range[0] == '[') continue;  // migrating/importing markers
          size_t dash = range.find('-');
          int lo = std::stoi(range.substr(0, dash));
          int hi = dash == std::string::npos ? lo : std::stoi(range.substr(dash + 1));
          if (slot >= lo && slot <= hi) {
            size_t colon = addr.find(':');
            size_t at = addr.find('@');
            return std::stoi(addr.substr(colon + 1, at - colon - 1));
          }
        }
      }
      return 0;
    }
    return 0;
  }

  std::vector<int> primary_ports() const {
    std::vector<int> out;
    for (int port : ports()) {
      std::string role = cli(port, "ROLE");
      if (role.rfind("master", 0) == 0) out.push_back(port);
    }
    return out;
  }

  // Every live node says cluster_state:ok, and every replica's link to its primary is up.
  bool healthy() const {
    for (int port : ports()) {
      if (cli(port, "CLUSTER INFO").find("cluster_state:ok") == std::string::npos) return false;
      std::string repl = cli(port, "INFO replication");
      if (repl.find("role:slave") != std::string::npos && repl.find("master_link_status:up") == std::string::npos) {
        return false;
      }
    }
    return true;
  }
  void wait_healthy(int seconds) const {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!healthy()) {
      if (std::chrono::steady_clock::now() > until) throw std::runtime_error("cluster did not become healthy");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  RedisServer* server_on(int port) {
    for (auto& s : servers_) {
      if (s->port() == port) return s.get();
    }
    return nullptr;
  }

 private:
  std::vector<std::unique_ptr<RedisServer>> servers_;
};

}  // namespace redkeeper::testing
