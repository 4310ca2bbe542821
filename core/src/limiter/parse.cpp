// Human-friendly limiter input: durations, rates, algorithm names, config and key validation.
// Parsing is by hand (no strtod) so results never depend on the process locale.
#include <cctype>
#include <cmath>
#include <string>

#include "limiter/limiter_math.hpp"
#include "redkeeper/limiter.hpp"

namespace redkeeper {

namespace {

namespace lm = limiter_math;

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text.substr(0, 64)) + (text.size() > 64 ? "...'" : "'");
}

// Milliseconds per unit, 0 when unknown.
int64_t unit_ms(std::string_view unit) {
  const std::string u = lower(unit);
  if (u == "ms" || u == "msec" || u == "msecs" || u == "millisecond" || u == "milliseconds") return 1;
  if (u == "s" || u == "sec" || u == "secs" || u == "second" || u == "seconds") return 1000;
  if (u == "m" || u == "min" || u == "mins" || u == "minute" || u == "minutes") return 60'000;
  if (u == "h" || u == "hr" || u == "hrs" || u == "hour" || u == "hours") return 3'600'000;
  if (u == "d" || u == "day" || u == "days") return 86'400'000;
  if (u == "w" || u == "wk" || u == "week" || u == "weeks") return 604'800'000;
  return 0;
}

// "<number>[ ]<unit>" with the number a plain decimal (no sign, no exponent). `unit_required`:
// a bare number is rejected instead of meaning seconds. Returns whole milliseconds, rounding a
// fractional millisecond half up; rejects anything below 1 ms or above the maximum duration.
int64_t parse_amount(std::string_view raw, std::string_view param, bool unit_required) {
  const std::string_view text = trim(raw);
  if (text.empty()) throw invalid_argument(std::string(param), "must not be empty");
  size_t i = 0;
  int64_t whole = 0;
  bool whole_overflow = false;
  size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (whole > lm::kMaxDurationMs) whole_overflow = true; else whole = whole * 10 + (text[i] - '0');
    ++i;
    ++digits;
  }
  int64_t frac = 0;
  int64_t frac_scale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (i == text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) {
      throw invalid_argument(std::string(param), "expected digits after '.' in " + quoted(text));
    }
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (frac_scale >= 1'000'000'000) {
        throw invalid_argument(std::string(param), "too many decimal places in " + quoted(text));
      }
      frac = frac * 10 + (text[i] - '0');
      frac_scale *= 10;
      ++i;
      ++digits;
    }
  }
  if (digits == 0) {
    if (text.front() == '-') throw invalid_argument(std::string(param), "must be positive, got " + quoted(text));
    throw invalid_argument(std::string(param), "expected a number of seconds or a duration like '15m', got " +
                                                   quoted(text));
  }
  const std::string_view unit = trim(text.substr(i));
  int64_t per_unit = 1000;
  if (unit.empty()) {
    if (unit_required) {
      throw invalid_argument(std::string(param), "expected a unit (ms, s, m, h, d) in " + quoted(text));
    }
  } else {
    per_unit = unit_ms(unit);
    if (per_unit == 0) throw invalid_argument(std::string(param), "unknown unit in " + quoted(text));
  }
  if (whole_overflow || whole > lm::kMaxDurationMs / per_unit) {
    throw invalid_argument(std::string(param), "is too large: " + quoted(text));
  }
  // frac < 1e9 and per_unit < 1e9, so the product fits in int64.
  const int64_t frac_units = frac * per_unit;
  const int64_t frac_ms = frac_units / frac_scale;
  const bool below_one_ms = whole == 0 && frac_ms == 0;
  if (below_one_ms) {
    throw invalid_argument(std::string(param), "must be at least 1 ms, got " + quoted(text));
  }
  const int64_t rounded = frac_ms + ((frac_units % frac_scale) * 2 >= frac_scale ? 1 : 0);
  const int64_t total = whole * per_unit + rounded;
  if (total > lm::kMaxDurationMs) throw invalid_argument(std::string(param), "is too large: " + quoted(text));
  return total;
}

bool valid_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

}  // namespace

Algorithm parse_algorithm(std::string_view name) {
  if (name == "fixed_window") return Algorithm::FixedWindow;
  if (name == "sliding_window") return Algorithm::SlidingWindow;
  if (name == "sliding_log") return Algorithm::SlidingLog;
  if (name == "token_bucket") return Algorithm::TokenBucket;
  if (name == "gcra") return Algorithm::Gcra;
  throw invalid_argument("algorithm", "unknown algorithm " + quoted(name) +
                                          " (expected fixed_window, sliding_window, sliding_log, "
                                          "token_bucket or gcra)");
}

const char* algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::FixedWindow: return "fixed_window";
    case Algorithm::SlidingWindow: return "sliding_window";
    case Algorithm::SlidingLog: return "sliding_log";
    case Algorithm::TokenBucket: return "token_bucket";
    case Algorithm::Gcra: return "gcra";
  }
  return "unknown";
}

void validate(const LimiterConfig& config) {
  if (config.name.empty() || config.name.size() > 64) {
    throw invalid_argument("name", "must be 1 to 64 characters");
  }
  for (char c : config.name) {
    if (!valid_name_char(c)) {
      throw invalid_argument("name", "may contain only letters, digits, '_', '.' and '-'");
    }
  }
  const int algorithm = static_cast<int>(config.algorithm);
  if (algorithm < static_cast<int>(Algorithm::FixedWindow) || algorithm > static_cast<int>(Algorithm::Gcra)) {
    throw invalid_argument("algorithm", "unknown algorithm");
  }
  if (config.limit < 1 || config.limit > lm::kMaxLimit) {
    throw invalid_argument("limit", "must be an integer from 1 to " + std::to_string(lm::kMaxLimit) +
                                        ", got " + std::to_string(config.limit));
  }
  if (config.window_ms < 1 || config.window_ms > lm::kMaxDurationMs) {
    throw invalid_argument("window", "must be from 1 ms to about ten years, got " +
                                         std::to_string(config.window_ms) + " ms");
  }
  if (config.limit > lm::kMaxLimitTimesWindow / config.window_ms) {
    throw invalid_argument("limit", "limit * window (in ms) must not exceed 2^52");
  }
  if (config.block_duration_ms < 0 || config.block_duration_ms > lm::kMaxDurationMs) {
    throw invalid_argument("block_duration", "must be from 0 (no block) to about ten years, got " +
                                                 std::to_string(config.block_duration_ms) + " ms");
  }
  if (config.local_block_cache_size > kMaxLocalBlockCacheSize) {
    throw invalid_argument("local_block_cache", "must be from 0 (off) to " +
                                                    std::to_string(kMaxLocalBlockCacheSize) + " entries");
  }
}

void validate_key(std::string_view key, std::string_view param) {
  if (key.empty()) throw invalid_argument(std::string(param), "must not be empty");
  if (key.size() > 1024) {
    throw invalid_argument(std::string(param), "must be at most 1024 bytes, got " +
                                                   std::to_string(key.size()));
  }
}

int64_t parse_duration_ms(std::string_view text, std::string_view param) {
  return parse_amount(text, param, false);
}

int64_t seconds_to_ms(double seconds, std::string_view param) {
  if (std::isnan(seconds) || std::isinf(seconds)) {
    throw invalid_argument(std::string(param), "must be a finite number of seconds");
  }
  if (seconds <= 0) throw invalid_argument(std::string(param), "must be positive");
  const double ms = seconds * 1000.0;
  if (ms < 1.0) throw invalid_argument(std::string(param), "must be at least 1 ms (0.001 s)");
  if (ms > static_cast<double>(lm::kMaxDurationMs)) {
    throw invalid_argument(std::string(param), "is too large");
  }
  return std::llround(ms);
}

Rate parse_rate(std::string_view raw) {
  const std::string_view text = trim(raw);
  if (text.empty()) throw invalid_argument("rate", "must not be empty");
  std::string_view left;
  std::string_view right;
  const size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    left = text.substr(0, slash);
    right = text.substr(slash + 1);
  } else {
    const std::string low = lower(text);
    size_t per = std::string::npos;
    for (size_t i = 1; i + 4 < low.size(); ++i) {
      if (std::isspace(static_cast<unsigned char>(low[i])) && low.compare(i + 1, 3, "per") == 0 &&
          std::isspace(static_cast<unsigned char>(low[i + 4]))) {
        per = i;
        break;
      }
    }
    if (per == std::string::npos) {
      throw invalid_argument("rate", "expected '<limit>/<period>' or '<limit> per <period>', got " +
                                         quoted(text));
    }
    left = text.substr(0, per);
    right = text.substr(per + 5);
  }
  left = trim(left);
  right = trim(right);
  if (left.empty() || left.size() > 10) {
    throw invalid_argument("rate", "limit must be an integer from 1 to " + std::to_string(lm::kMaxLimit) +
                                       " in " + quoted(text));
  }
  int64_t limit = 0;
  for (char c : left) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      throw invalid_argument("rate", "limit must be a positive integer in " + quoted(text));
    }
    limit = limit * 10 + (c - '0');
  }
  if (limit < 1 || limit > lm::kMaxLimit) {
    throw invalid_argument("rate", "limit must be an integer from 1 to " + std::to_string(lm::kMaxLimit) +
                                       " in " + quoted(text));
  }
  if (right.empty()) throw invalid_argument("rate", "missing period in " + quoted(text));
  Rate rate;
  rate.limit = limit;
  if (std::isdigit(static_cast<unsigned char>(right.front())) || right.front() == '.') {
    rate.window_ms = parse_amount(right, "rate", true);
  } else {
    rate.window_ms = parse_amount("1" + std::string(right), "rate", true);
  }
  return rate;
}

HeaderStandard parse_header_standard(std::string_view name) {
  const std::string n = lower(trim(name));
  if (n.empty() || n == "none") return HeaderStandard::None;
  if (n == "draft-6") return HeaderStandard::Draft6;
  if (n == "draft-7") return HeaderStandard::Draft7;
  if (n == "draft-8") return HeaderStandard::Draft8;
  throw invalid_argument("standard", "expected draft-6, draft-7, draft-8 or none, got " + quoted(name));
}

}  // namespace redkeeper
