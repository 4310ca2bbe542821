// The Python Limiter type: the core limiter behind a raw CPython type, so a sync hit() is argument
// parsing, one core call and one small result object. Async forms for non-inline backends settle an
// asyncio Future through the loop's bridge.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string_view>

#include "bridge.hpp"
#include "redkeeper/client.hpp"
#include "result.hpp"

namespace redkeeper::python {

namespace py = pybind11;

class NativeLimiter {
 public:
  NativeLimiter(std::shared_ptr<Client> client, std::shared_ptr<Limiter> limiter,
                std::shared_ptr<const Policy> policy);

  LimitResult hit(std::string_view key, int64_t cost);
  LimitResult peek(std::string_view key);
  void reset(std::string_view key);
  LimitResult refund(std::string_view key, int64_t amount);
  LimitResult block(std::string_view key, int64_t duration_ms);

  void hit_async(LoopBridge& bridge, py::object future, std::string_view key, int64_t cost);
  void peek_async(LoopBridge& bridge, py::object future, std::string_view key);
  void reset_async(LoopBridge& bridge, py::object future, std::string_view key);
  void refund_async(LoopBridge& bridge, py::object future, std::string_view key, int64_t amount);
  void block_async(LoopBridge& bridge, py::object future, std::string_view key,
                   int64_t duration_ms);

  const LimiterConfig& config() const { return policy_->config; }
  const std::shared_ptr<Limiter>& core() const { return limiter_; }
  const std::shared_ptr<Client>& client() const { return client_; }
  const std::shared_ptr<const Policy>& policy() const { return policy_; }
  bool completes_inline() const { return inline_; }

 private:
  void check_open() const;
  template <class T, class Start>
  void start_async(LoopBridge& bridge, py::object future, std::shared_ptr<const Policy> policy,
                   Start&& start);

  std::shared_ptr<Client> client_;  // keeps the backend alive and answers closed()
  std::shared_ptr<Limiter> limiter_;
  std::shared_ptr<const Policy> policy_;
  bool inline_;
};

// A new Python Limiter owning `limiter`.
py::object wrap_limiter(NativeLimiter limiter);
// The NativeLimiter inside a Python Limiter object, or nullptr when `object` is not one.
NativeLimiter* native_limiter_of(PyObject* object);

void register_limiter(py::module_& m);

}  // namespace redkeeper::python
