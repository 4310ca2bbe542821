// RateLimitResult: an immutable limiter outcome plus the policy it came from, so it can render its
// own HTTP headers through the core's render_headers. A raw CPython type: one is built per hit, so
// it must cost a small allocation and nothing more.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "redkeeper/clock.hpp"
#include "redkeeper/limiter.hpp"

namespace redkeeper::python {

namespace py = pybind11;

// Shared by a limiter and every result it returns: what headers() needs besides the numbers.
struct Policy {
  LimiterConfig config;
  std::shared_ptr<Clock> clock;  // the client's injected clock; null = system time
};

// A new reference, or nullptr with MemoryError set.
PyObject* new_result(const LimitResult& value, const std::shared_ptr<const Policy>& policy) noexcept;

void register_result(py::module_& m);

}  // namespace redkeeper::python
