// The test harness's own contract: a RedisServer is the server on its port. ctest runs test
// binaries side by side, so a port picked free can be bound by another process's server before
// this one binds it; the harness must then start on other ports, never hand out the stranger.
#include <gtest/gtest.h>

#include <string>

#include "redis_harness.hpp"

namespace redkeeper {
namespace {

using testing::RedisServer;
using testing::RedisServerOptions;

// The process id the server on `url` reports.
int64_t server_process_id(const std::string& url) {
  auto client = testing::open_redis(url);
  auto info = testing::call(*client, {"INFO", "server"});
  client->close();
  if (!info.ok()) return -1;
  const std::string text(info.value().as_string());
  const auto at = text.find("process_id:");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + 11));
}

TEST(RedisHarness, APortTakenBeforeTheServerBindsItIsPickedAgain) {
  // The stranger: another server holding the first port this one picks.
  std::unique_ptr<RedisServer> stranger;
  std::vector<int> picked;
  RedisServerOptions options;
  options.before_launch = [&](int port) {
    picked.push_back(port);
    if (picked.size() == 1) {
      // A later --port wins over the harness's own: the stranger listens on the picked port.
      RedisServerOptions takes_it;
      takes_it.extra_args = {"--port", std::to_string(port)};
      stranger = std::make_unique<RedisServer>(takes_it);
    }
  };
  RedisServer server(options);
  ASSERT_GE(picked.size(), 2u) << "the taken port was not picked again";
  EXPECT_NE(server.port(), picked.front());
  EXPECT_EQ(server_process_id(server.url()), server.pid());
  // The stranger really held the first port: the old readiness check (a connection succeeds)
  // would have taken it for this server.
  EXPECT_EQ(server_process_id("redis://127.0.0.1:" + std::to_string(picked.front())), stranger->pid());
}

}  // namespace
}  // namespace redkeeper
