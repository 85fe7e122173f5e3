// AVSyncOptions: one Python attribute per C++ field (the only list of the options outside
// av_sync.h); avemotion.streaming.AVSync takes them as keyword arguments.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "avemotion/av_sync.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

// The positional order of AVSync(window_s, hop_s, max_latency_s, audio_dim, video_dim, ...).
constexpr const char* kPositional[] = {"window_s", "hop_s", "max_latency_s", "audio_dim", "video_dim"};
constexpr size_t kNumPositional = sizeof(kPositional) / sizeof(kPositional[0]);

// Sets one field through its Python property, so the property's own conversion applies; a value of
// the wrong type gets a message naming the field.
void SetField(py::handle o, const std::string& name, py::handle value) {
  py::handle type = py::type::of(o);
  if (name.empty() || name[0] == '_' || !py::hasattr(type, name.c_str()) ||
      !PyObject_TypeCheck(type.attr(name.c_str()).ptr(), &PyProperty_Type)) {
    throw py::type_error("AVSyncOptions: unexpected keyword argument '" + name + "'");
  }
  try {
    o.attr(name.c_str()) = value;
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    const std::string want = py::str(py::type::of(o.attr(name.c_str())).attr("__name__"));
    throw py::type_error(name + ": expected " + (name == "grid_start_s" ? "float or None" : want) +
                         ", got " + std::string(py::repr(value)) + " (" +
                         std::string(py::str(py::type::of(value).attr("__name__"))) + ")");
  }
}

AVSyncOptions Make(const py::args& args, const py::kwargs& kwargs) {
  if (args.size() > kNumPositional) {
    throw py::type_error("AVSyncOptions: at most 5 positional arguments (window_s, hop_s, "
                         "max_latency_s, audio_dim, video_dim), got " + std::to_string(args.size()));
  }
  AVSyncOptions o;
  py::object view = py::cast(&o, py::return_value_policy::reference);  // writes go to o
  for (size_t i = 0; i < args.size(); ++i) {
    if (kwargs.contains(kPositional[i])) {
      throw py::type_error(std::string("AVSyncOptions: got multiple values for '") + kPositional[i] + "'");
    }
    SetField(view, kPositional[i], args[i]);
  }
  for (auto item : kwargs) SetField(view, py::str(item.first), item.second);
  o.validate();
  return o;
}

}  // namespace

void BindAVSyncOptions(py::module_& m) {
  py::class_<AVSyncOptions> c(
      m, "AVSyncOptions",
      "The synchronizer's options (cpp/include/avemotion/av_sync.h states each range).\n\n"
      "AVSyncOptions(window_s, hop_s, max_latency_s, audio_dim, video_dim, **fields): the first five\n"
      "positionally, any field by keyword; unknown names raise TypeError, values out of range\n"
      "ValueError naming the field. Fields can be read and assigned; validate() checks them again.");
  c.def(py::init(&Make))
      .def_readwrite("window_s", &AVSyncOptions::window_s, "Window length on the audio clock (s), > 0.")
      .def_readwrite("hop_s", &AVSyncOptions::hop_s, "One window every hop_s (s), >= 1e-3.")
      .def_readwrite("max_latency_s", &AVSyncOptions::max_latency_s,
                     "A window is emitted at the latest when the leading stream is this far past its end.")
      .def_readwrite("audio_dim", &AVSyncOptions::audio_dim)
      .def_readwrite("video_dim", &AVSyncOptions::video_dim)
      .def_readwrite("audio_rate_hz", &AVSyncOptions::audio_rate_hz,
                     "Nominal audio steps per second: sizes the window arrays and buffers.")
      .def_readwrite("video_fps", &AVSyncOptions::video_fps, "Nominal video steps per second.")
      .def_readwrite("rate_margin", &AVSyncOptions::rate_margin, "Headroom over the nominal rates, >= 1.")
      .def_readwrite("max_pending_windows", &AVSyncOptions::max_pending_windows,
                     "Emitted windows kept until popped (the oldest is discarded beyond, counted).")
      .def_property(
          "clock_sync", [](const AVSyncOptions& o) { return std::string(ClockSyncName(o.clock_sync)); },
          [](AVSyncOptions& o, const std::string& v) { o.clock_sync = ParseClockSync(v); },
          "'drift' (default), 'full' or 'none'.")
      .def_readwrite("sync_horizon_s", &AVSyncOptions::sync_horizon_s)
      .def_readwrite("sync_min_span_s", &AVSyncOptions::sync_min_span_s)
      .def_readwrite("sync_refit_every", &AVSyncOptions::sync_refit_every)
      .def_readwrite("max_drift_ppm", &AVSyncOptions::max_drift_ppm)
      .def_readwrite("max_offset_s", &AVSyncOptions::max_offset_s)
      .def_readwrite("sync_min_sigmas", &AVSyncOptions::sync_min_sigmas)
      .def_property(
          "grid_start_s",
          [](const AVSyncOptions& o) -> std::optional<double> {
            if (std::isnan(o.grid_start_s)) return std::nullopt;
            return o.grid_start_s;
          },
          [](AVSyncOptions& o, std::optional<double> v) {
            o.grid_start_s = v ? *v : std::numeric_limits<double>::quiet_NaN();
          },
          "The first window ends at ceil(grid_start_s / hop_s) * hop_s; None: from the first step.")
      .def_readwrite("max_gap_s", &AVSyncOptions::max_gap_s,
                     "A timestamp jump larger than this is a stream discontinuity (inf: never).")
      .def("validate", &AVSyncOptions::validate,
           "Raise ValueError naming the first field out of range.");
  DefFieldMethods(c);
}

}  // namespace avemotion::bindings
