// Integer state transitions for fixed_window, sliding_window, sliding_log, token_bucket and gcra.
// Every formula here is written out in README.md next to this file; keep the two in step.
#include "limiter/limiter_math.hpp"

#include <algorithm>

namespace redkeeper {

LimitResult degraded_result(const LimiterConfig& config) {
  LimitResult result;
  result.allowed = true;
  result.limit = config.limit;
  result.remaining = config.limit;
  result.degraded = true;
  return result;
}

Result<LimitResult> on_store_error(const LimiterConfig& config, const Error& error) {
  if (error.code() == ErrorCode::InvalidArgument || error.code() == ErrorCode::Closed) return error;
  switch (config.on_error) {
    case FailurePolicy::Open: return degraded_result(config);
    case FailurePolicy::Closed: {
      LimitResult result;
      result.allowed = false;
      result.limit = config.limit;
      result.degraded = true;
      return result;
    }
    case FailurePolicy::Raise: return error;
  }
  return error;
}

namespace limiter_math {

namespace {

size_t fixed_size(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::FixedWindow: return kBase + 2;
    case Algorithm::SlidingWindow: return kBase + 3;
    case Algorithm::SlidingLog: return kBase + 1;
    case Algorithm::TokenBucket: return kBase + 2;
    case Algorithm::Gcra: return kBase + 2;
  }
  return kBase;
}

// Sliding window: the smallest elapsed e in [0, W] with floor(P * (W - e) / W) <= a, for a >= 0.
// floor(P*(W-e)/W) <= a  <=>  P*(W-e) < (a+1)*W  <=>  W - e <= floor(((a+1)*W - 1) / P).
int64_t sw_first_elapsed(int64_t prev, int64_t a, int64_t window) {
  if (prev == 0) return 0;
  return std::max<int64_t>(0, window - floor_div((a + 1) * window - 1, prev));
}

// GCRA keeps its TAT as tat_ms + tat_frac / limit (slots kBase, kBase+1). Its distance from now,
// in 1/limit ms, is the "debt": max(0, (tat_ms - now) * limit + tat_frac), capped at limit*W (a
// clock that stepped back cannot create more debt than a full burst).
int64_t gcra_debt(const State& s, const LimiterConfig& config, int64_t now_ms) {
  const int64_t cap = config.limit * config.window_ms;
  const int64_t ahead_ms = s[kBase] - now_ms;
  if (ahead_ms > config.window_ms) return cap;
  return std::min(cap, std::max<int64_t>(0, ahead_ms * config.limit + s[kBase + 1]));
}

void gcra_set_debt(State& s, const LimiterConfig& config, int64_t now_ms, int64_t debt) {
  s[kBase] = now_ms + debt / config.limit;
  s[kBase + 1] = debt % config.limit;
}

}  // namespace

bool state_matches(const State& s, const LimiterConfig& config) {
  return s.size() >= fixed_size(config.algorithm) &&
         s[kTag] == static_cast<int64_t>(config.algorithm);
}

void init_state(State& s, const LimiterConfig& config, int64_t now_ms, int64_t blocked_until_ms) {
  const int64_t w = config.window_ms;
  s.assign(fixed_size(config.algorithm), 0);
  s[kBlockedUntil] = blocked_until_ms;
  s[kTag] = static_cast<int64_t>(config.algorithm);
  switch (config.algorithm) {
    case Algorithm::FixedWindow: break;
    case Algorithm::SlidingWindow: s[kBase] = floor_div(now_ms, w) * w; break;
    case Algorithm::SlidingLog: break;
    case Algorithm::TokenBucket:
      s[kBase] = config.limit * w;
      s[kBase + 1] = now_ms;
      break;
    case Algorithm::Gcra:
      s[kBase] = now_ms;  // TAT = now: no debt
      break;
  }
}

void advance(State& s, const LimiterConfig& config, int64_t now_ms) {
  const int64_t w = config.window_ms;
  const int64_t limit = config.limit;
  switch (config.algorithm) {
    case Algorithm::FixedWindow:
      if (s[kBase] > 0 && s[kBase + 1] <= now_ms) {
        s[kBase] = 0;
        s[kBase + 1] = 0;
      }
      break;
    case Algorithm::SlidingWindow: {
      const int64_t current_start = floor_div(now_ms, w) * w;
      if (s[kBase] == current_start) break;
      if (s[kBase] == current_start - w) {
        s[kBase + 1] = s[kBase + 2];
      } else {
        s[kBase + 1] = 0;
      }
      s[kBase + 2] = 0;
      s[kBase] = current_start;
      break;
    }
    case Algorithm::SlidingLog: {
      // An entry at ts counts during [ts, ts + W).
      size_t first_live = kBase + 1;
      while (first_live < s.size() && s[first_live] + w <= now_ms) {
        s[kBase] -= s[first_live + 1];
        first_live += 2;
      }
      if (first_live != kBase + 1) {
        s.erase(s.begin() + static_cast<std::ptrdiff_t>(kBase + 1),
                s.begin() + static_cast<std::ptrdiff_t>(first_live));
      }
      break;
    }
    case Algorithm::TokenBucket: {
      const int64_t elapsed = now_ms - s[kBase + 1];
      if (elapsed <= 0) break;  // a clock that stepped back refills nothing
      const int64_t cap = limit * w;
      s[kBase] = elapsed >= w ? cap : std::min(cap, s[kBase] + elapsed * limit);
      s[kBase + 1] = now_ms;
      break;
    }
    case Algorithm::Gcra:
      gcra_set_debt(s, config, now_ms, gcra_debt(s, config, now_ms));
      break;
  }
}

int64_t available(const State& s, const LimiterConfig& config, int64_t now_ms) {
  const int64_t w = config.window_ms;
  const int64_t limit = config.limit;
  int64_t left = 0;
  switch (config.algorithm) {
    case Algorithm::FixedWindow: left = limit - s[kBase]; break;
    case Algorithm::SlidingWindow: {
      const int64_t elapsed = now_ms - s[kBase];
      left = limit - (floor_div(s[kBase + 1] * (w - elapsed), w) + s[kBase + 2]);
      break;
    }
    case Algorithm::SlidingLog: left = limit - s[kBase]; break;
    case Algorithm::TokenBucket: left = floor_div(s[kBase], w); break;
    case Algorithm::Gcra: left = floor_div(limit * w - gcra_debt(s, config, now_ms), w); break;
  }
  return std::max<int64_t>(0, left);
}

int64_t wait_ms(const State& s, const LimiterConfig& config, int64_t now_ms, int64_t cost) {
  const int64_t w = config.window_ms;
  const int64_t limit = config.limit;
  switch (config.algorithm) {
    case Algorithm::FixedWindow:
      if (s[kBase] + cost <= limit || s[kBase] == 0) return 0;
      return s[kBase + 1] - now_ms;
    case Algorithm::SlidingWindow: {
      const int64_t elapsed = now_ms - s[kBase];
      const int64_t prev = s[kBase + 1];
      const int64_t cur = s[kBase + 2];
      const int64_t room = limit - cur - cost;
      if (room >= 0) {
        const int64_t e = sw_first_elapsed(prev, room, w);
        if (e <= elapsed) return 0;
        if (e < w) return e - elapsed;
      }
      // Not within this window: in the next one `cur` becomes the weighted previous count.
      return (w - elapsed) + sw_first_elapsed(cur, limit - cost, w);
    }
    case Algorithm::SlidingLog: {
      const int64_t need = s[kBase] + cost - limit;
      if (need <= 0) return 0;
      int64_t freed = 0;
      for (size_t i = kBase + 1; i + 1 < s.size(); i += 2) {
        freed += s[i + 1];
        if (freed >= need) return s[i] + w - now_ms;
      }
      return w;  // unreachable while cost <= limit
    }
    case Algorithm::TokenBucket: {
      const int64_t need = cost * w - s[kBase];
      return need <= 0 ? 0 : ceil_div(need, limit);
    }
    case Algorithm::Gcra: {
      const int64_t need = gcra_debt(s, config, now_ms) + cost * w - limit * w;
      return need <= 0 ? 0 : ceil_div(need, limit);
    }
  }
  return 0;
}

int64_t full_after_ms(const State& s, const LimiterConfig& config, int64_t now_ms) {
  const int64_t w = config.window_ms;
  const int64_t limit = config.limit;
  switch (config.algorithm) {
    case Algorithm::FixedWindow: return s[kBase] > 0 ? s[kBase + 1] - now_ms : 0;
    case Algorithm::SlidingWindow: {
      const int64_t elapsed = now_ms - s[kBase];
      const int64_t prev = s[kBase + 1];
      const int64_t cur = s[kBase + 2];
      if (cur > 0) return (w - elapsed) + sw_first_elapsed(cur, 0, w);
      const int64_t e = sw_first_elapsed(prev, 0, w);
      return e > elapsed ? e - elapsed : 0;
    }
    case Algorithm::SlidingLog:
      return s.size() > kBase + 1 ? s[s.size() - 2] + w - now_ms : 0;
    case Algorithm::TokenBucket: return ceil_div(limit * w - s[kBase], limit);
    case Algorithm::Gcra: return ceil_div(gcra_debt(s, config, now_ms), limit);
  }
  return 0;
}

void consume(State& s, const LimiterConfig& config, int64_t now_ms, int64_t cost) {
  const int64_t w = config.window_ms;
  switch (config.algorithm) {
    case Algorithm::FixedWindow:
      if (s[kBase] == 0) s[kBase + 1] = now_ms + w;  // the window starts at its first hit
      s[kBase] += cost;
      break;
    case Algorithm::SlidingWindow: s[kBase + 2] += cost; break;
    case Algorithm::SlidingLog:
      s[kBase] += cost;
      if (s.size() > kBase + 1 && s[s.size() - 2] == now_ms) {
        s.back() += cost;
      } else {
        s.push_back(now_ms);
        s.push_back(cost);
      }
      break;
    case Algorithm::TokenBucket: s[kBase] -= cost * w; break;
    case Algorithm::Gcra:
      gcra_set_debt(s, config, now_ms, gcra_debt(s, config, now_ms) + cost * w);
      break;
  }
}

void give_back(State& s, const LimiterConfig& config, int64_t now_ms, int64_t amount) {
  const int64_t w = config.window_ms;
  const int64_t limit = config.limit;
  amount = std::min(amount, limit);
  switch (config.algorithm) {
    case Algorithm::FixedWindow:
      s[kBase] = std::max<int64_t>(0, s[kBase] - amount);
      if (s[kBase] == 0) s[kBase + 1] = 0;
      break;
    case Algorithm::SlidingWindow: {
      // Newest units first: the current window's count, then the previous one's.
      const int64_t from_cur = std::min(s[kBase + 2], amount);
      s[kBase + 2] -= from_cur;
      s[kBase + 1] = std::max<int64_t>(0, s[kBase + 1] - (amount - from_cur));
      break;
    }
    case Algorithm::SlidingLog:
      while (amount > 0 && s.size() > kBase + 1) {
        const int64_t take = std::min(s.back(), amount);
        s.back() -= take;
        s[kBase] -= take;
        amount -= take;
        if (s.back() == 0) s.resize(s.size() - 2);
      }
      break;
    case Algorithm::TokenBucket: s[kBase] = std::min(limit * w, s[kBase] + amount * w); break;
    case Algorithm::Gcra:
      gcra_set_debt(s, config, now_ms, std::max<int64_t>(0, gcra_debt(s, config, now_ms) - amount * w));
      break;
  }
}

}  // namespace limiter_math
}  // namespace redkeeper
