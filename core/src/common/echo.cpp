// The "debug_echo" primitive: a diagnostics kind with no store semantics of its own. The bindings'
// tests drive it (JSON round trips, inline vs later completion, error mapping, close with ops
// pending) before any real primitive exists, and support can use its `eval` op to run a script on a
// live backend. Not part of the public API: Client::primitive("debug_echo", {}) is the only door.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/args.hpp"
#include "common/factories.hpp"

namespace redkeeper {
namespace {

// Settles `done` exactly once. A timer the backend cancels at close() destroys its closure without
// running it: the last owner's destructor then settles the op with Closed, so no caller waits forever.
class Settle {
 public:
  explicit Settle(Callback<Value> done) : done_(std::move(done)) {}
  Settle(const Settle&) = delete;
  Settle& operator=(const Settle&) = delete;
  ~Settle() {
    if (done_) done_(Error(ErrorCode::Closed, "client: closed before the op completed"));
  }
  void operator()(Result<Value> result) {
    Callback<Value> done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(result));
  }

 private:
  Callback<Value> done_;
};

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

Value bytes_value(std::string_view bytes) {
  if (valid_utf8(bytes)) return Value(std::string(bytes));
  return Value::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

// Script replies as JSON: what a support engineer expects to read back from EVAL.
Value reply_to_value(const Reply& reply) {
  switch (reply.type()) {
    case Reply::Type::Nil: return nullptr;
    case Reply::Type::Integer: return reply.as_integer();
    case Reply::Type::String: return bytes_value(reply.as_string());
    case Reply::Type::Status: return Value{{"ok", bytes_value(reply.as_string())}};
    case Reply::Type::Error: return Value{{"err", bytes_value(reply.as_string())}};
    case Reply::Type::Double: return reply.as_double();
    case Reply::Type::Array: {
      Value out = Value::array();
      for (const Reply& element : reply.as_array()) out.push_back(reply_to_value(element));
      return out;
    }
  }
  return nullptr;
}

std::string text_arg(const Value& args, const char* name) {
  const Value* v = member(args, name);
  if (v == nullptr || !v->is_string()) throw invalid_argument(name, "must be a string");
  return v->get<std::string>();
}

// keys/args of `eval`: strings, bytes or integers, as Redis would receive them.
std::vector<std::string> string_list(const Value& args, const char* name) {
  std::vector<std::string> out;
  const Value* v = member(args, name);
  if (v == nullptr) return out;
  if (!v->is_array()) throw invalid_argument(name, "must be a list");
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const Value& item = (*v)[i];
    if (item.is_string()) {
      out.push_back(item.get<std::string>());
    } else if (item.is_binary()) {
      const auto& bin = item.get_binary();
      out.emplace_back(bin.begin(), bin.end());
    } else if (item.is_number_integer()) {
      out.push_back(item.dump());
    } else {
      throw invalid_argument(std::string(name) + "[" + std::to_string(i) + "]",
                             "must be a string, bytes or an integer");
    }
  }
  return out;
}

ErrorCode code_named(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::LoaderFailed); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    if (name == error_code_name(code)) return code;
  }
  throw invalid_argument("code", "unknown error code '" + name.substr(0, 64) + "'");
}

class EchoPrimitive final : public Primitive {
 public:
  explicit EchoPrimitive(std::shared_ptr<Backend> backend) : backend_(std::move(backend)) {}

  void call(std::string_view op, Value args, Callback<Value> done) override {
    Result<Value> early = Value();
    try {
      if (!args.is_object()) {
        if (!args.is_null()) throw invalid_argument("args", "must be an object");
        args = Value::object();
      }
      if (op == "echo") {
        auto it = args.find("value");
        done(it == args.end() ? Value() : std::move(*it));
        return;
      }
      if (op == "later") {
        later(args, done);
        return;
      }
      if (op == "fail") {
        const std::string message = member(args, "message") ? text_arg(args, "message") : "debug_echo: fail";
        early = Error(code_named(text_arg(args, "code")), message);
      } else if (op == "eval") {
        eval(args, done);
        return;
      } else {
        early = invalid_argument("op", "unknown debug_echo op '" + std::string(op.substr(0, 64)) + "'");
      }
    } catch (const Error& e) {
      early = e;
    }
    done(std::move(early));
  }

 private:
  // `done` is taken only once the op is sure to start, so a bad argument still reaches it.
  void later(Value& args, Callback<Value>& done) {
    const Value* delay = member(args, "delay_ms");
    if (delay == nullptr || !delay->is_number_integer() || delay->get<int64_t>() < 0) {
      throw invalid_argument("delay_ms", "must be an integer >= 0");
    }
    auto it = args.find("value");
    Value value = it == args.end() ? Value() : std::move(*it);
    auto settle = std::make_shared<Settle>(std::move(done));
    if (backend_->closed()) {
      (*settle)(Error(ErrorCode::Closed, "client: closed"));
      return;
    }
    backend_->schedule(delay->get<int64_t>(), [settle, value = std::move(value)]() mutable {
      (*settle)(std::move(value));
    });
  }

  void eval(const Value& args, Callback<Value>& done) {
    const Script script(text_arg(args, "script"));
    const std::vector<std::string> keys = string_list(args, "keys");
    const std::vector<std::string> argv = string_list(args, "args");
    const std::vector<std::string_view> key_views(keys.begin(), keys.end());
    const std::vector<std::string_view> arg_views(argv.begin(), argv.end());
    backend_->eval(script, ArgList(key_views), ArgList(arg_views),
                   [done = std::move(done)](Result<Reply> r) {
                     if (!r.ok()) {
                       done(r.error());
                       return;
                     }
                     Result<Value> out = Value();
                     try {
                       out = reply_to_value(r.value());
                     } catch (const Error& e) {
                       out = e;
                     }
                     done(std::move(out));
                   });
  }

  std::shared_ptr<Backend> backend_;
};

}  // namespace

std::shared_ptr<Primitive> make_debug_echo(std::shared_ptr<Backend> backend, const Value& config) {
  if (!config.is_object() || !config.empty()) throw invalid_argument("options", "debug_echo takes no options");
  return std::make_shared<EchoPrimitive>(std::move(backend));
}

}  // namespace redkeeper
