// Client::hit_many on Redis: one EVALSHA of the multi script carrying every check's state key and
// block marker, so the whole decision is one round trip and atomic on the server.
#pragma once

#include <memory>
#include <vector>

#include "limiter/multi_limiter.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {

class RedisEngine;

// True when `limiter` is a RedisLimiter sending through `engine`.
bool redis_limiter_of(const Limiter& limiter, const RedisEngine* engine);

// Sends the checks (all RedisLimiters of `engine`); applies the failure policy to store errors.
void evaluate_multi_on_redis(const std::shared_ptr<RedisEngine>& engine, const ClientOptions& options,
                             const std::vector<PreparedCheck>& checks, Callback<MultiLimitResult> done);

}  // namespace redkeeper
