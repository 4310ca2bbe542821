// Per-environment state of the addon (one per Node worker): the JS error factory, the shared result
// slots the fast path writes into, and the constructors of the wrapped classes.
#pragma once

#include <napi.h>

namespace redkeeper_node {

// Layout of the shared Float64Array: the JS side reads a LimitResult from these slots right after a
// native call that completed inline, so no JS object is built in C++ on the hot path.
enum ResultSlot { kAllowed = 0, kLimit, kRemaining, kResetAfterMs, kRetryAfterMs, kDegraded, kSlotCount };

struct AddonData {
  Napi::FunctionReference make_error;      // (code, message) -> RedkeeperError, set from JS at load
  Napi::Reference<Napi::Float64Array> result_slots_ref;
  double* result_slots = nullptr;          // backing store of result_slots_ref, kept alive by it
  Napi::FunctionReference client_ctor;
  Napi::FunctionReference limiter_ctor;
  Napi::FunctionReference clock_ctor;
  Napi::FunctionReference primitive_ctor;
  Napi::FunctionReference json_parse;      // JSON.parse, as it was at load: builds container results
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace redkeeper_node
