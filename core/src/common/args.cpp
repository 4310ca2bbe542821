// Shared readers for primitives' JSON arguments (see args.hpp).
#include "common/args.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "redkeeper/limiter.hpp"  // parse_duration_ms

namespace redkeeper {

const Value* member(const Value& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

void reject_unknown(const Value& obj, std::initializer_list<std::string_view> known, const char* what) {
  if (obj.is_null()) return;
  if (!obj.is_object()) throw invalid_argument(what, "must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      throw invalid_argument(it.key().substr(0, 64), std::string("unknown ") + what);
    }
  }
}

std::optional<int64_t> optional_ms(const Value& obj, const char* field, int64_t min, int64_t max) {
  const Value* v = member(obj, field);
  if (v == nullptr) return std::nullopt;
  int64_t ms = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    ms = u > static_cast<uint64_t>(max) ? max + 1 : static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    ms = v->get<int64_t>();
  } else if (v->is_string()) {
    ms = parse_duration_ms(v->get_ref<const std::string&>(), field);
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!std::isfinite(d)) throw invalid_argument(field, "must be a finite number of milliseconds");
    if (d > static_cast<double>(max)) throw invalid_argument(field, "must be <= " + std::to_string(max));
    if (d < static_cast<double>(min)) throw invalid_argument(field, "must be >= " + std::to_string(min));
    ms = static_cast<int64_t>(std::ceil(d));
  } else {
    throw invalid_argument(field, "must be a number of milliseconds or a duration string");
  }
  if (ms < min) throw invalid_argument(field, "must be >= " + std::to_string(min));
  if (ms > max) throw invalid_argument(field, "must be <= " + std::to_string(max));
  return ms;
}

}  // namespace redkeeper
