// The extension module redkeeper._native: errors first (every other part raises them), then types.
#include <pybind11/pybind11.h>

#include "bridge.hpp"
#include "client_binding.hpp"
#include "errors.hpp"
#include "limiter.hpp"
#include "multi.hpp"
#include "primitive.hpp"
#include "result.hpp"

PYBIND11_MODULE(_native, m) {
  m.doc() = "redkeeper's C++ core (internal; import redkeeper instead).";
  redkeeper::python::register_errors(m);
  redkeeper::python::register_result(m);
  redkeeper::python::register_limiter(m);
  redkeeper::python::register_bridge(m);
  redkeeper::python::register_primitive(m);
  redkeeper::python::register_client(m);
  redkeeper::python::register_http(m);
}
