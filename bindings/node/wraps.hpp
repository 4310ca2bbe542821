// The JS-visible native classes (ManualClock, Client, Limiter) and the state a client shares with
// the limiters it made. node/lib/*.js wraps these in the public API; users never see them directly.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "bridge.hpp"
#include "redkeeper/client.hpp"
#include "redkeeper/clock.hpp"
#include "redkeeper/limiter.hpp"
#include "redkeeper/primitive.hpp"

namespace redkeeper_node {

class NativeClock : public Napi::ObjectWrap<NativeClock> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NativeClock(const Napi::CallbackInfo& info);
  const std::shared_ptr<redkeeper::ManualClock>& clock() const { return clock_; }

 private:
  Napi::Value advance(const Napi::CallbackInfo& info);
  Napi::Value set(const Napi::CallbackInfo& info);
  Napi::Value now_ms(const Napi::CallbackInfo& info);
  std::shared_ptr<redkeeper::ManualClock> clock_;
};

// Owned jointly by the JS client object and every limiter it made, so a limiter stays usable (and
// reports Closed properly) whichever object the GC collects first.
struct ClientState {
  ~ClientState();
  std::shared_ptr<AsyncBridge> bridge_for(Napi::Env env);  // created on the first non-inline op
  void close();
  Napi::Error closed_error(Napi::Env env) const;

  std::shared_ptr<redkeeper::Client> client;
  std::shared_ptr<redkeeper::Clock> clock;  // the injected clock, if any (header timestamps)
  bool inline_ops = false;
  bool closed = false;
  std::shared_ptr<AsyncBridge> bridge;
};

class NativeClient : public Napi::ObjectWrap<NativeClient> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NativeClient(const Napi::CallbackInfo& info);

 private:
  Napi::Value limiter(const Napi::CallbackInfo& info);
  Napi::Value ping(const Napi::CallbackInfo& info);
  Napi::Value health(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value closed(const Napi::CallbackInfo& info);
  Napi::Value completes_inline(const Napi::CallbackInfo& info);
  Napi::Value hit_many(const Napi::CallbackInfo& info);
  Napi::Value primitive(const Napi::CallbackInfo& info);
  std::shared_ptr<ClientState> state_;
};

// A script-based primitive (primitive_wrap.cpp): call(op, args) -> Promise of the JSON result.
class NativePrimitive : public Napi::ObjectWrap<NativePrimitive> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NativePrimitive(const Napi::CallbackInfo& info);
  void attach(std::shared_ptr<ClientState> state, std::shared_ptr<redkeeper::Primitive> primitive,
              std::string kind);

 private:
  Napi::Value call(const Napi::CallbackInfo& info);
  Napi::Value call_string(const Napi::CallbackInfo& info);
  Napi::Value kind(const Napi::CallbackInfo& info);
  // Starts op `op` with `args`; the promise of its result (settled at once when it completed inline).
  Napi::Value start(Napi::Env env, std::string_view op, redkeeper::Value args);

  std::shared_ptr<ClientState> state_;
  std::shared_ptr<redkeeper::Primitive> primitive_;
  std::string kind_;
};

class NativeLimiter : public Napi::ObjectWrap<NativeLimiter> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NativeLimiter(const Napi::CallbackInfo& info);
  void attach(std::shared_ptr<ClientState> state, std::shared_ptr<redkeeper::Limiter> limiter);
  const std::shared_ptr<redkeeper::Limiter>& core() const { return limiter_; }

 private:
  // Each returns undefined when the op completed inline (result in the shared slots), else a
  // Promise of [allowed, limit, remaining, resetAfterMs, retryAfterMs, degraded]. Throws on errors
  // known before the op starts.
  Napi::Value hit(const Napi::CallbackInfo& info);
  Napi::Value peek(const Napi::CallbackInfo& info);
  Napi::Value refund(const Napi::CallbackInfo& info);
  Napi::Value block(const Napi::CallbackInfo& info);
  // undefined when done inline, else a Promise<undefined>.
  Napi::Value reset(const Napi::CallbackInfo& info);
  Napi::Value headers(const Napi::CallbackInfo& info);
  Napi::Value config(const Napi::CallbackInfo& info);
  // A plain function bound to this limiter: fastHit(key: string, cost) -> undefined when answered
  // inline (result in the shared slots), null when the caller must take the general hit() path.
  Napi::Value fast_hit(const Napi::CallbackInfo& info);

  template <class Start>
  Napi::Value run_limit_op(Napi::Env env, Start&& start);
  const redkeeper::Limiter& checked() const;

  std::shared_ptr<ClientState> state_;
  std::shared_ptr<redkeeper::Limiter> limiter_;
};

}  // namespace redkeeper_node

namespace redkeeper_node {

// limiter_wrap.cpp: [allowed, limit, remaining, resetAfterMs, retryAfterMs, degraded] (0/1 flags),
// what a Promise resolves with for ops that did not complete inline.
Napi::Value result_array(Napi::Env env, const redkeeper::LimitResult& r);

// multi_wrap.cpp: Client#hitMany([[limiter, key, cost], ...]) -> [allowed, [result arrays], deciding]
// (inline on memory://, else a Promise of it), and the module's clientIp / ipKey.
Napi::Value hit_many(Napi::Env env, const std::shared_ptr<ClientState>& state, const Napi::Value& checks);
void register_http(Napi::Env env, Napi::Object exports);

// primitive_wrap.cpp: Client#primitive(kind, config) -> NativePrimitive (throws on bad kind/config).
Napi::Value make_primitive(Napi::Env env, const std::shared_ptr<ClientState>& state, const Napi::Value& kind,
                           const Napi::Value& config, const Napi::Value& bins);

// Shared by Limiter#headers and the module-level renderHeaders (which the header vectors use).
redkeeper::LimitResult limit_result_from_js(const Napi::Object& obj);
redkeeper::HeaderOptions header_options_from_js(Napi::Env env, const Napi::Value& standard,
                                                const Napi::Value& legacy, const Napi::Value& now_ms);
Napi::Object headers_to_js(Napi::Env env, const redkeeper::LimitResult& result,
                           const redkeeper::LimiterConfig& policy,
                           const redkeeper::HeaderOptions& options);

}  // namespace redkeeper_node
