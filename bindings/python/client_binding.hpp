// Registers ManualClock and NativeClient on the module.
#pragma once

#include <pybind11/pybind11.h>

namespace redkeeper::python {
void register_client(pybind11::module_& m);
}
