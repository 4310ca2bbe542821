// Runs C++ code under a raw CPython entry point: any C++ exception becomes the matching Python
// exception and the function returns the error value, so nothing escapes into the interpreter.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <new>

#include "errors.hpp"
#include "redkeeper/error.hpp"

namespace redkeeper::python {

template <class R, class F>
R guarded(R on_error, F&& body) noexcept {
  try {
    return body();
  } catch (const Error& e) {
    set_python_error(e);
  } catch (pybind11::error_already_set& e) {
    e.restore();
  } catch (const pybind11::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    set_python_error(Error(ErrorCode::Internal, e.what()));
  } catch (...) {
    set_python_error(Error(ErrorCode::Internal, "unknown C++ exception"));
  }
  return on_error;
}

}  // namespace redkeeper::python
