// Transports and authentication: unix socket, TLS (verification on, wrong CA, explicit opt-out,
// mutual TLS), ACL users, wrong password, wrong db index, SELECT.
#include <gtest/gtest.h>

#include "redis_harness.hpp"

namespace redkeeper {
namespace {

using namespace redkeeper::testing;

ClientOptions quick() {
  ClientOptions o;
  o.command_timeout_ms = 2000;
  o.connect_timeout_ms = 2000;
  o.reconnect_min_ms = 50;
  o.reconnect_max_ms = 500;
  return o;
}

TEST(RedisTransports, UnixSocketWithDbSelection) {
  RedisServerOptions so;
  so.tcp = false;
  so.unix_socket = true;
  RedisServer server(so);
  auto client = open_redis(server.unix_url("?db=3"), quick());
  ASSERT_TRUE(call(*client, {"SET", "k", "unix"}).ok());
  auto r = call(*client, {"CLIENT", "INFO"});
  ASSERT_TRUE(r.ok()) << error_text(r);
  EXPECT_NE(std::string(r.value().as_string()).find("db=3"), std::string::npos);
}

TEST(RedisTransports, SelectsTheDatabaseFromTheUrl) {
  RedisServer server;
  auto db5 = open_redis(server.url("/5"), quick());
  auto db0 = open_redis(server.url(), quick());
  ASSERT_TRUE(call(*db5, {"SET", "where", "five"}).ok());
  EXPECT_TRUE(call(*db0, {"GET", "where"}).value().is_nil());
  EXPECT_EQ(call(*db5, {"GET", "where"}).value().as_string(), "five");
}

TEST(RedisTransports, WrongDbIndexIsAConnectionErrorWithServerMessage) {
  RedisServer server;
  auto client = open_redis(server.url("/99"), quick());
  auto r = call(*client, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Connection);
  EXPECT_NE(std::string(r.error().what()).find("SELECT"), std::string::npos) << r.error().what();
  EXPECT_NE(std::string(r.error().what()).find("out of range"), std::string::npos) << r.error().what();
}

TEST(RedisTransports, PasswordAndAclUser) {
  RedisServerOptions so;
  so.requirepass = "adminpw";
  RedisServer server(so);
  std::string base = "127.0.0.1:" + std::to_string(server.port());

  auto admin = open_redis("redis://:adminpw@" + base, quick());
  ASSERT_TRUE(call(*admin, {"PING"}).ok());
  ASSERT_TRUE(call(*admin, {"ACL", "SETUSER", "alice", "on", ">p@ss word", "~app:*", "+@all"}).ok());

  // ACL user with a percent-encoded password; limited to app:* keys.
  auto alice = open_redis("redis://alice:p%40ss%20word@" + base, quick());
  auto who = call(*alice, {"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << error_text(who);
  EXPECT_EQ(who.value().as_string(), "alice");
  EXPECT_TRUE(call(*alice, {"SET", "app:x", "1"}).ok());
  auto denied = call(*alice, {"SET", "other", "1"});
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code(), ErrorCode::Script);
  EXPECT_NE(std::string(denied.error().what()).find("NOPERM"), std::string::npos);

  auto wrong = open_redis("redis://alice:nope@" + base, quick());
  auto r = call(*wrong, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Connection);
  EXPECT_NE(std::string(r.error().what()).find("WRONGPASS"), std::string::npos) << r.error().what();
  EXPECT_EQ(std::string(r.error().what()).find("nope"), std::string::npos) << "password leaked into a message";

  auto wrong_default = open_redis("redis://:bad@" + base, quick());
  auto r2 = call(*wrong_default, {"PING"});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code(), ErrorCode::Connection);
  EXPECT_NE(std::string(r2.error().what()).find("AUTH"), std::string::npos);

  auto none = open_redis("redis://" + base, quick());
  auto r3 = call(*none, {"PING"});
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error().code(), ErrorCode::Connection);
  EXPECT_NE(std::string(r3.error().what()).find("NOAUTH"), std::string::npos) << r3.error().what();
}

class RedisTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RedisServerOptions so;
    so.tcp = false;
    so.tls = true;
    server_ = std::make_unique<RedisServer>(so);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<RedisServer> server_;
};
std::unique_ptr<RedisServer> RedisTls::server_;

TEST_F(RedisTls, VerifiedConnectionWithCaFile) {
  ClientOptions o = quick();
  o.tls.ca_file = TlsCerts::shared().ca_cert;
  auto client = open_redis(server_->tls_url(), o);
  ASSERT_TRUE(call(*client, {"SET", "tls", "yes"}).ok());
  EXPECT_EQ(call(*client, {"GET", "tls"}).value().as_string(), "yes");
  EXPECT_TRUE(client->health().connected);
}

TEST_F(RedisTls, ServerNameIsVerified) {
  ClientOptions o = quick();
  o.tls.ca_file = TlsCerts::shared().ca_cert;
  o.tls.server_name = "localhost";  // in the SAN: accepted
  EXPECT_TRUE(call(*open_redis(server_->tls_url(), o), {"PING"}).ok());
  o.tls.server_name = "redis.example.com";  // not in the SAN: refused
  auto r = call(*open_redis(server_->tls_url(), o), {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Connection) << r.error().what();
}

TEST_F(RedisTls, WrongCaIsAConnectionError) {
  ClientOptions o = quick();
  o.tls.ca_file = TlsCerts::shared().other_ca_cert;
  auto client = open_redis(server_->tls_url(), o);
  auto r = call(*client, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Connection) << r.error().what();
  EXPECT_NE(std::string(r.error().what()).find("certificate verify failed"), std::string::npos) << r.error().what();
}

TEST_F(RedisTls, VerifyFalseIsAnExplicitOptOut) {
  ClientOptions o = quick();
  o.tls.ca_file = TlsCerts::shared().other_ca_cert;
  o.tls.verify = false;
  auto r = call(*open_redis(server_->tls_url(), o), {"PING"});
  EXPECT_TRUE(r.ok()) << error_text(r);
}

TEST_F(RedisTls, PlainClientAgainstTlsPortFails) {
  auto r = call(*open_redis("redis://127.0.0.1:" + std::to_string(server_->tls_port()), quick()), {"PING"}, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code() == ErrorCode::Connection || r.error().code() == ErrorCode::Timeout ||
              r.error().code() == ErrorCode::Protocol)
      << r.error().what();
}

TEST_F(RedisTls, BadTlsFilesAreInvalidArgumentsAtOpen) {
  ClientOptions o = quick();
  o.tls.ca_file = "/nonexistent/ca.pem";
  try {
    Client::open(server_->tls_url(), o);
    FAIL() << "accepted a missing CA file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(std::string(e.what()).rfind("tls.ca_file", 0), 0u) << e.what();
  }
  ClientOptions o2 = quick();
  o2.tls.cert_file = TlsCerts::shared().client_cert;  // without key_file
  EXPECT_THROW(Client::open(server_->tls_url(), o2), Error);
}

TEST(RedisMutualTls, ClientCertificateRequiredAndAccepted) {
  RedisServerOptions so;
  so.tcp = false;
  so.tls = true;
  so.tls_auth_clients = true;
  RedisServer server(so);
  ClientOptions o = quick();
  o.tls.ca_file = TlsCerts::shared().ca_cert;
  auto without = call(*open_redis(server.tls_url(), o), {"PING"});
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.error().code(), ErrorCode::Connection) << without.error().what();
  o.tls.cert_file = TlsCerts::shared().client_cert;
  o.tls.key_file = TlsCerts::shared().client_key;
  auto with = call(*open_redis(server.tls_url(), o), {"PING"});
  EXPECT_TRUE(with.ok()) << error_text(with);
}

}  // namespace
}  // namespace redkeeper
