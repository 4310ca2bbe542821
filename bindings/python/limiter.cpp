// Limiter: NativeLimiter (core calls, sync and async) and the raw CPython type exposing it. Methods
// use METH_FASTCALL so a hit costs no argument tuple and no pybind11 dispatch.
#include "limiter.hpp"

#include <array>
#include <new>
#include <string>
#include <utility>

#include "convert.hpp"
#include "errors.hpp"
#include "guard.hpp"

namespace redkeeper::python {

// ---- NativeLimiter ------------------------------------------------------------------------------

NativeLimiter::NativeLimiter(std::shared_ptr<Client> client, std::shared_ptr<Limiter> limiter,
                             std::shared_ptr<const Policy> policy)
    : client_(std::move(client)),
      limiter_(std::move(limiter)),
      policy_(std::move(policy)),
      inline_(client_->completes_inline()) {}

void NativeLimiter::check_open() const {
  if (client_->closed()) throw Error(ErrorCode::Closed, "client: the client is closed");
}

LimitResult NativeLimiter::hit(std::string_view key, int64_t cost) {
  check_open();
  return value_or_throw(run_sync<LimitResult>(
      inline_, [&](Callback<LimitResult> done) { limiter_->hit(key, cost, std::move(done)); }));
}

LimitResult NativeLimiter::peek(std::string_view key) {
  check_open();
  return value_or_throw(run_sync<LimitResult>(
      inline_, [&](Callback<LimitResult> done) { limiter_->peek(key, std::move(done)); }));
}

void NativeLimiter::reset(std::string_view key) {
  check_open();
  value_or_throw(
      run_sync<Unit>(inline_, [&](Callback<Unit> done) { limiter_->reset(key, std::move(done)); }));
}

LimitResult NativeLimiter::refund(std::string_view key, int64_t amount) {
  check_open();
  return value_or_throw(run_sync<LimitResult>(
      inline_, [&](Callback<LimitResult> done) { limiter_->refund(key, amount, std::move(done)); }));
}

LimitResult NativeLimiter::block(std::string_view key, int64_t duration_ms) {
  check_open();
  return value_or_throw(run_sync<LimitResult>(inline_, [&](Callback<LimitResult> done) {
    limiter_->block(key, duration_ms, std::move(done));
  }));
}

template <class T, class Start>
void NativeLimiter::start_async(LoopBridge& bridge, py::object future,
                                std::shared_ptr<const Policy> policy, Start&& start) {
  check_open();
  bridge.cork_for_turn(client_);
  auto done = bridge.expect<T>(std::move(future), std::move(policy));
  try {
    start(std::move(done));
  } catch (...) {
    bridge.forget_last();
    throw;
  }
}

void NativeLimiter::hit_async(LoopBridge& bridge, py::object future, std::string_view key,
                              int64_t cost) {
  start_async<LimitResult>(bridge, std::move(future), policy_, [&](Callback<LimitResult> done) {
    limiter_->hit(key, cost, std::move(done));
  });
}

void NativeLimiter::peek_async(LoopBridge& bridge, py::object future, std::string_view key) {
  start_async<LimitResult>(bridge, std::move(future), policy_,
                           [&](Callback<LimitResult> done) { limiter_->peek(key, std::move(done)); });
}

void NativeLimiter::reset_async(LoopBridge& bridge, py::object future, std::string_view key) {
  start_async<Unit>(bridge, std::move(future), nullptr,
                    [&](Callback<Unit> done) { limiter_->reset(key, std::move(done)); });
}

void NativeLimiter::refund_async(LoopBridge& bridge, py::object future, std::string_view key,
                                 int64_t amount) {
  start_async<LimitResult>(bridge, std::move(future), policy_, [&](Callback<LimitResult> done) {
    limiter_->refund(key, amount, std::move(done));
  });
}

void NativeLimiter::block_async(LoopBridge& bridge, py::object future, std::string_view key,
                                int64_t duration_ms) {
  start_async<LimitResult>(bridge, std::move(future), policy_, [&](Callback<LimitResult> done) {
    limiter_->block(key, duration_ms, std::move(done));
  });
}

// ---- the Python type ----------------------------------------------------------------------------

namespace {

struct LimiterObject {
  PyObject_HEAD
  NativeLimiter impl;
};

PyTypeObject g_limiter_type{};  // filled in by register_limiter

NativeLimiter& impl_of(PyObject* self) { return reinterpret_cast<LimiterObject*>(self)->impl; }

void limiter_dealloc(PyObject* self) {
  impl_of(self).~NativeLimiter();
  PyObject_Free(self);
}

// Binds FASTCALL positional + keyword arguments to `names`; slots not given stay nullptr. On a
// call that does not fit the signature, sets TypeError like a Python function would.
template <size_t N>
bool bind_args(const char* fn, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
               const std::array<const char*, N>& names, size_t required,
               std::array<PyObject*, N>& out) {
  out.fill(nullptr);
  if (nargs > static_cast<Py_ssize_t>(N)) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %zu arguments (%zd given)", fn, N, nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t j = 0; j < nkw; ++j) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, j);
    size_t slot = N;
    for (size_t k = 0; k < N; ++k) {
      if (PyUnicode_CompareWithASCIIString(name, names[k]) == 0) {
        slot = k;
        break;
      }
    }
    if (slot == N) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fn, name);
      return false;
    }
    if (out[slot] != nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fn, names[slot]);
      return false;
    }
    out[slot] = args[nargs + j];
  }
  for (size_t i = 0; i < required; ++i) {
    if (out[i] == nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fn, names[i]);
      return false;
    }
  }
  return true;
}

// The core checks this too, but names it `amount`; Python users wrote `n`.
int64_t refund_amount(PyObject* n) {
  const int64_t amount = to_int(n, "n");
  if (amount < 1) throw invalid_argument("n", "must be a positive integer");
  return amount;
}

PyObject* result_or_null(PyObject* self, const LimitResult& value) {
  PyObject* out = new_result(value, impl_of(self).policy());
  if (!out) throw py::error_already_set();
  return out;
}

PyObject* limiter_hit(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* key;
  PyObject* cost = nullptr;
  if (kwnames == nullptr && nargs == 1) {  // the common call: hit(key)
    key = args[0];
  } else {
    static constexpr std::array<const char*, 2> kNames{"key", "cost"};
    std::array<PyObject*, 2> bound;
    if (!bind_args("hit", args, nargs, kwnames, kNames, 1, bound)) return nullptr;
    key = bound[0];
    cost = bound[1];
  }
  return guarded<PyObject*>(nullptr, [&] {
    const std::string_view k = to_key(key, "key");
    const int64_t c = cost ? to_int(cost, "cost") : 1;
    return result_or_null(self, impl_of(self).hit(k, c));
  });
}

PyObject* limiter_peek(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static constexpr std::array<const char*, 1> kNames{"key"};
  std::array<PyObject*, 1> bound;
  if (!bind_args("peek", args, nargs, kwnames, kNames, 1, bound)) return nullptr;
  return guarded<PyObject*>(nullptr, [&] {
    return result_or_null(self, impl_of(self).peek(to_key(bound[0], "key")));
  });
}

PyObject* limiter_reset(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static constexpr std::array<const char*, 1> kNames{"key"};
  std::array<PyObject*, 1> bound;
  if (!bind_args("reset", args, nargs, kwnames, kNames, 1, bound)) return nullptr;
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    impl_of(self).reset(to_key(bound[0], "key"));
    Py_RETURN_NONE;
  });
}

PyObject* limiter_refund(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  static constexpr std::array<const char*, 2> kNames{"key", "n"};
  std::array<PyObject*, 2> bound;
  if (!bind_args("refund", args, nargs, kwnames, kNames, 2, bound)) return nullptr;
  return guarded<PyObject*>(nullptr, [&] {
    const std::string_view k = to_key(bound[0], "key");
    return result_or_null(self, impl_of(self).refund(k, refund_amount(bound[1])));
  });
}

PyObject* limiter_block(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static constexpr std::array<const char*, 2> kNames{"key", "seconds"};
  std::array<PyObject*, 2> bound;
  if (!bind_args("block", args, nargs, kwnames, kNames, 2, bound)) return nullptr;
  return guarded<PyObject*>(nullptr, [&] {
    const std::string_view k = to_key(bound[0], "key");
    return result_or_null(self, impl_of(self).block(k, to_duration_ms(bound[1], "seconds")));
  });
}

// Async forms, called by redkeeper._client only: (bridge, future, key[, arg]), positional.
template <size_t N>
bool positional(const char* fn, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs == static_cast<Py_ssize_t>(N) && kwnames == nullptr) return true;
  PyErr_Format(PyExc_TypeError, "%s() takes exactly %zu positional arguments", fn, N);
  return false;
}

LoopBridge& bridge_arg(PyObject* arg) { return py::handle(arg).cast<LoopBridge&>(); }
py::object future_arg(PyObject* arg) { return py::reinterpret_borrow<py::object>(arg); }

PyObject* limiter_hit_async(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                            PyObject* kwnames) {
  if (!positional<4>("_hit_async", nargs, kwnames)) return nullptr;
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    const std::string_view k = to_key(args[2], "key");
    const int64_t c = to_int(args[3], "cost");
    impl_of(self).hit_async(bridge_arg(args[0]), future_arg(args[1]), k, c);
    Py_RETURN_NONE;
  });
}

PyObject* limiter_peek_async(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                             PyObject* kwnames) {
  if (!positional<3>("_peek_async", nargs, kwnames)) return nullptr;
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    impl_of(self).peek_async(bridge_arg(args[0]), future_arg(args[1]), to_key(args[2], "key"));
    Py_RETURN_NONE;
  });
}

PyObject* limiter_reset_async(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                              PyObject* kwnames) {
  if (!positional<3>("_reset_async", nargs, kwnames)) return nullptr;
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    impl_of(self).reset_async(bridge_arg(args[0]), future_arg(args[1]), to_key(args[2], "key"));
    Py_RETURN_NONE;
  });
}

PyObject* limiter_refund_async(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                               PyObject* kwnames) {
  if (!positional<4>("_refund_async", nargs, kwnames)) return nullptr;
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    const std::string_view k = to_key(args[2], "key");
    const int64_t n = refund_amount(args[3]);
    impl_of(self).refund_async(bridge_arg(args[0]), future_arg(args[1]), k, n);
    Py_RETURN_NONE;
  });
}

PyObject* limiter_block_async(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                              PyObject* kwnames) {
  if (!positional<4>("_block_async", nargs, kwnames)) return nullptr;
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    const std::string_view k = to_key(args[2], "key");
    const int64_t ms = to_duration_ms(args[3], "seconds");
    impl_of(self).block_async(bridge_arg(args[0]), future_arg(args[1]), k, ms);
    Py_RETURN_NONE;
  });
}

template <class F>
PyCFunction fastcall(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(f));
}

constexpr int kFast = METH_FASTCALL | METH_KEYWORDS;

PyMethodDef g_methods[] = {
    {"hit", fastcall(limiter_hit), kFast,
     "hit(key, cost=1) -> RateLimitResult\n\nConsumes `cost` units for `key` when available; a "
     "rejected hit consumes nothing."},
    {"peek", fastcall(limiter_peek), kFast,
     "peek(key) -> RateLimitResult\n\nThe state a hit of cost 1 would see, consuming nothing."},
    {"reset", fastcall(limiter_reset), kFast,
     "reset(key) -> None\n\nForgets the key's state and any block on it."},
    {"refund", fastcall(limiter_refund), kFast,
     "refund(key, n) -> RateLimitResult\n\nGives back up to `n` units consumed earlier."},
    {"block", fastcall(limiter_block), kFast,
     "block(key, seconds) -> RateLimitResult\n\nRejects every hit on `key` for `seconds` (a "
     "number, a string such as '15m', or a timedelta)."},
    {"_hit_async", fastcall(limiter_hit_async), kFast, nullptr},
    {"_peek_async", fastcall(limiter_peek_async), kFast, nullptr},
    {"_reset_async", fastcall(limiter_reset_async), kFast, nullptr},
    {"_refund_async", fastcall(limiter_refund_async), kFast, nullptr},
    {"_block_async", fastcall(limiter_block_async), kFast, nullptr},
    {nullptr, nullptr, 0, nullptr}};

const LimiterConfig& config_of(PyObject* self) { return impl_of(self).config(); }

PyObject* get_name(PyObject* self, void*) {
  const std::string& name = config_of(self).name;
  return PyUnicode_FromStringAndSize(name.data(), static_cast<Py_ssize_t>(name.size()));
}
PyObject* get_algorithm(PyObject* self, void*) {
  return PyUnicode_FromString(algorithm_name(config_of(self).algorithm));
}
PyObject* get_limit(PyObject* self, void*) { return PyLong_FromLongLong(config_of(self).limit); }
PyObject* get_window(PyObject* self, void*) {
  return PyFloat_FromDouble(static_cast<double>(config_of(self).window_ms) / 1000.0);
}
PyObject* get_window_ms(PyObject* self, void*) {
  return PyLong_FromLongLong(config_of(self).window_ms);
}
PyObject* get_block_duration_ms(PyObject* self, void*) {
  return PyLong_FromLongLong(config_of(self).block_duration_ms);
}
PyObject* get_on_error(PyObject* self, void*) {
  return PyUnicode_FromString(config_of(self).on_error == FailurePolicy::Raise ? "raise" : "open");
}
PyObject* get_completes_inline(PyObject* self, void*) {
  return PyBool_FromLong(impl_of(self).completes_inline());
}

PyGetSetDef g_getset[] = {
    {"name", get_name, nullptr, "The limiter's name (part of its keys).", nullptr},
    {"algorithm", get_algorithm, nullptr, "fixed_window, sliding_window, sliding_log, ...", nullptr},
    {"limit", get_limit, nullptr, "Units allowed per window.", nullptr},
    {"window", get_window, nullptr, "The window in seconds.", nullptr},
    {"window_ms", get_window_ms, nullptr, "The window in milliseconds.", nullptr},
    {"block_duration_ms", get_block_duration_ms, nullptr,
     "How long a key stays blocked after exceeding the limit; 0 = no block.", nullptr},
    {"on_error", get_on_error, nullptr, "'open' or 'raise' when the store cannot answer.", nullptr},
    {"completes_inline", get_completes_inline, nullptr,
     "True when ops complete inside the call (memory://).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyObject* limiter_repr(PyObject* self) {
  const LimiterConfig& c = config_of(self);
  const std::string text = "Limiter(name='" + c.name + "', algorithm='" +
                           algorithm_name(c.algorithm) + "', limit=" + std::to_string(c.limit) +
                           ", window_ms=" + std::to_string(c.window_ms) + ")";
  return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
}

}  // namespace

NativeLimiter* native_limiter_of(PyObject* object) {
  if (!PyObject_TypeCheck(object, &g_limiter_type)) return nullptr;
  return &impl_of(object);
}

py::object wrap_limiter(NativeLimiter limiter) {
  LimiterObject* self = PyObject_New(LimiterObject, &g_limiter_type);
  if (!self) throw py::error_already_set();
  new (&self->impl) NativeLimiter(std::move(limiter));
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(self));
}

void register_limiter(py::module_& m) {
  PyTypeObject& t = g_limiter_type;
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(&t), 1);  // a static type is never deallocated
  t.tp_name = "redkeeper.Limiter";
  t.tp_basicsize = sizeof(LimiterObject);
  t.tp_dealloc = limiter_dealloc;
  t.tp_repr = limiter_repr;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc =
      "A rate limiter bound to a client, with sync methods (AsyncClient hands out AsyncLimiter "
      "instead). Create it with Client.limiter().";
  t.tp_methods = g_methods;
  t.tp_getset = g_getset;
  if (PyType_Ready(&t) < 0) throw py::error_already_set();
  m.add_object("Limiter", py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(&t)));
}

}  // namespace redkeeper::python
