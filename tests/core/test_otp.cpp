// One-time codes beyond the shared vectors: generated codes (shape, uniformity), concurrent guesses
// (exactly max_attempts counted, one winner among right guesses), the secret policy per backend,
// and the stored form on Redis (HMAC as README.md defines it, never the code).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <cmath>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redis_harness.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {
namespace {

using testing::call;
using testing::open_redis;
using testing::RedisServer;

const char kSecret[] = "test-secret-0123456789abcdef";

Result<Value> call_sync(Primitive& p, std::string_view op, Value args) {
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto future = promise->get_future();
  p.call(op, std::move(args), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return Error(ErrorCode::Internal, "test: op did not settle within 10 s");
  }
  return future.get();
}

Value ok(Result<Value> r) {
  if (!r.ok()) throw std::runtime_error(std::string(error_code_name(r.error().code())) + ": " + r.error().what());
  return r.value();
}

class OtpTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  bool on_redis() const { return GetParam() == "redis"; }

  std::shared_ptr<Client> open() {
    static std::atomic<int> counter{0};
    ClientOptions options;
    options.prefix = "o" + std::to_string(counter++);
    return on_redis() ? Client::open(server_->url(), options) : Client::open("memory://", options);
  }

  static std::unique_ptr<RedisServer> server_;
};

std::unique_ptr<RedisServer> OtpTest::server_;

TEST_P(OtpTest, GeneratedCodesHaveTheAskedDigitsAndVerify) {
  auto client = open();
  auto otp = client->primitive("otp", {{"secret", kSecret}});
  for (int digits : {4, 6, 8, 10}) {
    const std::string subject = "s" + std::to_string(digits);
    const Value issued = ok(call_sync(*otp, "issue", {{"subject", subject}, {"digits", digits}}));
    ASSERT_TRUE(issued.at("issued").get<bool>());
    const std::string code = issued.at("code").get<std::string>();
    ASSERT_EQ(code.size(), static_cast<size_t>(digits));
    for (char c : code) EXPECT_TRUE(c >= '0' && c <= '9') << code;
    EXPECT_TRUE(ok(call_sync(*otp, "verify", {{"subject", subject}, {"code", code}})).at("ok").get<bool>());
  }
  client->close();
}

// Every digit position uniform: a chi-square test per position over 4000 four-digit codes (0.01%
// level, 9 degrees of freedom: 33.72; a sound generator fails about 1 run in 2500). Modulo bias over
// 64-bit draws would be far too small to see; this catches gross mistakes (a fixed digit, a skewed
// mapping, repeated codes).
TEST(OtpCodes, DigitsAreUniform) {
  auto client = Client::open("memory://");
  auto otp = client->primitive("otp", {{"digits", 4}, {"cooldown_ms", 0}});
  constexpr int kCodes = 4000;
  int counts[4][10] = {};
  std::set<std::string> distinct;
  for (int i = 0; i < kCodes; ++i) {
    const Value issued = ok(call_sync(*otp, "issue", {{"subject", "s" + std::to_string(i)}}));
    const std::string code = issued.at("code").get<std::string>();
    ASSERT_EQ(code.size(), 4u);
    distinct.insert(code);
    for (int p = 0; p < 4; ++p) counts[p][code[p] - '0']++;
  }
  for (int p = 0; p < 4; ++p) {
    double chi2 = 0;
    const double expected = kCodes / 10.0;
    for (int d = 0; d < 10; ++d) chi2 += (counts[p][d] - expected) * (counts[p][d] - expected) / expected;
    EXPECT_LT(chi2, 33.72) << "position " << p;
  }
  // 4000 draws from 10^4 values: about 3300 distinct expected; a broken generator repeats far more.
  EXPECT_GT(distinct.size(), 3000u);
  client->close();
}

TEST_P(OtpTest, ConcurrentWrongGuessesCountExactlyMaxAttempts) {
  auto client = open();
  auto otp = client->primitive("otp", {{"secret", kSecret}, {"max_attempts", 5}});
  ok(call_sync(*otp, "issue", {{"subject", "victim"}, {"code", "123456"}}));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5;
  std::atomic<int> invalid{0};
  std::atomic<int> locked{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string guess = "9" + std::to_string(10000 + t * 100 + i);
        Result<Value> r = call_sync(*otp, "verify", {{"subject", "victim"}, {"code", guess}});
        if (!r.ok()) {
          ++other;
        } else if (r.value().at("reason") == "invalid") {
          ++invalid;
        } else if (r.value().at("reason") == "locked") {
          ++locked;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(invalid.load(), 5);
  EXPECT_EQ(locked.load(), kThreads * kPerThread - 5);
  EXPECT_EQ(other.load(), 0);
  const Value right = ok(call_sync(*otp, "verify", {{"subject", "victim"}, {"code", "123456"}}));
  EXPECT_FALSE(right.at("ok").get<bool>());
  EXPECT_EQ(right.at("reason"), "locked");
  client->close();
}

TEST_P(OtpTest, ConcurrentRightGuessesHaveOneWinner) {
  auto client = open();
  auto otp = client->primitive("otp", {{"secret", kSecret}});
  ok(call_sync(*otp, "issue", {{"subject", "u"}, {"code", "777777"}}));
  constexpr int kThreads = 16;
  std::atomic<int> winners{0};
  std::atomic<int> gone{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      Result<Value> r = call_sync(*otp, "verify", {{"subject", "u"}, {"code", "777777"}});
      if (r.ok() && r.value().at("ok").get<bool>()) ++winners;
      if (r.ok() && r.value().at("reason") == "expired_or_missing") ++gone;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(gone.load(), kThreads - 1);
  client->close();
}

TEST_P(OtpTest, NamesAndSecretsSeparateCodes) {
  auto client = open();
  auto login = client->primitive("otp", {{"secret", kSecret}, {"name", "login"}});
  auto reset = client->primitive("otp", {{"secret", kSecret}, {"name", "reset"}});
  ok(call_sync(*login, "issue", {{"subject", "u"}, {"code", "1234"}}));
  EXPECT_EQ(ok(call_sync(*reset, "verify", {{"subject", "u"}, {"code", "1234"}})).at("reason"), "expired_or_missing");
  // Same name, another secret: the stored HMAC does not match.
  auto other = client->primitive("otp", {{"secret", "another-secret-0123456789"}, {"name", "login"}});
  EXPECT_EQ(ok(call_sync(*other, "verify", {{"subject", "u"}, {"code", "1234"}})).at("reason"), "invalid");
  EXPECT_EQ(ok(call_sync(*login, "verify", {{"subject", "u"}, {"code", "1234"}})).at("reason"), "ok");
  // Bytes secrets work too.
  auto bytes = client->primitive("otp", {{"secret", Value::binary(std::vector<uint8_t>(32, 0xAB))}});
  ok(call_sync(*bytes, "issue", {{"subject", "b"}, {"code", "0000"}}));
  EXPECT_TRUE(ok(call_sync(*bytes, "verify", {{"subject", "b"}, {"code", "0000"}})).at("ok").get<bool>());
  client->close();
}

INSTANTIATE_TEST_SUITE_P(Backends, OtpTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

TEST(OtpSecret, MemoryDefaultsToOneRandomSecretPerClient) {
  auto client = Client::open("memory://");
  auto a = client->primitive("otp", Value::object());
  auto b = client->primitive("otp", Value::object());  // another handle of the same client
  const Value issued = ok(call_sync(*a, "issue", {{"subject", "u"}}));
  EXPECT_TRUE(ok(call_sync(*b, "verify", {{"subject", "u"}, {"code", issued.at("code")}})).at("ok").get<bool>());
  client->close();
}

TEST(OtpSecret, RedisRequiresOne) {
  RedisServer server;
  auto client = open_redis(server.url());
  try {
    client->primitive("otp", Value::object());
    ADD_FAILURE() << "otp without a secret accepted on Redis";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(std::string(e.what()).rfind("secret:", 0), 0u) << e.what();
  }
  client->close();
}

std::string hex_hmac(const std::string& key, const std::string& msg) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 15]);
  }
  return out;
}

// The stored form README.md defines, rebuilt here from its description: an HMAC, never the code.
TEST(OtpRedis, StoresTheDocumentedHmacNeverTheCode) {
  RedisServer server;
  ClientOptions options;
  options.prefix = "app";
  auto client = open_redis(server.url(), options);
  auto otp = client->primitive("otp", {{"secret", kSecret}, {"name", "login"}, {"ttl_ms", 120000}});
  const Value issued = ok(call_sync(*otp, "issue", {{"subject", "user:42"}}));
  const std::string code = issued.at("code").get<std::string>();
  const std::string key = "app:otp:login:{user:42}";
  const Reply all = call(*client, {"HGETALL", key}).value();
  ASSERT_EQ(all.size(), 6u) << all.debug_string();
  for (const Reply& field : all.as_array()) {
    EXPECT_EQ(std::string(field.as_string()).find(code), std::string::npos) << "code stored in clear";
  }
  const std::string msg = std::string("rk-otp-v1") + std::string("\0\0\0\x05", 4) + "login" +
                          std::string("\0\0\0\x07", 4) + "user:42" + code;
  EXPECT_EQ(call(*client, {"HGET", key, "hmac"}).value().as_string(), hex_hmac(kSecret, msg));
  EXPECT_EQ(call(*client, {"HGET", key, "fails"}).value().as_string(), "0");
  EXPECT_EQ(call(*client, {"HGET", key, "ttl"}).value().as_string(), "120000");
  const int64_t pttl = call(*client, {"PTTL", key}).value().as_integer();
  EXPECT_GT(pttl, 119000);
  EXPECT_LE(pttl, 120000);
  client->close();
}

}  // namespace
}  // namespace redkeeper
