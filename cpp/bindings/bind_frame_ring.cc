// FrameRing. Strict inputs (avemotion/streaming.py converts): timestamps C-contiguous float64 (N,),
// steps float32 (N, dim), flags bool (N,). The GIL is released around every loop over data.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <tuple>

#include "avemotion/frame_ring.h"
#include "bindings.h"
#include "steps.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

std::tuple<F64, F32, B8> RingPop(FrameRing& ring, int64_t max_n) {
  if (max_n < 0) throw std::invalid_argument("max_n: expected >= 0, got " + std::to_string(max_n));
  const int64_t n0 = std::min(max_n, ring.size());
  F64 ts(n0);
  F32 x({static_cast<py::ssize_t>(n0), static_cast<py::ssize_t>(ring.dim())});
  B8 fl(n0);
  int64_t n;
  {
    double* pt = ts.mutable_data();
    float* px = x.mutable_data();
    uint8_t* pf = reinterpret_cast<uint8_t*>(fl.mutable_data());
    py::gil_scoped_release release;
    n = ring.pop(pt, px, pf, n0);
  }
  if (n < n0) {  // only another consumer could cause this; keep the arrays honest anyway
    ts.resize({n});
    x.resize({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(ring.dim())});
    fl.resize({n});
  }
  return {ts, x, fl};
}

}  // namespace

void BindFrameRing(py::module_& m) {
  py::class_<FrameRing>(m, "FrameRing",
                        "SPSC lock-free ring of (timestamp f64, vector f32[dim], flag bool) items; "
                        "see cpp/include/avemotion/frame_ring.h.")
      .def(py::init([](int64_t dim, int64_t capacity, const std::string& policy, int64_t max_pop_batch) {
             return new FrameRing(dim, capacity, ParseOverflowPolicy(policy), max_pop_batch);
           }),
           py::arg("dim"), py::arg("capacity"), py::arg("policy") = "drop_oldest",
           py::arg("max_pop_batch") = 256)
      .def(
          "push",
          [](FrameRing& r, const F64& ts, const F32& x, const py::object& flags) {
            const int64_t n = CheckSteps(ts, x, r.dim());
            B8 holder;
            const uint8_t* pf = FlagPtr(flags, n, "flags", holder);
            const double* pt = ts.data();
            const float* px = x.data();
            py::gil_scoped_release release;
            return r.push(pt, px, pf, n);
          },
          py::arg("timestamps").noconvert(), py::arg("steps").noconvert(), py::arg("flags") = py::none())
      .def("pop", &RingPop, py::arg("max_n"))
      .def("__len__", &FrameRing::size)
      .def_property_readonly("dim", &FrameRing::dim)
      .def_property_readonly("capacity", &FrameRing::capacity)
      .def_property_readonly("policy", [](const FrameRing& r) { return OverflowPolicyName(r.policy()); })
      .def_property_readonly("pushed", &FrameRing::pushed)
      .def_property_readonly("popped", &FrameRing::popped)
      .def_property_readonly("dropped_oldest", &FrameRing::dropped_oldest)
      .def_property_readonly("dropped_newest", &FrameRing::dropped_newest);
}

}  // namespace avemotion::bindings
