// Rate-limit response headers: legacy X-RateLimit-*, IETF drafts 6/7/8, and Retry-After.
#include <algorithm>
#include <string>

#include "limiter/limiter_math.hpp"
#include "redkeeper/clock.hpp"
#include "redkeeper/limiter.hpp"

namespace redkeeper {

namespace {

std::string ceil_seconds(int64_t ms) {
  return std::to_string(limiter_math::ceil_div(std::max<int64_t>(0, ms), 1000));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> render_headers(const LimitResult& result,
                                                                const LimiterConfig& policy,
                                                                const HeaderOptions& options) {
  std::vector<std::pair<std::string, std::string>> headers;
  const std::string limit = std::to_string(result.limit);
  const std::string remaining = std::to_string(std::max<int64_t>(0, result.remaining));
  const std::string reset = ceil_seconds(result.reset_after_ms);
  const std::string window = ceil_seconds(policy.window_ms);
  const std::string policy_limit = std::to_string(policy.limit);
  switch (options.standard) {
    case HeaderStandard::None: break;
    case HeaderStandard::Draft6:
      headers.emplace_back("RateLimit-Limit", limit);
      headers.emplace_back("RateLimit-Remaining", remaining);
      headers.emplace_back("RateLimit-Reset", reset);
      headers.emplace_back("RateLimit-Policy", policy_limit + ";w=" + window);
      break;
    case HeaderStandard::Draft7:
      headers.emplace_back("RateLimit", "limit=" + limit + ", remaining=" + remaining + ", reset=" + reset);
      headers.emplace_back("RateLimit-Policy", policy_limit + ";w=" + window);
      break;
    case HeaderStandard::Draft8:
      headers.emplace_back("RateLimit", "\"" + policy.name + "\"; r=" + remaining + "; t=" + reset);
      headers.emplace_back("RateLimit-Policy",
                           "\"" + policy.name + "\"; q=" + policy_limit + "; w=" + window);
      break;
  }
  if (options.legacy) {
    const int64_t now_ms = options.now_ms != 0 ? options.now_ms : SystemClock().now_ms();
    headers.emplace_back("X-RateLimit-Limit", limit);
    headers.emplace_back("X-RateLimit-Remaining", remaining);
    headers.emplace_back("X-RateLimit-Reset",
                         std::to_string(limiter_math::ceil_div(now_ms + std::max<int64_t>(0, result.reset_after_ms), 1000)));
  }
  if (!result.allowed) headers.emplace_back("Retry-After", ceil_seconds(result.retry_after_ms));
  return headers;
}

}  // namespace redkeeper
