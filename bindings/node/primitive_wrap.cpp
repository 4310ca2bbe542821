// Native Primitive for Node: call(op, args) -> Promise over redkeeper::Primitive, with the strict
// JS <-> Value conversion (call(op, jsonText, bins) is the fast form lib/primitive.js uses). An op that completes inside the call (memory://) resolves its promise
// right there, no thread hop; one that completes later (Redis, waits, timers) goes through the
// client's AsyncBridge. Which one happens is decided per call, race-free (see CallState).
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "addon_data.hpp"
#include "errors.hpp"
#include "wraps.hpp"

namespace redkeeper_node {

using redkeeper::Value;

namespace {

constexpr int kMaxDepth = 64;  // deeper nesting, cycles included, is rejected, never a stack overflow
constexpr double kMaxSafeInteger = 9007199254740991.0;

struct PathSegment {
  const PathSegment* parent;
  const char* root;   // outermost segment only
  napi_value key;     // object member (a string), or nullptr for an array index
  uint32_t index;
};

class FromJs {
 public:
  explicit FromJs(napi_env env) : env_(env) {}

  Value convert(napi_value v, const PathSegment* at, int depth) {
    napi_valuetype type;
    check(napi_typeof(env_, v, &type));
    switch (type) {
      case napi_undefined:
      case napi_null: return Value();
      case napi_boolean: {
        bool b;
        check(napi_get_value_bool(env_, v, &b));
        return Value(b);
      }
      case napi_number: {
        double d;
        check(napi_get_value_double(env_, v, &d));
        if (!std::isfinite(d)) bad(at, "must be a finite number (NaN and Infinity are not JSON)");
        if (std::trunc(d) == d && std::fabs(d) <= kMaxSafeInteger) return Value(static_cast<int64_t>(d));
        return Value(d);
      }
      case napi_string: return Value(string_of(v));
      case napi_object: return object(v, at, depth);
      case napi_bigint: bad(at, "is a BigInt (not JSON): convert it to a number or a string");
      case napi_symbol: bad(at, "is a Symbol (not JSON)");
      case napi_function: bad(at, "is a function (not JSON)");
      case napi_external: bad(at, "is not a JSON value");
    }
    bad(at, "is not a JSON value");
  }

 private:
  void check(napi_status status) {
    if (status != napi_ok) throw Napi::Error::New(env_);
  }

  std::string string_of(napi_value v) {
    size_t length = 0;
    check(napi_get_value_string_utf8(env_, v, nullptr, 0, &length));
    std::string out(length, '\0');
    check(napi_get_value_string_utf8(env_, v, out.data(), length + 1, &length));
    return out;
  }

  std::string path_text(const PathSegment* seg) {
    if (seg->root != nullptr) return seg->root;
    std::string out = path_text(seg->parent);
    if (seg->key != nullptr) return out + "." + string_of(seg->key);
    return out + "[" + std::to_string(seg->index) + "]";
  }

  [[noreturn]] void bad(const PathSegment* at, const std::string& why) {
    throw redkeeper::invalid_argument(path_text(at), why);
  }

  // A plain object's prototype is null or some realm's Object.prototype (whose own prototype is
  // null). Compared structurally because jest and vm contexts have their own Object.prototype.
  bool is_plain(napi_value v) {
    napi_value proto;
    check(napi_get_prototype(env_, v, &proto));
    if (is_null(proto)) return true;  // Object.create(null)
    napi_value proto_proto;
    check(napi_get_prototype(env_, proto, &proto_proto));
    return is_null(proto_proto);
  }

  bool is_null(napi_value v) {
    napi_valuetype type;
    check(napi_typeof(env_, v, &type));
    return type == napi_null;
  }

  Value object(napi_value v, const PathSegment* at, int depth) {
    bool flag = false;
    check(napi_is_typedarray(env_, v, &flag));
    if (flag) {
      napi_typedarray_type ta_type;
      size_t length;
      void* data;
      check(napi_get_typedarray_info(env_, v, &ta_type, &length, &data, nullptr, nullptr));
      if (ta_type != napi_uint8_array) bad(at, "typed arrays other than Uint8Array/Buffer are not accepted");
      const auto* begin = static_cast<const uint8_t*>(data);
      return Value::binary(Value::binary_t::container_type(begin, begin + length));
    }
    if (depth >= kMaxDepth) bad(at, "nested more than 64 levels deep (or contains itself)");
    check(napi_is_array(env_, v, &flag));
    if (flag) {
      uint32_t length = 0;
      check(napi_get_array_length(env_, v, &length));
      Value out = Value::array();
      auto& items = out.get_ref<Value::array_t&>();
      items.reserve(length);
      for (uint32_t i = 0; i < length; ++i) {
        napi_value item;
        check(napi_get_element(env_, v, i, &item));
        PathSegment here{at, nullptr, nullptr, i};
        items.push_back(convert(item, &here, depth + 1));
      }
      return out;
    }
    check(napi_is_date(env_, v, &flag));
    if (flag) bad(at, "is a Date (not JSON): pass date.getTime() or date.toISOString()");
    check(napi_is_arraybuffer(env_, v, &flag));
    if (flag) bad(at, "is an ArrayBuffer: pass a Buffer or Uint8Array");
    if (!is_plain(v)) bad(at, "is not a plain object (Map, Set, class instances... are not JSON)");
    napi_value names;
    check(napi_get_all_property_names(
        env_, v, napi_key_own_only,
        static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
        napi_key_numbers_to_strings, &names));
    uint32_t count = 0;
    check(napi_get_array_length(env_, names, &count));
    Value out = Value::object();
    auto& members = out.get_ref<Value::object_t&>();
    for (uint32_t i = 0; i < count; ++i) {
      napi_value key, item;
      check(napi_get_element(env_, names, i, &key));
      check(napi_get_property(env_, v, key, &item));
      napi_valuetype item_type;
      check(napi_typeof(env_, item, &item_type));
      if (item_type == napi_undefined) continue;  // like JSON.stringify: the member is absent
      PathSegment here{at, nullptr, key, 0};
      members.emplace(string_of(key), convert(item, &here, depth + 1));
    }
    return out;
  }

  napi_env env_;
};

Napi::Value to_js(Napi::Env env, const Value& v) {
  switch (v.type()) {
    case Value::value_t::null: return env.Null();
    case Value::value_t::boolean: return Napi::Boolean::New(env, v.get<bool>());
    case Value::value_t::number_integer: return Napi::Number::New(env, static_cast<double>(v.get<int64_t>()));
    case Value::value_t::number_unsigned: return Napi::Number::New(env, static_cast<double>(v.get<uint64_t>()));
    case Value::value_t::number_float: return Napi::Number::New(env, v.get<double>());
    case Value::value_t::string: {
      const auto& s = v.get_ref<const Value::string_t&>();
      return Napi::String::New(env, s.data(), s.size());
    }
    case Value::value_t::binary: {
      const auto& b = v.get_binary();
      return Napi::Buffer<uint8_t>::Copy(env, b.data(), b.size());
    }
    case Value::value_t::array: {
      const auto& items = v.get_ref<const Value::array_t&>();
      Napi::Array out = Napi::Array::New(env, items.size());
      uint32_t i = 0;
      for (const Value& item : items) out.Set(i++, to_js(env, item));
      return out;
    }
    case Value::value_t::object: {
      Napi::Object out = Napi::Object::New(env);
      for (const auto& [key, item] : v.get_ref<const Value::object_t&>()) {
        Napi::String name = Napi::String::New(env, key.data(), key.size());
        if (key == "__proto__") {
          // A plain Set would run the __proto__ setter (replace the prototype); JSON.parse, and
          // this, make it an own data member instead.
          out.DefineProperty(Napi::PropertyDescriptor::Value(name, to_js(env, item), napi_default_jsproperty));
        } else {
          out.Set(name, to_js(env, item));
        }
      }
      return out;
    }
    case Value::value_t::discarded: break;
  }
  throw redkeeper::Error(redkeeper::ErrorCode::Internal, "result: not a JSON value");
}

// Nodes of a container result, or -1 when it holds bytes (JSON text cannot carry them).
int64_t json_nodes(const redkeeper::Value& v) {
  if (v.is_binary()) return -1;
  if (!v.is_structured()) return 1;
  int64_t n = 1;
  for (const auto& item : v) {
    const int64_t sub = json_nodes(item);
    if (sub < 0) return -1;
    n += sub;
  }
  return n;
}

// Results: a container of several values is built by V8's JSON.parse from one string (far fewer
// boundary crossings than a Node-API call per member); scalars, tiny containers and anything
// holding bytes are built directly.
Napi::Value result_to_js(Napi::Env env, const redkeeper::Value& v) {
  if (v.is_structured() && v.size() > 1 && json_nodes(v) > 3) {
    const std::string text = v.dump(-1, ' ', false, redkeeper::Value::error_handler_t::replace);
    return addon_data(env).json_parse.Value().Call({Napi::String::New(env, text.data(), text.size())});
  }
  return to_js(env, v);
}

// The handoff between the JS thread (in call()) and whichever thread runs the op's callback: the
// callback stores the result and tries kRunning -> kDone; if that wins, call() resolves the promise
// inline. If call() already moved to kWaiting (after registering with the bridge), the callback
// queues the settlement on the bridge instead.
struct CallState {
  enum : int { kRunning = 0, kWaiting = 1, kDone = 2 };
  std::atomic<int> phase{kRunning};
  std::optional<redkeeper::Result<Value>> result;
  std::shared_ptr<AsyncBridge> bridge;  // set before kWaiting
  uint64_t id = 0;

  static AsyncBridge::Settle settler(redkeeper::Result<Value> r) {
    return [r = std::move(r)](Napi::Env env, Napi::Promise::Deferred& d) { settle(env, d, r); };
  }

  static void settle(Napi::Env env, Napi::Promise::Deferred& d, const redkeeper::Result<Value>& r) {
    if (!r.ok()) {
      d.Reject(to_js_error(env, r.error()).Value());
      return;
    }
    try {
      d.Resolve(result_to_js(env, r.value()));
    } catch (const redkeeper::Error& e) {
      d.Reject(to_js_error(env, e).Value());
    }
  }

  void complete(redkeeper::Result<Value> r) {
    result.emplace(std::move(r));
    int expected = kRunning;
    if (phase.compare_exchange_strong(expected, kDone, std::memory_order_acq_rel)) return;
    bridge->complete(id, settler(std::move(*result)));
  }
};

// The fast path's fix-up (lib/primitive.js asks for it): {"\u0000rk": i} stands for bins[i], and
// integers beyond 2^53 become floats, as the object converter would have made them.
void fix_up(redkeeper::Value& v, const Napi::Array& bins) {
  if (v.is_array()) {
    for (auto& item : v) fix_up(item, bins);
    return;
  }
  if (v.is_number_integer()) {
    const double d = v.is_number_unsigned() ? static_cast<double>(v.get<uint64_t>())
                                            : static_cast<double>(v.get<int64_t>());
    if (std::fabs(d) > kMaxSafeInteger) v = d;
    return;
  }
  if (!v.is_object()) return;
  if (v.size() == 1) {
    auto it = v.find(std::string("\0rk", 3));
    if (it != v.end() && it->is_number_unsigned() && it->get<uint64_t>() < bins.Length()) {
      Napi::Value bin = bins.Get(static_cast<uint32_t>(it->get<uint64_t>()));
      if (!bin.IsTypedArray()) throw redkeeper::Error(redkeeper::ErrorCode::Internal, "args: bad binary slot");
      Napi::Uint8Array bytes = bin.As<Napi::Uint8Array>();
      const uint8_t* begin = bytes.Data();
      v = redkeeper::Value::binary(redkeeper::Value::binary_t::container_type(begin, begin + bytes.ByteLength()));
      return;
    }
  }
  for (auto& item : v) fix_up(item, bins);
}

// An args or config object: the JSON text lib/primitive.js encoded (and validated; see encodeArgs
// there) plus the byte arrays it refers to, or undefined/null for {}. A JS object is converted
// member by member (native callers only; slower).
redkeeper::Value value_from_js(Napi::Env env, const Napi::Value& raw, const Napi::Value& bins, const char* name) {
  if (raw.IsString()) {
    // One buffer per thread for the text, reused: its capacity settles at the largest seen.
    thread_local std::string text;
    size_t length = 0;
    if (napi_get_value_string_utf8(env, raw, nullptr, 0, &length) != napi_ok) throw Napi::Error::New(env);
    text.resize(length);
    if (napi_get_value_string_utf8(env, raw, text.data(), length + 1, &length) != napi_ok) {
      throw Napi::Error::New(env);
    }
    redkeeper::Value out = redkeeper::Value::parse(text, nullptr, false);
    if (!out.is_object()) {
      throw redkeeper::Error(redkeeper::ErrorCode::Internal, std::string(name) + ": encoded text is not a JSON object");
    }
    if (bins.IsArray()) fix_up(out, bins.As<Napi::Array>());
    return out;
  }
  if (raw.IsUndefined() || raw.IsNull()) return redkeeper::Value::object();
  if (!raw.IsObject() || raw.IsArray() || raw.IsBuffer()) throw redkeeper::invalid_argument(name, "must be an object");
  const PathSegment root{nullptr, name, nullptr, 0};
  return FromJs(env).convert(raw, &root, 0);
}

}  // namespace

Napi::Function NativePrimitive::define(Napi::Env env) {
  return DefineClass(env, "NativePrimitive",
                     {InstanceMethod<&NativePrimitive::call>("call"),
                      InstanceMethod<&NativePrimitive::call_string>("callString"),
                      InstanceAccessor<&NativePrimitive::kind>("kind")});
}

NativePrimitive::NativePrimitive(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePrimitive>(info) {}

void NativePrimitive::attach(std::shared_ptr<ClientState> state, std::shared_ptr<redkeeper::Primitive> primitive,
                             std::string kind) {
  state_ = std::move(state);
  primitive_ = std::move(primitive);
  kind_ = std::move(kind);
}

Napi::Value NativePrimitive::kind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kind_);
}

namespace {

// Op names are short: read into the caller's stack buffer (no allocation); longer ones name no op.
std::string_view op_name(Napi::Env env, const Napi::Value& value, char (&buf)[64]) {
  if (!value.IsString()) throw redkeeper::invalid_argument("op", "must be a string");
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, buf, sizeof buf, &len) != napi_ok) throw Napi::Error::New(env);
  if (len >= sizeof buf - 1) throw redkeeper::invalid_argument("op", "is too long to name an op");
  return std::string_view(buf, len);
}

}  // namespace

Napi::Value NativePrimitive::call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    char op_buf[64];
    const std::string_view op = op_name(env, info[0], op_buf);
    return start(env, op, value_from_js(env, info[1], info[2], "args"));
  });
}

// callString(op, field, value[, flag]): the op with args {field: value} (plus {flag: true}), for
// the hot single-string ops (a token, a key, a session id): no JSON text to write and parse.
Napi::Value NativePrimitive::call_string(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    char op_buf[64];
    const std::string_view op = op_name(env, info[0], op_buf);
    if (!info[1].IsString() || !info[2].IsString()) {
      throw redkeeper::Error(redkeeper::ErrorCode::Internal, "callString: field and value must be strings");
    }
    redkeeper::Value args = redkeeper::Value::object();
    args[info[1].As<Napi::String>().Utf8Value()] = info[2].As<Napi::String>().Utf8Value();
    if (info[3].IsString()) args[info[3].As<Napi::String>().Utf8Value()] = true;
    return start(env, op, std::move(args));
  });
}

Napi::Value NativePrimitive::start(Napi::Env env, std::string_view op, redkeeper::Value args) {
  if (!primitive_) throw redkeeper::Error(redkeeper::ErrorCode::Internal, "primitive: not attached");
  if (state_->closed) throw state_->closed_error(env);
  auto state = std::make_shared<CallState>();
  // The closure also holds the primitive: JS may collect this wrapper while the op runs.
  primitive_->call(op, std::move(args), [state, keep = primitive_](redkeeper::Result<redkeeper::Value> r) {
    state->complete(std::move(r));
  });
  if (state->phase.load(std::memory_order_acquire) != CallState::kDone) {
    state->bridge = state_->bridge_for(env);
    auto [id, promise] = state->bridge->begin();
    state->id = id;
    int expected = CallState::kRunning;
    if (state->phase.compare_exchange_strong(expected, CallState::kWaiting, std::memory_order_acq_rel)) {
      return promise;
    }
    // Completed while we registered: queue it like a late completion (rare, keeps one path).
    state->bridge->complete(id, CallState::settler(std::move(*state->result)));
    return promise;
  }
  auto deferred = Napi::Promise::Deferred::New(env);
  CallState::settle(env, deferred, *state->result);
  return deferred.Promise();
}

Napi::Value make_primitive(Napi::Env env, const std::shared_ptr<ClientState>& state, const Napi::Value& kind,
                           const Napi::Value& config, const Napi::Value& bins) {
  if (state->closed) throw state->closed_error(env);
  if (!kind.IsString()) throw redkeeper::invalid_argument("kind", "must be a string");
  redkeeper::Value cfg = value_from_js(env, config, bins, "config");
  std::string kind_text = kind.As<Napi::String>().Utf8Value();
  auto primitive = state->client->primitive(kind_text, cfg);
  Napi::Object obj = addon_data(env).primitive_ctor.New({});
  NativePrimitive::Unwrap(obj)->attach(state, std::move(primitive), std::move(kind_text));
  return obj;
}

}  // namespace redkeeper_node
