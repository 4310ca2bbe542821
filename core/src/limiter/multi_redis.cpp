// evaluate_multi_on_redis: builds KEYS/ARGV for multi.lua, maps its flat reply to one LimitResult
// per check, and answers store failures per the involved limiters' policies.
#include "limiter/multi_redis.hpp"

#include <string>

#include "common/keys.hpp"
#include "limiter/limiter_math.hpp"
#include "limiter/redis_limiter.hpp"
#include "redis/engine.hpp"
#include "redis/script.hpp"

namespace redkeeper {

namespace {

MultiLimitResult from_reply(const Reply& reply, const std::vector<LimiterConfig>& configs) {
  if (reply.size() != 1 + 4 * configs.size()) {
    throw Error(ErrorCode::Protocol, "limiter multi script: unexpected reply " + reply.debug_string());
  }
  MultiLimitResult out;
  out.allowed = reply.at(0).as_integer() != 0;
  out.results.reserve(configs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    LimitResult r;
    r.allowed = reply.at(1 + 4 * i).as_integer() != 0;
    r.limit = configs[i].limit;
    r.remaining = reply.at(2 + 4 * i).as_integer();
    r.reset_after_ms = reply.at(3 + 4 * i).as_integer();
    r.retry_after_ms = reply.at(4 + 4 * i).as_integer();
    out.results.push_back(r);
  }
  return out;
}

// Every limiter's policy answers for its own check; a Raise anywhere surfaces the error.
Result<MultiLimitResult> from_store_error(const Error& error, const std::vector<LimiterConfig>& configs) {
  if (!RedisLimiter::store_unavailable(error)) return error;
  MultiLimitResult out;
  out.allowed = true;
  for (const LimiterConfig& config : configs) {
    Result<LimitResult> answer = on_store_error(config, error);
    if (!answer.ok()) return answer.error();
    out.allowed = out.allowed && answer.value().allowed;
    out.results.push_back(answer.value());
  }
  return out;
}

}  // namespace

bool redis_limiter_of(const Limiter& limiter, const Engine* engine) {
  const auto* redis = dynamic_cast<const RedisLimiter*>(&limiter);
  return redis != nullptr && redis->engine().get() == engine;
}

void evaluate_multi_on_redis(const std::shared_ptr<Engine>& engine, const ClientOptions& options, bool cluster,
                             const std::vector<PreparedCheck>& checks, Callback<MultiLimitResult> done) {
  std::vector<std::string> strings;  // owns every key and number; the views below point into it
  strings.reserve(checks.size() * 7 + 2);
  std::vector<LimiterConfig> configs;
  configs.reserve(checks.size());
  strings.push_back(options.clock ? std::to_string(options.clock->now_ms()) : std::string());
  strings.push_back(std::to_string(RedisLimiter::ttl_pad_ms(options)));
  for (const PreparedCheck& check : checks) {
    const LimiterConfig& config = check.limiter->config();
    configs.push_back(config);
    strings.push_back(limiter_key(options.prefix, config.name, check.key));
    strings.push_back(limiter_block_key(options.prefix, config.name, check.key));
    strings.push_back(algorithm_name(config.algorithm));
    strings.push_back(std::to_string(config.limit));
    strings.push_back(std::to_string(config.window_ms));
    strings.push_back(std::to_string(config.block_duration_ms));
    strings.push_back(std::to_string(check.cost));
  }
  if (cluster) {
    // One atomic script needs one slot: the id sits in the keys' hash tag, so all checks must
    // share it (several limits on one IP or user). Refused before anything is sent.
    const uint16_t slot = key_slot(strings[2]);
    for (size_t i = 1; i < checks.size(); ++i) {
      if (key_slot(strings[2 + 7 * i]) != slot) {
        if (done) {
          done(invalid_argument("checks", "on a Redis Cluster every check of one hit_many must use the same key "
                                          "(one hash slot); '" + std::string(checks[0].key) + "' and '" + std::string(checks[i].key) +
                                          "' differ"));
        }
        return;
      }
    }
  }
  std::vector<std::string_view> keys;
  std::vector<std::string_view> args = {strings[0], strings[1]};
  for (size_t i = 0; i < checks.size(); ++i) {
    const size_t b = 2 + 7 * i;
    keys.push_back(strings[b]);
    keys.push_back(strings[b + 1]);
    for (size_t j = 2; j < 7; ++j) args.push_back(strings[b + j]);
  }
  engine->submit_eval(
      RedisLimiter::multi_script(), keys, args,
      [configs = std::move(configs), done = std::move(done)](Result<Reply> reply) {
        if (!done) return;
        if (!reply.ok()) return done(from_store_error(reply.error(), configs));
        Result<MultiLimitResult> result = [&]() -> Result<MultiLimitResult> {
          try {
            return from_reply(reply.value(), configs);
          } catch (const Error& error) {
            return error;
          } catch (const std::exception& error) {
            return Error(ErrorCode::Internal, error.what());
          }
        }();
        done(std::move(result));
      },
      0);
}

}  // namespace redkeeper
