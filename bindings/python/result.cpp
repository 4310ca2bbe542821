// The RateLimitResult type: read-only fields, seconds and milliseconds views, __bool__, __repr__,
// equality, and headers().
#include "result.hpp"

#include <cstdio>
#include <new>
#include <string>

#include "convert.hpp"
#include "guard.hpp"

namespace redkeeper::python {
namespace {

struct ResultObject {
  PyObject_HEAD
  LimitResult value;
  std::shared_ptr<const Policy> policy;
  // The injected clock's reading when the result was made, so the legacy reset instant does not
  // drift if headers() is called later; 0 = system clock, read by render_headers itself.
  int64_t made_at_ms;
};

PyTypeObject g_result_type{};  // filled in by register_result

ResultObject* as_result(PyObject* self) { return reinterpret_cast<ResultObject*>(self); }
const LimitResult& value_of(PyObject* self) { return as_result(self)->value; }

double seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

void result_dealloc(PyObject* self) {
  as_result(self)->policy.~shared_ptr();
  as_result(self)->value.~LimitResult();
  PyObject_Free(self);
}

PyObject* result_new(PyTypeObject*, PyObject* args, PyObject* kwargs) {
  static const char* kwlist[] = {"allowed",        "limit",    "remaining", "reset_after_ms",
                                 "retry_after_ms", "degraded", "name",      "window_ms", nullptr};
  PyObject *allowed = nullptr, *limit = nullptr, *remaining = nullptr, *reset_after_ms = nullptr;
  PyObject *retry_after_ms = nullptr, *degraded = nullptr, *name = nullptr, *window_ms = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOOOOOO:RateLimitResult",
                                   const_cast<char**>(kwlist), &allowed, &limit, &remaining,
                                   &reset_after_ms, &retry_after_ms, &degraded, &name,
                                   &window_ms)) {
    return nullptr;
  }
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    if (!allowed || !limit || !remaining || !reset_after_ms) {
      throw invalid_argument("RateLimitResult",
                             "allowed, limit, remaining and reset_after_ms are required");
    }
    LimitResult v;
    v.allowed = to_bool(allowed, "allowed");
    v.limit = to_int(limit, "limit");
    v.remaining = to_int(remaining, "remaining");
    v.reset_after_ms = to_int(reset_after_ms, "reset_after_ms");
    v.retry_after_ms = retry_after_ms ? to_int(retry_after_ms, "retry_after_ms") : 0;
    v.degraded = degraded ? to_bool(degraded, "degraded") : false;
    auto policy = std::make_shared<Policy>();
    policy->config.name = name ? to_string(name, "name") : std::string();
    policy->config.limit = v.limit;
    policy->config.window_ms = window_ms ? to_int(window_ms, "window_ms") : 0;
    PyObject* out = new_result(v, policy);
    if (!out) throw py::error_already_set();
    return out;
  });
}

PyObject* get_allowed(PyObject* self, void*) { return PyBool_FromLong(value_of(self).allowed); }
PyObject* get_limit(PyObject* self, void*) { return PyLong_FromLongLong(value_of(self).limit); }
PyObject* get_remaining(PyObject* self, void*) {
  return PyLong_FromLongLong(value_of(self).remaining);
}
PyObject* get_reset_after(PyObject* self, void*) {
  return PyFloat_FromDouble(seconds(value_of(self).reset_after_ms));
}
PyObject* get_retry_after(PyObject* self, void*) {
  return PyFloat_FromDouble(seconds(value_of(self).retry_after_ms));
}
PyObject* get_reset_after_ms(PyObject* self, void*) {
  return PyLong_FromLongLong(value_of(self).reset_after_ms);
}
PyObject* get_retry_after_ms(PyObject* self, void*) {
  return PyLong_FromLongLong(value_of(self).retry_after_ms);
}
PyObject* get_degraded(PyObject* self, void*) { return PyBool_FromLong(value_of(self).degraded); }

PyGetSetDef g_getset[] = {
    {"allowed", get_allowed, nullptr, "True when the hit was admitted.", nullptr},
    {"limit", get_limit, nullptr, "Units allowed per window.", nullptr},
    {"remaining", get_remaining, nullptr, "Units left after this op.", nullptr},
    {"reset_after", get_reset_after, nullptr, "Seconds until the full allowance is back.", nullptr},
    {"retry_after", get_retry_after, nullptr,
     "Seconds until a hit of the same cost can succeed; 0.0 when allowed.", nullptr},
    {"reset_after_ms", get_reset_after_ms, nullptr, "reset_after in milliseconds.", nullptr},
    {"retry_after_ms", get_retry_after_ms, nullptr, "retry_after in milliseconds.", nullptr},
    {"degraded", get_degraded, nullptr,
     "True when the fail-open policy answered because the store could not.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

int result_bool(PyObject* self) { return value_of(self).allowed ? 1 : 0; }

PyNumberMethods g_number = {};

PyObject* result_repr(PyObject* self) {
  const LimitResult& v = value_of(self);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "RateLimitResult(allowed=%s, limit=%lld, remaining=%lld, reset_after=%.3f, "
                "retry_after=%.3f%s)",
                v.allowed ? "True" : "False", static_cast<long long>(v.limit),
                static_cast<long long>(v.remaining), seconds(v.reset_after_ms),
                seconds(v.retry_after_ms), v.degraded ? ", degraded=True" : "");
  return PyUnicode_FromString(buf);
}

bool same(const LimitResult& x, const LimitResult& y) {
  return x.allowed == y.allowed && x.limit == y.limit && x.remaining == y.remaining &&
         x.reset_after_ms == y.reset_after_ms && x.retry_after_ms == y.retry_after_ms &&
         x.degraded == y.degraded;
}

PyObject* result_richcompare(PyObject* a, PyObject* b, int op) {
  if ((op != Py_EQ && op != Py_NE) || Py_TYPE(b) != &g_result_type) Py_RETURN_NOTIMPLEMENTED;
  const bool equal = same(value_of(a), value_of(b));
  return PyBool_FromLong((op == Py_EQ) == equal);
}

Py_hash_t result_hash(PyObject* self) {
  const LimitResult& v = value_of(self);
  PyObject* t = Py_BuildValue("(iLLLLi)", v.allowed ? 1 : 0, static_cast<long long>(v.limit),
                              static_cast<long long>(v.remaining),
                              static_cast<long long>(v.reset_after_ms),
                              static_cast<long long>(v.retry_after_ms), v.degraded ? 1 : 0);
  if (!t) return -1;
  const Py_hash_t h = PyObject_Hash(t);
  Py_DECREF(t);
  return h;
}

PyObject* result_headers(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* kwlist[] = {"standard", "legacy", "now_ms", nullptr};
  PyObject *standard = nullptr, *legacy = nullptr, *now_ms = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO$O:headers", const_cast<char**>(kwlist),
                                   &standard, &legacy, &now_ms)) {
    return nullptr;
  }
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    const ResultObject* r = as_result(self);
    HeaderOptions options;
    options.standard = standard ? parse_header_standard(to_string(standard, "standard"))
                                : HeaderStandard::Draft7;
    options.legacy = legacy ? to_bool(legacy, "legacy") : true;
    if (now_ms && now_ms != Py_None) {
      options.now_ms = to_int(now_ms, "now_ms");
    } else {
      options.now_ms = r->made_at_ms;
    }
    static const LimiterConfig kNoPolicy;
    const LimiterConfig& config = r->policy ? r->policy->config : kNoPolicy;
    py::dict out;
    for (const auto& [name, value] : render_headers(r->value, config, options)) {
      out[py::str(name)] = py::str(value);
    }
    return out.release().ptr();
  });
}

PyMethodDef g_methods[] = {
    {"headers", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(result_headers)),
     METH_VARARGS | METH_KEYWORDS,
     "headers(standard='draft-7', legacy=True, *, now_ms=None) -> dict[str, str]\n\n"
     "HTTP headers for this result, rendered by the core: the chosen IETF draft ('draft-6', "
     "'draft-7', 'draft-8' or 'none'), X-RateLimit-* when legacy, and Retry-After when rejected. "
     "now_ms (epoch ms) fixes the legacy reset instant; by default the time of the op on the client's "
     "clock."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

PyObject* new_result(const LimitResult& value, const std::shared_ptr<const Policy>& policy) noexcept {
  ResultObject* self = PyObject_New(ResultObject, &g_result_type);
  if (!self) return nullptr;
  new (&self->value) LimitResult(value);
  new (&self->policy) std::shared_ptr<const Policy>(policy);
  self->made_at_ms = policy && policy->clock ? policy->clock->now_ms() : 0;
  return reinterpret_cast<PyObject*>(self);
}

void register_result(py::module_& m) {
  g_number.nb_bool = result_bool;
  PyTypeObject& t = g_result_type;
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(&t), 1);  // a static type is never deallocated
  t.tp_name = "redkeeper.RateLimitResult";
  t.tp_basicsize = sizeof(ResultObject);
  t.tp_dealloc = result_dealloc;
  t.tp_repr = result_repr;
  t.tp_as_number = &g_number;
  t.tp_hash = result_hash;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc =
      "RateLimitResult(*, allowed, limit, remaining, reset_after_ms, retry_after_ms=0, "
      "degraded=False, name='', window_ms=0)\n\nThe outcome of a limiter op; truthy when the hit "
      "was allowed. Built by the limiter; the constructor is for tests and mocks (name and "
      "window_ms describe the policy for headers()).";
  t.tp_richcompare = result_richcompare;
  t.tp_methods = g_methods;
  t.tp_getset = g_getset;
  t.tp_new = result_new;
  if (PyType_Ready(&t) < 0) throw py::error_already_set();
  m.add_object("RateLimitResult", py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(&t)));
}

}  // namespace redkeeper::python
