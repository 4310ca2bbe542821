// The asyncio side of non-inline completions: a self-pipe wakes the loop once per batch, drain()
// resolves the batch's futures on the loop thread.
#include "bridge.hpp"

#include <algorithm>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "errors.hpp"
#include "primitive.hpp"

namespace redkeeper::python {
namespace {

void set_nonblocking_cloexec(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    throw Error(ErrorCode::Internal, std::string("fcntl on the wake-up pipe: ") + std::strerror(errno));
  }
}

py::object to_python(Outcome& outcome, const std::shared_ptr<const Policy>& policy) {
  if (auto* r = std::get_if<LimitResult>(&outcome)) {
    PyObject* result = new_result(*r, policy);
    if (!result) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(result);
  }
  if (auto* latency = std::get_if<double>(&outcome)) return py::float_(*latency);
  if (auto* multi = std::get_if<MultiOutcome>(&outcome)) return multi_to_python(*multi);
  if (auto* value = std::get_if<Value>(&outcome)) return value_to_python(*value);
  return py::none();
}

}  // namespace

BridgeCore::BridgeCore() : queue_([this] { wake(); }) {
  int fds[2];
  if (pipe(fds) != 0) {
    throw Error(ErrorCode::Internal, std::string("pipe for the asyncio bridge: ") + std::strerror(errno));
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  set_nonblocking_cloexec(read_fd_);
  set_nonblocking_cloexec(write_fd_);
}

BridgeCore::~BridgeCore() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

void BridgeCore::wake() noexcept {
  // One byte per batch; a full pipe already means "wake up", so EAGAIN is fine to ignore.
  const char byte = 1;
  ssize_t n;
  do {
    n = write(write_fd_, &byte, 1);
  } while (n < 0 && errno == EINTR);
}

void BridgeCore::post(uint64_t id, Outcome outcome) {
  queue_.post([this, id, outcome = std::move(outcome)]() mutable {
    batch_.emplace_back(id, std::move(outcome));
  });
}

std::vector<std::pair<uint64_t, Outcome>> BridgeCore::take_batch() {
  // Empty the pipe before the queue: a post racing with us either lands in this drain or wakes us
  // again (CompletionQueue re-arms the wake-up when it swaps its batch out).
  char buf[256];
  for (;;) {
    const ssize_t n = read(read_fd_, buf, sizeof buf);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  queue_.drain();
  std::vector<std::pair<uint64_t, Outcome>> out;
  out.swap(batch_);
  return out;
}

LoopBridge::LoopBridge() : core_(std::make_shared<BridgeCore>()) {}

LoopBridge::~LoopBridge() {
  // A loop that went away before its uncork callback ran must not leave a client corked.
  for (auto& client : corked_) client->uncork();
}

void LoopBridge::set_scheduler(py::object schedule) { schedule_ = std::move(schedule); }

void LoopBridge::cork_for_turn(const std::shared_ptr<Client>& client) {
  if (!schedule_ || client->completes_inline()) return;
  if (std::find(corked_.begin(), corked_.end(), client) == corked_.end()) {
    if (!uncork_scheduled_) {
      schedule_();  // may raise (a closed loop): then nothing is corked
      uncork_scheduled_ = true;
    }
    client->cork();
    corked_.push_back(client);
  }
  if (chunks_.next()) {
    for (auto& c : corked_) {
      c->uncork();
      c->cork();
    }
  }
}

void LoopBridge::uncork_all() {
  uncork_scheduled_ = false;
  chunks_.reset();
  auto clients = std::move(corked_);
  corked_.clear();
  for (auto& client : clients) client->uncork();
}

namespace {

// Interned once (GIL held): calling a method by a cached name object skips building a str per call.
PyObject* method_name(const char* name) {
  PyObject* interned = PyUnicode_InternFromString(name);
  if (!interned) throw py::error_already_set();
  return interned;  // kept for the life of the process, like CPython's own identifiers
}

// future.set_result(value) / future.set_exception(value). Returns false with the Python error set.
bool settle_future(PyObject* future, PyObject* method, PyObject* value) {
  PyObject* ret = PyObject_CallMethodObjArgs(future, method, value, nullptr);
  if (!ret) return false;
  Py_DECREF(ret);
  return true;
}

}  // namespace

size_t LoopBridge::drain() {
  static PyObject* const kDone = method_name("done");
  static PyObject* const kSetResult = method_name("set_result");
  static PyObject* const kSetException = method_name("set_exception");
  auto batch = core_->take_batch();
  size_t settled = 0;
  for (auto& [id, outcome] : batch) {
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    Pending pending = std::move(it->second);
    pending_.erase(it);
    try {
      PyObject* future = pending.future.ptr();
      bool ok;
      if (auto* error = std::get_if<Error>(&outcome)) {
        ok = settle_future(future, kSetException, make_exception(*error).ptr());
      } else {
        ok = settle_future(future, kSetResult, to_python(outcome, pending.policy).ptr());
      }
      if (ok) {
        ++settled;
        continue;
      }
      // Settling fails when the awaiting task was cancelled (or timed out) meanwhile: nothing to
      // deliver then. Asking done() only on failure keeps the common path at one call per op.
      py::error_already_set failure;
      PyObject* done = PyObject_CallMethodObjArgs(future, kDone, nullptr);
      const int is_done = done ? PyObject_IsTrue(done) : -1;
      Py_XDECREF(done);
      if (is_done == 1) continue;
      if (is_done < 0) PyErr_Clear();
      throw std::move(failure);
    } catch (py::error_already_set& e) {
      // One bad future must not strand the rest of the batch.
      e.discard_as_unraisable("redkeeper: settling an asyncio future");
    }
  }
  return settled;
}

void register_bridge(py::module_& m) {
  py::class_<LoopBridge>(m, "LoopBridge",
                         "Per-event-loop completion channel for non-inline backends (internal).")
      .def(py::init<>())
      .def("fileno", &LoopBridge::fileno)
      .def("drain", &LoopBridge::drain)
      .def("set_scheduler", &LoopBridge::set_scheduler)
      .def("uncork_all", &LoopBridge::uncork_all)
      .def_property_readonly("pending", &LoopBridge::pending);

  // Drives the same callbacks a Redis op would, from a foreign thread after `delay_ms`, so the
  // bridge, cancellation and the GIL-released sync wait are testable before a network backend
  // exists. `outcome`: "result" | "error".
  m.def(
      "_selftest_async",
      [](LoopBridge& bridge, py::object future, int64_t delay_ms, const std::string& outcome) {
        auto policy = std::make_shared<Policy>();
        policy->config.name = "selftest";
        policy->config.limit = 10;
        policy->config.window_ms = 1000;
        auto done = bridge.expect<LimitResult>(std::move(future), policy);
        std::thread([done, delay_ms, outcome] {
          std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
          if (outcome == "error") {
            done(Error(ErrorCode::Timeout, "selftest: deadline passed"));
          } else {
            LimitResult r;
            r.allowed = true;
            r.limit = 10;
            r.remaining = 9;
            r.reset_after_ms = 1000;
            done(r);
          }
        }).detach();
      },
      py::arg("bridge"), py::arg("future"), py::arg("delay_ms"), py::arg("outcome") = "result");
  m.def(
      "_selftest_sync",
      [](int64_t delay_ms, bool fail) {
        auto result = run_sync<LimitResult>(false, [&](Callback<LimitResult> done) {
          std::thread([done = std::move(done), delay_ms, fail] {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
            if (fail) {
              done(Error(ErrorCode::Connection, "selftest: connection lost"));
            } else {
              LimitResult r;
              r.allowed = true;
              r.limit = 1;
              done(r);
            }
          }).detach();
        });
        return value_or_throw(std::move(result)).limit;
      },
      py::arg("delay_ms"), py::arg("fail") = false);
}

}  // namespace redkeeper::python
