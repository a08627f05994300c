// Python bindings of the CUDA entry points (built only with AVSC_EDGE_WITH_CUDA).
#pragma once
#include <pybind11/pybind11.h>

namespace avsc {
void register_cuda(pybind11::module_& m);
}
