// Entry point of the Node addon: registers the native classes, the parsing helpers the JS layer
// calls for config, and the shared result slots.
#include <napi.h>

#include "addon_data.hpp"
#include "errors.hpp"
#include "wraps.hpp"

namespace redkeeper_node {
namespace {

std::string string_arg(const Napi::Value& value, const char* param) {
  if (!value.IsString()) throw redkeeper::invalid_argument(param, "must be a string");
  return value.As<Napi::String>().Utf8Value();
}

Napi::Value set_error_factory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "factory must be a function");
  addon_data(info.Env()).make_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// parseDurationMs(text, param) -> ms
Napi::Value parse_duration_ms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::string param = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "duration";
    std::string text = string_arg(info[0], param.c_str());
    return Napi::Number::New(env, static_cast<double>(redkeeper::parse_duration_ms(text, param)));
  });
}

// secondsToMs(seconds, param) -> ms
Napi::Value seconds_to_ms(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::string param = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "seconds";
    if (!info[0].IsNumber()) throw redkeeper::invalid_argument(param, "must be a number of seconds");
    double seconds = info[0].As<Napi::Number>().DoubleValue();
    return Napi::Number::New(env, static_cast<double>(redkeeper::seconds_to_ms(seconds, param)));
  });
}

// parseRate(text) -> { limit, windowMs }
Napi::Value parse_rate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    redkeeper::Rate rate = redkeeper::parse_rate(string_arg(info[0], "rate"));
    Napi::Object out = Napi::Object::New(env);
    out.Set("limit", static_cast<double>(rate.limit));
    out.Set("windowMs", static_cast<double>(rate.window_ms));
    return out;
  });
}

// parseAlgorithm(name) -> canonical name
Napi::Value parse_algorithm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto algorithm = redkeeper::parse_algorithm(string_arg(info[0], "algorithm"));
    return Napi::String::New(env, redkeeper::algorithm_name(algorithm));
  });
}

// renderHeaders(result, { name, limit, windowMs }, standard, legacy, nowMs) -> { header: value }
Napi::Value render_headers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsObject()) throw redkeeper::invalid_argument("result", "must be an object");
    if (!info[1].IsObject()) throw redkeeper::invalid_argument("policy", "must be an object");
    Napi::Object p = info[1].As<Napi::Object>();
    redkeeper::LimiterConfig policy;
    policy.name = p.Get("name").IsString() ? p.Get("name").As<Napi::String>().Utf8Value() : "";
    policy.limit = p.Get("limit").IsNumber() ? p.Get("limit").As<Napi::Number>().Int64Value() : 0;
    policy.window_ms =
        p.Get("windowMs").IsNumber() ? p.Get("windowMs").As<Napi::Number>().Int64Value() : 0;
    return headers_to_js(env, limit_result_from_js(info[0].As<Napi::Object>()), policy,
                         header_options_from_js(env, info[2], info[3], info[4]));
  });
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto data = std::make_unique<AddonData>();
  Napi::Float64Array slots = Napi::Float64Array::New(env, kSlotCount);
  data->result_slots = slots.Data();
  data->result_slots_ref = Napi::Persistent(slots);

  Napi::Function clock = NativeClock::define(env);
  Napi::Function client = NativeClient::define(env);
  Napi::Function limiter = NativeLimiter::define(env);
  data->clock_ctor = Napi::Persistent(clock);
  data->client_ctor = Napi::Persistent(client);
  data->limiter_ctor = Napi::Persistent(limiter);
  data->primitive_ctor = Napi::Persistent(NativePrimitive::define(env));
  data->json_parse = Napi::Persistent(env.Global().Get("JSON").As<Napi::Object>().Get("parse").As<Napi::Function>());
  // Node owns the instance data from here on and deletes it when the environment goes away.
  env.SetInstanceData<AddonData>(data.release());

  exports.Set("NativeClock", clock);
  exports.Set("NativeClient", client);
  exports.Set("NativeLimiter", limiter);
  exports.Set("resultSlots", slots);
  exports.Set("setErrorFactory", Napi::Function::New<set_error_factory>(env, "setErrorFactory"));
  exports.Set("parseDurationMs", Napi::Function::New<parse_duration_ms>(env, "parseDurationMs"));
  exports.Set("secondsToMs", Napi::Function::New<seconds_to_ms>(env, "secondsToMs"));
  exports.Set("parseRate", Napi::Function::New<parse_rate>(env, "parseRate"));
  exports.Set("parseAlgorithm", Napi::Function::New<parse_algorithm>(env, "parseAlgorithm"));
  exports.Set("renderHeaders", Napi::Function::New<render_headers>(env, "renderHeaders"));
  register_http(env, exports);
  return exports;
}

}  // namespace
}  // namespace redkeeper_node

static Napi::Object InitRedkeeper(Napi::Env env, Napi::Object exports) {
  return redkeeper_node::init(env, exports);
}

NODE_API_MODULE(redkeeper, InitRedkeeper)
