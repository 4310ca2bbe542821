// Reading a primitive's JSON arguments and options: absent vs null, unknown keys, durations. One
// place, so every primitive rejects the same input with the same kind of message.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "redkeeper/primitive.hpp"

namespace redkeeper {

// The member `field` of an object, or nullptr when it is absent or null (null = not given).
const Value* member(const Value& obj, const char* field);

// InvalidArgument naming the first key of `obj` not in `known` ("unknown <what>"), or naming `what`
// when `obj` is neither an object nor null (null = no arguments).
void reject_unknown(const Value& obj, std::initializer_list<std::string_view> known, const char* what);

// A duration option in [min, max] ms: an integer, a finite number rounded up to whole ms, or a
// duration string as the limiter takes them ("30s", "15m", a bare number = seconds). nullopt when
// absent or null.
std::optional<int64_t> optional_ms(const Value& obj, const char* field, int64_t min, int64_t max);

}  // namespace redkeeper
