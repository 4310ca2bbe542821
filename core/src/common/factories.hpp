// One factory per script-based primitive and per backend; Client::primitive() dispatches on kind.
// Each is defined next to its primitive (core/src/<primitive>/) or backend.
#pragma once

#include <memory>
#include <string_view>

#include "common/backend.hpp"
#include "redkeeper/primitive.hpp"

namespace redkeeper {

class MemoryStore;
class Engine;

// core/src/store/lua_backend.cpp: the memory backend's Lua host (shares the client's clock).
std::shared_ptr<Backend> make_lua_backend(const ClientOptions& options);
// core/src/redis/redis_backend.cpp: the Redis backend (commands on the client's engine).
std::shared_ptr<Backend> make_redis_backend(const RedisUrl& url, const ClientOptions& options,
                                            std::shared_ptr<Engine> engine);

std::shared_ptr<Primitive> make_tokens(std::shared_ptr<Backend> backend, const Value& config);          // tokens/
std::shared_ptr<Primitive> make_token_versions(std::shared_ptr<Backend> backend, const Value& config);  // tokens/
std::shared_ptr<Primitive> make_sessions(std::shared_ptr<Backend> backend, const Value& config);        // sessions/
std::shared_ptr<Primitive> make_cache(std::shared_ptr<Backend> backend, const Value& config);           // cache/
std::shared_ptr<Primitive> make_lock(std::shared_ptr<Backend> backend, const Value& config);            // locks/
std::shared_ptr<Primitive> make_idempotency(std::shared_ptr<Backend> backend, const Value& config);     // idempotency/
std::shared_ptr<Primitive> make_otp(std::shared_ptr<Backend> backend, const Value& config);             // otp/

}  // namespace redkeeper
