// Script-based primitives (tokens, sessions, cache, locks, ...) for Python: one generic native type,
// NativePrimitive, whose call(op, args) converts JSON-shaped Python values to redkeeper::Value and
// back. Typed wrappers live in python/redkeeper/<primitive>.py over redkeeper._primitive.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string_view>

#include "redkeeper/client.hpp"
#include "redkeeper/primitive.hpp"

namespace redkeeper::python {

namespace py = pybind11;

// Python -> Value. dict (str keys), list/tuple, str, bytes/bytearray/memoryview (-> binary), int
// (int64 range), float (finite), bool, None. Anything else, a value out of range, or nesting deeper
// than kMaxDepth (cycles included) raises InvalidArgument naming the path, e.g. "args.items[2]".
Value value_from_python(py::handle value, const char* root);
// Value -> Python: objects -> dict, arrays -> list, binary -> bytes.
py::object value_to_python(const Value& value);

// The NativePrimitive bound to client->primitive(kind, config).
py::object make_primitive(const std::shared_ptr<Client>& client, py::handle kind, py::handle config);

void register_primitive(py::module_& m);

}  // namespace redkeeper::python
