// NativePrimitive: a raw CPython type (METH_FASTCALL, like Limiter) over redkeeper::Primitive, the
// strict JSON conversion both ways, and the per-call handoff that lets one op complete inline (the
// common case on memory://) or later on a core thread (Redis, waits, timers) without a race.
#include "primitive.hpp"

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "bridge.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "redkeeper/limiter.hpp"

namespace redkeeper::python {
namespace {

// Deep enough for any real document, shallow enough that the recursion cannot exhaust the C stack;
// a self-referencing list or dict hits it too, so cycles need no separate bookkeeping.
constexpr int kMaxDepth = 64;

// Where a value sits inside the argument, kept on the stack and only formatted when an error names it.
struct PathSegment {
  const PathSegment* parent;
  const char* root;     // only the outermost segment
  PyObject* key;        // dict member (a str), borrowed
  Py_ssize_t index;     // list item, when key is null and root is null
};

std::string path_text(const PathSegment* seg) {
  if (seg->root != nullptr) return seg->root;
  std::string out = path_text(seg->parent);
  if (seg->key != nullptr) {
    Py_ssize_t n = 0;
    const char* text = PyUnicode_AsUTF8AndSize(seg->key, &n);
    if (text == nullptr) {
      PyErr_Clear();
      return out + ".?";
    }
    return out + "." + std::string(text, static_cast<size_t>(n));
  }
  return out + "[" + std::to_string(seg->index) + "]";
}

[[noreturn]] void bad(const PathSegment* at, const std::string& why) {
  throw invalid_argument(path_text(at), why);
}

Value binary_of(const char* data, Py_ssize_t size) {
  const auto* begin = reinterpret_cast<const uint8_t*>(data);
  return Value::binary(Value::binary_t::container_type(begin, begin + size));
}

Value from_python(PyObject* o, const PathSegment* at, int depth) {
  if (o == Py_None) return Value();
  if (o == Py_True) return Value(true);
  if (o == Py_False) return Value(false);
  if (PyUnicode_Check(o)) {
    Py_ssize_t n = 0;
    const char* text = PyUnicode_AsUTF8AndSize(o, &n);
    if (text == nullptr) {
      PyErr_Clear();
      bad(at, "is not encodable as UTF-8 (lone surrogate)");
    }
    return Value(std::string(text, static_cast<size_t>(n)));
  }
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0) bad(at, "integer out of the 64-bit signed range");
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    return Value(static_cast<int64_t>(v));
  }
  if (PyFloat_Check(o)) {
    const double d = PyFloat_AS_DOUBLE(o);
    if (!std::isfinite(d)) bad(at, "must be a finite number (NaN and infinity are not JSON)");
    return Value(d);
  }
  if (depth >= kMaxDepth) {
    if (PyDict_Check(o) || PyList_Check(o) || PyTuple_Check(o)) {
      bad(at, "nested more than 64 levels deep (or contains itself)");
    }
  }
  if (PyDict_Check(o)) {
    Value out = Value::object();
    auto& members = out.get_ref<Value::object_t&>();
    Py_ssize_t pos = 0;
    PyObject* key;
    PyObject* item;
    while (PyDict_Next(o, &pos, &key, &item)) {
      if (!PyUnicode_Check(key)) {
        bad(at, std::string("dict keys must be str, not ") + Py_TYPE(key)->tp_name);
      }
      PathSegment here{at, nullptr, key, 0};
      Py_ssize_t n = 0;
      const char* text = PyUnicode_AsUTF8AndSize(key, &n);
      if (text == nullptr) {
        PyErr_Clear();
        bad(at, "dict key is not encodable as UTF-8");
      }
      members.emplace(std::string(text, static_cast<size_t>(n)), from_python(item, &here, depth + 1));
    }
    return out;
  }
  if (PyList_Check(o) || PyTuple_Check(o)) {
    const bool list = PyList_Check(o);
    Value out = Value::array();
    auto& items = out.get_ref<Value::array_t&>();
    const Py_ssize_t size = list ? PyList_GET_SIZE(o) : PyTuple_GET_SIZE(o);
    items.reserve(static_cast<size_t>(size));
    for (Py_ssize_t i = 0; i < size; ++i) {
      PathSegment here{at, nullptr, nullptr, i};
      items.push_back(from_python(list ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i), &here, depth + 1));
    }
    return out;
  }
  if (PyBytes_Check(o)) return binary_of(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
  if (PyByteArray_Check(o)) return binary_of(PyByteArray_AS_STRING(o), PyByteArray_GET_SIZE(o));
  if (PyMemoryView_Check(o)) {
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      bad(at, "memoryview must be C-contiguous");
    }
    Value out = binary_of(static_cast<const char*>(view.buf), view.len);
    PyBuffer_Release(&view);
    return out;
  }
  bad(at, std::string("is not JSON-compatible (") + Py_TYPE(o)->tp_name +
              "); use dict, list, str, bytes, int, float, bool or None");
}

PyObject* checked(PyObject* o) {
  if (o == nullptr) throw py::error_already_set();
  return o;
}

// New reference; throws error_already_set (the reference chain is released on the way out).
PyObject* to_python(const Value& v) {
  switch (v.type()) {
    case Value::value_t::null: Py_RETURN_NONE;
    case Value::value_t::boolean:
      if (v.get<bool>()) Py_RETURN_TRUE;
      Py_RETURN_FALSE;
    case Value::value_t::number_integer: return checked(PyLong_FromLongLong(v.get<int64_t>()));
    case Value::value_t::number_unsigned:
      return checked(PyLong_FromUnsignedLongLong(v.get<uint64_t>()));
    case Value::value_t::number_float: return checked(PyFloat_FromDouble(v.get<double>()));
    case Value::value_t::string: {
      const auto& s = v.get_ref<const Value::string_t&>();
      PyObject* out = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
      if (out == nullptr) {
        PyErr_Clear();
        // A primitive must return bytes as binary; a text result that is not UTF-8 is our bug.
        throw Error(ErrorCode::Internal, "result: a string that is not valid UTF-8");
      }
      return out;
    }
    case Value::value_t::binary: {
      const auto& b = v.get_binary();
      return checked(PyBytes_FromStringAndSize(reinterpret_cast<const char*>(b.data()),
                                               static_cast<Py_ssize_t>(b.size())));
    }
    case Value::value_t::array: {
      const auto& items = v.get_ref<const Value::array_t&>();
      py::object list = py::reinterpret_steal<py::object>(
          checked(PyList_New(static_cast<Py_ssize_t>(items.size()))));
      Py_ssize_t i = 0;
      for (const Value& item : items) PyList_SET_ITEM(list.ptr(), i++, to_python(item));
      return list.release().ptr();
    }
    case Value::value_t::object: {
      py::object dict = py::reinterpret_steal<py::object>(checked(PyDict_New()));
      for (const auto& [key, item] : v.get_ref<const Value::object_t&>()) {
        py::object k = py::reinterpret_steal<py::object>(checked(
            PyUnicode_DecodeUTF8(key.data(), static_cast<Py_ssize_t>(key.size()), "replace")));
        py::object val = py::reinterpret_steal<py::object>(to_python(item));
        if (PyDict_SetItem(dict.ptr(), k.ptr(), val.ptr()) != 0) throw py::error_already_set();
      }
      return dict.release().ptr();
    }
    case Value::value_t::discarded: break;
  }
  throw Error(ErrorCode::Internal, "result: not a JSON value");
}

// One op's completion handoff between the calling thread and whichever thread runs the callback.
// The callback stores the result, then tries kRunning -> kDone: if that wins, the caller finds the
// result when call() returns (inline). If the caller already moved to kWaiting, the callback
// delivers the result itself: to the sync waiter (mutex/cv) or to the asyncio bridge (post).
struct CallState {
  enum : int { kRunning = 0, kWaiting = 1, kDone = 2 };

  std::atomic<int> phase{kRunning};
  std::optional<Result<Value>> result;
  // Sync waiter.
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  // Async: set before the caller moves to kWaiting, read by the callback only after it lost.
  std::weak_ptr<BridgeCore> bridge;
  uint64_t future_id = 0;

  void complete(Result<Value> r) {
    result.emplace(std::move(r));
    int expected = kRunning;
    if (phase.compare_exchange_strong(expected, kDone, std::memory_order_acq_rel)) return;
    if (future_id != 0) {
      if (auto core = bridge.lock()) {
        if (result->ok()) {
          core->post(future_id, Outcome(std::move(result->value())));
        } else {
          core->post(future_id, Outcome(result->error()));
        }
      }
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ready = true;
    }
    cv.notify_one();
  }

  // Caller, after call() returned: true when the result is already here.
  bool done_inline() { return phase.load(std::memory_order_acquire) == kDone; }
  // Caller: announces it will wait; false when the callback completed in between (then inline).
  bool start_waiting() {
    int expected = kRunning;
    return phase.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel);
  }
};

struct PrimitiveObject {
  PyObject_HEAD
  std::shared_ptr<Client> client;  // keeps the backend alive and answers closed()
  std::shared_ptr<Primitive> primitive;
  std::string kind;
};

PyTypeObject g_primitive_type{};

PrimitiveObject& impl_of(PyObject* self) { return *reinterpret_cast<PrimitiveObject*>(self); }

void primitive_dealloc(PyObject* self) {
  PrimitiveObject& p = impl_of(self);
  p.client.~shared_ptr<Client>();
  p.primitive.~shared_ptr<Primitive>();
  p.kind.~basic_string();
  PyObject_Free(self);
}

std::string_view op_name(PyObject* op) {
  if (!PyUnicode_Check(op)) throw invalid_argument("op", "must be a str");
  Py_ssize_t n = 0;
  const char* text = PyUnicode_AsUTF8AndSize(op, &n);
  if (text == nullptr) {
    PyErr_Clear();
    throw invalid_argument("op", "is not encodable as UTF-8");
  }
  return std::string_view(text, static_cast<size_t>(n));
}

Value args_of(PyObject* args) {
  if (args == nullptr || args == Py_None) return Value::object();
  if (!PyDict_Check(args)) {
    throw invalid_argument("args", std::string("must be a dict, not ") + Py_TYPE(args)->tp_name);
  }
  const PathSegment root{nullptr, "args", nullptr, 0};
  return from_python(args, &root, 0);
}

// Starts the op; returns the shared handoff state (the callback holds the other reference).
std::shared_ptr<CallState> start(PrimitiveObject& p, PyObject* op, PyObject* args) {
  if (p.client->closed()) throw Error(ErrorCode::Closed, "client: the client is closed");
  const std::string_view name = op_name(op);
  Value value = args_of(args);
  auto state = std::make_shared<CallState>();
  // The closure also holds the primitive, so an op outlives a handle collected while it runs.
  p.primitive->call(name, std::move(value), [state, keep = p.primitive](Result<Value> r) {
    state->complete(std::move(r));
  });
  return state;
}

PyObject* result_or_raise(Result<Value>& r) {
  if (!r.ok()) throw r.error();
  return to_python(r.value());
}

PyObject* primitive_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* op = nullptr;
  PyObject* call_args = nullptr;
  if (kwnames == nullptr && (nargs == 1 || nargs == 2)) {
    op = args[0];
    call_args = nargs == 2 ? args[1] : nullptr;
  } else {
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2) {
      PyErr_SetString(PyExc_TypeError, "call() takes at most 2 arguments (op, args)");
      return nullptr;
    }
    if (nargs >= 1) op = args[0];
    if (nargs == 2) call_args = args[1];
    for (Py_ssize_t j = 0; j < nkw; ++j) {
      PyObject* name = PyTuple_GET_ITEM(kwnames, j);
      PyObject** slot = nullptr;
      if (PyUnicode_CompareWithASCIIString(name, "op") == 0) slot = &op;
      if (PyUnicode_CompareWithASCIIString(name, "args") == 0) slot = &call_args;
      if (slot == nullptr || *slot != nullptr) {
        PyErr_Format(PyExc_TypeError, "call() got an unexpected or repeated keyword argument '%U'", name);
        return nullptr;
      }
      *slot = args[nargs + j];
    }
    if (op == nullptr) {
      PyErr_SetString(PyExc_TypeError, "call() missing required argument 'op'");
      return nullptr;
    }
  }
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    auto state = start(impl_of(self), op, call_args);
    if (!state->done_inline() && state->start_waiting()) {
      // Later on a core thread: wait without the GIL (the callback never needs it).
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, [&] { return state->ready; });
    }
    return result_or_raise(*state->result);
  });
}

// future.set_result / set_exception right away, for an op that completed inside _call_async.
void settle_now(PyObject* future, Result<Value>& r) {
  static PyObject* const kSetResult = PyUnicode_InternFromString("set_result");
  static PyObject* const kSetException = PyUnicode_InternFromString("set_exception");
  py::object value;
  PyObject* method;
  if (r.ok()) {
    try {
      value = py::reinterpret_steal<py::object>(to_python(r.value()));
      method = kSetResult;
    } catch (const Error& e) {
      value = make_exception(e);
      method = kSetException;
    }
  } else {
    value = make_exception(r.error());
    method = kSetException;
  }
  PyObject* ret = PyObject_CallMethodObjArgs(future, method, value.ptr(), nullptr);
  if (ret == nullptr) throw py::error_already_set();
  Py_DECREF(ret);
}

// _call_async(bridge, future, op, args): settles `future` before returning when the op completed
// inline, else through the loop's bridge (one wake-up per batch of completions).
PyObject* primitive_call_async(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                               PyObject* kwnames) {
  if (kwnames != nullptr || nargs != 4) {
    PyErr_SetString(PyExc_TypeError, "_call_async() takes exactly 4 positional arguments");
    return nullptr;
  }
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    LoopBridge& bridge = py::handle(args[0]).cast<LoopBridge&>();
    PyObject* future = args[1];
    bridge.cork_for_turn(impl_of(self).client);
    auto state = start(impl_of(self), args[2], args[3]);
    if (!state->done_inline()) {
      state->future_id = bridge.register_future(py::reinterpret_borrow<py::object>(future));
      state->bridge = bridge.core();
      if (state->start_waiting()) Py_RETURN_NONE;
      bridge.forget(state->future_id);  // completed while we registered: settle it here
    }
    settle_now(future, *state->result);
    Py_RETURN_NONE;
  });
}

// An op _start() could not finish inline: acall() attaches the loop's future to it.
class PendingCall {
 public:
  explicit PendingCall(std::shared_ptr<CallState> state) : state_(std::move(state)) {}

  // Settles `future` now if the op completed since _start(), else when it completes (via bridge).
  void attach(LoopBridge& bridge, py::object future) {
    if (attached_) throw Error(ErrorCode::Internal, "primitive: a pending call was attached twice");
    attached_ = true;
    state_->future_id = bridge.register_future(future);
    state_->bridge = bridge.core();
    if (state_->start_waiting()) return;
    bridge.forget(state_->future_id);
    settle_now(future.ptr(), *state_->result);
  }

 private:
  std::shared_ptr<CallState> state_;
  bool attached_ = false;
};

// _start(op, args): the op's result when it completed inline (the common case on memory://, no
// future, no loop lookup), else a PendingCall for acall() to attach a future to. Errors known
// inline raise here. Results are JSON values, so a PendingCall is never a legitimate result.
PyObject* primitive_start(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (kwnames != nullptr || nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_start() takes exactly 2 positional arguments");
    return nullptr;
  }
  return guarded<PyObject*>(nullptr, [&]() -> PyObject* {
    auto state = start(impl_of(self), args[0], args[1]);
    if (state->done_inline()) return result_or_raise(*state->result);
    return py::cast(PendingCall(std::move(state))).release().ptr();
  });
}

template <class F>
PyCFunction fastcall(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(f));
}

constexpr int kFast = METH_FASTCALL | METH_KEYWORDS;

PyMethodDef g_methods[] = {
    {"call", fastcall(primitive_call), kFast,
     "call(op, args=None) -> JSON value\n\nRuns `op` with the dict `args`; waits (GIL released) "
     "when the op does not complete inline."},
    {"_call_async", fastcall(primitive_call_async), kFast, nullptr},
    {"_start", fastcall(primitive_start), kFast, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyObject* get_kind(PyObject* self, void*) {
  const std::string& kind = impl_of(self).kind;
  return PyUnicode_FromStringAndSize(kind.data(), static_cast<Py_ssize_t>(kind.size()));
}

PyObject* get_completes_inline(PyObject* self, void*) {
  return PyBool_FromLong(impl_of(self).client->completes_inline());
}

PyGetSetDef g_getset[] = {
    {"kind", get_kind, nullptr, "The primitive kind ('tokens', 'cache', ...).", nullptr},
    {"completes_inline", get_completes_inline, nullptr,
     "True when the backend's store ops complete inside the call (memory://); waits and timers "
     "may still complete later.",
     nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyObject* primitive_repr(PyObject* self) {
  const std::string text = "NativePrimitive(kind='" + impl_of(self).kind + "')";
  return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
}

}  // namespace

Value value_from_python(py::handle value, const char* root) {
  const PathSegment seg{nullptr, root, nullptr, 0};
  return from_python(value.ptr(), &seg, 0);
}

py::object value_to_python(const Value& value) {
  return py::reinterpret_steal<py::object>(to_python(value));
}

py::object make_primitive(const std::shared_ptr<Client>& client, py::handle kind, py::handle config) {
  if (!PyUnicode_Check(kind.ptr())) throw invalid_argument("kind", "must be a str");
  const std::string kind_text = kind.cast<std::string>();
  Value cfg = Value::object();
  if (!config.is_none()) {
    if (!PyDict_Check(config.ptr())) throw invalid_argument("config", "must be a dict");
    cfg = value_from_python(config, "config");
  }
  if (client->closed()) throw Error(ErrorCode::Closed, "client: the client is closed");
  std::shared_ptr<Primitive> primitive = client->primitive(kind_text, cfg);
  PrimitiveObject* self = PyObject_New(PrimitiveObject, &g_primitive_type);
  if (!self) throw py::error_already_set();
  new (&self->client) std::shared_ptr<Client>(client);
  new (&self->primitive) std::shared_ptr<Primitive>(std::move(primitive));
  new (&self->kind) std::string(kind_text);
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(self));
}

void register_primitive(py::module_& m) {
  // For the primitive wrappers' duration options (ttl="1h"): the core's parser, so Python and Node
  // accept exactly the same strings.
  m.def(
      "parse_duration_ms",
      [](py::handle text, py::handle param) {
        const std::string name = param.is_none() ? "duration" : to_string(param, "param");
        return parse_duration_ms(to_string(text, name.c_str()), name);
      },
      py::arg("text"), py::arg("param") = py::none(),
      "parse_duration_ms(text, param='duration') -> int\n\nMilliseconds of a duration string "
      "('900', '1.5', '15m', '1h', '2 hours', '500ms'); InvalidArgument names `param`.");
  py::class_<PendingCall>(m, "PendingCall", "An op still running after NativePrimitive._start (internal).")
      .def("_attach", &PendingCall::attach);
  PyTypeObject& t = g_primitive_type;
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(&t), 1);  // a static type is never deallocated
  t.tp_name = "redkeeper.NativePrimitive";
  t.tp_basicsize = sizeof(PrimitiveObject);
  t.tp_dealloc = primitive_dealloc;
  t.tp_repr = primitive_repr;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "A script-based primitive bound to a client (internal; see redkeeper._primitive).";
  t.tp_methods = g_methods;
  t.tp_getset = g_getset;
  if (PyType_Ready(&t) < 0) throw py::error_already_set();
  m.add_object("NativePrimitive", py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(&t)));
}

}  // namespace redkeeper::python
