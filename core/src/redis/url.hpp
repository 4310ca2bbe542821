// Parsing of Redis connection URLs (redis://, rediss://, unix://, redis+cluster://,
// rediss+cluster://) into a plain struct.
// Pure and allocation-light: no I/O, no DNS; every malformed input is an InvalidArgument naming `url`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redkeeper {

enum class RedisTransport { Tcp, Tls, Unix };

struct RedisUrl {
  RedisTransport transport = RedisTransport::Tcp;
  std::string host;      // TCP/TLS: hostname or IP literal (IPv6 without brackets)
  uint16_t port = 6379;  // TCP/TLS
  std::string path;      // Unix: socket path
  std::string user;      // ACL user; empty = "default" user via AUTH <password>
  std::string password;  // empty = no AUTH
  int64_t db = 0;        // SELECT index; 0 = no SELECT
  bool cluster = false;  // Redis Cluster: host/port (and seeds) are where the topology is first asked
  std::vector<std::pair<std::string, uint16_t>> seeds;  // cluster URLs: every host:port given, in order
};

// redis://[[user]:password@]host[:port][/db][?db=N&user=U&password=P]
// rediss://... (same, over TLS)
// unix:///path/to/redis.sock[?db=N&user=U&password=P]
// redis+cluster://[[user]:password@]host[:port][,host[:port]...][?user=U&password=P]
// rediss+cluster://... (same, over TLS): cluster seeds; db must be 0 (a cluster has only db 0).
// IPv6 literals in brackets: redis://[::1]:6379. User, password and path are percent-decoded.
// Throws Error(InvalidArgument, "url: ...").
RedisUrl parse_redis_url(std::string_view url);

// Makes `url` a cluster seed list (the `cluster` client option on a redis:// or rediss:// URL).
// Throws Error(InvalidArgument, "url: ...") for unix:// or a db other than 0.
void make_cluster_url(RedisUrl& url);

// For messages and logs: the URL with the password replaced by "***".
std::string redacted_url(const RedisUrl& url);

}  // namespace redkeeper
