// MemoryLimiter: applies limiter_math to the state entry under its shard lock; handles blocks and
// gives every entry a TTL so idle keys disappear once they no longer matter.
#include "limiter/memory_limiter.hpp"

#include <cstring>
#include <optional>

#include "limiter/limiter_math.hpp"

namespace redkeeper {

namespace lm = limiter_math;

namespace {

// validate_key's upper bound (limiter/parse.cpp). Ids within (0, kMaxKeyBytes] skip the out-of-line
// call on the hot path; must never exceed validate_key's own bound.
constexpr size_t kMaxKeyBytes = 1024;

LimitResult blocked_result(const LimiterConfig& config, int64_t left_ms) {
  LimitResult result;
  result.allowed = false;
  result.limit = config.limit;
  result.remaining = 0;
  result.reset_after_ms = left_ms;
  result.retry_after_ms = left_ms;
  return result;
}

LimitResult full_result(const LimiterConfig& config) {
  LimitResult result;
  result.allowed = true;
  result.limit = config.limit;
  result.remaining = config.limit;
  return result;
}

// What a hit of cost 1 would see now, with `remaining` the current allowance.
LimitResult observe(const lm::State& s, const LimiterConfig& config, int64_t now) {
  if (s[lm::kBlockedUntil] > now) return blocked_result(config, s[lm::kBlockedUntil] - now);
  LimitResult result;
  result.limit = config.limit;
  result.retry_after_ms = lm::wait_ms(s, config, now, 1);
  result.allowed = result.retry_after_ms == 0;
  result.remaining = lm::available(s, config, now);
  result.reset_after_ms = lm::full_after_ms(s, config, now);
  return result;
}

// Gives the entry the TTL after which it no longer matters, or drops it when that is now.
void settle(MemoryView& view, const MemoryKey& key, MemoryEntry& entry, const lm::State& s,
            int64_t now, int64_t full_after) {
  int64_t expire_at = full_after > 0 ? now + full_after : 0;
  if (s[lm::kBlockedUntil] > now && s[lm::kBlockedUntil] > expire_at) {
    expire_at = s[lm::kBlockedUntil];
  }
  if (expire_at == 0) {
    view.erase(key);
  } else {
    view.expire_at(key, entry, expire_at);
  }
}

// The entry's state vector when it holds this limiter's state, else nullptr.
lm::State* state_of(MemoryEntry* entry, const LimiterConfig& config) {
  if (entry == nullptr) return nullptr;
  auto* s = std::get_if<lm::State>(&entry->value);
  if (s == nullptr || !lm::state_matches(*s, config)) return nullptr;
  return s;
}

// The key's state advanced to `now`; absent (or foreign) state starts from a full allowance.
lm::State* current_state(MemoryEntry& entry, const LimiterConfig& config, int64_t now) {
  lm::State* s = state_of(&entry, config);
  if (s == nullptr) {
    entry.value = lm::State{};
    s = std::get_if<lm::State>(&entry.value);
    lm::init_state(*s, config, now, 0);
  } else {
    lm::advance(*s, config, now);
  }
  return s;
}

template <class T, class F>
void complete(const Callback<T>& done, F&& f) {
  std::optional<Result<T>> result;
  try {
    result.emplace(f());
  } catch (const Error& error) {
    result.emplace(error);
  } catch (const std::exception& error) {
    result.emplace(Error(ErrorCode::Internal, error.what()));
  }
  if (done) done(std::move(*result));
}

}  // namespace

MemoryLimiter::MemoryLimiter(LimiterConfig config, std::shared_ptr<MemoryStore> store,
                             std::string_view prefix)
    : Limiter(std::move(config)), store_(std::move(store)) {
  key_head_.append(prefix).append(":limiter:").append(config_.name).append(":{");
  head_has_one_brace_ = key_head_.find('{') == key_head_.size() - 1;
  rest_hash_ = store_->rest_hash(key_head_, "}");
}

MemoryKey MemoryLimiter::key_for(std::string_view id) const {
  // Only a key that fails the bounds goes to validate_key (out of line), which reports it.
  if (id.empty() || id.size() > kMaxKeyBytes) validate_key(id);
  // The usual id has no '}': it is the whole hash tag, so the key is hashed from the id alone plus
  // the per-limiter rest_hash_, and never built (the table copies it only when creating an entry).
  if (head_has_one_brace_ && std::memchr(id.data(), '}', id.size()) == nullptr) {
    MemoryKey key;
    key.bytes = KeyPieces{key_head_, id, "}"};
    key.tag_hash = store_->tag_hash(id);
    key.hash = MemoryStore::combine(key.tag_hash, rest_hash_);
    return key;
  }
  // Otherwise the tag is part of the id (or, for an id starting with '}', the whole key): spell
  // the key out and let the store split it. One buffer per thread; ops never nest.
  thread_local std::string buffer;
  buffer.assign(key_head_).append(id).push_back('}');
  return store_->key(buffer);
}

void MemoryLimiter::check_open() const {
  if (store_->closed()) throw Error(ErrorCode::Closed, "client: closed");
}

LimitResult MemoryLimiter::hit_now(std::string_view id, int64_t cost) {
  check_open();
  if (cost < 1 || cost > config_.limit) {
    throw invalid_argument("cost", "must be an integer from 1 to the limit (" +
                                       std::to_string(config_.limit) + ")");
  }
  const MemoryKey key = key_for(id);
  return store_->transact(key, [&](MemoryView& view) {
    const int64_t now = view.now_ms();
    MemoryEntry& entry = view.find_or_create(key);
    lm::State* s = current_state(entry, config_, now);
    if ((*s)[lm::kBlockedUntil] > now) return blocked_result(config_, (*s)[lm::kBlockedUntil] - now);

    LimitResult result;
    result.limit = config_.limit;
    const int64_t wait = lm::wait_ms(*s, config_, now, cost);
    int64_t full_after = 0;
    if (wait == 0) {
      lm::consume(*s, config_, now, cost);
      full_after = lm::full_after_ms(*s, config_, now);
      result.allowed = true;
      result.remaining = lm::available(*s, config_, now);
      result.reset_after_ms = full_after;
    } else if (config_.block_duration_ms > 0) {
      (*s)[lm::kBlockedUntil] = now + config_.block_duration_ms;
      full_after = lm::full_after_ms(*s, config_, now);
      result = blocked_result(config_, config_.block_duration_ms);
    } else {
      full_after = lm::full_after_ms(*s, config_, now);
      result.allowed = false;
      result.remaining = lm::available(*s, config_, now);
      result.reset_after_ms = full_after;
      result.retry_after_ms = wait;
    }
    settle(view, key, entry, *s, now, full_after);
    return result;
  });
}

LimitResult MemoryLimiter::peek_now(std::string_view id) {
  check_open();
  const MemoryKey key = key_for(id);
  return store_->transact(key, [&](MemoryView& view) {
    const int64_t now = view.now_ms();
    lm::State* s = state_of(view.find(key), config_);
    if (s == nullptr) return full_result(config_);
    lm::advance(*s, config_, now);  // lossless: peeking changes no outcome
    return observe(*s, config_, now);
  });
}

void MemoryLimiter::reset_now(std::string_view id) {
  check_open();
  const MemoryKey key = key_for(id);
  store_->transact(key, [&](MemoryView& view) { view.erase(key); });
}

LimitResult MemoryLimiter::refund_now(std::string_view id, int64_t amount) {
  check_open();
  if (amount < 1) throw invalid_argument("amount", "must be a positive integer");
  const MemoryKey key = key_for(id);
  return store_->transact(key, [&](MemoryView& view) {
    const int64_t now = view.now_ms();
    MemoryEntry* entry = view.find(key);
    lm::State* s = state_of(entry, config_);
    if (s == nullptr) return full_result(config_);
    lm::advance(*s, config_, now);
    lm::give_back(*s, config_, now, amount);
    LimitResult result = observe(*s, config_, now);
    settle(view, key, *entry, *s, now, lm::full_after_ms(*s, config_, now));
    return result;
  });
}

LimitResult MemoryLimiter::block_now(std::string_view id, int64_t duration_ms) {
  check_open();
  if (duration_ms < 1 || duration_ms > lm::kMaxDurationMs) {
    throw invalid_argument("duration", "must be from 1 ms to about ten years");
  }
  const MemoryKey key = key_for(id);
  return store_->transact(key, [&](MemoryView& view) {
    const int64_t now = view.now_ms();
    MemoryEntry& entry = view.find_or_create(key);
    lm::State* s = current_state(entry, config_, now);
    (*s)[lm::kBlockedUntil] = now + duration_ms;  // replaces any shorter or longer block
    settle(view, key, entry, *s, now, lm::full_after_ms(*s, config_, now));
    return blocked_result(config_, duration_ms);
  });
}

MultiLimitResult MemoryLimiter::hit_many_now(MemoryStore& store, const std::vector<PreparedCheck>& checks) {
  if (store.closed()) throw Error(ErrorCode::Closed, "client: closed");
  // Keys spelled out and owned here: key_for's per-thread buffer holds one key at a time.
  std::vector<std::string> names;
  names.reserve(checks.size());
  std::vector<MemoryKey> keys;
  keys.reserve(checks.size());
  for (const PreparedCheck& check : checks) {
    const auto& limiter = static_cast<const MemoryLimiter&>(*check.limiter);
    names.push_back(limiter.key_head_ + std::string(check.key) + "}");
    keys.push_back(store.key(names.back()));
  }
  return store.transact_many(keys, [&](std::vector<MemoryView>& views) {
    MultiLimitResult out;
    out.allowed = true;
    out.results.resize(checks.size());
    std::vector<std::optional<lm::State>> admitted(checks.size());  // advanced states that fit
    for (size_t i = 0; i < checks.size(); ++i) {
      const LimiterConfig& config = checks[i].limiter->config();
      const int64_t now = views[i].now_ms();
      lm::State s;
      if (const lm::State* stored = state_of(views[i].find(keys[i]), config)) {
        s = *stored;
        lm::advance(s, config, now);
      } else {
        lm::init_state(s, config, now, 0);
      }
      LimitResult& result = out.results[i];
      if (s[lm::kBlockedUntil] > now) {
        result = blocked_result(config, s[lm::kBlockedUntil] - now);
        out.allowed = false;
        continue;
      }
      const int64_t wait = lm::wait_ms(s, config, now, checks[i].cost);
      if (wait == 0) {
        admitted[i].emplace(std::move(s));
        continue;
      }
      out.allowed = false;
      if (config.block_duration_ms > 0) {
        // A rejection starts this limit's block, as a single hit would; nothing is consumed.
        s[lm::kBlockedUntil] = now + config.block_duration_ms;
        MemoryEntry& entry = views[i].find_or_create(keys[i]);
        const int64_t full_after = lm::full_after_ms(s, config, now);
        entry.value = std::move(s);
        settle(views[i], keys[i], entry, std::get<lm::State>(entry.value), now, full_after);
        result = blocked_result(config, config.block_duration_ms);
      } else {
        result.limit = config.limit;
        result.remaining = lm::available(s, config, now);
        result.reset_after_ms = lm::full_after_ms(s, config, now);
        result.retry_after_ms = wait;
      }
    }
    for (size_t i = 0; i < checks.size(); ++i) {
      if (!admitted[i]) continue;
      const LimiterConfig& config = checks[i].limiter->config();
      const int64_t now = views[i].now_ms();
      lm::State& s = *admitted[i];
      if (out.allowed) {
        lm::consume(s, config, now, checks[i].cost);
        MemoryEntry& entry = views[i].find_or_create(keys[i]);
        entry.value = s;
        settle(views[i], keys[i], entry, s, now, lm::full_after_ms(s, config, now));
      }
      LimitResult& result = out.results[i];
      result.allowed = true;
      result.limit = config.limit;
      result.remaining = lm::available(s, config, now);
      result.reset_after_ms = lm::full_after_ms(s, config, now);
    }
    return out;
  });
}

bool MemoryLimiter::hit_inline(std::string_view key, int64_t cost, LimitResult& out) {
  out = hit_now(key, cost);
  return true;
}

void MemoryLimiter::hit(std::string_view key, int64_t cost, Callback<LimitResult> done) {
  complete(done, [&] { return hit_now(key, cost); });
}

void MemoryLimiter::peek(std::string_view key, Callback<LimitResult> done) {
  complete(done, [&] { return peek_now(key); });
}

void MemoryLimiter::reset(std::string_view key, Callback<Unit> done) {
  complete(done, [&] {
    reset_now(key);
    return Unit{};
  });
}

void MemoryLimiter::refund(std::string_view key, int64_t amount, Callback<LimitResult> done) {
  complete(done, [&] { return refund_now(key, amount); });
}

void MemoryLimiter::block(std::string_view key, int64_t duration_ms, Callback<LimitResult> done) {
  complete(done, [&] { return block_now(key, duration_ms); });
}

}  // namespace redkeeper
