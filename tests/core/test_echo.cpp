// The debug_echo diagnostics primitive on a scripted fake Backend: every op, argument errors, reply
// conversion of `eval`, and the guarantee that a `later` op cancelled by close() still settles.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/backend.hpp"
#include "redkeeper/primitive.hpp"

namespace redkeeper {
std::shared_ptr<Primitive> make_debug_echo(std::shared_ptr<Backend> backend, const Value& config);
}

namespace redkeeper::testing {
namespace {

// Timers are held until the test fires or drops them; eval answers with `next_reply`.
class FakeBackend : public Backend {
 public:
  const char* kind() const override { return "fake"; }
  const std::string& prefix() const override { return prefix_; }
  const ClientOptions& options() const override { return options_; }
  bool completes_inline() const override { return true; }
  void eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done, int64_t) override {
    last_script = script.source();
    last_keys.assign(keys.begin(), keys.end());
    last_args.assign(args.begin(), args.end());
    done(next_reply);
  }
  void command(ArgList, Callback<Reply> done, int64_t) override { done(Reply::nil()); }
  uint64_t listen(const std::string&, std::function<void(std::string_view)>) override { return 1; }
  void unlisten(uint64_t) override {}
  uint64_t schedule(int64_t delay_ms, std::function<void()> fn) override {
    last_delay_ms = delay_ms;
    timers.emplace(++next_timer_, std::move(fn));
    return next_timer_;
  }
  bool cancel(uint64_t id) override { return timers.erase(id) > 0; }
  int64_t now_ms() const override { return 0; }
  bool closed() const override { return closed_; }
  void close() override {
    closed_ = true;
    timers.clear();  // cancelled without running, as the contract says
  }
  void fire_all() {
    auto due = std::move(timers);
    timers.clear();
    for (auto& [id, fn] : due) fn();
  }

  Result<Reply> next_reply = Reply::nil();
  std::string last_script;
  std::vector<std::string> last_keys, last_args;
  int64_t last_delay_ms = -1;
  std::map<uint64_t, std::function<void()>> timers;

 private:
  std::string prefix_ = "rk";
  ClientOptions options_;
  bool closed_ = false;
  uint64_t next_timer_ = 0;
};

struct Outcome {
  std::optional<Result<Value>> result;
  int calls = 0;
  Callback<Value> callback() {
    return [this](Result<Value> r) {
      ++calls;
      result.emplace(std::move(r));
    };
  }
};

class EchoTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeBackend> backend = std::make_shared<FakeBackend>();
  std::shared_ptr<Primitive> echo = make_debug_echo(backend, Value::object());

  Result<Value> run(std::string_view op, Value args) {
    Outcome out;
    echo->call(op, std::move(args), out.callback());
    EXPECT_EQ(out.calls, 1) << "op " << op << " did not settle inline";
    return out.result.value_or(Result<Value>(Error(ErrorCode::Internal, "not settled")));
  }
};

TEST_F(EchoTest, EchoReturnsTheValueUnchanged) {
  Value doc = {{"a", 1}, {"b", {1.5, "x", nullptr, true}}, {"c", Value::binary({0, 255, 10})}};
  auto r = run("echo", {{"value", doc}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), doc);
  auto missing = run("echo", Value::object());
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing.value().is_null());
}

TEST_F(EchoTest, LaterSettlesWhenTheTimerFires) {
  Outcome out;
  echo->call("later", {{"value", "v"}, {"delay_ms", 250}}, out.callback());
  EXPECT_EQ(out.calls, 0);
  EXPECT_EQ(backend->last_delay_ms, 250);
  backend->fire_all();
  ASSERT_EQ(out.calls, 1);
  ASSERT_TRUE(out.result->ok());
  EXPECT_EQ(out.result->value(), "v");
}

TEST_F(EchoTest, LaterCancelledByCloseSettlesWithClosed) {
  Outcome out;
  echo->call("later", {{"value", 1}, {"delay_ms", 60000}}, out.callback());
  backend->close();
  ASSERT_EQ(out.calls, 1);
  ASSERT_FALSE(out.result->ok());
  EXPECT_EQ(out.result->error().code(), ErrorCode::Closed);
  // After close a new `later` settles at once with Closed.
  auto r = run("later", {{"delay_ms", 1}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::Closed);
}

TEST_F(EchoTest, LaterRejectsABadDelay) {
  for (Value delay : {Value(-1), Value("5"), Value(1.5), Value()}) {
    auto r = run("later", {{"delay_ms", delay}});
    ASSERT_FALSE(r.ok()) << delay.dump();
    EXPECT_EQ(r.error().code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(r.error().what()).find("delay_ms"), std::string::npos);
  }
}

TEST_F(EchoTest, FailSettlesWithEveryNamedCode) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::LoaderFailed); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    auto r = run("fail", {{"code", error_code_name(code)}, {"message", "boom"}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), code) << error_code_name(code);
    EXPECT_STREQ(r.error().what(), "boom");
  }
  auto unknown = run("fail", {{"code", "ERR_NOPE"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::InvalidArgument);
}

TEST_F(EchoTest, UnknownOpAndNonObjectArgsAreInvalidArguments) {
  auto op = run("nope", Value::object());
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(op.error().what()).find("op"), std::string::npos);
  auto args = run("echo", Value::array());
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.error().code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(run("echo", Value()).ok());  // null args mean "no arguments"
}

TEST_F(EchoTest, EvalPassesKeysAndArgsAndConvertsTheReply) {
  backend->next_reply = Reply::array({Reply::integer(7), Reply::string("text"), Reply::string(std::string("\xff\x00", 2)),
                                      Reply::nil(), Reply::status("OK"), Reply::error("ERR x"),
                                      Reply::array({Reply::integer(-1)})});
  auto r = run("eval", {{"script", "return 1"}, {"keys", {"k1", Value::binary({'k', '2'})}}, {"args", {"a", 42}}});
  ASSERT_TRUE(r.ok()) << r.error().what();
  EXPECT_EQ(backend->last_script, "return 1");
  EXPECT_EQ(backend->last_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(backend->last_args, (std::vector<std::string>{"a", "42"}));
  const Value expected = {7,       "text", Value::binary({0xff, 0x00}), nullptr, {{"ok", "OK"}},
                          {{"err", "ERR x"}}, {-1}};
  EXPECT_EQ(r.value(), expected);
}

TEST_F(EchoTest, EvalErrorsAndBadArguments) {
  backend->next_reply = Error(ErrorCode::Script, "ERR boom");
  auto failed = run("eval", {{"script", "return redis.error_reply('boom')"}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::Script);
  auto no_script = run("eval", Value::object());
  ASSERT_FALSE(no_script.ok());
  EXPECT_NE(std::string(no_script.error().what()).find("script"), std::string::npos);
  auto bad_key = run("eval", {{"script", "return 1"}, {"keys", {"ok", 1.5}}});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(std::string(bad_key.error().what()).find("keys[1]"), std::string::npos);
}

TEST_F(EchoTest, TakesNoOptions) {
  EXPECT_THROW(make_debug_echo(backend, Value{{"x", 1}}), Error);
}

}  // namespace
}  // namespace redkeeper::testing
