// Maps every core ErrorCode to its Python exception class and converts C++ exceptions at the binding
// boundary, so no C++ exception ever reaches Python unconverted.
#include "errors.hpp"

#include <array>
#include <exception>
#include <new>
#include <string_view>

namespace redkeeper::python {
namespace {

constexpr size_t kCodeCount = static_cast<size_t>(ErrorCode::LoaderFailed) + 1;

// Owned references to the exception classes, indexed by ErrorCode. They live as long as the module
// (the interpreter keeps the module alive until finalization), so plain PyObject* is enough.
std::array<PyObject*, kCodeCount> g_classes{};
PyObject* g_base = nullptr;

PyObject* new_class(const char* qualified, const char* doc, py::tuple bases, const char* code) {
  py::dict attrs;
  attrs["code"] = py::str(code);
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified, doc, bases.ptr(), attrs.ptr());
  if (cls == nullptr) throw py::error_already_set();
  return cls;
}

// Messages may quote caller bytes that are not UTF-8 (keys are arbitrary bytes): never fail on them.
py::str message_of(const Error& error) {
  const std::string_view text(error.what());
  PyObject* str = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (str == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(str);
}

PyObject* class_for(ErrorCode code) {
  auto index = static_cast<size_t>(code);
  if (index < kCodeCount && g_classes[index] != nullptr) return g_classes[index];
  return g_classes[static_cast<size_t>(ErrorCode::Internal)];
}

}  // namespace

void register_errors(py::module_& m) {
  auto add = [&](const char* name, PyObject* cls) {
    m.add_object(name, py::reinterpret_borrow<py::object>(cls));
  };
  auto slot = [](ErrorCode code) -> PyObject*& { return g_classes[static_cast<size_t>(code)]; };
  auto base_of = [](PyObject* a) { return py::make_tuple(py::reinterpret_borrow<py::object>(a)); };

  g_base = new_class("redkeeper.RedkeeperError", "Base class of every redkeeper error.",
                     py::make_tuple(py::reinterpret_borrow<py::object>(PyExc_Exception)),
                     "ERR_RK_INTERNAL");
  add("RedkeeperError", g_base);

  slot(ErrorCode::InvalidArgument) = new_class(
      "redkeeper.InvalidArgument", "Bad input from the caller; the message names the parameter.",
      py::make_tuple(py::reinterpret_borrow<py::object>(g_base),
                     py::reinterpret_borrow<py::object>(PyExc_ValueError)),
      error_code_name(ErrorCode::InvalidArgument));
  add("InvalidArgument", slot(ErrorCode::InvalidArgument));

  slot(ErrorCode::Connection) =
      new_class("redkeeper.ConnectionError", "The store is unreachable or the connection was lost.",
                // Also the builtin, so `except ConnectionError` written for redis-py keeps working.
                py::make_tuple(py::reinterpret_borrow<py::object>(g_base),
                               py::reinterpret_borrow<py::object>(PyExc_ConnectionError)),
                error_code_name(ErrorCode::Connection));
  add("ConnectionError", slot(ErrorCode::Connection));

  slot(ErrorCode::Timeout) =
      new_class("redkeeper.TimeoutError", "The op's deadline passed before the store answered.",
                py::make_tuple(py::reinterpret_borrow<py::object>(g_base),
                               py::reinterpret_borrow<py::object>(PyExc_TimeoutError)),
                error_code_name(ErrorCode::Timeout));
  add("TimeoutError", slot(ErrorCode::Timeout));

  slot(ErrorCode::QueueFull) = new_class(
      "redkeeper.QueueFullError", "Too many ops are waiting for a connection (back-pressure).",
      base_of(slot(ErrorCode::Connection)), error_code_name(ErrorCode::QueueFull));
  add("QueueFullError", slot(ErrorCode::QueueFull));

  slot(ErrorCode::Protocol) =
      new_class("redkeeper.ProtocolError", "The store sent a reply redkeeper cannot understand.",
                base_of(g_base), error_code_name(ErrorCode::Protocol));
  add("ProtocolError", slot(ErrorCode::Protocol));

  slot(ErrorCode::Script) =
      new_class("redkeeper.ScriptError", "A Lua script or command returned an error.",
                base_of(g_base), error_code_name(ErrorCode::Script));
  add("ScriptError", slot(ErrorCode::Script));

  slot(ErrorCode::Closed) = new_class("redkeeper.ClientClosed", "The client was closed.",
                                      base_of(g_base), error_code_name(ErrorCode::Closed));
  add("ClientClosed", slot(ErrorCode::Closed));

  slot(ErrorCode::Internal) =
      new_class("redkeeper.InternalError", "A bug in redkeeper; please report it.",
                base_of(g_base), error_code_name(ErrorCode::Internal));
  add("InternalError", slot(ErrorCode::Internal));

  // Primitive outcomes. Token and lock errors share a base each, so callers can catch the family;
  // the bases carry the code of their most general member only as a placeholder (never raised).
  PyObject* token_base = new_class("redkeeper.TokenError", "A token could not be accepted.",
                                   base_of(g_base), error_code_name(ErrorCode::TokenInvalid));
  add("TokenError", token_base);
  slot(ErrorCode::TokenMalformed) = new_class(
      "redkeeper.TokenMalformed", "Not a decodable token (parts, base64url, JSON, claim types, size).",
      py::make_tuple(py::reinterpret_borrow<py::object>(token_base),
                     py::reinterpret_borrow<py::object>(PyExc_ValueError)),
      error_code_name(ErrorCode::TokenMalformed));
  add("TokenMalformed", slot(ErrorCode::TokenMalformed));
  slot(ErrorCode::TokenInvalid) = new_class(
      "redkeeper.TokenInvalid", "The token's signature, algorithm or validity period was rejected.",
      base_of(token_base), error_code_name(ErrorCode::TokenInvalid));
  add("TokenInvalid", slot(ErrorCode::TokenInvalid));
  slot(ErrorCode::TokenRevoked) = new_class(
      "redkeeper.TokenRevoked", "The token was revoked (denylisted, or its user revoked after issue).",
      base_of(token_base), error_code_name(ErrorCode::TokenRevoked));
  add("TokenRevoked", slot(ErrorCode::TokenRevoked));

  PyObject* lock_base = new_class("redkeeper.LockError", "A lock could not be taken, kept or released.",
                                  base_of(g_base), error_code_name(ErrorCode::LockNotAcquired));
  add("LockError", lock_base);
  slot(ErrorCode::LockNotAcquired) = new_class(
      "redkeeper.LockNotAcquired", "The lock was not acquired (the wait elapsed or the store failed).",
      base_of(lock_base), error_code_name(ErrorCode::LockNotAcquired));
  add("LockNotAcquired", slot(ErrorCode::LockNotAcquired));
  slot(ErrorCode::LockLost) = new_class(
      "redkeeper.LockLost", "The lock expired or was taken over while its holder still used it.",
      base_of(lock_base), error_code_name(ErrorCode::LockLost));
  add("LockLost", slot(ErrorCode::LockLost));
  slot(ErrorCode::LockNotOwner) = new_class(
      "redkeeper.LockNotOwner", "Release or extend by a caller that does not hold the lock.",
      base_of(lock_base), error_code_name(ErrorCode::LockNotOwner));
  add("LockNotOwner", slot(ErrorCode::LockNotOwner));

  slot(ErrorCode::LoaderFailed) = new_class(
      "redkeeper.LoaderFailed", "Cache get_or_set: the loader of another caller or process failed.",
      base_of(g_base), error_code_name(ErrorCode::LoaderFailed));
  add("LoaderFailed", slot(ErrorCode::LoaderFailed));

  // Only redkeeper::Error and foreign std::exceptions are ours to convert; pybind11's own exceptions
  // (argument casting, error_already_set) and bad_alloc (MemoryError) keep their standard mapping.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      set_python_error(e);
    } catch (const py::error_already_set&) {
      throw;
    } catch (const py::builtin_exception&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      set_python_error(Error(ErrorCode::Internal, e.what()));
    }
  });
}

py::object make_exception(const Error& error) {
  py::object cls = py::reinterpret_borrow<py::object>(class_for(error.code()));
  return cls(message_of(error));
}

void set_python_error(const Error& error) noexcept {
  const std::string_view text(error.what());
  PyObject* message =
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (message == nullptr) return;  // MemoryError is already set
  PyErr_SetObject(class_for(error.code()), message);
  Py_DECREF(message);
}

}  // namespace redkeeper::python
