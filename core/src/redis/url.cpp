// Redis URL parser. Strict on purpose: a typo in a URL should fail at open(), not as a mysterious
// connection error later.
#include "redis/url.hpp"

#include <charconv>

#include "redkeeper/error.hpp"

namespace redkeeper {
namespace {

constexpr size_t kMaxUrlBytes = 4096;
constexpr size_t kMaxUnixPathBytes = 107;  // sun_path holds 108 bytes including the terminator

[[noreturn]] void bad(const std::string& why) { throw invalid_argument("url", why); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in, const char* what) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) bad(std::string("truncated percent-escape in ") + what);
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) bad(std::string("invalid percent-escape in ") + what);
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

int64_t parse_db(std::string_view text) {
  int64_t db = -1;
  if (text.empty() || text.size() > 9) bad("database index must be a number from 0 to 999999999");
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  if (ec != std::errc() || ptr != text.data() + text.size() || db < 0) {
    bad("database index must be a number from 0 to 999999999, got '" + std::string(text) + "'");
  }
  return db;
}

uint16_t parse_port(std::string_view text) {
  unsigned port = 0;
  if (text.empty() || text.size() > 5) bad("port must be a number from 1 to 65535");
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || ptr != text.data() + text.size() || port == 0 || port > 65535) {
    bad("port must be a number from 1 to 65535, got '" + std::string(text) + "'");
  }
  return static_cast<uint16_t>(port);
}

bool valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool valid_ipv6(std::string_view host) {
  if (host.empty() || host.size() > 45) return false;
  bool colon = false;
  for (char c : host) {
    bool ok = hex_value(c) >= 0 || c == ':' || c == '.';
    if (!ok) return false;
    colon = colon || c == ':';
  }
  return colon;
}

// Applies ?db=N&user=U&password=P. Later values override the URL's authority part.
void apply_query(std::string_view query, RedisUrl& out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) bad("query parameter '" + std::string(pair.substr(0, 64)) + "' needs a value");
    std::string_view name = pair.substr(0, eq);
    std::string_view value = pair.substr(eq + 1);
    if (name == "db") {
      out.db = parse_db(value);
    } else if (name == "password") {
      out.password = percent_decode(value, "password");
    } else if (name == "user" || name == "username") {
      out.user = percent_decode(value, "user");
    } else {
      bad("unknown query parameter '" + std::string(name.substr(0, 64)) +
          "' (expected db, user or password)");
    }
  }
}

// host[:port] or [v6]:port, into out.host / out.port (port left alone when absent).
void parse_host_port(std::string_view authority, std::string& host_out, uint16_t& port_out) {
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) bad("unterminated IPv6 literal ('[' without ']')");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad("unexpected characters after IPv6 literal");
      port = after.substr(1);
      if (port.empty()) bad("port after ':' is empty");
    }
    if (!valid_ipv6(host)) bad("invalid IPv6 literal '" + std::string(host.substr(0, 64)) + "'");
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) bad("port after ':' is empty");
    }
    if (host.empty()) host = "localhost";
    if (!valid_hostname(host)) bad("invalid host '" + std::string(host.substr(0, 64)) + "'");
  }
  host_out = std::string(host);
  if (!port.empty()) port_out = parse_port(port);
}

constexpr size_t kMaxSeeds = 64;

}  // namespace

void make_cluster_url(RedisUrl& url) {
  if (url.transport == RedisTransport::Unix) bad("a cluster is reached over TCP or TLS, not unix://");
  if (url.db != 0) bad("a Redis Cluster has only database 0, got db " + std::to_string(url.db));
  url.cluster = true;
  if (url.seeds.empty()) url.seeds.emplace_back(url.host, url.port);
}

RedisUrl parse_redis_url(std::string_view url) {
  if (url.size() > kMaxUrlBytes) bad("longer than 4096 bytes");
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) bad("contains a space or control character");
  }
  RedisUrl out;
  std::string_view rest;
  if (url.rfind("redis://", 0) == 0) {
    out.transport = RedisTransport::Tcp;
    rest = url.substr(8);
  } else if (url.rfind("redis+cluster://", 0) == 0) {
    out.transport = RedisTransport::Tcp;
    out.cluster = true;
    rest = url.substr(16);
  } else if (url.rfind("rediss+cluster://", 0) == 0) {
    out.transport = RedisTransport::Tls;
    out.cluster = true;
    rest = url.substr(17);
  } else if (url.rfind("rediss://", 0) == 0) {
    out.transport = RedisTransport::Tls;
    rest = url.substr(9);
  } else if (url.rfind("unix://", 0) == 0) {
    out.transport = RedisTransport::Unix;
    rest = url.substr(7);
  } else {
    bad("expected redis://, rediss://, unix://, redis+cluster:// or rediss+cluster://");
  }
  if (rest.find('#') != std::string_view::npos) bad("fragments ('#') are not allowed");

  std::string_view query;
  size_t qpos = rest.find('?');
  if (qpos != std::string_view::npos) {
    query = rest.substr(qpos + 1);
    rest = rest.substr(0, qpos);
  }

  if (out.transport == RedisTransport::Unix) {
    // unix:///abs/path: an authority part (unix://host/...) has no meaning for a socket.
    if (rest.empty() || rest[0] != '/') bad("unix:// needs an absolute socket path, e.g. unix:///run/redis.sock");
    out.path = percent_decode(rest, "path");
    if (out.path.size() < 2) bad("unix:// socket path is empty");
    if (out.path.size() > kMaxUnixPathBytes) bad("unix socket path longer than 107 bytes");
    if (out.path.find('\0') != std::string::npos) bad("unix socket path contains a NUL byte");
    apply_query(query, out);
  } else {
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);

    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view userinfo = authority.substr(0, at);
      authority = authority.substr(at + 1);
      size_t colon = userinfo.find(':');
      if (colon == std::string_view::npos) {
        bad("credentials need a password: redis://[user]:password@host");
      }
      out.user = percent_decode(userinfo.substr(0, colon), "user");
      out.password = percent_decode(userinfo.substr(colon + 1), "password");
      if (out.password.empty()) bad("password after ':' is empty");
    }

    if (out.cluster) {
      // Seeds: host[:port] separated by commas (credentials, if any, apply to every node).
      while (true) {
        size_t comma = authority.find(',');
        std::string_view one = authority.substr(0, comma);
        if (one.empty() && (comma != std::string_view::npos || !out.seeds.empty())) {
          bad("empty host in the cluster seed list");
        }
        std::string host;
        uint16_t port = 6379;
        parse_host_port(one, host, port);
        if (out.seeds.size() >= kMaxSeeds) bad("more than 64 cluster seeds");
        out.seeds.emplace_back(std::move(host), port);
        if (comma == std::string_view::npos) break;
        authority = authority.substr(comma + 1);
      }
      out.host = out.seeds.front().first;
      out.port = out.seeds.front().second;
    } else {
      parse_host_port(authority, out.host, out.port);
    }
    if (!path.empty()) out.db = parse_db(path);
    apply_query(query, out);
  }
  if (!out.user.empty() && out.password.empty()) bad("a user needs a password");
  if (out.cluster && out.db != 0) bad("a Redis Cluster has only database 0, got db " + std::to_string(out.db));
  return out;
}

std::string redacted_url(const RedisUrl& url) {
  std::string out;
  switch (url.transport) {
    case RedisTransport::Tcp: out = url.cluster ? "redis+cluster://" : "redis://"; break;
    case RedisTransport::Tls: out = url.cluster ? "rediss+cluster://" : "rediss://"; break;
    case RedisTransport::Unix: out = "unix://"; break;
  }
  auto host_port = [&out](const std::string& host, uint16_t port) {
    if (host.find(':') != std::string::npos) {
      out += "[" + host + "]";
    } else {
      out += host;
    }
    out += ":" + std::to_string(port);
  };
  if (url.transport == RedisTransport::Unix) {
    out += url.path;
  } else {
    if (!url.password.empty()) out += url.user + ":***@";
    if (url.cluster && !url.seeds.empty()) {
      for (size_t i = 0; i < url.seeds.size(); ++i) {
        if (i > 0) out += ",";
        host_port(url.seeds[i].first, url.seeds[i].second);
      }
    } else {
      host_port(url.host, url.port);
    }
  }
  if (url.db != 0) out += (url.transport == RedisTransport::Unix ? "?db=" : "/") + std::to_string(url.db);
  return out;
}

}  // namespace redkeeper
