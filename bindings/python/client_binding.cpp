// Native Client and ManualClock classes (pybind11: nothing here is on the per-op hot path). The
// Python package (python/redkeeper) adds the asyncio and context-manager layer.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>

#include "bridge.hpp"
#include "client_binding.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "limiter.hpp"
#include "multi.hpp"
#include "primitive.hpp"
#include "redkeeper/client.hpp"
#include "redkeeper/clock.hpp"
#include "result.hpp"

namespace redkeeper::python {
namespace {

constexpr int64_t kDefaultLimit = 5;
constexpr int64_t kDefaultWindowMs = 15 * 60 * 1000;

[[noreturn]] void throw_closed() { throw Error(ErrorCode::Closed, "client: the client is closed"); }

FailurePolicy parse_on_error(py::handle value) {
  const std::string text = to_string(value, "on_error");
  if (text == "open") return FailurePolicy::Open;
  if (text == "raise") return FailurePolicy::Raise;
  throw invalid_argument("on_error", "must be 'open' or 'raise', not '" + text.substr(0, 32) + "'");
}

// local_block_cache=: False/None/0 = off, True = kDefaultBlockCacheSize entries, or a count.
constexpr int64_t kDefaultBlockCacheSize = 10'000;
size_t to_block_cache_size(py::handle value) {
  if (value.is_none()) return 0;
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>() ? kDefaultBlockCacheSize : 0;
  const int64_t size = to_int(value, "local_block_cache");
  if (size < 0) throw invalid_argument("local_block_cache", "must be True, False or a number of entries >= 0");
  return static_cast<size_t>(size);
}

// cluster_refresh=: seconds between topology refreshes; 0 = refresh only on errors (MOVED, ...).
int64_t to_cluster_refresh_ms(py::handle value) {
  PyObject* o = value.ptr();
  const bool number = !PyBool_Check(o) && (PyLong_Check(o) || PyFloat_Check(o));
  if (number && PyObject_Not(o) == 1) return 0;
  if (number && PyObject_RichCompareBool(o, py::int_(0).ptr(), Py_LT) == 1) {
    throw invalid_argument("cluster_refresh", "must be a finite number of seconds >= 0 (0 = only on errors)");
  }
  return seconds_to_timeout_ms(value, "cluster_refresh");
}

class NativeClient {
 public:
  NativeClient(py::handle url, py::handle prefix, py::handle clock, py::handle command_timeout,
               py::handle connect_timeout, py::handle tls_ca_file, py::handle tls_cert_file,
               py::handle tls_key_file, py::handle tls_server_name, py::handle tls_verify,
               py::handle max_pending, py::handle cluster, py::handle cluster_refresh) {
    const std::string url_text = to_string(url, "url");
    ClientOptions options;
    options.prefix = to_string(prefix, "prefix");
    if (!clock.is_none()) {
      if (!py::isinstance<ManualClock>(clock)) {
        throw invalid_argument("clock", std::string("must be a redkeeper.ManualClock or None, not ") +
                                            Py_TYPE(clock.ptr())->tp_name);
      }
      clock_ = clock.cast<std::shared_ptr<ManualClock>>();
      options.clock = clock_;
    }
    options.command_timeout_ms = seconds_to_timeout_ms(command_timeout, "command_timeout");
    options.connect_timeout_ms = seconds_to_timeout_ms(connect_timeout, "connect_timeout");
    options.tls.ca_file = to_optional_string(tls_ca_file, "tls_ca_file");
    options.tls.cert_file = to_optional_string(tls_cert_file, "tls_cert_file");
    options.tls.key_file = to_optional_string(tls_key_file, "tls_key_file");
    options.tls.server_name = to_optional_string(tls_server_name, "tls_server_name");
    options.tls.verify = to_bool(tls_verify, "tls_verify");
    const int64_t pending = to_int(max_pending, "max_pending");
    if (pending < 1) throw invalid_argument("max_pending", "must be >= 1");
    options.max_pending = static_cast<size_t>(pending);
    options.cluster = to_bool(cluster, "cluster");
    options.cluster_refresh_ms = to_cluster_refresh_ms(cluster_refresh);
    client_ = Client::open(url_text, std::move(options));
  }

  py::object limiter(py::handle name, py::handle limit, py::handle window,
                        py::handle algorithm, py::handle block_duration, py::handle on_error,
                        py::handle rate, py::handle local_block_cache) {
    LimiterConfig config;
    config.name = to_string(name, "name");
    if (!rate.is_none()) {
      if (!limit.is_none() || !window.is_none()) {
        throw invalid_argument("rate", "give either rate or limit/window, not both");
      }
      const Rate parsed = parse_rate(to_string(rate, "rate"));
      config.limit = parsed.limit;
      config.window_ms = parsed.window_ms;
    } else {
      config.limit = limit.is_none() ? kDefaultLimit : to_int(limit, "limit");
      config.window_ms = window.is_none() ? kDefaultWindowMs : to_duration_ms(window, "window");
    }
    config.algorithm = parse_algorithm(to_string(algorithm, "algorithm"));
    // 0 (int or float) reads naturally as "no block", like None.
    PyObject* block = block_duration.ptr();
    const bool zero = !PyBool_Check(block) &&
                      ((PyLong_Check(block) && PyObject_Not(block) == 1) ||
                       (PyFloat_Check(block) && PyFloat_AS_DOUBLE(block) == 0.0));
    const bool no_block = block_duration.is_none() || zero;
    config.block_duration_ms = no_block ? 0 : to_duration_ms(block_duration, "block_duration");
    config.on_error = parse_on_error(on_error);
    config.local_block_cache_size = to_block_cache_size(local_block_cache);
    if (client_->closed()) throw_closed();
    auto core_limiter = client_->limiter(config);
    auto policy = std::make_shared<Policy>();
    policy->config = core_limiter->config();
    policy->clock = clock_;
    return wrap_limiter(NativeLimiter(client_, std::move(core_limiter), std::move(policy)));
  }

  bool completes_inline() const { return client_->completes_inline(); }

  py::object hit_many(py::handle checks) { return python::hit_many(client_, checks); }

  void hit_many_async(LoopBridge& bridge, py::object future, py::handle checks) {
    python::hit_many_async(client_, bridge, std::move(future), checks);
  }

  double ping() {
    if (client_->closed()) throw_closed();
    return value_or_throw(run_sync<double>(
        client_->completes_inline(), [&](Callback<double> done) { client_->ping(std::move(done)); }));
  }

  void ping_async(LoopBridge& bridge, py::object future) {
    if (client_->closed()) throw_closed();
    auto done = bridge.expect<double>(std::move(future), nullptr);
    try {
      client_->ping(std::move(done));
    } catch (...) {
      bridge.forget_last();
      throw;
    }
  }

  // A script-based primitive (tokens, cache, lock, ...): config is a dict of JSON values.
  py::object primitive(py::handle kind, py::handle config) {
    return make_primitive(client_, kind, config);
  }

  py::dict health() const {
    const Health h = client_->health();
    py::dict out;
    out["backend"] = h.backend;
    out["connected"] = h.connected;
    out["latency_ms"] = h.latency_ms;
    return out;
  }

  py::dict stats() const {
    const Stats s = client_->stats();
    py::dict out;
    out["ops"] = s.ops;
    out["errors"] = s.errors;
    out["timeouts"] = s.timeouts;
    out["reconnects"] = s.reconnects;
    out["in_flight"] = s.in_flight;
    out["keys"] = s.keys;
    out["redirects"] = s.redirects;
    out["topology_refreshes"] = s.topology_refreshes;
    out["nodes"] = s.nodes;
    return out;
  }

  void close() {
    // close() may join the core's threads; their callbacks never need the GIL, so let go of it.
    py::gil_scoped_release nogil;
    client_->close();
  }

  bool closed() const { return client_->closed(); }

 private:
  std::shared_ptr<Client> client_;
  std::shared_ptr<ManualClock> clock_;
};

}  // namespace

void register_client(py::module_& m) {
  py::class_<ManualClock, std::shared_ptr<ManualClock>>(
      m, "ManualClock", "A clock that only moves when told to; inject it with clock=... in tests.")
      .def(py::init([](py::handle start_ms) {
             return std::make_shared<ManualClock>(to_int(start_ms, "start_ms"));
           }),
           py::arg("start_ms") = 1'700'000'000'000LL)
      .def(
          "advance",
          [](ManualClock& clock, py::handle ms) {
            const int64_t delta = to_int(ms, "ms");
            if (delta < 0) throw invalid_argument("ms", "must be >= 0 (time does not run backwards)");
            clock.advance(delta);
          },
          py::arg("ms"), "Moves the clock forward by `ms` milliseconds.")
      .def(
          "set", [](ManualClock& clock, py::handle ms) { clock.set(to_int(ms, "ms")); },
          py::arg("ms"), "Sets the clock to `ms` milliseconds since the epoch.")
      .def_property_readonly("now_ms", &ManualClock::now_ms)
      .def("__repr__", [](const ManualClock& clock) {
        return "ManualClock(now_ms=" + std::to_string(clock.now_ms()) + ")";
      });

  py::class_<NativeClient>(m, "NativeClient", "The core client (internal; use redkeeper.Client).")
      .def(py::init<py::handle, py::handle, py::handle, py::handle, py::handle, py::handle,
                    py::handle, py::handle, py::handle, py::handle, py::handle, py::handle,
                    py::handle>(),
           py::arg("url"), py::arg("prefix"), py::arg("clock"), py::arg("command_timeout"),
           py::arg("connect_timeout"), py::arg("tls_ca_file"), py::arg("tls_cert_file"),
           py::arg("tls_key_file"), py::arg("tls_server_name"), py::arg("tls_verify"),
           py::arg("max_pending"), py::arg("cluster") = false, py::arg("cluster_refresh") = 10.0)
      .def("limiter", &NativeClient::limiter, py::arg("name"), py::arg("limit"), py::arg("window"),
           py::arg("algorithm"), py::arg("block_duration"), py::arg("on_error"), py::arg("rate"),
           py::arg("local_block_cache") = py::none())
      .def("hit_many", &NativeClient::hit_many, py::arg("checks"))
      .def("_hit_many_async", &NativeClient::hit_many_async)
      .def_property_readonly("completes_inline", &NativeClient::completes_inline)
      .def("ping", &NativeClient::ping)
      .def("_ping_async", &NativeClient::ping_async)
      .def("primitive", &NativeClient::primitive, py::arg("kind"), py::arg("config") = py::none())
      .def("health", &NativeClient::health)
      .def("stats", &NativeClient::stats)
      .def("close", &NativeClient::close)
      .def_property_readonly("closed", &NativeClient::closed);
}

}  // namespace redkeeper::python
