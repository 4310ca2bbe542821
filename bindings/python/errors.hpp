// The one place where redkeeper::Error becomes a Python exception: the exception classes, the
// pybind11 translator, and the conversion used when an asynchronous op settles an asyncio Future.
#pragma once

#include <pybind11/pybind11.h>

#include "redkeeper/error.hpp"

namespace redkeeper::python {

namespace py = pybind11;

// Creates the exception hierarchy in `m` and registers the translator. Call once at import.
void register_errors(py::module_& m);

// A new exception instance (not raised) for `error`, e.g. to hand to Future.set_exception.
py::object make_exception(const Error& error);

// Sets the Python error indicator for `error`; the caller then returns NULL / throws error_already_set.
void set_python_error(const Error& error) noexcept;

}  // namespace redkeeper::python
