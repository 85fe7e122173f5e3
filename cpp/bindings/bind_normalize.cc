#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "avemotion/normalize.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

using F32 = py::array_t<float, py::array::c_style>;

// Below this many values the GIL is kept: releasing it costs more than the work.
constexpr int64_t kReleaseGilAbove = 1 << 14;

int64_t Normalize(const F32& x, const F32& mean, const F32& inv_std, F32& out, bool check_finite) {
  if (x.ndim() != 1 && x.ndim() != 2) {
    throw std::invalid_argument("x: expected shape (N, D) or (D,), got " + ShapeStr(x));
  }
  const int64_t dim = x.shape(x.ndim() - 1);
  const int64_t rows = x.ndim() == 2 ? x.shape(0) : 1;
  if (mean.ndim() != 1 || mean.shape(0) != dim) {
    throw std::invalid_argument("mean: expected shape (" + std::to_string(dim) + ",), got " +
                                ShapeStr(mean));
  }
  if (inv_std.ndim() != 1 || inv_std.shape(0) != dim) {
    throw std::invalid_argument("inv_std: expected shape (" + std::to_string(dim) + ",), got " +
                                ShapeStr(inv_std));
  }
  if (out.ndim() != x.ndim() || out.size() != x.size() ||
      (x.ndim() == 2 && out.shape(0) != rows)) {
    throw std::invalid_argument("out: expected shape " + ShapeStr(x) + ", got " + ShapeStr(out));
  }
  if (!out.writeable()) throw std::invalid_argument("out: array is read-only");
  const float* px = x.data();
  float* po = out.mutable_data();
  const float* pm = mean.data();
  const float* pi = inv_std.data();
  if (px != po && x.size() > 0) {
    const char* xb = reinterpret_cast<const char*>(px);
    const char* ob = reinterpret_cast<const char*>(po);
    const py::ssize_t bytes = x.nbytes();
    if (xb < ob + bytes && ob < xb + bytes) {
      throw std::invalid_argument("out: overlaps x without being the same array");
    }
  }
  if (rows * dim >= kReleaseGilAbove) {
    py::gil_scoped_release release;
    return NormalizeRows(px, po, rows, dim, pm, pi, check_finite);
  }
  return NormalizeRows(px, po, rows, dim, pm, pi, check_finite);
}

}  // namespace

void BindNormalize(py::module_& m) {
  m.def("normalize", &Normalize, py::arg("x").noconvert(), py::arg("mean").noconvert(),
        py::arg("inv_std").noconvert(), py::arg("out").noconvert(), py::arg("check_finite") = true,
        "out = (x - mean) * inv_std over float32 C-contiguous (N, D) or (D,) arrays; out may be x.\n"
        "Returns -1, or the first row holding NaN/Inf when check_finite (x untouched if in place).\n"
        "Strict: no conversion or copy; use avemotion.normalize for any array-like.");
  m.def(
      "prepare_inv_std",
      [](const F32& std_dev, float eps) {
        if (std_dev.ndim() != 1) {
          throw std::invalid_argument("std: expected shape (D,), got " + ShapeStr(std_dev));
        }
        F32 inv(std_dev.shape(0));
        int64_t clamped = PrepareInvStd(std_dev.data(), std_dev.shape(0), eps, inv.mutable_data());
        return py::make_tuple(inv, clamped);
      },
      py::arg("std").noconvert(), py::arg("eps"),
      "(1 / std, number of constant dims): 1 where std < eps (scale 1). ValueError for NaN/Inf/negative std or eps.");
  m.def(
      "find_nonfinite",
      [](const F32& x) {
        const float* p = x.data();
        const int64_t n = x.size();
        if (n >= kReleaseGilAbove) {
          py::gil_scoped_release release;
          return FindNonFinite(p, n);
        }
        return FindNonFinite(p, n);
      },
      py::arg("x").noconvert(), "Flat index of the first NaN/Inf, or -1.");
}

}  // namespace avemotion::bindings
