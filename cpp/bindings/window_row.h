// Window: row i of a WindowBatch, as the Python class _core.Window (bind_window.cc) shows it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "avemotion/av_sync.h"

namespace avemotion::bindings {

struct WindowRow {
  pybind11::object batch;  // the WindowBatch (kept alive; its arrays are viewed, not copied)
  int64_t i = 0;           // < batch capacity
  const WindowBatch& b() const { return batch.cast<const WindowBatch&>(); }
};

// A numpy view of `data` with the given shape, owned by `owner` (no copy). T: the element type
// numpy sees (bool over uint8_t storage).
template <typename T, typename S>
pybind11::array View(const pybind11::handle& owner, const S* data, std::vector<pybind11::ssize_t> shape) {
  static_assert(sizeof(T) == sizeof(S), "same element size");
  return pybind11::array_t<T>(shape, reinterpret_cast<const T*>(data), owner);
}

}  // namespace avemotion::bindings
