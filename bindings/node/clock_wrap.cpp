// Native ManualClock: tests inject it into memory:// clients so windows and expiry are deterministic.
#include <cmath>

#include "errors.hpp"
#include "wraps.hpp"

namespace redkeeper_node {

namespace {
int64_t integer_ms(Napi::Env env, const Napi::Value& value, const char* param) {
  if (!value.IsNumber()) {
    throw to_js_error(env, redkeeper::invalid_argument(param, "must be a number of milliseconds"));
  }
  double ms = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(ms) || std::trunc(ms) != ms || std::fabs(ms) > 9007199254740991.0) {
    throw to_js_error(env, redkeeper::invalid_argument(param, "must be a finite integer"));
  }
  return static_cast<int64_t>(ms);
}
}  // namespace

Napi::Function NativeClock::define(Napi::Env env) {
  return DefineClass(env, "NativeClock",
                     {InstanceMethod<&NativeClock::advance>("advance"),
                      InstanceMethod<&NativeClock::set>("set"),
                      InstanceMethod<&NativeClock::now_ms>("nowMs")});
}

NativeClock::NativeClock(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeClock>(info) {
  int64_t start = info[0].IsUndefined() ? redkeeper::SystemClock().now_ms()
                                        : integer_ms(info.Env(), info[0], "startMs");
  clock_ = std::make_shared<redkeeper::ManualClock>(start);
}

Napi::Value NativeClock::advance(const Napi::CallbackInfo& info) {
  int64_t ms = integer_ms(info.Env(), info[0], "ms");
  if (ms < 0) throw to_js_error(info.Env(), redkeeper::invalid_argument("ms", "must not be negative"));
  clock_->advance(ms);
  return Napi::Number::New(info.Env(), static_cast<double>(clock_->now_ms()));
}

Napi::Value NativeClock::set(const Napi::CallbackInfo& info) {
  clock_->set(integer_ms(info.Env(), info[0], "ms"));
  return Napi::Number::New(info.Env(), static_cast<double>(clock_->now_ms()));
}

Napi::Value NativeClock::now_ms(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(clock_->now_ms()));
}

}  // namespace redkeeper_node
