// Shared lock vectors (tests/vectors/locks.json) through the "lock" primitive on memory and Redis.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <map>
#include <string>

#include "redis_harness.hpp"

namespace redkeeper {
namespace {

Value load() {
  std::ifstream in(std::string(REDKEEPER_VECTORS_DIR) + "/locks.json");
  return Value::parse(in);
}

Result<Value> run(Primitive& p, const std::string& op, Value args) {
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto f = promise->get_future();
  p.call(op, std::move(args), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) return Error(ErrorCode::Internal, "hang");
  return f.get();
}

void run_cases(Client& client, const std::string& tag) {
  const Value data = load();
  int n = 0;
  for (const auto& c : data["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string name = "vec-" + tag + "-" + std::to_string(n++);
    std::map<std::string, std::shared_ptr<Primitive>> handles;
    for (auto it = c["handles"].begin(); it != c["handles"].end(); ++it) {
      Value cfg = it.value();
      cfg["name"] = cfg.value("name", name);
      handles[it.key()] = client.primitive("lock", cfg);
    }
    int64_t fence = 0;
    int step = 0;
    for (const auto& s : c["steps"]) {
      SCOPED_TRACE("step " + std::to_string(step++) + " " + s["op"].get<std::string>());
      Result<Value> r = run(*handles.at(s["handle"]), s["op"], s.value("args", Value::object()));
      const Value& expect = s["expect"];
      if (expect.contains("error")) {
        ASSERT_FALSE(r.ok()) << r.value().dump();
        EXPECT_EQ(error_code_name(r.error().code()), expect["error"].get<std::string>()) << r.error().what();
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.error().what();
      if (expect.contains("result")) {
        for (auto it = expect["result"].begin(); it != expect["result"].end(); ++it) {
          EXPECT_EQ(r.value()[it.key()], it.value()) << it.key();
        }
      }
      if (expect.contains("fence")) {
        const int64_t got = r.value()["fencing_token"];
        const std::string rule = expect["fence"];
        if (rule != "first") {
          EXPECT_EQ(got, fence + std::stoll(rule.substr(1)));
        }
        fence = got;
      }
    }
  }
  ASSERT_GE(n, 4);
  for (const auto& bad : data["config_errors"]) {
    try {
      client.primitive("lock", bad["config"]);
      ADD_FAILURE() << "accepted " << bad["config"].dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_EQ(std::string(e.what()).rfind(bad["param"].get<std::string>() + ":", 0), 0u) << e.what();
    }
  }
}

TEST(LockVectors, Memory) {
  auto client = Client::open("memory://");
  run_cases(*client, "m");
  client->close();
}

TEST(LockVectors, Redis) {
  testing::RedisServer server;
  auto client = Client::open(server.url());
  run_cases(*client, "r");
  client->close();
}

}  // namespace
}  // namespace redkeeper
