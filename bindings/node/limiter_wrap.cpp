// Native Limiter: hit/peek/reset/refund/block. memory:// ops complete inside the call and write
// their result into the shared slots (no JS object built here); Redis ops settle via AsyncBridge.
#include <optional>

#include "addon_data.hpp"
#include "errors.hpp"
#include "utf8_key.hpp"
#include "wraps.hpp"

namespace redkeeper_node {

namespace {

// A key as bytes, without a heap allocation for the common case. A string past Utf8Key's buffer
// is read whole (it is over the 1 KiB limit in UTF-8 too), so validate_key reports its real length.
class KeyArg {
 public:
  KeyArg(Napi::Env env, const Napi::Value& value) {
    if (value.IsString()) {
      switch (utf8_.read(env, value)) {
        case Utf8Key::Status::Ok:
          view_ = utf8_.view();
          break;
        case Utf8Key::Status::LoneSurrogate:
          throw redkeeper::invalid_argument("key", kLoneSurrogate);
        case Utf8Key::Status::TooLong:
          long_ = value.As<Napi::String>().Utf8Value();
          view_ = long_;
          break;
        case Utf8Key::Status::NotAString:
          throw redkeeper::invalid_argument("key", "could not be read");
      }
    } else if (value.IsTypedArray() || value.IsBuffer()) {
      Napi::TypedArray array = value.As<Napi::TypedArray>();
      Napi::ArrayBuffer buffer = array.ArrayBuffer();
      view_ = std::string_view(static_cast<const char*>(buffer.Data()) + array.ByteOffset(),
                               array.ByteLength());
    } else {
      throw redkeeper::invalid_argument("key", "must be a string or a Buffer");
    }
    redkeeper::validate_key(view_, "key");
  }
  std::string_view view() const { return view_; }

 private:
  Utf8Key utf8_;
  std::string long_;  // only a key too long for utf8_, on its way to validate_key's refusal
  std::string_view view_;
};

int64_t int_arg(const Napi::Value& value) { return value.As<Napi::Number>().Int64Value(); }

void write_slots(Napi::Env env, const redkeeper::LimitResult& r) {
  double* s = addon_data(env).result_slots;
  s[kAllowed] = r.allowed ? 1 : 0;
  s[kLimit] = static_cast<double>(r.limit);
  s[kRemaining] = static_cast<double>(r.remaining);
  s[kResetAfterMs] = static_cast<double>(r.reset_after_ms);
  s[kRetryAfterMs] = static_cast<double>(r.retry_after_ms);
  s[kDegraded] = r.degraded ? 1 : 0;
}

// What the fast hit function holds: it owns its share of the limiter, whatever the GC does.
struct FastHitData {
  std::shared_ptr<ClientState> state;
  std::shared_ptr<redkeeper::Limiter> limiter;
  double* slots = nullptr;
};

// Raw Node-API callback, without node-addon-api's CallbackInfo and ObjectWrap unwrap: this is the
// per-request path of every Express app on memory://. Anything unusual (non-string key, error,
// closed client, Redis backend) answers null and the JS layer retries through the general path,
// which reports errors properly; a failed validation consumed nothing, so the retry is harmless.
napi_value fast_hit_callback(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void* raw = nullptr;
  napi_value fallback = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &raw) != napi_ok || argc < 1) {
    napi_get_null(env, &fallback);
    return fallback;
  }
  auto* data = static_cast<FastHitData*>(raw);
  Utf8Key key;
  // fastHit(key) is a hit of cost 1 (what hit(key) means), without reading a number.
  int64_t cost = 1;
  redkeeper::LimitResult result;
  bool answered = false;
  if (!data->state->closed && key.read(env, argv[0]) == Utf8Key::Status::Ok &&
      (argc < 2 || napi_get_value_int64(env, argv[1], &cost) == napi_ok)) {
    try {
      answered = data->limiter->hit_inline(key.view(), cost, result);
    } catch (...) {
      answered = false;
    }
  }
  if (!answered) {
    napi_get_null(env, &fallback);
    return fallback;
  }
  double* s = data->slots;
  s[kAllowed] = result.allowed ? 1 : 0;
  s[kLimit] = static_cast<double>(result.limit);
  s[kRemaining] = static_cast<double>(result.remaining);
  s[kResetAfterMs] = static_cast<double>(result.reset_after_ms);
  s[kRetryAfterMs] = static_cast<double>(result.retry_after_ms);
  s[kDegraded] = result.degraded ? 1 : 0;
  return nullptr;
}

}  // namespace

Napi::Value result_array(Napi::Env env, const redkeeper::LimitResult& r) {
  Napi::Array a = Napi::Array::New(env, kSlotCount);
  a.Set(uint32_t{kAllowed}, Napi::Number::New(env, r.allowed ? 1 : 0));
  a.Set(uint32_t{kLimit}, Napi::Number::New(env, static_cast<double>(r.limit)));
  a.Set(uint32_t{kRemaining}, Napi::Number::New(env, static_cast<double>(r.remaining)));
  a.Set(uint32_t{kResetAfterMs}, Napi::Number::New(env, static_cast<double>(r.reset_after_ms)));
  a.Set(uint32_t{kRetryAfterMs}, Napi::Number::New(env, static_cast<double>(r.retry_after_ms)));
  a.Set(uint32_t{kDegraded}, Napi::Number::New(env, r.degraded ? 1 : 0));
  return a;
}

Napi::Value NativeLimiter::fast_hit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    checked();
    auto data = std::make_unique<FastHitData>();
    data->state = state_;
    data->limiter = limiter_;
    data->slots = addon_data(env).result_slots;
    napi_value fn = nullptr;
    NAPI_THROW_IF_FAILED(env, napi_create_function(env, "fastHit", NAPI_AUTO_LENGTH, fast_hit_callback,
                                                   data.get(), &fn),
                         Napi::Value());
    // The function owns `data` from here on: Node deletes it when the function is collected.
    NAPI_THROW_IF_FAILED(env, napi_add_finalizer(env, fn, data.get(),
                                                 [](napi_env, void* p, void*) {
                                                   std::unique_ptr<FastHitData> owned(
                                                       static_cast<FastHitData*>(p));
                                                 },
                                                 nullptr, nullptr),
                         Napi::Value());
    data.release();
    return Napi::Value(env, fn);
  });
}

Napi::Function NativeLimiter::define(Napi::Env env) {
  return DefineClass(env, "NativeLimiter",
                     {InstanceMethod<&NativeLimiter::hit>("hit"),
                      InstanceMethod<&NativeLimiter::peek>("peek"),
                      InstanceMethod<&NativeLimiter::reset>("reset"),
                      InstanceMethod<&NativeLimiter::refund>("refund"),
                      InstanceMethod<&NativeLimiter::block>("block"),
                      InstanceMethod<&NativeLimiter::headers>("headers"),
                      InstanceMethod<&NativeLimiter::config>("config"),
                      InstanceMethod<&NativeLimiter::fast_hit>("fastHit")});
}

NativeLimiter::NativeLimiter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLimiter>(info) {}

void NativeLimiter::attach(std::shared_ptr<ClientState> state,
                           std::shared_ptr<redkeeper::Limiter> limiter) {
  state_ = std::move(state);
  limiter_ = std::move(limiter);
}

const redkeeper::Limiter& NativeLimiter::checked() const {
  if (!limiter_) throw redkeeper::Error(redkeeper::ErrorCode::Internal, "limiter: not attached");
  return *limiter_;
}

template <class Start>
Napi::Value NativeLimiter::run_limit_op(Napi::Env env, Start&& start) {
  checked();
  if (state_->closed) throw state_->closed_error(env);
  if (state_->inline_ops) {
    // completes_inline() promises the callback has run when start() returns, so the stack slot
    // it writes to is still alive.
    std::optional<redkeeper::Result<redkeeper::LimitResult>> out;
    start([&out](redkeeper::Result<redkeeper::LimitResult> r) { out.emplace(std::move(r)); });
    if (!out) throw redkeeper::Error(redkeeper::ErrorCode::Internal, "op did not complete inline");
    if (!out->ok()) throw out->error();
    write_slots(env, out->value());
    return env.Undefined();
  }
  auto bridge = state_->bridge_for(env);
  return start_async<redkeeper::LimitResult>(
      bridge, [&](auto done) { start(std::move(done)); },
      [](Napi::Env e, const redkeeper::LimitResult& r) { return result_array(e, r); });
}

Napi::Value NativeLimiter::hit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    KeyArg key(env, info[0]);
    int64_t cost = int_arg(info[1]);
    // The memory backend answers a hit without a std::function: the hottest path in the package.
    if (state_ && state_->inline_ops && !state_->closed && limiter_) {
      redkeeper::LimitResult result;
      if (limiter_->hit_inline(key.view(), cost, result)) {
        write_slots(env, result);
        return env.Undefined();
      }
    }
    return run_limit_op(env, [&](redkeeper::Callback<redkeeper::LimitResult> done) {
      limiter_->hit(key.view(), cost, std::move(done));
    });
  });
}

Napi::Value NativeLimiter::peek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    KeyArg key(env, info[0]);
    return run_limit_op(env, [&](redkeeper::Callback<redkeeper::LimitResult> done) {
      limiter_->peek(key.view(), std::move(done));
    });
  });
}

Napi::Value NativeLimiter::refund(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    KeyArg key(env, info[0]);
    int64_t amount = int_arg(info[1]);
    return run_limit_op(env, [&](redkeeper::Callback<redkeeper::LimitResult> done) {
      limiter_->refund(key.view(), amount, std::move(done));
    });
  });
}

Napi::Value NativeLimiter::block(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    KeyArg key(env, info[0]);
    int64_t duration_ms = int_arg(info[1]);
    return run_limit_op(env, [&](redkeeper::Callback<redkeeper::LimitResult> done) {
      limiter_->block(key.view(), duration_ms, std::move(done));
    });
  });
}

Napi::Value NativeLimiter::reset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    KeyArg key(env, info[0]);
    checked();
    if (state_->closed) throw state_->closed_error(env);
    if (state_->inline_ops) {
      std::optional<redkeeper::Result<redkeeper::Unit>> out;
      limiter_->reset(key.view(), [&out](redkeeper::Result<redkeeper::Unit> r) { out.emplace(std::move(r)); });
      if (!out) throw redkeeper::Error(redkeeper::ErrorCode::Internal, "op did not complete inline");
      if (!out->ok()) throw out->error();
      return env.Undefined();
    }
    auto bridge = state_->bridge_for(env);
    return start_async<redkeeper::Unit>(
        bridge, [&](auto done) { limiter_->reset(key.view(), std::move(done)); },
        [](Napi::Env e, const redkeeper::Unit&) { return e.Undefined(); });
  });
}

Napi::Value NativeLimiter::headers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const redkeeper::Limiter& limiter = checked();
    redkeeper::HeaderOptions options = header_options_from_js(env, info[1], info[2], info[3]);
    // Legacy X-RateLimit-Reset is an instant: with an injected clock it must come from that clock.
    if (options.now_ms == 0 && state_->clock) options.now_ms = state_->clock->now_ms();
    return headers_to_js(env, limit_result_from_js(info[0].As<Napi::Object>()), limiter.config(),
                         options);
  });
}

Napi::Value NativeLimiter::config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const redkeeper::LimiterConfig& c = checked().config();
    Napi::Object out = Napi::Object::New(env);
    out.Set("name", c.name);
    out.Set("algorithm", redkeeper::algorithm_name(c.algorithm));
    out.Set("limit", static_cast<double>(c.limit));
    out.Set("windowMs", static_cast<double>(c.window_ms));
    out.Set("blockDurationMs", static_cast<double>(c.block_duration_ms));
    out.Set("onError", c.on_error == redkeeper::FailurePolicy::Raise ? "raise" : "open");
    return out;
  });
}

redkeeper::LimitResult limit_result_from_js(const Napi::Object& obj) {
  auto num = [&](const char* name) -> int64_t {
    Napi::Value v = obj.Get(name);
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
  };
  redkeeper::LimitResult r;
  r.allowed = obj.Get("allowed").ToBoolean().Value();
  r.limit = num("limit");
  r.remaining = num("remaining");
  r.reset_after_ms = num("resetAfterMs");
  r.retry_after_ms = num("retryAfterMs");
  r.degraded = obj.Get("degraded").ToBoolean().Value();
  return r;
}

redkeeper::HeaderOptions header_options_from_js(Napi::Env, const Napi::Value& standard,
                                                const Napi::Value& legacy, const Napi::Value& now_ms) {
  redkeeper::HeaderOptions options;
  if (standard.IsString()) {
    options.standard = redkeeper::parse_header_standard(standard.As<Napi::String>().Utf8Value());
  } else if (standard.IsBoolean() && !standard.As<Napi::Boolean>().Value()) {
    options.standard = redkeeper::HeaderStandard::None;
  }
  if (legacy.IsBoolean()) options.legacy = legacy.As<Napi::Boolean>().Value();
  if (now_ms.IsNumber()) options.now_ms = now_ms.As<Napi::Number>().Int64Value();
  return options;
}

Napi::Object headers_to_js(Napi::Env env, const redkeeper::LimitResult& result,
                           const redkeeper::LimiterConfig& policy,
                           const redkeeper::HeaderOptions& options) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [name, value] : redkeeper::render_headers(result, policy, options)) {
    out.Set(name, value);
  }
  return out;
}

}  // namespace redkeeper_node
