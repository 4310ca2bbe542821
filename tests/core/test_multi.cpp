// Client::hit_many: the shared vectors (tests/vectors/multi.json) on memory:// and Redis, one
// EVALSHA per request on Redis, the failure policy, block-cache interplay, and all-or-nothing under
// concurrent threads on several Redis clients.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "limiter/limiter_math.hpp"
#include "redis_harness.hpp"
#include "test_helpers.hpp"
#include "vector_runner.hpp"

namespace redkeeper {
namespace {

using testing::open_redis;
using testing::RedisServer;

MultiLimitResult hit_many(Client& client, std::vector<LimitCheck> checks) {
  return testing::value_or_throw(testing::await_result<MultiLimitResult>(
      [&](auto cb) { client.hit_many(std::move(checks), cb); }));
}

// Runs one multi.json case; `factory` opens a client on the case's clock (called twice: the second
// client makes the "foreign" limiters).
void run_multi_case(const nlohmann::json& c, const vectors::ClientFactory& factory) {
  SCOPED_TRACE(c.at("name").get<std::string>());
  auto clock = std::make_shared<ManualClock>(c.value("start_ms", int64_t{1'700'000'000'000}));
  auto client = factory(clock);
  auto other = factory(clock);
  std::map<std::string, std::shared_ptr<Limiter>> limiters, foreign;
  for (const auto& [name, cfg] : c.at("limiters").items()) {
    nlohmann::json with_name = cfg;
    with_name["name"] = name;
    limiters[name] = client->limiter(vectors::config_from(with_name));
    foreign[name] = other->limiter(vectors::config_from(with_name));
  }
  const auto& steps = c.at("steps");
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& step = steps[i];
    SCOPED_TRACE("step " + std::to_string(i) + ": " + step.dump());
    const std::string op = step.at("op").get<std::string>();
    const std::function<void(const LimitResult&)> match = [&](const LimitResult& r) {
      if (step.contains("expect")) vectors::expect_matches(r, step["expect"]);
    };
    if (op == "advance") {
      clock->advance(step.at("ms").get<int64_t>());
    } else if (op == "hit_many") {
      std::vector<LimitCheck> checks;
      for (const auto& check : step.at("checks")) {
        auto& table = check.value("foreign", false) ? foreign : limiters;
        checks.push_back(LimitCheck{table.at(check.at("limiter").get<std::string>()),
                                    check.at("key").get<std::string>(), check.value("cost", int64_t{1})});
      }
      auto r = testing::await_result<MultiLimitResult>([&](auto cb) { client->hit_many(checks, cb); });
      vectors::check_outcome<MultiLimitResult>(r, step, [&](const MultiLimitResult& m) {
        const auto& expect = step.at("expect");
        EXPECT_EQ(m.allowed, expect.at("allowed").get<bool>());
        EXPECT_EQ(m.deciding, expect.at("deciding").get<size_t>());
        ASSERT_EQ(m.results.size(), checks.size());
        if (expect.contains("results")) {
          for (size_t k = 0; k < m.results.size(); ++k) {
            SCOPED_TRACE("result " + std::to_string(k));
            vectors::expect_matches(m.results[k], expect["results"][k]);
          }
        }
      });
    } else {
      Limiter& limiter = *limiters.at(step.at("limiter").get<std::string>());
      const std::string key = step.at("key").get<std::string>();
      if (op == "hit") {
        vectors::check_outcome<LimitResult>(
            testing::await_result<LimitResult>([&](auto cb) { limiter.hit(key, step.value("cost", int64_t{1}), cb); }),
            step, match);
      } else if (op == "peek") {
        vectors::check_outcome<LimitResult>(
            testing::await_result<LimitResult>([&](auto cb) { limiter.peek(key, cb); }), step, match);
      } else if (op == "reset") {
        vectors::check_outcome<Unit>(testing::await_result<Unit>([&](auto cb) { limiter.reset(key, cb); }), step,
                                     {});
      } else if (op == "refund") {
        vectors::check_outcome<LimitResult>(testing::await_result<LimitResult>([&](auto cb) {
                                              limiter.refund(key, step.at("amount").get<int64_t>(), cb);
                                            }),
                                            step, match);
      } else if (op == "block") {
        vectors::check_outcome<LimitResult>(testing::await_result<LimitResult>([&](auto cb) {
                                              limiter.block(key, step.at("ms").get<int64_t>(), cb);
                                            }),
                                            step, match);
      } else {
        ADD_FAILURE() << "unknown op " << op;
      }
    }
  }
  client->close();
  other->close();
}

size_t run_multi_vectors(const vectors::ClientFactory& factory) {
  size_t ran = 0;
  const nlohmann::json doc = vectors::load("multi.json");
  for (const auto& c : doc.at("cases")) {
    run_multi_case(c, factory);
    ++ran;
  }
  return ran;
}

TEST(MultiVectors, AllCasesPassOnMemory) {
  EXPECT_GE(run_multi_vectors([](std::shared_ptr<ManualClock> clock) {
              return testing::memory_client(std::move(clock));
            }),
            8u);
}

TEST(MultiMemory, AtomicWithConcurrentSingleHits) {
  // hit_many on two limits races single hits on one of them: every unit is accounted for, no
  // limit is exceeded, and a rejected hit_many left both counters alone.
  ClientOptions options;
  options.sweep_interval_ms = 0;
  auto client = Client::open("memory://?shards=4", options);
  const int64_t long_window = limiter_math::kMaxDurationMs;
  auto a = client->limiter(testing::config(Algorithm::SlidingLog, 300, long_window, 0, "a"));
  auto b = client->limiter(testing::config(Algorithm::FixedWindow, 500, long_window, 0, "b"));
  std::atomic<int64_t> multi_units{0}, single_units{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 400; ++i) {
        const int64_t cost = 1 + (i + t) % 2;
        auto r = hit_many(*client, {{a, "k", cost}, {b, "k", cost}});
        if (r.allowed) multi_units += cost;
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 400; ++i) {
        if (testing::hit(*a, "k").allowed) single_units += 1;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(300 - testing::peek(*a, "k").remaining, multi_units + single_units);
  EXPECT_EQ(500 - testing::peek(*b, "k").remaining, multi_units.load());
  EXPECT_GE(multi_units + single_units, 299);
  client->close();
}

class MultiRedisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  static std::shared_ptr<RedisClient> open(std::shared_ptr<Clock> clock = nullptr) {
    static std::atomic<int> counter{0};
    ClientOptions options;
    options.clock = std::move(clock);
    options.prefix = "m" + std::to_string(counter++);
    return open_redis(server_->url(), options);
  }

  static int64_t command_calls(RedisClient& client, const std::string& command) {
    auto info = testing::call(client, {"INFO", "commandstats"});
    if (!info.ok()) throw info.error();
    const std::string text(info.value().as_string());
    const std::string tag = "cmdstat_" + command + ":calls=";
    const size_t at = text.find(tag);
    return at == std::string::npos ? 0 : std::stoll(text.substr(at + tag.size()));
  }

  static std::unique_ptr<RedisServer> server_;
};

std::unique_ptr<RedisServer> MultiRedisTest::server_;

TEST_F(MultiRedisTest, AllCasesPass) {
  // Every case on one prefix per client pair: the foreign client shares the prefix, so only the
  // client identity (not the key layout) makes its limiters foreign.
  EXPECT_GE(run_multi_vectors([](std::shared_ptr<ManualClock> clock) -> std::shared_ptr<Client> {
              ClientOptions options;
              options.clock = std::move(clock);
              static std::atomic<int> counter{0};
              options.prefix = "mv" + std::to_string(counter++ / 2);
              return open_redis(server_->url(), options);
            }),
            8u);
}

TEST_F(MultiRedisTest, OneEvalshaPerRequestWhateverTheNumberOfLimits) {
  auto clock = std::make_shared<ManualClock>();
  auto client = open(clock);
  std::vector<LimitCheck> checks;
  for (Algorithm algorithm : {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::SlidingLog,
                              Algorithm::TokenBucket, Algorithm::Gcra}) {
    auto limiter = client->limiter(testing::config(algorithm, 10, 1000, 0, algorithm_name(algorithm)));
    checks.push_back(LimitCheck{limiter, "ip-1", 1});
    checks.push_back(LimitCheck{limiter, "user-1", 2});
  }
  hit_many(*client, checks);  // loads the script
  ASSERT_TRUE(testing::call(*client, {"CONFIG", "RESETSTAT"}).ok());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(hit_many(*client, checks).allowed);
  auto fifth = hit_many(*client, checks);  // user-1 at cost 2 has used 10 of 10
  EXPECT_FALSE(fifth.allowed);
  EXPECT_EQ(command_calls(*client, "evalsha"), 5);
  EXPECT_EQ(command_calls(*client, "eval"), 0);
}

TEST_F(MultiRedisTest, StoreDownAppliesEveryLimitersPolicy) {
  auto server = std::make_unique<RedisServer>();
  ClientOptions options;
  options.command_timeout_ms = 300;
  options.connect_timeout_ms = 300;
  auto client = open_redis(server->url(), options);
  LimiterConfig open_cfg = testing::config(Algorithm::FixedWindow, 5, 1000, 0, "open");
  LimiterConfig raise_cfg = testing::config(Algorithm::FixedWindow, 5, 1000, 0, "raise");
  raise_cfg.on_error = FailurePolicy::Raise;
  LimiterConfig closed_cfg = testing::config(Algorithm::FixedWindow, 5, 1000, 0, "closed");
  closed_cfg.on_error = FailurePolicy::Closed;
  auto open1 = client->limiter(open_cfg);
  auto open2 = client->limiter(testing::config(Algorithm::Gcra, 7, 1000, 0, "open2"));
  auto raising = client->limiter(raise_cfg);
  auto closing = client->limiter(closed_cfg);
  ASSERT_TRUE(hit_many(*client, {{open1, "k"}, {raising, "k"}}).allowed);  // connected
  server.reset();  // the store goes away

  auto all_open = hit_many(*client, {{open1, "k"}, {open2, "k"}});
  EXPECT_TRUE(all_open.allowed);
  ASSERT_EQ(all_open.results.size(), 2u);
  EXPECT_TRUE(all_open.results[0].degraded && all_open.results[1].degraded);
  EXPECT_EQ(all_open.results[1].limit, 7);

  auto with_closed = hit_many(*client, {{open1, "k"}, {closing, "k"}});
  EXPECT_FALSE(with_closed.allowed);
  EXPECT_EQ(with_closed.deciding, 1u);
  EXPECT_TRUE(with_closed.results[1].degraded);

  auto with_raise = testing::await_result<MultiLimitResult>(
      [&](auto cb) { client->hit_many({{open1, "k"}, {raising, "k"}}, cb); });
  ASSERT_FALSE(with_raise.ok());
  EXPECT_NE(with_raise.error().code(), ErrorCode::InvalidArgument);
  client->close();
  auto after_close = testing::await_result<MultiLimitResult>([&](auto cb) { client->hit_many({{open1, "k"}}, cb); });
  ASSERT_FALSE(after_close.ok());
  EXPECT_EQ(after_close.error().code(), ErrorCode::Closed);
}

TEST_F(MultiRedisTest, RejectedRequestsConsumeNothingUnderConcurrency) {
  // Two limits on the same id, hammered from several clients and threads at once: totals never
  // pass either limit, and every admitted request consumed from both (so both counters agree).
  constexpr int kClients = 3;
  constexpr int kThreads = 3;
  constexpr int kRequestsPerThread = 150;
  constexpr int64_t kSmall = 120;
  constexpr int64_t kLarge = 400;
  const int64_t long_window = limiter_math::kMaxDurationMs;
  ClientOptions options;
  options.prefix = "conc";
  options.command_timeout_ms = 10'000;
  std::vector<std::shared_ptr<RedisClient>> clients;
  std::vector<std::pair<std::shared_ptr<Limiter>, std::shared_ptr<Limiter>>> limiters;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(open_redis(server_->url(), options));
    limiters.emplace_back(
        clients.back()->limiter(testing::config(Algorithm::SlidingLog, kSmall, long_window, 0, "small")),
        clients.back()->limiter(testing::config(Algorithm::TokenBucket, kLarge, long_window, 0, "large")));
  }
  std::atomic<int64_t> admitted_units{0};
  std::atomic<int> failures{0};
  testing::Settled settled;
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, c, t] {
        for (int i = 0; i < kRequestsPerThread; ++i) {
          const int64_t cost = 1 + (i + t) % 3;  // mixed costs: a big one may fail where a small fits
          settled.add();
          clients[c]->hit_many({{limiters[c].first, "shared", cost}, {limiters[c].second, "shared", cost}},
                               [&, cost](Result<MultiLimitResult> r) {
                                 if (!r.ok() || r.value().results[0].degraded) {
                                   failures++;
                                 } else if (r.value().allowed) {
                                   admitted_units += cost;
                                 }
                                 settled.done(ErrorCode::Internal, r.ok());
                               });
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(settled.wait());
  EXPECT_EQ(failures.load(), 0);
  auto small = testing::peek(*limiters[0].first, "shared");
  auto large = testing::peek(*limiters[0].second, "shared");
  EXPECT_LE(admitted_units.load(), kSmall);
  EXPECT_GE(admitted_units.load(), kSmall - 2);  // only a cost that does not fit is turned away
  EXPECT_EQ(kSmall - small.remaining, admitted_units.load());
  EXPECT_EQ(kLarge - large.remaining, admitted_units.load());
  for (auto& client : clients) client->close();
}

}  // namespace
}  // namespace redkeeper
