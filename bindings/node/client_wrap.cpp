// Native Client: opens a backend from a URL, makes limiters, and closes everything it started.
#include <optional>

#include "addon_data.hpp"
#include "errors.hpp"
#include "wraps.hpp"

namespace redkeeper_node {

namespace {

// node/lib/client.js has already checked types and ranges; these only read what it passes.
std::string string_field(const Napi::Object& obj, const char* name) {
  Napi::Value v = obj.Get(name);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

template <class Int>
void int_field(const Napi::Object& obj, const char* name, Int& out) {
  Napi::Value v = obj.Get(name);
  if (v.IsNumber()) out = static_cast<Int>(v.As<Napi::Number>().Int64Value());
}

}  // namespace

ClientState::~ClientState() {
  // The JS objects were collected without close(): still stop the core's threads and settle ops.
  if (client && !closed) {
    try {
      client->close();
    } catch (...) {
      // A destructor has nobody to report to; the core's close() is documented not to throw anyway.
    }
  }
}

std::shared_ptr<AsyncBridge> ClientState::bridge_for(Napi::Env env) {
  if (!bridge) {
    // In-flight ops keep the bridge (and so these) alive past this state: share the client.
    bridge = AsyncBridge::create(env, [c = client] { c->cork(); }, [c = client] { c->uncork(); });
  }
  return bridge;
}

Napi::Error ClientState::closed_error(Napi::Env env) const {
  return to_js_error(env, redkeeper::ErrorCode::Closed, "client: closed");
}

void ClientState::close() {
  if (closed) return;
  closed = true;
  client->close();
  if (bridge) bridge->shutdown([this](Napi::Env e) { return closed_error(e).Value(); });
}

Napi::Function NativeClient::define(Napi::Env env) {
  return DefineClass(env, "NativeClient",
                     {InstanceMethod<&NativeClient::limiter>("limiter"),
                      InstanceMethod<&NativeClient::ping>("ping"),
                      InstanceMethod<&NativeClient::health>("health"),
                      InstanceMethod<&NativeClient::stats>("stats"),
                      InstanceMethod<&NativeClient::close>("close"),
                      InstanceMethod<&NativeClient::closed>("closed"),
                      InstanceMethod<&NativeClient::completes_inline>("completesInline"),
                      InstanceMethod<&NativeClient::hit_many>("hitMany"),
                      InstanceMethod<&NativeClient::primitive>("primitive")});
}

NativeClient::NativeClient(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeClient>(info) {
  Napi::Env env = info.Env();
  guarded(env, [&] {
    if (!info[0].IsString()) throw redkeeper::invalid_argument("url", "must be a string");
    std::string url = info[0].As<Napi::String>().Utf8Value();
    redkeeper::ClientOptions options;
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Get("prefix").IsString()) options.prefix = string_field(o, "prefix");
      int_field(o, "connectTimeoutMs", options.connect_timeout_ms);
      int_field(o, "commandTimeoutMs", options.command_timeout_ms);
      int_field(o, "maxPending", options.max_pending);
      int_field(o, "clusterRefreshMs", options.cluster_refresh_ms);
      Napi::Value cluster = o.Get("cluster");
      if (cluster.IsBoolean()) options.cluster = cluster.As<Napi::Boolean>().Value();
      Napi::Value clock = o.Get("clock");
      if (clock.IsObject()) {
        Napi::Object clock_obj = clock.As<Napi::Object>();
        if (!clock_obj.InstanceOf(addon_data(env).clock_ctor.Value())) {
          throw redkeeper::invalid_argument("clock", "must be a ManualClock");
        }
        options.clock = NativeClock::Unwrap(clock_obj)->clock();
      }
      Napi::Value tls = o.Get("tls");
      if (tls.IsObject()) {
        Napi::Object t = tls.As<Napi::Object>();
        options.tls.ca_file = string_field(t, "caFile");
        options.tls.cert_file = string_field(t, "certFile");
        options.tls.key_file = string_field(t, "keyFile");
        options.tls.server_name = string_field(t, "serverName");
        Napi::Value verify = t.Get("verify");
        if (verify.IsBoolean()) options.tls.verify = verify.As<Napi::Boolean>().Value();
      }
    }
    auto state = std::make_shared<ClientState>();
    state->clock = options.clock;
    state->client = redkeeper::Client::open(url, std::move(options));
    state->inline_ops = state->client->completes_inline();
    state_ = std::move(state);
  });
}

Napi::Value NativeClient::limiter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (state_->closed) throw state_->closed_error(env);
    redkeeper::LimiterConfig config;
    config.name = info[0].As<Napi::String>().Utf8Value();
    config.algorithm = redkeeper::parse_algorithm(info[1].As<Napi::String>().Utf8Value());
    config.limit = info[2].As<Napi::Number>().Int64Value();
    config.window_ms = info[3].As<Napi::Number>().Int64Value();
    config.block_duration_ms = info[4].As<Napi::Number>().Int64Value();
    std::string on_error = info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "open";
    if (on_error == "open") {
      config.on_error = redkeeper::FailurePolicy::Open;
    } else if (on_error == "raise") {
      config.on_error = redkeeper::FailurePolicy::Raise;
    } else {
      throw redkeeper::invalid_argument("onError", "must be 'open' or 'raise'");
    }
    if (info[6].IsNumber()) {
      const int64_t entries = info[6].As<Napi::Number>().Int64Value();
      if (entries < 0) throw redkeeper::invalid_argument("localBlockCache", "must be true, false or a size >= 0");
      config.local_block_cache_size = static_cast<size_t>(entries);
    }
    auto limiter = state_->client->limiter(std::move(config));
    Napi::Object obj = addon_data(env).limiter_ctor.New({});
    NativeLimiter::Unwrap(obj)->attach(state_, std::move(limiter));
    return obj;
  });
}

Napi::Value NativeClient::ping(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (state_->closed) throw state_->closed_error(env);
    if (state_->inline_ops) {
      std::optional<redkeeper::Result<double>> out;
      state_->client->ping([&out](redkeeper::Result<double> r) { out.emplace(std::move(r)); });
      auto deferred = Napi::Promise::Deferred::New(env);
      if (!out) throw redkeeper::Error(redkeeper::ErrorCode::Internal, "ping did not complete inline");
      if (out->ok()) {
        deferred.Resolve(Napi::Number::New(env, out->value()));
      } else {
        deferred.Reject(to_js_error(env, out->error()).Value());
      }
      return deferred.Promise();
    }
    auto bridge = state_->bridge_for(env);
    return start_async<double>(
        bridge, [&](auto done) { state_->client->ping(std::move(done)); },
        [](Napi::Env e, double latency_ms) { return Napi::Number::New(e, latency_ms); });
  });
}

Napi::Value NativeClient::health(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    redkeeper::Health h = state_->client->health();
    Napi::Object out = Napi::Object::New(env);
    out.Set("backend", h.backend);
    out.Set("connected", h.connected && !state_->closed);
    out.Set("latencyMs", h.latency_ms);
    return out;
  });
}

Napi::Value NativeClient::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    redkeeper::Stats s = state_->client->stats();
    Napi::Object out = Napi::Object::New(env);
    out.Set("ops", static_cast<double>(s.ops));
    out.Set("errors", static_cast<double>(s.errors));
    out.Set("timeouts", static_cast<double>(s.timeouts));
    out.Set("reconnects", static_cast<double>(s.reconnects));
    out.Set("inFlight", static_cast<double>(s.in_flight));
    out.Set("keys", static_cast<double>(s.keys));
    out.Set("redirects", static_cast<double>(s.redirects));
    out.Set("topologyRefreshes", static_cast<double>(s.topology_refreshes));
    out.Set("nodes", static_cast<double>(s.nodes));
    return out;
  });
}

Napi::Value NativeClient::close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  guarded(env, [&] { state_->close(); });
  return env.Undefined();
}

Napi::Value NativeClient::closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_->closed);
}

Napi::Value NativeClient::hit_many(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] { return redkeeper_node::hit_many(env, state_, info[0]); });
}

Napi::Value NativeClient::primitive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] { return make_primitive(env, state_, info[0], info[1], info[2]); });
}

Napi::Value NativeClient::completes_inline(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_->inline_ops);
}

}  // namespace redkeeper_node
