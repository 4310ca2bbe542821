// Node glue for Client::hit_many (check arrays in; { allowed, results, deciding } out, inline on
// memory://, else a Promise settled through the client's AsyncBridge) and for redkeeper/http.hpp
// (clientIp, ipKey).
#include <optional>
#include <string>
#include <vector>

#include "addon_data.hpp"
#include "errors.hpp"
#include "redkeeper/http.hpp"
#include "utf8_key.hpp"
#include "wraps.hpp"

namespace redkeeper_node {

namespace {

// The bytes of a string or Buffer key (the core validates emptiness and length).
std::string key_bytes(const Napi::Value& value, const std::string& param) {
  if (value.IsString()) {
    Utf8Key key;
    const Utf8Key::Status status = key.read(value.Env(), value);
    if (status == Utf8Key::Status::Ok) return std::string(key.view());
    if (status == Utf8Key::Status::LoneSurrogate) throw redkeeper::invalid_argument(param, kLoneSurrogate);
    return value.As<Napi::String>().Utf8Value();  // too long: the core's length check reports it
  }
  if (value.IsTypedArray() || value.IsBuffer()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    Napi::ArrayBuffer buffer = array.ArrayBuffer();
    return std::string(static_cast<const char*>(buffer.Data()) + array.ByteOffset(), array.ByteLength());
  }
  throw redkeeper::invalid_argument(param, "must be a string or a Buffer");
}

// [allowed, [resultArray...], decidingIndex]; node/lib/client.js builds the public object.
Napi::Value multi_to_js(Napi::Env env, const redkeeper::MultiLimitResult& m) {
  Napi::Array results = Napi::Array::New(env, m.results.size());
  for (uint32_t i = 0; i < m.results.size(); ++i) results.Set(i, result_array(env, m.results[i]));
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(uint32_t{0}, Napi::Boolean::New(env, m.allowed));
  out.Set(uint32_t{1}, results);
  out.Set(uint32_t{2}, Napi::Number::New(env, static_cast<double>(m.deciding)));
  return out;
}

std::vector<redkeeper::LimitCheck> checks_from_js(Napi::Env env, const Napi::Value& value) {
  if (!value.IsArray()) throw redkeeper::invalid_argument("checks", "must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<redkeeper::LimitCheck> checks;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const std::string param = "checks[" + std::to_string(i) + "]";
    Napi::Value item = array.Get(i);
    if (!item.IsArray() || item.As<Napi::Array>().Length() != 3) {
      throw redkeeper::invalid_argument(param, "must be [limiter, key, cost]");
    }
    Napi::Array triple = item.As<Napi::Array>();
    Napi::Value limiter = triple.Get(uint32_t{0});
    if (!limiter.IsObject() || !limiter.As<Napi::Object>().InstanceOf(addon_data(env).limiter_ctor.Value())) {
      throw redkeeper::invalid_argument(param + ".limiter", "must be a redkeeper Limiter");
    }
    redkeeper::LimitCheck check;
    check.limiter = NativeLimiter::Unwrap(limiter.As<Napi::Object>())->core();
    check.key = key_bytes(triple.Get(uint32_t{1}), param + ".key");
    Napi::Value cost = triple.Get(uint32_t{2});
    if (!cost.IsNumber()) throw redkeeper::invalid_argument(param + ".cost", "must be a number");
    check.cost = cost.As<Napi::Number>().Int64Value();
    checks.push_back(std::move(check));
  }
  return checks;
}

std::vector<std::string> strings_from_js(const Napi::Value& value, const char* param) {
  std::vector<std::string> out;
  if (value.IsString()) {
    out.push_back(value.As<Napi::String>().Utf8Value());
  } else if (value.IsArray()) {
    Napi::Array array = value.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      Napi::Value item = array.Get(i);
      if (!item.IsString()) throw redkeeper::invalid_argument(param, "must hold strings only");
      out.push_back(item.As<Napi::String>().Utf8Value());
    }
  } else if (!value.IsUndefined() && !value.IsNull()) {
    throw redkeeper::invalid_argument(param, "must be a string or an array of strings");
  }
  return out;
}

// clientIp(remoteAddr, xForwardedFor, trusted) -> string
Napi::Value client_ip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw redkeeper::invalid_argument("remoteAddr", "must be a string");
    std::string xff;
    for (const std::string& part : strings_from_js(info[1], "xForwardedFor")) {
      if (!xff.empty()) xff += ',';
      xff += part;
    }
    redkeeper::TrustedProxies trusted;
    if (info[2].IsNumber()) {
      const double hops = info[2].As<Napi::Number>().DoubleValue();
      if (hops != static_cast<double>(static_cast<int64_t>(hops))) {
        throw redkeeper::invalid_argument("trusted", "a hop count must be an integer");
      }
      trusted = redkeeper::TrustedProxies::hops(static_cast<int64_t>(hops));
    } else if (info[2].IsBoolean()) {
      throw redkeeper::invalid_argument("trusted", "must be a hop count, a string or an array of strings");
    } else {
      trusted = redkeeper::TrustedProxies(strings_from_js(info[2], "trusted"));
    }
    return Napi::String::New(env, redkeeper::client_ip(info[0].As<Napi::String>().Utf8Value(), xff, trusted));
  });
}

// ipKey(ip, ipv6Subnet) -> string; ipv6Subnet: 1..128, or 0/false for whole addresses.
Napi::Value ip_key(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw redkeeper::invalid_argument("ip", "must be a string");
    int subnet = 56;
    if (info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value()) {
      subnet = 0;
    } else if (info[1].IsNumber()) {
      const double value = info[1].As<Napi::Number>().DoubleValue();
      if (!(value >= 0 && value <= 128) || value != static_cast<double>(static_cast<int>(value))) {
        throw redkeeper::invalid_argument("ipv6Subnet", "must be an integer from 1 to 128, or 0/false");
      }
      subnet = static_cast<int>(value);
    } else if (!info[1].IsUndefined()) {
      throw redkeeper::invalid_argument("ipv6Subnet", "must be a number or false");
    }
    return Napi::String::New(env, redkeeper::ip_key(info[0].As<Napi::String>().Utf8Value(), subnet));
  });
}

}  // namespace

Napi::Value hit_many(Napi::Env env, const std::shared_ptr<ClientState>& state, const Napi::Value& checks) {
  if (state->closed) throw state->closed_error(env);
  std::vector<redkeeper::LimitCheck> core_checks = checks_from_js(env, checks);
  if (state->inline_ops) {
    std::optional<redkeeper::Result<redkeeper::MultiLimitResult>> out;
    state->client->hit_many(std::move(core_checks),
                            [&out](redkeeper::Result<redkeeper::MultiLimitResult> r) { out.emplace(std::move(r)); });
    if (!out) throw redkeeper::Error(redkeeper::ErrorCode::Internal, "hit_many did not complete inline");
    if (!out->ok()) throw out->error();
    return multi_to_js(env, out->value());
  }
  auto bridge = state->bridge_for(env);
  return start_async<redkeeper::MultiLimitResult>(
      bridge, [&](auto done) { state->client->hit_many(std::move(core_checks), std::move(done)); },
      [](Napi::Env e, const redkeeper::MultiLimitResult& r) { return multi_to_js(e, r); });
}

void register_http(Napi::Env env, Napi::Object exports) {
  exports.Set("clientIp", Napi::Function::New<client_ip>(env, "clientIp"));
  exports.Set("ipKey", Napi::Function::New<ip_key>(env, "ipKey"));
}

}  // namespace redkeeper_node
