// Server-side sessions (kind "sessions"): argument checks, id generation, JSON <-> hash-field
// encoding and result shaping in C++; every op is one Lua script in scripts/ (layout in README.md).
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/factories.hpp"
#include "sessions/session_ids.hpp"

namespace redkeeper {
namespace sessions_lua {
extern const char prelude[];
extern const char save[];
extern const char get[];
extern const char touch[];
extern const char update[];
extern const char destroy[];
extern const char destroy_user[];
extern const char list_user[];
extern const char rotate[];
extern const char count[];
extern const char all[];
extern const char clear[];
}  // namespace sessions_lua

namespace {

using sessions::random_session_id;
using sessions::session_handle;

constexpr int64_t kMaxDurationMs = 10LL * 366 * 24 * 3600 * 1000;  // 10 years
constexpr size_t kMaxIdBytes = 1024;
constexpr size_t kMaxUserBytes = 512;
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxDataKeys = 1000;  // keeps Lua's unpack() far from its stack limit

struct Scripts {
  Script save, get, touch, update, destroy, destroy_user, list_user, rotate, count, all, clear;
};

// The scripts reach the user index named in a session's own record, so KEYS cannot list it ahead
// of time (same hash tag, so one slot; see Script::Keys).
Script with_prelude(const char* body) {
  return Script(std::string(sessions_lua::prelude) + body, Script::UndeclaredKeys);
}

const Scripts& scripts() {
  static const Scripts s{with_prelude(sessions_lua::save),         with_prelude(sessions_lua::get),
                         with_prelude(sessions_lua::touch),        with_prelude(sessions_lua::update),
                         with_prelude(sessions_lua::destroy),      with_prelude(sessions_lua::destroy_user),
                         with_prelude(sessions_lua::list_user),    with_prelude(sessions_lua::rotate),
                         with_prelude(sessions_lua::count),        with_prelude(sessions_lua::all),
                         with_prelude(sessions_lua::clear)};
  return s;
}

struct SessionsConfig {
  std::string name = "default";
  int64_t idle_timeout_ms = 24LL * 3600 * 1000;  // connect-redis's default TTL (one day)
  int64_t absolute_timeout_ms = 0;               // 0 = none
  bool touch_on_get = true;
  size_t max_bytes = 1 << 20;                    // encoded data per session
};

// Argument access: absent and null are the same (optional args).
const Value* find(const Value& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const Value& args, const char* name, size_t max_bytes) {
  const Value* v = find(args, name);
  if (!v) throw invalid_argument(name, "is required");
  if (!v->is_string()) throw invalid_argument(name, "must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.empty()) throw invalid_argument(name, "must not be empty");
  if (s.size() > max_bytes) throw invalid_argument(name, "longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

std::optional<std::string> opt_string(const Value& args, const char* name, size_t max_bytes) {
  if (!find(args, name)) return std::nullopt;
  return get_string(args, name, max_bytes);
}

// User ids: strings or integers (42 and "42" name the same user from every language).
std::optional<std::string> opt_user(const Value& args, const char* name) {
  const Value* v = find(args, name);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->dump();
  return get_string(args, name, kMaxUserBytes);
}

std::string get_user(const Value& args, const char* name) {
  auto u = opt_user(args, name);
  if (!u) throw invalid_argument(name, "is required");
  return *u;
}

// Durations in ms: a positive finite number (fractions round up), at most 10 years.
int64_t to_ms(const Value& v, const char* name, bool allow_zero) {
  if (!v.is_number() || v.is_boolean()) throw invalid_argument(name, "must be a number of milliseconds");
  double d = v.get<double>();
  if (!std::isfinite(d)) throw invalid_argument(name, "must be finite");
  if (d < 0 || (!allow_zero && d <= 0)) throw invalid_argument(name, allow_zero ? "must be >= 0" : "must be > 0");
  if (d > static_cast<double>(kMaxDurationMs)) throw invalid_argument(name, "longer than 10 years");
  return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(std::ceil(d));
}

std::optional<int64_t> opt_ms(const Value& args, const char* name) {
  const Value* v = find(args, name);
  if (!v) return std::nullopt;
  return to_ms(*v, name, false);
}

std::optional<bool> opt_bool(const Value& args, const char* name) {
  const Value* v = find(args, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw invalid_argument(name, "must be a boolean");
  return v->get<bool>();
}

std::string dump(const Value& v, const char* param) {
  try {
    return v.dump();
  } catch (const Value::exception& e) {
    throw invalid_argument(param, std::string("not encodable as JSON: ") + e.what());
  }
}

SessionsConfig parse_config(const Value& cfg) {
  SessionsConfig c;
  for (const auto& [key, v] : cfg.items()) {
    if (v.is_null()) continue;
    if (key == "name") {
      c.name = get_string(cfg, "name", 128);
      if (c.name.find_first_of("{}") != std::string::npos) throw invalid_argument("name", "must not contain '{' or '}'");
    } else if (key == "idle_timeout_ms") {
      c.idle_timeout_ms = to_ms(v, "idle_timeout_ms", false);
    } else if (key == "absolute_timeout_ms") {
      c.absolute_timeout_ms = to_ms(v, "absolute_timeout_ms", true);
    } else if (key == "touch_on_get") {
      c.touch_on_get = *opt_bool(cfg, "touch_on_get");
    } else if (key == "max_bytes") {
      if (!v.is_number_integer() || v.get<int64_t>() < 64 || v.get<int64_t>() > (512LL << 20)) {
        throw invalid_argument("max_bytes", "must be an integer in [64, 512 MiB]");
      }
      c.max_bytes = v.get<size_t>();
    } else {
      throw invalid_argument(key, "unknown sessions option");
    }
  }
  return c;
}

int64_t reply_int(const Reply& r) {
  if (r.is_integer()) return r.as_integer();
  auto s = r.as_string();
  try {
    return std::stoll(std::string(s));
  } catch (const std::exception&) {
    throw Error(ErrorCode::Protocol, "sessions: expected a number, got '" + std::string(s.substr(0, 32)) + "'");
  }
}

Value parse_json(std::string_view text) {
  try {
    return Value::parse(text);
  } catch (const Value::exception&) {
    throw Error(ErrorCode::Protocol, "sessions: a stored field is not JSON");
  }
}

// A session's HGETALL (flat field/value list) -> {data, meta}.
struct Decoded {
  Value data = Value::object();
  Value meta = Value::object();
};

Decoded decode_fields(const Reply& flat, const std::string& handle) {
  Decoded d;
  d.meta = {{"handle", handle}, {"user_id", nullptr}, {"device", nullptr}, {"absolute_deadline", nullptr}};
  const auto& items = flat.as_array();
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    auto field = items[i].as_string();
    auto value = items[i + 1].as_string();
    if (field.size() >= 2 && field[1] == ':') {
      auto name = field.substr(2);
      if (field[0] == 'd') {
        d.data[std::string(name)] = parse_json(value);
      } else if (field[0] == 'm') {
        if (name == "c") d.meta["created"] = reply_int(items[i + 1]);
        else if (name == "s") d.meta["last_seen"] = reply_int(items[i + 1]);
        else if (name == "e") d.meta["expires"] = reply_int(items[i + 1]);
        else if (name == "i") d.meta["idle_timeout_ms"] = reply_int(items[i + 1]);
        else if (name == "d") {
          int64_t deadline = reply_int(items[i + 1]);
          if (deadline > 0) d.meta["absolute_deadline"] = deadline;
        } else if (name == "u") d.meta["user_id"] = std::string(value);
        else if (name == "v") d.meta["device"] = parse_json(value);
      }
    }
  }
  return d;
}

// The data fields of a session's HGETALL as one JSON object text, without parsing: every stored
// value is already JSON text (written by encode_data), so the host language's own JSON parser
// (V8's JSON.parse, Python's json) builds the object, far cheaper than a Value tree converted
// field by field across the binding.
Value data_json_text(const Reply& flat) {
  const auto& items = flat.as_array();
  std::string out = "{";
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    auto field = items[i].as_string();
    if (field.size() < 2 || field[0] != 'd' || field[1] != ':') continue;
    if (out.size() > 1) out += ',';
    out += Value(std::string(field.substr(2))).dump();
    out += ':';
    out += items[i + 1].as_string();
  }
  out += '}';
  return out;
}

// Data object -> 'd:<key>' field/value pairs appended to args.
void encode_data(const Value& data, const char* param, size_t max_bytes, std::vector<std::string>& args,
                 bool nulls_delete, std::vector<std::string>* deletes) {
  if (!data.is_object()) throw invalid_argument(param, "must be an object (dict)");
  if (data.size() > kMaxDataKeys) throw invalid_argument(param, "more than " + std::to_string(kMaxDataKeys) + " keys");
  size_t total = 0;
  for (const auto& [key, v] : data.items()) {
    if (key.size() > kMaxKeyBytes) throw invalid_argument(param, "a key is longer than 1024 bytes");
    if (nulls_delete && v.is_null()) {
      deletes->push_back("d:" + key);
      continue;
    }
    std::string text = dump(v, param);
    total += key.size() + text.size();
    if (total > max_bytes) throw invalid_argument(param, "larger than max_bytes (" + std::to_string(max_bytes) + ")");
    args.push_back("d:" + key);
    args.push_back(std::move(text));
  }
}

using Shaper = std::function<Value(const Reply&)>;

class Sessions final : public Primitive {
 public:
  Sessions(std::shared_ptr<Backend> backend, SessionsConfig config)
      : backend_(std::move(backend)), config_(std::move(config)) {
    base_ = backend_->prefix() + ":sessions:{" + config_.name + "}:";
    all_key_ = base_ + "all";
  }

  void call(std::string_view op, Value args, Callback<Value> done) override {
    const Script* script = nullptr;
    std::vector<std::string> keys, argv;
    Shaper shape;
    try {
      if (args.is_null()) args = Value::object();
      if (!args.is_object()) throw invalid_argument("args", "must be an object");
      keys.push_back(all_key_);
      argv.push_back(base_);
      plan(op, args, script, keys, argv, shape);
    } catch (const Error& e) {
      done(e);
      return;
    } catch (const std::exception& e) {
      done(Error(ErrorCode::Internal, std::string("sessions: ") + e.what()));
      return;
    }
    std::vector<std::string_view> kv(keys.begin(), keys.end()), av(argv.begin(), argv.end());
    auto on_reply = [shape = std::move(shape), done = std::move(done)](Result<Reply> r) {
      if (!r.ok()) {
        done(r.error());
        return;
      }
      std::optional<Result<Value>> out;
      try {
        out.emplace(Value(shape(r.value())));
      } catch (const Error& e) {
        out.emplace(e);
      } catch (const std::exception& e) {
        out.emplace(Error(ErrorCode::Protocol, std::string("sessions: unexpected reply: ") + e.what()));
      }
      done(std::move(*out));
    };
    // script == nullptr: a read served by one plain command; argv holds it (keys unused).
    if (script == nullptr) {
      std::vector<std::string_view> cmd(argv.begin() + 1, argv.end());
      backend_->command(cmd, std::move(on_reply));
    } else {
      backend_->eval(*script, kv, av, std::move(on_reply));
    }
  }

 private:
  std::string session_key(const std::string& handle) const { return base_ + "s:" + handle; }

  void plan(std::string_view op, const Value& args, const Script*& script, std::vector<std::string>& keys,
            std::vector<std::string>& argv, Shaper& shape) {
    const Scripts& s = scripts();
    if (op == "create" || op == "set") {
      bool create = op == "create";
      std::string id = create ? random_session_id() : get_string(args, "id", kMaxIdBytes);
      std::string handle = session_handle(id);
      const Value* data = find(args, "data");
      Value empty = Value::object();
      auto user = opt_user(args, "user_id");
      const Value* device = find(args, "device");
      int64_t idle = opt_ms(args, "ttl_ms").value_or(config_.idle_timeout_ms);
      script = &s.save;
      keys.push_back(session_key(handle));
      argv.insert(argv.end(), {std::string(op), handle, user.value_or(""), device ? dump(*device, "device") : "",
                               std::to_string(idle), std::to_string(config_.absolute_timeout_ms)});
      encode_data(data ? *data : empty, "data", config_.max_bytes, argv, false, nullptr);
      shape = [id, create](const Reply& r) -> Value {
        if (r.is_integer()) {
          if (r.as_integer() == -1) throw Error(ErrorCode::Internal, "sessions: generated id already in use");
          if (create) throw Error(ErrorCode::Internal, "sessions: new session expired at once");
          return false;
        }
        return create ? Value(id) : Value(true);
      };
    } else if (op == "get" || op == "info") {
      std::string handle = session_handle(get_string(args, "id", kMaxIdBytes));
      bool info = op == "info";
      bool touch = !info && opt_bool(args, "touch").value_or(config_.touch_on_get);
      bool with_meta = !info && opt_bool(args, "with_meta").value_or(false);
      bool as_json = !info && !with_meta && opt_bool(args, "as_json").value_or(false);
      if (!touch) {
        // Nothing to write: one HGETALL. The host's key expiry (PEXPIREAT = m:e) hides an expired
        // session; the script path adds only the exact-millisecond check.
        script = nullptr;
        argv.insert(argv.end(), {"HGETALL", session_key(handle)});
      } else {
        script = &s.get;
        keys.push_back(session_key(handle));
        argv.insert(argv.end(), {handle, "1"});
      }
      shape = [handle, info, with_meta, as_json](const Reply& r) -> Value {
        if (r.is_nil() || (r.is_array() && r.size() == 0)) return nullptr;
        if (as_json) return data_json_text(r);
        Decoded d = decode_fields(r, handle);
        if (info) return std::move(d.meta);
        if (with_meta) return Value{{"data", std::move(d.data)}, {"meta", std::move(d.meta)}};
        return std::move(d.data);
      };
    } else if (op == "update") {
      std::string handle = session_handle(get_string(args, "id", kMaxIdBytes));
      const Value* patch = find(args, "patch");
      if (!patch) throw invalid_argument("patch", "is required");
      bool touch = opt_bool(args, "touch").value_or(config_.touch_on_get);
      std::vector<std::string> sets, deletes;
      encode_data(*patch, "patch", config_.max_bytes, sets, true, &deletes);
      script = &s.update;
      keys.push_back(session_key(handle));
      argv.insert(argv.end(), {handle, touch ? "1" : "0", std::to_string(deletes.size())});
      argv.insert(argv.end(), deletes.begin(), deletes.end());
      argv.insert(argv.end(), sets.begin(), sets.end());
      shape = [](const Reply& r) -> Value { return reply_int(r) == 1; };
    } else if (op == "touch") {
      std::string handle = session_handle(get_string(args, "id", kMaxIdBytes));
      auto ttl = opt_ms(args, "ttl_ms");
      script = &s.touch;
      keys.push_back(session_key(handle));
      argv.insert(argv.end(), {handle, ttl ? std::to_string(*ttl) : ""});
      shape = [](const Reply& r) -> Value { return reply_int(r) > 0; };
    } else if (op == "destroy" || op == "destroy_handle") {
      std::string handle, user;
      if (op == "destroy") {
        handle = session_handle(get_string(args, "id", kMaxIdBytes));
      } else {
        handle = get_string(args, "handle", 64);
        user = get_user(args, "user_id");
      }
      script = &s.destroy;
      keys.push_back(session_key(handle));
      argv.insert(argv.end(), {handle, user});
      shape = [](const Reply& r) -> Value { return reply_int(r) == 1; };
    } else if (op == "destroy_user") {
      std::string user = get_user(args, "user_id");
      auto except = opt_string(args, "except_id", kMaxIdBytes);
      script = &s.destroy_user;
      keys.push_back(base_ + "u:" + user);
      argv.push_back(except ? session_handle(*except) : "");
      shape = [](const Reply& r) -> Value { return reply_int(r); };
    } else if (op == "list_user") {
      std::string user = get_user(args, "user_id");
      auto current = opt_string(args, "current_id", kMaxIdBytes);
      std::string current_handle = current ? session_handle(*current) : "";
      script = &s.list_user;
      keys.push_back(base_ + "u:" + user);
      shape = [current_handle](const Reply& r) -> Value {
        Value out = Value::array();
        for (const auto& e : r.as_array()) {
          std::string handle(e.at(0).as_string());
          auto device = e.at(3).as_string();
          out.push_back({{"handle", handle},
                         {"created", reply_int(e.at(1))},
                         {"last_seen", reply_int(e.at(2))},
                         {"device", device.empty() ? Value(nullptr) : parse_json(device)},
                         {"expires", reply_int(e.at(4))},
                         {"current", !current_handle.empty() && handle == current_handle}});
        }
        return out;
      };
    } else if (op == "rotate") {
      std::string handle = session_handle(get_string(args, "id", kMaxIdBytes));
      std::string new_id = random_session_id();
      std::string new_handle = session_handle(new_id);
      script = &s.rotate;
      keys.push_back(session_key(handle));
      keys.push_back(session_key(new_handle));
      argv.insert(argv.end(), {handle, new_handle});
      shape = [new_id](const Reply& r) -> Value {
        int64_t v = reply_int(r);
        if (v == -1) throw Error(ErrorCode::Internal, "sessions: generated id already in use");
        return v > 0 ? Value(new_id) : Value(nullptr);
      };
    } else if (op == "count") {
      script = &s.count;
      shape = [](const Reply& r) -> Value { return reply_int(r); };
    } else if (op == "ids" || op == "all") {
      bool with_data = op == "all";
      script = &s.all;
      argv.push_back(with_data ? "1" : "0");
      shape = [with_data](const Reply& r) -> Value {
        Value out = Value::array();
        for (const auto& e : r.as_array()) {
          if (!with_data) {
            out.push_back(std::string(e.as_string()));
            continue;
          }
          std::string handle(e.at(0).as_string());
          Decoded d = decode_fields(e.at(1), handle);
          out.push_back({{"handle", handle}, {"data", std::move(d.data)}, {"meta", std::move(d.meta)}});
        }
        return out;
      };
    } else if (op == "clear") {
      script = &s.clear;
      shape = [](const Reply& r) -> Value { return reply_int(r); };
    } else {
      throw invalid_argument("op", "unknown sessions op '" + std::string(op.substr(0, 64)) + "'");
    }
  }

  std::shared_ptr<Backend> backend_;
  SessionsConfig config_;
  std::string base_;
  std::string all_key_;
};

}  // namespace

std::shared_ptr<Primitive> make_sessions(std::shared_ptr<Backend> backend, const Value& config) {
  if (!config.is_object()) throw invalid_argument("options", "must be an object");
  return std::make_shared<Sessions>(std::move(backend), parse_config(config));
}

}  // namespace redkeeper
