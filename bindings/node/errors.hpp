// The one place where core errors (redkeeper::Error) become JS errors (RedkeeperError with `code`).
#pragma once

#include <napi.h>

#include <exception>
#include <string>

#include "redkeeper/error.hpp"

namespace redkeeper_node {

// A RedkeeperError instance built by the JS factory registered at load (node/lib/errors.js).
Napi::Error to_js_error(Napi::Env env, const redkeeper::Error& error);
Napi::Error to_js_error(Napi::Env env, redkeeper::ErrorCode code, const std::string& message);

// Runs `body`, turning any C++ exception into a thrown JS error. Every entry point goes through it so
// no core exception crosses the binding boundary unconverted.
template <class F>
auto guarded(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const redkeeper::Error& e) {
    throw to_js_error(env, e);
  } catch (const std::bad_alloc&) {
    throw to_js_error(env, redkeeper::ErrorCode::Internal, "out of memory");
  } catch (const std::exception& e) {
    throw to_js_error(env, redkeeper::ErrorCode::Internal, e.what());
  }
}

}  // namespace redkeeper_node
