// Idempotency beyond the shared vectors: concurrent begins (exactly one claimant), bytes in stored
// responses, size bounds, and the documented key layout on Redis.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
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

class IdempotencyTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  bool on_redis() const { return GetParam() == "redis"; }

  std::shared_ptr<Client> open() {
    static std::atomic<int> counter{0};
    ClientOptions options;
    options.prefix = "i" + std::to_string(counter++);
    return on_redis() ? Client::open(server_->url(), options) : Client::open("memory://", options);
  }

  static std::unique_ptr<RedisServer> server_;
};

std::unique_ptr<RedisServer> IdempotencyTest::server_;

TEST_P(IdempotencyTest, ConcurrentBeginsHaveExactlyOneClaimant) {
  auto client = open();
  auto idem = client->primitive("idempotency", Value::object());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> fresh{0};
  std::atomic<int> busy{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        Result<Value> r = call_sync(*idem, "begin", {{"key", "same"}, {"fingerprint", "f"}});
        if (!r.ok()) {
          ++other;
        } else if (r.value().at("status") == "new") {
          ++fresh;
        } else if (r.value().at("status") == "in_progress") {
          ++busy;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(busy.load(), kThreads * kPerThread - 1);
  EXPECT_EQ(other.load(), 0);
  client->close();
}

TEST_P(IdempotencyTest, OnlyOneOfConcurrentCompletesByDifferentClaimantsCounts) {
  // Two claimants in a row (the first abandons), racing completes: only the current owner's lands.
  auto client = open();
  auto idem = client->primitive("idempotency", Value::object());
  const Value first = ok(call_sync(*idem, "begin", {{"key", "k"}}));
  ASSERT_EQ(first.at("status"), "new");
  ok(call_sync(*idem, "abandon", {{"key", "k"}, {"token", first.at("token")}}));
  const Value second = ok(call_sync(*idem, "begin", {{"key", "k"}}));
  ASSERT_EQ(second.at("status"), "new");
  EXPECT_NE(first.at("token"), second.at("token"));
  Result<Value> stale = call_sync(*idem, "complete", {{"key", "k"}, {"token", first.at("token")}, {"response", "stale"}});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code(), ErrorCode::LockNotOwner);
  ok(call_sync(*idem, "complete", {{"key", "k"}, {"token", second.at("token")}, {"response", "fresh"}}));
  EXPECT_EQ(ok(call_sync(*idem, "begin", {{"key", "k"}})).at("response"), "fresh");
  client->close();
}

TEST_P(IdempotencyTest, StoredResponsesKeepBytesAndTypes) {
  auto client = open();
  auto idem = client->primitive("idempotency", Value::object());
  std::vector<uint8_t> body;
  for (int i = 0; i < 256; ++i) body.push_back(static_cast<uint8_t>(i));  // every byte value, NUL included
  const Value response = {{"status", 200},
                          {"headers", Value::array({Value::array({"content-type", "application/octet-stream"})})},
                          {"body", Value::binary(body)},
                          {"ratio", 0.25},
                          {"big", int64_t{1} << 53},
                          {"neg", -7},
                          {"text", "h\xC3\xA9llo"}};
  const Value b = ok(call_sync(*idem, "begin", {{"key", "bytes"}, {"fingerprint", Value::binary(std::vector<uint8_t>{0, 1, 2})}}));
  ok(call_sync(*idem, "complete", {{"key", "bytes"}, {"token", b.at("token")}, {"response", response}}));
  const Value again = ok(call_sync(*idem, "begin", {{"key", "bytes"}, {"fingerprint", Value::binary(std::vector<uint8_t>{0, 1, 2})}}));
  ASSERT_EQ(again.at("status"), "completed");
  EXPECT_EQ(again.at("response"), response);
  ASSERT_TRUE(again.at("response").at("body").is_binary());
  EXPECT_EQ(again.at("response").at("body").get_binary(), body);
  client->close();
}

TEST_P(IdempotencyTest, OversizedResponsesAndKeysAreRefusedAndTheMarkerSurvives) {
  auto client = open();
  auto idem = client->primitive("idempotency", {{"max_response_bytes", 1000}});
  const Value b = ok(call_sync(*idem, "begin", {{"key", "k"}}));
  Result<Value> big = call_sync(*idem, "complete", {{"key", "k"}, {"token", b.at("token")}, {"response", std::string(2000, 'x')}});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(big.error().what()).find("response"), std::string::npos) << big.error().what();
  // Nothing was sent: the owner can still complete with something smaller.
  ok(call_sync(*idem, "complete", {{"key", "k"}, {"token", b.at("token")}, {"response", std::string(100, 'x')}}));

  Result<Value> long_key = call_sync(*idem, "begin", {{"key", std::string(513, 'k')}});
  ASSERT_FALSE(long_key.ok());
  EXPECT_EQ(long_key.error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(ok(call_sync(*idem, "begin", {{"key", std::string(512, 'k')}})).at("status"), "new");
  Result<Value> long_fp = call_sync(*idem, "begin", {{"key", "k2"}, {"fingerprint", std::string(1025, 'f')}});
  ASSERT_FALSE(long_fp.ok());
  EXPECT_EQ(long_fp.error().code(), ErrorCode::InvalidArgument);
  EXPECT_THROW(client->primitive("idempotency", {{"max_response_bytes", int64_t{1} << 40}}), Error);
  EXPECT_THROW(client->primitive("idempotency", {{"ttl_ms", "soon"}}), Error);
  EXPECT_THROW(client->primitive("idempotency", {{"ttl_ms", true}}), Error);
  EXPECT_THROW(client->primitive("idempotency", {{"lock_ttl_ms", 1e300}}), Error);
  client->close();
}

INSTANTIATE_TEST_SUITE_P(Backends, IdempotencyTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

// The key layout README.md documents, and its expiries, as Redis sees them.
TEST(IdempotencyRedis, KeyLayoutAndExpiries) {
  RedisServer server;
  ClientOptions options;
  options.prefix = "app";
  auto client = open_redis(server.url(), options);
  auto idem = client->primitive("idempotency", {{"name", "pay"}, {"lock_ttl_ms", 30000}, {"ttl_ms", 3600000}});
  const Value b = ok(call_sync(*idem, "begin", {{"key", "order-7"}, {"fingerprint", "fp"}}));
  const std::string key = "app:idempotency:pay:{order-7}";
  EXPECT_EQ(call(*client, {"TYPE", key}).value().as_string(), "hash");
  EXPECT_EQ(call(*client, {"HGET", key, "state"}).value().as_string(), "in_progress");
  EXPECT_EQ(call(*client, {"HGET", key, "fp"}).value().as_string(), "fp");
  EXPECT_EQ(call(*client, {"HGET", key, "owner"}).value().as_string(), b.at("token").get<std::string>());
  int64_t pttl = call(*client, {"PTTL", key}).value().as_integer();
  EXPECT_GT(pttl, 29000);
  EXPECT_LE(pttl, 30000);
  ok(call_sync(*idem, "complete", {{"key", "order-7"}, {"token", b.at("token")}, {"response", {{"status", 201}}}}));
  EXPECT_EQ(call(*client, {"HGET", key, "state"}).value().as_string(), "completed");
  pttl = call(*client, {"PTTL", key}).value().as_integer();
  EXPECT_GT(pttl, 3599000);
  EXPECT_LE(pttl, 3600000);
  client->close();
}

}  // namespace
}  // namespace redkeeper
