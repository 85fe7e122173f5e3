// One Bind<Concept>() per header in cpp/include/avemotion; module.cc calls each in turn.
#pragma once

#include <pybind11/pybind11.h>

namespace avemotion::bindings {

void BindNormalize(pybind11::module_& m);
void BindRunningStats(pybind11::module_& m);
void BindStreaming(pybind11::module_& m);
void BindOrt(pybind11::module_& m);
void BindSegmentScan(pybind11::module_& m);

}  // namespace avemotion::bindings
