// memory:// URL parsing and the MemoryClient's Client methods.
#include "store/memory_client.hpp"

#include <charconv>
#include <string>

#include "common/factories.hpp"
#include "limiter/block_cache.hpp"
#include "limiter/memory_limiter.hpp"
#include "limiter/multi_limiter.hpp"

namespace redkeeper {

namespace {

Error bad_url(std::string_view url, const std::string& why) {
  return invalid_argument("url", why + " in '" + std::string(url.substr(0, 128)) + "'");
}

int64_t parse_query_number(std::string_view url, std::string_view name, std::string_view text,
                           int64_t min, int64_t max) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    throw bad_url(url, std::string(name) + " must be an integer from " + std::to_string(min) +
                           " to " + std::to_string(max));
  }
  return value;
}

}  // namespace

MemoryClient::MemoryClient(ClientOptions options, MemoryStore::Options store_options)
    : Client(std::move(options)),
      store_(std::make_shared<MemoryStore>(options_.clock, store_options)) {}

MemoryClient::~MemoryClient() { close(); }

std::shared_ptr<Backend> MemoryClient::backend() {
  std::lock_guard<std::mutex> lock(backend_mu_);
  if (!backend_) backend_ = make_lua_backend(options_);
  return backend_;
}

std::shared_ptr<Limiter> MemoryClient::limiter(LimiterConfig config) {
  validate(config);
  if (closed()) throw Error(ErrorCode::Closed, "client: closed");
  return with_block_cache(std::make_shared<MemoryLimiter>(std::move(config), store_, options_.prefix),
                          options_.clock, [store = store_] { return store->closed(); });
}

void MemoryClient::hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done) {
  if (closed()) {
    if (done) done(Error(ErrorCode::Closed, "client: closed"));
    return;
  }
  run_hit_many(
      std::move(checks), std::move(done),
      [store = store_.get()](const Limiter& limiter) {
        const auto* memory = dynamic_cast<const MemoryLimiter*>(&limiter);
        return memory != nullptr && memory->store().get() == store;
      },
      [this](const std::vector<PreparedCheck>& prepared, Callback<MultiLimitResult> evaluated) {
        Result<MultiLimitResult> result = [&]() -> Result<MultiLimitResult> {
          try {
            return MemoryLimiter::hit_many_now(*store_, prepared);
          } catch (const Error& error) {
            return error;
          } catch (const std::exception& error) {
            return Error(ErrorCode::Internal, error.what());
          }
        }();
        evaluated(std::move(result));
      });
}

void MemoryClient::ping(Callback<double> done) {
  if (closed()) {
    done(Error(ErrorCode::Closed, "client: closed"));
  } else {
    done(0.0);
  }
}

Health MemoryClient::health() const { return Health{"memory", !closed(), 0.0}; }

Stats MemoryClient::stats() const {
  Stats stats;
  stats.ops = store_->ops();
  stats.keys = store_->resident_keys();
  return stats;
}

void MemoryClient::close() {
  std::shared_ptr<Backend> backend;
  {
    std::lock_guard<std::mutex> lock(backend_mu_);
    backend = backend_;
  }
  if (backend) backend->close();
  store_->close();
}

std::shared_ptr<Client> make_memory_client(std::string_view url, ClientOptions options) {
  constexpr std::string_view kScheme = "memory://";
  if (url.substr(0, kScheme.size()) != kScheme) throw bad_url(url, "expected memory://");
  std::string_view rest = url.substr(kScheme.size());
  MemoryStore::Options store_options;
  store_options.shards = options.memory_shards;
  store_options.sweep_interval_ms = options.sweep_interval_ms;
  if (!rest.empty()) {
    if (rest.front() != '?') throw bad_url(url, "memory:// takes no host or path");
    rest.remove_prefix(1);
    while (!rest.empty()) {
      const size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) throw bad_url(url, "query items must be name=value");
      const std::string_view name = pair.substr(0, eq);
      const std::string_view value = pair.substr(eq + 1);
      if (name == "shards") {
        store_options.shards = static_cast<size_t>(parse_query_number(url, name, value, 1, 16384));
      } else if (name == "sweep_interval_ms") {
        store_options.sweep_interval_ms = parse_query_number(url, name, value, 0, 3'600'000);
      } else {
        throw bad_url(url, "unknown option '" + std::string(name.substr(0, 32)) + "'");
      }
    }
  }
  if (store_options.shards == 0) throw invalid_argument("memory_shards", "must be at least 1");
  if (store_options.sweep_interval_ms < 0) {
    throw invalid_argument("sweep_interval_ms", "must not be negative");
  }
  return std::make_shared<MemoryClient>(std::move(options), store_options);
}

}  // namespace redkeeper
