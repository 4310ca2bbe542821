// client_ip / ip_key / TrustedProxies: address parsing, subnet matching and the right-to-left
// walk over X-Forwarded-For.
#include "http/client_ip.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "redkeeper/error.hpp"

namespace redkeeper {

namespace http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_v4_mapped(const uint8_t* b) {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

// One Subnet from "ip" or "ip/prefix"; nullopt when malformed.
std::optional<Address> parse_subnet(std::string_view text) {
  const size_t slash = text.find('/');
  std::optional<Address> address = parse_address(text.substr(0, slash));
  if (!address || slash == std::string_view::npos) return address;
  const std::string_view bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return std::nullopt;
  int prefix = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return std::nullopt;
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > (address->v6 ? 128 : 32)) return std::nullopt;
  address->prefix = prefix;
  return address;
}

void add_keyword(std::vector<Address>& out, std::initializer_list<const char*> cidrs) {
  for (const char* cidr : cidrs) out.push_back(*parse_subnet(cidr));
}

}  // namespace

std::optional<Address> parse_address(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string_view host = text;
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1)) return std::nullopt;
    host = host.substr(1, close - 1);
  } else if (host.find(':') != std::string_view::npos && host.find(':') == host.rfind(':') &&
             host.find('.') != std::string_view::npos) {
    host = host.substr(0, host.find(':'));  // "1.2.3.4:80"
  }
  if (const size_t zone = host.find('%'); zone != std::string_view::npos) host = host.substr(0, zone);
  char buf[65];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  Address address;
  if (host.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, address.bytes) != 1) return std::nullopt;
    address.prefix = 32;
    return address;
  }
  uint8_t bytes[16];
  if (inet_pton(AF_INET6, buf, bytes) != 1) return std::nullopt;
  if (is_v4_mapped(bytes)) {
    std::memcpy(address.bytes, bytes + 12, 4);
    address.prefix = 32;
    return address;
  }
  address.v6 = true;
  std::memcpy(address.bytes, bytes, 16);
  address.prefix = 128;
  return address;
}

std::string format_address(const Address& address) {
  char buf[64];
  if (!address.v6) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", address.bytes[0], address.bytes[1], address.bytes[2],
                  address.bytes[3]);
    return buf;
  }
  unsigned groups[8];
  for (int i = 0; i < 8; ++i) groups[i] = (address.bytes[2 * i] << 8) | address.bytes[2 * i + 1];
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = -1;
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", groups[i]);
    out += buf;
  }
  return out;
}

bool contains(const Address& subnet, const Address& address) {
  if (subnet.v6 != address.v6) return false;
  const int full = subnet.prefix / 8;
  if (std::memcmp(subnet.bytes, address.bytes, static_cast<size_t>(full)) != 0) return false;
  const int rest = subnet.prefix % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (subnet.bytes[full] & mask) == (address.bytes[full] & mask);
}

}  // namespace http

TrustedProxies::TrustedProxies(const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    std::string_view rest = entry;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view item = http::trim(rest.substr(0, comma));
      if (item == "loopback") {
        http::add_keyword(subnets_, {"127.0.0.0/8", "::1/128"});
      } else if (item == "linklocal") {
        http::add_keyword(subnets_, {"169.254.0.0/16", "fe80::/10"});
      } else if (item == "uniquelocal") {
        http::add_keyword(subnets_, {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"});
      } else if (item == "private") {
        http::add_keyword(subnets_, {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
                                     "169.254.0.0/16", "fe80::/10"});
      } else if (auto subnet = http::parse_subnet(item)) {
        subnets_.push_back(*subnet);
      } else {
        throw invalid_argument("trusted", "'" + std::string(item.substr(0, 64)) +
                                              "' is not an IP, a CIDR, 'loopback', 'private', "
                                              "'linklocal' or 'uniquelocal'");
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
}

TrustedProxies TrustedProxies::hops(int64_t count) {
  if (count < 0) throw invalid_argument("trusted", "a hop count must not be negative");
  TrustedProxies trusted;
  trusted.hops_ = count;
  return trusted;
}

bool TrustedProxies::trusts(const Subnet& address, size_t index) const {
  if (hops_ >= 0) return static_cast<int64_t>(index) < hops_;
  for (const Subnet& subnet : subnets_) {
    if (http::contains(subnet, address)) return true;
  }
  return false;
}

std::string client_ip(std::string_view remote_addr, std::string_view x_forwarded_for,
                      const TrustedProxies& trusted) {
  std::optional<http::Address> hop = http::parse_address(remote_addr);
  if (!hop) throw invalid_argument("remote_addr", "is not an IP address");
  size_t index = 0;
  std::string_view rest = x_forwarded_for;
  while (trusted.trusts(*hop, index) && !http::trim(rest).empty()) {
    const size_t comma = rest.rfind(',');
    const std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    std::optional<http::Address> next = http::parse_address(entry);
    if (!next) break;  // a trusted hop sent something unusable: it is the best we know
    hop = next;
    ++index;
  }
  return http::format_address(*hop);
}

std::string ip_key(std::string_view ip, int ipv6_subnet) {
  if (ipv6_subnet < 0 || ipv6_subnet > 128) {
    throw invalid_argument("ipv6_subnet", "must be from 1 to 128, or 0 for whole addresses");
  }
  std::optional<http::Address> address = http::parse_address(ip);
  if (!address) throw invalid_argument("ip", "is not an IP address");
  if (!address->v6 || ipv6_subnet == 0) return http::format_address(*address);
  const int full = ipv6_subnet / 8;
  if (full < 16) {
    address->bytes[full] &= static_cast<uint8_t>(0xff << (8 - ipv6_subnet % 8));
    for (int i = full + 1; i < 16; ++i) address->bytes[i] = 0;
  }
  return http::format_address(*address) + "/" + std::to_string(ipv6_subnet);
}

}  // namespace redkeeper
