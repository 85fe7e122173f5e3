#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "avemotion/running_stats.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

template <typename T>
void Update(RunningStats& self, const py::array_t<T, py::array::c_style>& x,
            const py::object& mask) {
  if (x.ndim() != 2 || x.shape(1) != self.dim()) {
    throw std::invalid_argument("x: expected shape (N, " + std::to_string(self.dim()) + "), got " +
                                ShapeStr(x));
  }
  const int64_t rows = x.shape(0);
  const uint8_t* pm = nullptr;
  py::array_t<bool, py::array::c_style> m;
  if (!mask.is_none()) {
    if (!py::isinstance<py::array_t<bool, py::array::c_style>>(mask) ||
        py::cast<py::array>(mask).dtype().kind() != 'b') {
      throw py::type_error("mask: expected a C-contiguous numpy bool array, got " +
                           std::string(py::str(py::type::of(mask))));
    }
    m = py::cast<py::array_t<bool, py::array::c_style>>(mask);
    if (m.ndim() != 1 || m.shape(0) != rows) {
      throw std::invalid_argument("mask: expected shape (" + std::to_string(rows) + ",), got size " +
                                  std::to_string(m.size()));
    }
    pm = reinterpret_cast<const uint8_t*>(m.data());
  }
  const T* px = x.data();
  py::gil_scoped_release release;
  self.update(px, rows, pm);
}

py::array_t<double> ToArray(const std::vector<double>& v) {
  py::array_t<double> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

}  // namespace

void BindRunningStats(py::module_& m) {
  py::class_<RunningStats>(m, "RunningStats",
                           "Mergeable mean/variance accumulator (Chan), float64. Strict inputs: "
                           "C-contiguous float32/float64 (N, dim), mask bool (N,) True = use row.")
      .def(py::init<int64_t>(), py::arg("dim"))
      .def("update", &Update<float>, py::arg("x").noconvert(), py::arg("mask") = py::none())
      .def("update", &Update<double>, py::arg("x").noconvert(), py::arg("mask") = py::none())
      .def("merge", &RunningStats::merge, py::arg("other"))
      .def_property_readonly("dim", &RunningStats::dim)
      .def_property_readonly("count", &RunningStats::count)
      .def_property_readonly("mean", [](const RunningStats& s) { return ToArray(s.mean()); })
      .def_property_readonly("m2", [](const RunningStats& s) { return ToArray(s.m2()); })
      .def_static("from_state", &RunningStats::from_state, py::arg("dim"), py::arg("count"),
                  py::arg("mean"), py::arg("m2"))
      .def(py::pickle(
          [](const RunningStats& s) {
            return py::make_tuple(s.dim(), s.count(), s.mean(), s.m2());
          },
          [](const py::tuple& t) {
            if (t.size() != 4) throw std::invalid_argument("state: expected a 4-tuple");
            return RunningStats::from_state(t[0].cast<int64_t>(), t[1].cast<int64_t>(),
                                           t[2].cast<std::vector<double>>(),
                                           t[3].cast<std::vector<double>>());
          }));
}

}  // namespace avemotion::bindings
