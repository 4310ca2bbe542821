// Maps redkeeper::Error to the JS RedkeeperError class through the factory node/lib/errors.js
// registers, so JS and native errors are the same class with the same stable codes.
#include "errors.hpp"

#include "addon_data.hpp"

namespace redkeeper_node {

Napi::Error to_js_error(Napi::Env env, redkeeper::ErrorCode code, const std::string& message) {
  AddonData& data = addon_data(env);
  const char* name = redkeeper::error_code_name(code);
  if (!data.make_error.IsEmpty()) {
    Napi::Value made = data.make_error.Call({Napi::String::New(env, name), Napi::String::New(env, message)});
    if (made.IsObject()) return Napi::Error(env, made);
  }
  // Only before node/lib/errors.js registered its factory: a plain Error still carries the code.
  Napi::Error fallback = Napi::Error::New(env, message);
  fallback.Set("code", Napi::String::New(env, name));
  return fallback;
}

Napi::Error to_js_error(Napi::Env env, const redkeeper::Error& error) {
  return to_js_error(env, error.code(), error.what());
}

}  // namespace redkeeper_node
