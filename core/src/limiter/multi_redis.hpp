// Client::hit_many on Redis: one EVALSHA of the multi script carrying every check's state key and
// block marker, so the whole decision is one round trip and atomic on the server.
#pragma once

#include <memory>
#include <vector>

#include "limiter/multi_limiter.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {

class Engine;

// True when `limiter` is a RedisLimiter sending through `engine`.
bool redis_limiter_of(const Limiter& limiter, const Engine* engine);

// Sends the checks (all RedisLimiters of `engine`); applies the failure policy to store errors.
// `cluster`: checks whose keys fall in different hash slots are refused (InvalidArgument naming
// `checks`) instead of being sent (the server would answer CROSSSLOT).
void evaluate_multi_on_redis(const std::shared_ptr<Engine>& engine, const ClientOptions& options, bool cluster,
                             const std::vector<PreparedCheck>& checks, Callback<MultiLimitResult> done);

}  // namespace redkeeper
