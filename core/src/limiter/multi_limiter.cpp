// run_hit_many: request checks, block-cache short cut and learning, deciding result.
#include "limiter/multi_limiter.hpp"

#include <optional>
#include <set>
#include <string>
#include <utility>

#include "limiter/block_cache.hpp"
#include "limiter/limiter_math.hpp"

namespace redkeeper {

namespace {

std::string check_param(size_t i, const char* field) {
  return "checks[" + std::to_string(i) + "]." + field;
}

// What the caches need after the store answered: each cached check's cache, key and cost.
struct CacheNote {
  std::shared_ptr<BlockCache> cache;
  size_t index;
  std::string key;
  int64_t cost;
};

}  // namespace

size_t deciding_index(const std::vector<LimitResult>& results) {
  size_t best = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].allowed) return i;
    if (results[i].remaining < results[best].remaining) best = i;
  }
  return best;
}

void run_hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done,
                  const std::function<bool(const Limiter&)>& owned, const MultiEvaluate& evaluate) {
  std::vector<PreparedCheck> prepared;
  std::vector<CacheNote> notes;
  std::optional<MultiLimitResult> local;  // answered by a block cache
  try {
    if (checks.empty() || checks.size() > kMaxLimitChecks) {
      throw invalid_argument("checks", "must hold 1 to " + std::to_string(kMaxLimitChecks) +
                                           " limits, got " + std::to_string(checks.size()));
    }
    prepared.reserve(checks.size());
    std::set<std::pair<std::string_view, std::string_view>> seen;
    for (size_t i = 0; i < checks.size(); ++i) {
      const LimitCheck& check = checks[i];
      if (!check.limiter) throw invalid_argument(check_param(i, "limiter"), "is missing");
      Limiter* backend = check.limiter.get();
      auto* cached = dynamic_cast<BlockCacheLimiter*>(backend);
      if (cached != nullptr) backend = cached->inner().get();
      if (!owned(*backend)) {
        throw invalid_argument("checks", "every limiter must come from the client running hit_many (checks[" +
                                             std::to_string(i) + "] does not)");
      }
      const LimiterConfig& config = backend->config();
      validate_key(check.key, check_param(i, "key"));
      if (check.cost < 1 || check.cost > config.limit) {
        throw invalid_argument(check_param(i, "cost"), "must be an integer from 1 to the limit (" +
                                                           std::to_string(config.limit) + ")");
      }
      // Same name and key on one client = the same state: it cannot be read once and written once.
      if (!seen.emplace(config.name, check.key).second) {
        throw invalid_argument("checks", "limiter '" + config.name + "' is given the same key twice");
      }
      prepared.push_back(PreparedCheck{backend, check.key, check.cost});
      if (cached != nullptr) notes.push_back(CacheNote{cached->cache(), i, check.key, check.cost});
    }
    for (const CacheNote& note : notes) {
      LimitResult rejected;
      if (!note.cache->lookup(note.key, note.cost, rejected)) continue;
      // The store is not asked; the other checks report that (degraded, nothing consumed).
      MultiLimitResult result;
      for (const PreparedCheck& check : prepared) result.results.push_back(degraded_result(check.limiter->config()));
      result.results[note.index] = rejected;
      result.allowed = false;
      result.deciding = note.index;
      local.emplace(std::move(result));
      break;
    }
  } catch (const Error& error) {
    if (done) done(error);
    return;
  }
  if (local) {
    if (done) done(std::move(*local));
    return;
  }
  evaluate(prepared, [notes = std::move(notes), done = std::move(done)](Result<MultiLimitResult> r) {
    if (r.ok()) {
      MultiLimitResult& value = r.value();
      value.deciding = deciding_index(value.results);
      for (const CacheNote& note : notes) note.cache->note(note.key, note.cost, value.results[note.index]);
    }
    if (done) done(std::move(r));
  });
}

}  // namespace redkeeper
