// Client::primitive(): kind -> factory, with the checks every kind shares.
#include <string>

#include "common/factories.hpp"

namespace redkeeper {

std::shared_ptr<Primitive> make_debug_echo(std::shared_ptr<Backend> backend, const Value& config);  // common/echo.cpp

std::shared_ptr<Primitive> Client::primitive(std::string_view kind, const Value& config) {
  if (closed()) throw Error(ErrorCode::Closed, "client: closed");
  if (!config.is_null() && !config.is_object()) throw invalid_argument("options", "must be an object");
  const Value& cfg = config.is_null() ? Value::object() : config;
  using Factory = std::shared_ptr<Primitive> (*)(std::shared_ptr<Backend>, const Value&);
  static const std::pair<std::string_view, Factory> kFactories[] = {
      {"tokens", &make_tokens},   {"token_versions", &make_token_versions},
      {"sessions", &make_sessions}, {"cache", &make_cache},
      {"lock", &make_lock},       {"idempotency", &make_idempotency},
      {"otp", &make_otp},         {"debug_echo", &make_debug_echo},
  };
  for (const auto& [name, factory] : kFactories) {
    if (name == kind) return factory(backend(), cfg);
  }
  throw invalid_argument("kind", "unknown primitive '" + std::string(kind.substr(0, 64)) + "'");
}

}  // namespace redkeeper
