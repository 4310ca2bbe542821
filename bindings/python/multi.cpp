// Python glue for Client::hit_many (check tuples in, a result tuple out) and redkeeper/http.hpp.
#include "multi.hpp"

#include <pybind11/stl.h>

#include <string>

#include "bridge.hpp"
#include "convert.hpp"
#include "limiter.hpp"
#include "redkeeper/http.hpp"

namespace redkeeper::python {

namespace {

using Policies = std::vector<std::shared_ptr<const Policy>>;

std::vector<LimitCheck> to_checks(py::handle checks, std::shared_ptr<const Policies>& policies_out) {
  if (py::isinstance<py::str>(checks) || py::isinstance<py::bytes>(checks) || !py::hasattr(checks, "__iter__")) {
    throw invalid_argument("checks", "must be a list of (limiter, key) or (limiter, key, cost) tuples");
  }
  std::vector<LimitCheck> out;
  auto policies = std::make_shared<Policies>();
  size_t i = 0;
  for (py::handle item : checks) {
    const std::string param = "checks[" + std::to_string(i++) + "]";
    if (!py::isinstance<py::tuple>(item)) {
      throw invalid_argument(param, "must be a (limiter, key) or (limiter, key, cost) tuple");
    }
    py::tuple tuple = py::reinterpret_borrow<py::tuple>(item);
    if (tuple.size() != 2 && tuple.size() != 3) {
      throw invalid_argument(param, "must be a (limiter, key) or (limiter, key, cost) tuple");
    }
    py::object limiter_obj = tuple[0];
    // An AsyncLimiter wraps the native Limiter.
    if (!native_limiter_of(limiter_obj.ptr()) && py::hasattr(limiter_obj, "_limiter")) {
      limiter_obj = limiter_obj.attr("_limiter");
    }
    NativeLimiter* limiter = native_limiter_of(limiter_obj.ptr());
    if (limiter == nullptr) throw invalid_argument(param + ".limiter", "must be a redkeeper limiter");
    const std::string key_param = param + ".key";
    const std::string cost_param = param + ".cost";
    LimitCheck check;
    check.limiter = limiter->core();
    check.key = std::string(to_key(tuple[1], key_param.c_str()));
    check.cost = tuple.size() == 3 ? to_int(tuple[2], cost_param.c_str()) : 1;
    out.push_back(std::move(check));
    policies->push_back(limiter->policy());
  }
  policies_out = std::move(policies);
  return out;
}

}  // namespace

py::object multi_to_python(const MultiOutcome& outcome) {
  py::list results;
  for (size_t i = 0; i < outcome.value.results.size(); ++i) {
    PyObject* r = new_result(outcome.value.results[i], (*outcome.policies)[i]);
    if (!r) throw py::error_already_set();
    results.append(py::reinterpret_steal<py::object>(r));
  }
  return py::make_tuple(outcome.value.allowed, std::move(results), outcome.value.deciding);
}

py::object hit_many(const std::shared_ptr<Client>& client, py::handle checks) {
  if (client->closed()) throw Error(ErrorCode::Closed, "client: the client is closed");
  std::shared_ptr<const Policies> policies;
  std::vector<LimitCheck> core_checks = to_checks(checks, policies);
  MultiLimitResult value = value_or_throw(run_sync<MultiLimitResult>(
      client->completes_inline(),
      [&](Callback<MultiLimitResult> done) { client->hit_many(std::move(core_checks), std::move(done)); }));
  return multi_to_python(MultiOutcome{std::move(value), std::move(policies)});
}

void hit_many_async(const std::shared_ptr<Client>& client, LoopBridge& bridge, py::object future,
                    py::handle checks) {
  if (client->closed()) throw Error(ErrorCode::Closed, "client: the client is closed");
  std::shared_ptr<const Policies> policies;
  std::vector<LimitCheck> core_checks = to_checks(checks, policies);
  bridge.cork_for_turn(client);
  Callback<MultiOutcome> settle = bridge.expect<MultiOutcome>(std::move(future), nullptr);
  try {
    client->hit_many(std::move(core_checks), [settle = std::move(settle), policies](Result<MultiLimitResult> r) {
      if (r.ok()) {
        settle(MultiOutcome{std::move(r.value()), policies});
      } else {
        settle(r.error());
      }
    });
  } catch (...) {
    bridge.forget_last();
    throw;
  }
}

void register_http(py::module_& m) {
  m.def(
      "client_ip",
      [](py::handle remote_addr, py::handle x_forwarded_for, py::handle trusted) {
        const std::string remote = to_string(remote_addr, "remote_addr");
        std::string xff;
        if (py::isinstance<py::str>(x_forwarded_for)) {
          xff = to_string(x_forwarded_for, "x_forwarded_for");
        } else if (!x_forwarded_for.is_none()) {
          // Several X-Forwarded-For headers read as one list, in order.
          if (!py::hasattr(x_forwarded_for, "__iter__")) {
            throw invalid_argument("x_forwarded_for", "must be a str, a list of str or None");
          }
          for (py::handle part : x_forwarded_for) {
            if (!xff.empty()) xff += ',';
            xff += to_string(part, "x_forwarded_for");
          }
        }
        TrustedProxies proxies;
        if (py::isinstance<py::bool_>(trusted)) {
          throw invalid_argument("trusted", "must be a hop count, a str or a list of str, not a bool");
        } else if (py::isinstance<py::int_>(trusted)) {
          proxies = TrustedProxies::hops(to_int(trusted, "trusted"));
        } else if (py::isinstance<py::str>(trusted)) {
          proxies = TrustedProxies({to_string(trusted, "trusted")});
        } else if (!trusted.is_none()) {
          if (!py::hasattr(trusted, "__iter__")) {
            throw invalid_argument("trusted", "must be a hop count, a str or a list of str");
          }
          std::vector<std::string> entries;
          for (py::handle entry : trusted) entries.push_back(to_string(entry, "trusted"));
          proxies = TrustedProxies(entries);
        }
        return client_ip(remote, xff, proxies);
      },
      py::arg("remote_addr"), py::arg("x_forwarded_for") = py::none(), py::arg("trusted") = py::none());
  m.def(
      "ip_key",
      [](py::handle ip, py::handle ipv6_subnet) {
        int subnet = 0;
        if (!ipv6_subnet.is_none() && !(py::isinstance<py::bool_>(ipv6_subnet) && !ipv6_subnet.cast<bool>())) {
          const int64_t value = to_int(ipv6_subnet, "ipv6_subnet");
          if (value < 0 || value > 128) {
            throw invalid_argument("ipv6_subnet", "must be from 1 to 128, or 0/None/False for whole addresses");
          }
          subnet = static_cast<int>(value);
        }
        return ip_key(to_string(ip, "ip"), subnet);
      },
      py::arg("ip"), py::arg("ipv6_subnet") = 56);
}

}  // namespace redkeeper::python
