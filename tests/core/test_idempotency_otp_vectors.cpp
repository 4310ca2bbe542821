// The shared vectors tests/vectors/idempotency.json and otp.json, run through Client::primitive() on
// memory:// (ManualClock) and on a private redis-server; pytest and jest run the same files.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "redis_harness.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {
namespace {

using testing::RedisServer;

Value load_vectors(const std::string& file) {
  std::ifstream in(std::string(REDKEEPER_VECTORS_DIR) + "/" + file);
  if (!in) throw std::runtime_error("cannot open vectors file " + file);
  return Value::parse(in);
}

Result<Value> call_sync(Primitive& p, std::string_view op, Value args) {
  auto promise = std::make_shared<std::promise<Result<Value>>>();
  auto future = promise->get_future();
  p.call(op, std::move(args), [promise](Result<Value> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return Error(ErrorCode::Internal, "test: op did not settle within 10 s");
  }
  return future.get();
}

// Replaces '@name' strings (saved tokens/codes) in the args.
Value substitute(Value args, const std::map<std::string, Value>& saved) {
  for (auto it = args.begin(); it != args.end(); ++it) {
    if (it->is_string()) {
      const std::string s = it->get<std::string>();
      if (!s.empty() && s[0] == '@') {
        auto found = saved.find(s.substr(1));
        if (found == saved.end()) throw std::runtime_error("vector refers to unsaved " + s);
        *it = found->second;
      }
    }
  }
  return args;
}

bool ends_with_ms(const std::string& field) {
  return field.size() >= 3 && field.compare(field.size() - 3, 3, "_ms") == 0;
}

// Compares the fields `expect` names. On Redis real time passes: *_ms values may be up to 1000 lower.
void check_expect(const Value& expect, const Value& actual, bool real_clock, const std::string& where) {
  ASSERT_TRUE(actual.is_object()) << where << ": result is " << actual.dump();
  for (auto it = expect.begin(); it != expect.end(); ++it) {
    auto got = actual.find(it.key());
    ASSERT_NE(got, actual.end()) << where << ": no field " << it.key() << " in " << actual.dump();
    if (real_clock && ends_with_ms(it.key()) && it->is_number() && got->is_number()) {
      const int64_t want = it->get<int64_t>();
      const int64_t have = got->get<int64_t>();
      EXPECT_TRUE(have <= want && have >= want - 1000)
          << where << ": " << it.key() << " = " << have << ", want " << want << " (-1000 ms)";
    } else {
      EXPECT_EQ(*got, *it) << where << ": field " << it.key() << " in " << actual.dump();
    }
  }
}

class PrimitiveVectors : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  bool on_redis() const { return GetParam() == "redis"; }

  std::shared_ptr<Client> open(std::shared_ptr<ManualClock> clock) {
    static std::atomic<int> counter{0};
    ClientOptions options;
    options.prefix = "v" + std::to_string(counter++);
    if (on_redis()) return Client::open(server_->url(), options);
    options.clock = std::move(clock);
    return Client::open("memory://", options);
  }

  // Runs every case of one file; returns how many ran (clock cases are memory-only).
  int run_file(const std::string& file, const std::string& kind) {
    const Value vectors = load_vectors(file);
    int ran = 0;
    for (const Value& c : vectors.at("cases")) {
      const std::string name = file + ": " + c.at("name").get<std::string>();
      if (c.value("clock", false) && on_redis()) continue;  // Redis expires keys on its own clock
      auto clock = std::make_shared<ManualClock>(c.value("start_ms", int64_t{1'700'000'000'000}));
      auto client = open(clock);
      ++ran;
      if (c.contains("config_error")) {
        try {
          client->primitive(kind, c.at("config"));
          ADD_FAILURE() << name << ": config accepted";
        } catch (const Error& e) {
          EXPECT_EQ(error_code_name(e.code()), c.at("config_error").get<std::string>()) << name << ": " << e.what();
        }
        client->close();
        continue;
      }
      auto prim = client->primitive(kind, c.at("config"));
      std::map<std::string, Value> saved;
      int index = 0;
      for (const Value& step : c.at("steps")) {
        const std::string where = name + " step " + std::to_string(index++);
        const std::string op = step.at("op").get<std::string>();
        if (op == "advance") {
          clock->advance(step.at("ms").get<int64_t>());
          continue;
        }
        Result<Value> r = call_sync(*prim, op, substitute(step.value("args", Value::object()), saved));
        if (step.contains("error")) {
          if (r.ok()) {
            ADD_FAILURE() << where << ": expected " << step.at("error") << ", got " << r.value().dump();
          } else {
            EXPECT_EQ(error_code_name(r.error().code()), step.at("error").get<std::string>())
                << where << ": " << r.error().what();
          }
          continue;
        }
        if (!r.ok()) {
          ADD_FAILURE() << where << ": " << error_code_name(r.error().code()) << " " << r.error().what();
          continue;
        }
        check_expect(step.at("expect"), r.value(), on_redis(), where);
        if (step.contains("as")) {
          const Value& v = r.value();
          saved[step.at("as").get<std::string>()] = v.contains("token") ? v.at("token") : v.at("code");
        }
      }
      client->close();
    }
    return ran;
  }

  static std::unique_ptr<RedisServer> server_;
};

std::unique_ptr<RedisServer> PrimitiveVectors::server_;

TEST_P(PrimitiveVectors, Idempotency) {
  const int ran = run_file("idempotency.json", "idempotency");
  EXPECT_GE(ran, on_redis() ? 13 : 17);
}

TEST_P(PrimitiveVectors, Otp) {
  const int ran = run_file("otp.json", "otp");
  EXPECT_GE(ran, on_redis() ? 16 : 19);
}

INSTANTIATE_TEST_SUITE_P(Backends, PrimitiveVectors, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace redkeeper
