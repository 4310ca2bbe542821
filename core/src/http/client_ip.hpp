// IP address text <-> bytes for the HTTP helpers (redkeeper/http.hpp): strict parsing through
// inet_pton, and RFC 5952 formatting of our own so every platform prints the same text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "redkeeper/http.hpp"

namespace redkeeper::http {

using Address = TrustedProxies::Subnet;  // prefix = 32 or 128 for a single address

// An IPv4 or IPv6 address; IPv4-mapped IPv6 comes back as IPv4. Tolerates surrounding spaces, a
// port ("1.2.3.4:80", "[v6]:80"), brackets and a zone id ("fe80::1%eth0"). nullopt when invalid.
std::optional<Address> parse_address(std::string_view text);
// Dotted quad, or RFC 5952 (lowercase, longest zero run of 2+ groups as "::", first on ties).
std::string format_address(const Address& address);
// True when `address` lies in `subnet` (same family).
bool contains(const Address& subnet, const Address& address);

}  // namespace redkeeper::http
