// Host-type checks for the Python binding. Range rules (positive, finite, at most 1 KiB...) stay in
// the core; this file only decides which Python types are acceptable and names the parameter.
#include "convert.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "redkeeper/error.hpp"
#include "redkeeper/limiter.hpp"

namespace redkeeper::python {
namespace {

std::string type_name(py::handle value) { return Py_TYPE(value.ptr())->tp_name; }

[[noreturn]] void wrong_type(const char* param, const char* expected, py::handle value) {
  throw invalid_argument(param, std::string("must be ") + expected + ", not " + type_name(value));
}

double number_to_double(py::handle value, const char* param) {
  PyObject* o = value.ptr();
  if (PyFloat_Check(o)) return PyFloat_AS_DOUBLE(o);
  // An int that does not fit a double is out of range for any duration anyway.
  const double d = PyLong_AsDouble(o);
  if (d == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw invalid_argument(param, "is out of range");
  }
  return d;
}

bool is_real_number(PyObject* o) {
  return !PyBool_Check(o) && (PyLong_Check(o) || PyFloat_Check(o));
}

}  // namespace

std::string_view to_key(py::handle value, const char* param) {
  PyObject* o = value.ptr();
  if (PyUnicode_Check(o)) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(o, &size);
    if (data == nullptr) {
      PyErr_Clear();
      throw invalid_argument(param, "is not encodable as UTF-8 (lone surrogate?)");
    }
    return {data, static_cast<size_t>(size)};
  }
  if (PyBytes_Check(o)) {
    return {PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o))};
  }
  wrong_type(param, "str or bytes", value);
}

int64_t to_int(py::handle value, const char* param) {
  PyObject* o = value.ptr();
  if (PyBool_Check(o)) wrong_type(param, "an int", value);
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0) throw invalid_argument(param, "is out of range");
    if (v == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      throw invalid_argument(param, "is not a valid integer");
    }
    return v;
  }
  // numpy integers and the like: anything that is an integer by __index__ except floats.
  if (!PyFloat_Check(o) && PyIndex_Check(o)) {
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!index) {
      PyErr_Clear();
      wrong_type(param, "an int", value);
    }
    return to_int(index, param);
  }
  wrong_type(param, "an int", value);
}

std::string to_string(py::handle value, const char* param) {
  if (!PyUnicode_Check(value.ptr())) wrong_type(param, "a str", value);
  return std::string(to_key(value, param));
}

std::string to_optional_string(py::handle value, const char* param) {
  if (value.is_none()) return {};
  if (!PyUnicode_Check(value.ptr())) wrong_type(param, "a str or None", value);
  return std::string(to_key(value, param));
}

bool to_bool(py::handle value, const char* param) {
  if (!PyBool_Check(value.ptr())) wrong_type(param, "True or False", value);
  return value.ptr() == Py_True;
}

int64_t to_duration_ms(py::handle value, const char* param) {
  PyObject* o = value.ptr();
  if (is_real_number(o)) return seconds_to_ms(number_to_double(value, param), param);
  if (PyUnicode_Check(o)) return parse_duration_ms(to_key(value, param), param);
  static const py::handle timedelta = [] {
    // Held for the life of the process: the datetime module is never unloaded.
    return py::object(py::module_::import("datetime").attr("timedelta")).release();
  }();
  if (PyObject_IsInstance(o, timedelta.ptr()) == 1) {
    const double seconds = value.attr("total_seconds")().cast<double>();
    return seconds_to_ms(seconds, param);
  }
  PyErr_Clear();
  wrong_type(param, "seconds (int or float), a duration string like '15m', or a datetime.timedelta",
             value);
}

int64_t seconds_to_timeout_ms(py::handle value, const char* param) {
  PyObject* o = value.ptr();
  if (!is_real_number(o)) wrong_type(param, "seconds as an int or float", value);
  const double seconds = number_to_double(value, param);
  if (!std::isfinite(seconds) || seconds <= 0) {
    throw invalid_argument(param, "must be a finite number of seconds > 0");
  }
  if (seconds > 365.0 * 24 * 3600) throw invalid_argument(param, "is out of range (at most a year)");
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds * 1000.0)));
}

}  // namespace redkeeper::python
