// Client.hit_many for Python (sync and asyncio) and the HTTP helpers client_ip / ip_key.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <vector>

#include "redkeeper/client.hpp"
#include "result.hpp"

namespace redkeeper::python {

namespace py = pybind11;
class LoopBridge;

// A hit_many outcome plus the policy of each check, so results can render their own headers.
struct MultiOutcome {
  MultiLimitResult value;
  std::shared_ptr<const std::vector<std::shared_ptr<const Policy>>> policies;
};

// (allowed, [RateLimitResult, ...], deciding index); redkeeper/_multi.py wraps it.
py::object multi_to_python(const MultiOutcome& outcome);

// `checks`: an iterable of (Limiter, key) or (Limiter, key, cost) tuples.
py::object hit_many(const std::shared_ptr<Client>& client, py::handle checks);
void hit_many_async(const std::shared_ptr<Client>& client, LoopBridge& bridge, py::object future,
                    py::handle checks);

void register_http(py::module_& m);

}  // namespace redkeeper::python
