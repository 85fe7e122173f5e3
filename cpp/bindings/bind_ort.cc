// Python binding of avemotion::OrtModel (ONNX Runtime's C API, library loaded at run time).
// Compiled to a stub (HAVE_ORT = False) when CMake found no ONNX Runtime headers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "avemotion/ort_model.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {

#ifdef AVEMOTION_HAVE_ORT
namespace {

std::string DtypeStr(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

py::list Run(OrtModel& model, const py::sequence& arrays) {
  const auto& specs = model.inputs();
  if (static_cast<size_t>(py::len(arrays)) != specs.size()) {
    throw std::invalid_argument("inputs: expected " + std::to_string(specs.size()) +
                                " arrays (in the model's input order), got " + std::to_string(py::len(arrays)));
  }
  // Keep the arrays alive (and their buffers valid) while the GIL is released.
  std::vector<py::array> keep;
  std::vector<OrtInputView> views(specs.size());
  keep.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    py::object obj = arrays[i];
    if (!py::isinstance<py::array>(obj)) {
      throw py::type_error("input '" + specs[i].name + "': expected a numpy.ndarray, got " +
                           py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
    }
    py::array a = obj.cast<py::array>();
    if (!a.dtype().is(py::dtype::of<float>()) || !(a.flags() & py::array::c_style)) {
      throw py::type_error("input '" + specs[i].name + "': expected a C-contiguous float32 array, got " +
                           DtypeStr(a) + ((a.flags() & py::array::c_style) ? "" : " (not C-contiguous)"));
    }
    views[i].data = static_cast<const float*>(a.data());
    views[i].shape.assign(a.shape(), a.shape() + a.ndim());
    keep.push_back(std::move(a));
  }
  std::vector<OrtOutput> outs;
  {
    py::gil_scoped_release release;
    model.run(views, &outs);
  }
  py::list result;
  for (auto& o : outs) {
    py::array_t<float> arr(o.shape);
    if (!o.values.empty()) std::memcpy(arr.mutable_data(), o.values.data(), o.values.size() * sizeof(float));
    result.append(std::move(arr));
  }
  return result;
}

py::list Specs(const std::vector<OrtTensorSpec>& specs) {
  py::list out;
  for (const auto& s : specs) {
    py::list shape;
    for (int64_t d : s.shape) {
      if (d < 0) shape.append(py::none());
      else shape.append(d);
    }
    out.append(py::make_tuple(s.name, py::tuple(shape)));
  }
  return out;
}

}  // namespace
#endif

void BindOrt(py::module_& m) {
#ifdef AVEMOTION_HAVE_ORT
  m.attr("HAVE_ORT") = true;
  m.def("ort_headers_api_version", &OrtHeadersApiVersion,
        "ORT_API_VERSION of the headers this module was built with.");
  m.def("ort_library_version", &OrtLibraryVersion, py::arg("library_path"),
        "Load libonnxruntime (once per process) and return its version string.");
  m.def("ort_available_providers", &OrtAvailableProviders, py::arg("library_path"),
        "Execution providers the library was built with.");
  py::class_<OrtModel>(m, "OrtModel",
                       "An ONNX Runtime session through the C API (see cpp/include/avemotion/ort_model.h).")
      .def(py::init([](const std::string& library_path, const std::string& model_path, const std::string& provider,
                       int device_id, int intra_op_threads, int inter_op_threads, bool strict,
                       int graph_optimization) {
             OrtModelOptions o;
             o.library_path = library_path;
             o.model_path = model_path;
             o.provider = provider;
             o.device_id = device_id;
             o.intra_op_threads = intra_op_threads;
             o.inter_op_threads = inter_op_threads;
             o.strict = strict;
             o.graph_optimization = graph_optimization;
             py::gil_scoped_release release;  // session creation optimizes the graph: can take a while
             return new OrtModel(o);
           }),
           py::arg("library_path"), py::arg("model_path"), py::arg("provider") = "cpu", py::arg("device_id") = 0,
           py::arg("intra_op_threads") = 0, py::arg("inter_op_threads") = 0, py::arg("strict") = false,
           py::arg("graph_optimization") = 99)
      .def_property_readonly("inputs", [](const OrtModel& s) { return Specs(s.inputs()); },
                             "[(name, shape)] in session order; None for a dynamic dimension.")
      .def_property_readonly("outputs", [](const OrtModel& s) { return Specs(s.outputs()); })
      .def_property_readonly("provider", &OrtModel::provider, "'cpu' or 'cuda': the provider in use.")
      .def_property_readonly("fallback_reason", &OrtModel::fallback_reason,
                             "Why a requested CUDA provider fell back to the CPU, or ''.")
      .def_property_readonly("max_batch_seen", &OrtModel::max_batch_seen)
      .def("run", &Run, py::arg("inputs"),
           "Run on C-contiguous float32 arrays in the model's input order (no copy); returns the outputs "
           "as new float32 arrays, in output order. The GIL is released during Run().");
#else
  m.attr("HAVE_ORT") = false;
#endif
}

}  // namespace avemotion::bindings
