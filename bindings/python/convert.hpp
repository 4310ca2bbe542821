// Checks and converts host-language values (keys, counts, durations, names) into core types. Wrong
// Python types raise InvalidArgument naming the parameter, never pybind11's generic TypeError.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace redkeeper::python {

namespace py = pybind11;

// str (as UTF-8) or bytes; the view lives as long as `value`. Length/emptiness rules are the core's.
std::string_view to_key(py::handle value, const char* param);
// An int (or an object with __index__), never a bool or a float.
int64_t to_int(py::handle value, const char* param);
// A str; anything else raises InvalidArgument.
std::string to_string(py::handle value, const char* param);
// None or a str.
std::string to_optional_string(py::handle value, const char* param);
// True or False only.
bool to_bool(py::handle value, const char* param);
// Seconds as int/float, a duration string ("900", "15m", "1h") or a datetime.timedelta.
int64_t to_duration_ms(py::handle value, const char* param);
// Seconds as int/float only (timeouts), converted to whole milliseconds (at least 1).
int64_t seconds_to_timeout_ms(py::handle value, const char* param);

}  // namespace redkeeper::python
