// RedisClient: the public face of the Redis backend; all I/O is delegated to the engine (RedisEngine
// for one server, ClusterEngine for a Redis Cluster).
#include "redis/redis_client.hpp"

#include "common/factories.hpp"
#include "limiter/block_cache.hpp"
#include "limiter/multi_redis.hpp"
#include "limiter/redis_limiter.hpp"
#include "redis/cluster_engine.hpp"
#include "redis/redis_engine.hpp"

namespace redkeeper {

RedisClient::RedisClient(RedisUrl url, ClientOptions options)
    : Client(std::move(options)), url_(std::move(url)) {
  if (options_.cluster && !url_.cluster) make_cluster_url(url_);
  if (url_.cluster) {
    engine_ = std::make_shared<ClusterEngine>(url_, options_);
  } else {
    engine_ = std::make_shared<RedisEngine>(url_, options_);
  }
  engine_->start();
}

RedisClient::~RedisClient() { close(); }

std::shared_ptr<Backend> RedisClient::backend() {
  std::lock_guard<std::mutex> lock(backend_mu_);
  if (!backend_) backend_ = make_redis_backend(url_, options_, engine_);
  return backend_;
}

std::shared_ptr<Limiter> RedisClient::limiter(LimiterConfig config) {
  validate(config);
  return with_block_cache(std::make_shared<RedisLimiter>(std::move(config), engine_, options_), options_.clock,
                          [engine = engine_] { return engine->closed(); });
}

void RedisClient::hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done) {
  if (engine_->closed()) {
    if (done) done(Error(ErrorCode::Closed, "client: closed"));
    return;
  }
  run_hit_many(
      std::move(checks), std::move(done),
      [engine = engine_.get()](const Limiter& limiter) { return redis_limiter_of(limiter, engine); },
      [this](const std::vector<PreparedCheck>& prepared, Callback<MultiLimitResult> evaluated) {
        evaluate_multi_on_redis(engine_, options_, url_.cluster, prepared, std::move(evaluated));
      });
}

void RedisClient::command(ArgList args, Callback<Reply> done, int64_t timeout_ms) {
  engine_->submit(args, std::move(done), timeout_ms);
}

void RedisClient::eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
                       int64_t timeout_ms) {
  engine_->submit_eval(script, keys, args, std::move(done), timeout_ms);
}

void RedisClient::ping(Callback<double> done) {
  auto start = Engine::SteadyClock::now();
  Engine* engine = engine_.get();  // callbacks never outlive the engine that runs them
  engine_->submit(
      {"PING"},
      [engine, start, done = std::move(done)](Result<Reply> r) {
        if (!r.ok()) return done(r.error());
        auto elapsed = Engine::SteadyClock::now() - start;
        engine->record_latency(elapsed);
        done(std::chrono::duration<double, std::milli>(elapsed).count());
      },
      0);
}

Health RedisClient::health() const {
  Health h;
  h.backend = "redis";
  h.connected = engine_->connected();
  h.latency_ms = engine_->latency_ms();
  return h;
}

Stats RedisClient::stats() const { return engine_->stats(); }
void RedisClient::close() {
  std::shared_ptr<Backend> backend;
  {
    std::lock_guard<std::mutex> lock(backend_mu_);
    backend = backend_;
  }
  if (backend) backend->close();
  engine_->close();
}
bool RedisClient::closed() const { return engine_->closed(); }
void RedisClient::cork() { engine_->cork(); }
void RedisClient::uncork() { engine_->uncork(); }
uint64_t RedisClient::socket_writes() const { return engine_->socket_writes(); }

}  // namespace redkeeper
