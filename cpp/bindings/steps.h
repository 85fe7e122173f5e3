// Strict step-batch arguments shared by the FrameRing and AVSync bindings.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "bindings.h"

namespace avemotion::bindings {

using F32 = pybind11::array_t<float, pybind11::array::c_style>;
using F64 = pybind11::array_t<double, pybind11::array::c_style>;
using B8 = pybind11::array_t<bool, pybind11::array::c_style>;

// timestamps (N,) and steps (N, dim); returns N.
inline int64_t CheckSteps(const F64& ts, const F32& x, int64_t dim) {
  if (ts.ndim() != 1) throw std::invalid_argument("timestamps: expected shape (N,), got " + ShapeStr(ts));
  const int64_t n = ts.shape(0);
  if (x.ndim() != 2 || x.shape(0) != n || x.shape(1) != dim) {
    throw std::invalid_argument("steps: expected shape (" + std::to_string(n) + ", " +
                                std::to_string(dim) + "), got " + ShapeStr(x));
  }
  return n;
}

// None -> nullptr (all set); else a C-contiguous bool array of shape (n,), kept alive in holder.
inline const uint8_t* FlagPtr(const pybind11::object& flags, int64_t n, const char* name, B8& holder) {
  if (flags.is_none()) return nullptr;
  if (!pybind11::isinstance<B8>(flags) || pybind11::cast<pybind11::array>(flags).dtype().kind() != 'b') {
    throw pybind11::type_error(std::string(name) + ": expected a C-contiguous numpy bool array, got " +
                               std::string(pybind11::str(pybind11::type::of(flags))));
  }
  holder = pybind11::cast<B8>(flags);
  if (holder.ndim() != 1 || holder.shape(0) != n) {
    throw std::invalid_argument(std::string(name) + ": expected shape (" + std::to_string(n) +
                                ",), got " + ShapeStr(holder));
  }
  return reinterpret_cast<const uint8_t*>(holder.data());
}

}  // namespace avemotion::bindings
