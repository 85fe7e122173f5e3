// One Bind<Concept>() per header in cpp/include/avemotion; module.cc calls each in turn.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

namespace avemotion::bindings {

// "(2, 3)", "(5,)": an array's shape as error messages print it.
inline std::string ShapeStr(const pybind11::array& a) {
  std::string s = "(";
  for (pybind11::ssize_t i = 0; i < a.ndim(); ++i) {
    s += std::to_string(a.shape(i));
    if (a.ndim() == 1 || i + 1 < a.ndim()) s += ",";
    if (i + 1 < a.ndim()) s += " ";
  }
  return s + ")";
}

void BindNormalize(pybind11::module_& m);
void BindRunningStats(pybind11::module_& m);
void BindStreaming(pybind11::module_& m);
void BindOrt(pybind11::module_& m);
void BindSegmentScan(pybind11::module_& m);

}  // namespace avemotion::bindings
