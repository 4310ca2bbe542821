// Client::hit_many, the part both backends share: checking the request, answering it from local
// block caches when one already rejects, teaching the caches the store's answer, and picking the
// deciding result. Each backend supplies only the atomic evaluation (multi_redis, multi_memory).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "redkeeper/limiter.hpp"

namespace redkeeper {

class BlockCache;

// A validated check: the limiter that talks to the store (below any local block cache).
struct PreparedCheck {
  Limiter* limiter;
  std::string_view key;  // points into the caller's LimitCheck
  int64_t cost;
};

// Evaluates prepared checks atomically and settles `done` with one result per check (`deciding`
// is filled in by run_hit_many). May complete inline or later; the views in `checks` are valid
// only during the call.
using MultiEvaluate = std::function<void(const std::vector<PreparedCheck>& checks,
                                         Callback<MultiLimitResult> done)>;

// Validates `checks` (InvalidArgument naming the field, through `done`), where `owned(limiter)`
// says whether a backend limiter belongs to the calling client, then answers.
void run_hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done,
                  const std::function<bool(const Limiter&)>& owned, const MultiEvaluate& evaluate);

// The first rejecting result, else the one with the least remaining (the first of equals).
size_t deciding_index(const std::vector<LimitResult>& results);

}  // namespace redkeeper
