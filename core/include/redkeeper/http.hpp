// Helpers for HTTP integrations: the client's IP behind trusted proxies (X-Forwarded-For walked
// from the right, never trusted unless the direct peer is) and the rate-limit key for an IP
// (IPv6 grouped by network, since one host usually owns a whole /64 or more).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace redkeeper {

// Which hops may tell us who they forwarded for. Default: nobody (X-Forwarded-For is ignored).
class TrustedProxies {
 public:
  TrustedProxies() = default;
  // Entries (each may hold several, comma-separated): an IP ("10.0.0.1"), a CIDR ("10.0.0.0/8",
  // "2001:db8::/32"), or a keyword: "loopback" (127.0.0.0/8, ::1), "private" (RFC 1918,
  // fc00::/7 and link-local 169.254.0.0/16, fe80::/10), and Express's "linklocal" and
  // "uniquelocal". Throws InvalidArgument naming `trusted`.
  explicit TrustedProxies(const std::vector<std::string>& entries);
  // Express's numeric `trust proxy`: the first `count` hops counted from this server (the direct
  // peer is hop 0) are trusted whatever their address. Throws InvalidArgument for count < 0.
  static TrustedProxies hops(int64_t count);

  struct Subnet {
    bool v6 = false;
    uint8_t bytes[16] = {};  // IPv4 in the first 4 bytes
    int prefix = 0;          // bits
  };
  // True when hop `index` (0 = the direct peer) with this address is trusted.
  bool trusts(const Subnet& address, size_t index) const;

 private:
  std::vector<Subnet> subnets_;
  int64_t hops_ = -1;  // >= 0: trust by position only
};

// The client's address, in canonical form (IPv4-mapped IPv6 as IPv4, IPv6 per RFC 5952), from the
// direct peer `remote_addr` and the X-Forwarded-For header (empty when absent; several headers
// joined with ","). Walks from the peer leftwards through X-Forwarded-For while each hop is
// trusted; the first untrusted hop is the client (the leftmost entry when every hop is trusted).
// An entry that is not an IP ends the walk at the hop that sent it. Ports ("1.2.3.4:80",
// "[::1]:80") and IPv6 zone ids are dropped. Throws InvalidArgument (naming `remote_addr`) when
// the peer's address is not an IP.
std::string client_ip(std::string_view remote_addr, std::string_view x_forwarded_for,
                      const TrustedProxies& trusted);

// The rate-limit key for an IP: IPv4 as is (IPv4-mapped IPv6 as IPv4), IPv6 as its network
// "2001:db8:1:200::/56" for ipv6_subnet 1..128 (express-rate-limit 8's default is 56), or the
// canonical address for ipv6_subnet 0. Throws InvalidArgument naming `ip` or `ipv6_subnet`.
std::string ip_key(std::string_view ip, int ipv6_subnet = 56);

}  // namespace redkeeper
