// client_ip / ip_key / TrustedProxies: the shared vectors (tests/vectors/client_ip.json) and the
// properties behind them (spoofed X-Forwarded-For never wins over an untrusted peer).
#include <gtest/gtest.h>

#include "http/client_ip.hpp"
#include "redkeeper/error.hpp"
#include "redkeeper/http.hpp"
#include "vector_runner.hpp"

namespace redkeeper {
namespace {

TrustedProxies trusted_from(const nlohmann::json& v) {
  if (!v.contains("trusted")) return TrustedProxies();
  const auto& t = v["trusted"];
  if (t.is_number_integer()) return TrustedProxies::hops(t.get<int64_t>());
  return TrustedProxies(t.get<std::vector<std::string>>());
}

template <class F>
void expect_outcome(const nlohmann::json& v, F&& f) {
  SCOPED_TRACE(v.dump());
  if (v.contains("error")) {
    try {
      const std::string got = f();
      ADD_FAILURE() << "accepted: " << got;
    } catch (const Error& e) {
      EXPECT_EQ(error_code_name(e.code()), v["error"].get<std::string>()) << e.what();
    }
    return;
  }
  EXPECT_EQ(f(), v.at("expect").get<std::string>());
}

TEST(ClientIpVectors, ClientIp) {
  const auto doc = vectors::load("client_ip.json");
  ASSERT_GE(doc.at("client_ip").size(), 30u);
  for (const auto& v : doc.at("client_ip")) {
    expect_outcome(v, [&] {
      return client_ip(v.at("remote").get<std::string>(), v.at("xff").get<std::string>(), trusted_from(v));
    });
  }
}

TEST(ClientIpVectors, IpKey) {
  const auto doc = vectors::load("client_ip.json");
  ASSERT_GE(doc.at("ip_key").size(), 10u);
  for (const auto& v : doc.at("ip_key")) {
    expect_outcome(v, [&] { return ip_key(v.at("ip").get<std::string>(), v.value("subnet", 56)); });
  }
}

TEST(ClientIp, SpoofedForwardedForNeverBeatsAnUntrustedPeer) {
  const TrustedProxies trusted({"private", "loopback"});
  for (const char* xff : {"127.0.0.1", "10.0.0.1, 127.0.0.1", "1.2.3.4", "garbage", ""}) {
    EXPECT_EQ(client_ip("203.0.113.9", xff, trusted), "203.0.113.9") << xff;
  }
  EXPECT_EQ(client_ip("203.0.113.9", "1.1.1.1", TrustedProxies()), "203.0.113.9");
}

TEST(ClientIp, SubnetMatchingHonoursPartialBytes) {
  auto subnet = [](const char* text, int prefix) {
    auto a = *http::parse_address(text);
    a.prefix = prefix;
    return a;
  };
  EXPECT_TRUE(http::contains(subnet("172.16.0.0", 12), *http::parse_address("172.31.255.255")));
  EXPECT_FALSE(http::contains(subnet("172.16.0.0", 12), *http::parse_address("172.32.0.0")));
  EXPECT_TRUE(http::contains(subnet("0.0.0.0", 0), *http::parse_address("8.8.8.8")));
  EXPECT_FALSE(http::contains(subnet("0.0.0.0", 0), *http::parse_address("::8")));  // families differ
  EXPECT_TRUE(http::contains(subnet("fc00::", 7), *http::parse_address("fdff::1")));
  EXPECT_FALSE(http::contains(subnet("fc00::", 7), *http::parse_address("fe00::1")));
}

TEST(ClientIp, FormatsEveryZeroRunLikeRfc5952) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {{"::", "::"},
               {"0:0:0:0:0:0:0:1", "::1"},
               {"1:0:0:0:0:0:0:0", "1::"},
               {"1:0:2:0:0:3:0:0", "1:0:2::3:0:0"},  // first of two equal runs
               {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
               {"1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"}};  // a single zero group stays
  for (const auto& c : cases) EXPECT_EQ(http::format_address(*http::parse_address(c.in)), c.out) << c.in;
}

TEST(ClientIp, RejectsOversizedAndMalformedText) {
  EXPECT_FALSE(http::parse_address(std::string(200, '1')));
  EXPECT_FALSE(http::parse_address("[::1"));
  EXPECT_FALSE(http::parse_address("[::1]x"));
  EXPECT_FALSE(http::parse_address("1.2.3.4.5"));
  EXPECT_FALSE(http::parse_address("01.2.3.4"));
  EXPECT_THROW(TrustedProxies({"10.0.0.0/"}), Error);
  EXPECT_THROW(TrustedProxies({"10.0.0.0/8x"}), Error);
}

}  // namespace
}  // namespace redkeeper
