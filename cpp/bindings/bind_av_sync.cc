// AVSync. Strict inputs (avemotion.streaming.AVSync converts): timestamps C-contiguous float64 (N,),
// steps float32 (N, dim), face_present bool (N,). The GIL is released around every loop over data.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "avemotion/av_sync.h"
#include "bindings.h"
#include "steps.h"
#include "window_row.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

// Seconds given to flush / mark_complete: a real number (not a bool, not a string).
double Seconds(const char* name, const py::handle& v) {
  if (PyBool_Check(v.ptr()) || !PyNumber_Check(v.ptr()) || PyComplex_Check(v.ptr())) {
    throw py::type_error(std::string(name) + ": expected seconds (a real number), got " +
                         std::string(py::str(py::type::of(v).attr("__name__"))));
  }
  return v.cast<double>();
}

int64_t MaxN(const AVSync& s, std::optional<int64_t> max_n) {
  if (max_n && *max_n < 0) throw std::invalid_argument("max_n: expected >= 0, got " + std::to_string(*max_n));
  return max_n ? std::min(*max_n, s.pending()) : s.pending();
}

// out: a batch from new_batch (filled and returned: pybind11 hands back its existing Python object)
// or nullptr (None): a new batch, owned by Python.
WindowBatch* PopBatch(AVSync& s, std::optional<int64_t> max_n,
                      std::optional<std::reference_wrapper<WindowBatch>> out_arg) {
  WindowBatch* out = out_arg ? &out_arg->get() : nullptr;
  const int64_t n = MaxN(s, max_n);
  std::unique_ptr<WindowBatch> fresh(out ? nullptr : new WindowBatch(s.options(), n));
  WindowBatch* b = out ? out : fresh.get();
  {
    py::gil_scoped_release release;
    s.pop(b, n);
  }
  return out ? out : fresh.release();
}

}  // namespace

void BindAVSync(py::module_& m) {
  py::class_<AVSync>(m, "AVSync",
                     "Audio-video synchronizer; every rule is in cpp/include/avemotion/av_sync.h. "
                     "avemotion.streaming.AVSync (a subclass) converts array-likes and takes the options "
                     "as keyword arguments.")
      .def(py::init<const AVSyncOptions&>(), py::arg("options"))
      .def(
          "push_audio",
          [](AVSync& s, const F64& ts, const F32& x) {
            const int64_t n = CheckSteps(ts, x, s.options().audio_dim);
            const double* pt = ts.data();
            const float* px = x.data();
            py::gil_scoped_release release;
            return s.push_audio(pt, px, n);
          },
          py::arg("timestamps").noconvert(), py::arg("steps").noconvert(),
          "Push N audio steps: timestamps (N,) seconds (each step's window end), steps (N, audio_dim). "
          "Returns how many were accepted; a non-finite timestamp raises ValueError (nothing applied).")
      .def(
          "push_video",
          [](AVSync& s, const F64& ts, const F32& x, const py::object& face_present) {
            const int64_t n = CheckSteps(ts, x, s.options().video_dim);
            B8 holder;
            const uint8_t* pf = FlagPtr(face_present, n, "face_present", holder);
            const double* pt = ts.data();
            const float* px = x.data();
            py::gil_scoped_release release;
            return s.push_video(pt, px, pf, n);
          },
          py::arg("timestamps").noconvert(), py::arg("steps").noconvert(),
          py::arg("face_present") = py::none(),
          "Push N video steps: frame pts (N,) seconds, steps (N, video_dim), face_present (N,) bool or "
          "None (all True). Returns how many were accepted.")
      .def(
          "flush",
          [](AVSync& s, const py::typing::Optional<py::float_>& end_time) {
            const bool latest = end_time.is_none();
            const double t = latest ? 0.0 : Seconds("end_time", end_time);
            py::gil_scoped_release release;
            return latest ? s.flush() : s.flush(t);
          },
          py::arg("end_time") = py::none(),
          "End of stream: both streams complete up to end_time (audio clock; default: the latest "
          "timestamp seen; no-op before the first step); emits every window ending <= end_time that "
          "holds a step (not forced). Returns the number emitted (0 on a repeated flush).")
      .def(
          "mark_complete",
          [](AVSync& s, const std::string& stream, const py::typing::Union<py::float_, py::int_>& until) {
            if (stream != "audio" && stream != "video") {
              throw std::invalid_argument("stream: expected 'audio' or 'video', got '" + stream + "'");
            }
            const double t = Seconds("until", until);
            py::gil_scoped_release release;
            return s.mark_complete(stream == "audio", t);
          },
          py::arg("stream"), py::arg("until"),
          "Declare one stream complete up to `until` (audio clock) without a step; emits what the "
          "window rules then allow. Returns the number of windows emitted.")
      .def("new_batch",
           [](const AVSync& s, int64_t capacity) {
             if (capacity < 1) throw std::invalid_argument("capacity: expected >= 1, got " + std::to_string(capacity));
             return WindowBatch(s.options(), capacity);
           },
           py::arg("capacity"), "A reusable output for pop_batch(out=...) holding up to capacity windows.")
      .def("pop_batch", &PopBatch, py::arg("max_n") = py::none(), py::kw_only(), py::arg("out") = py::none(),
           py::return_value_policy::take_ownership,
           "Remove and return up to max_n (default all) ready windows, oldest first, stacked. Without out "
           "a new batch is allocated; with out (from new_batch) at most out.capacity windows are written "
           "into it and it is returned, nothing allocated.")
      .def(
          "pop_windows",
          [](AVSync& s, std::optional<int64_t> max_n) {
            py::object batch = py::cast(PopBatch(s, max_n, std::nullopt), py::return_value_policy::take_ownership);
            std::vector<WindowRow> out;
            const int64_t n = batch.cast<const WindowBatch&>().size;
            out.reserve(n);
            for (int64_t i = 0; i < n; ++i) out.push_back(WindowRow{batch, i});
            return out;
          },
          py::arg("max_n") = py::none(), "Remove and return the ready windows (oldest first) as Window views.")
      .def_property_readonly("pending", &AVSync::pending, "Windows emitted and not yet popped.")
      .def_property_readonly("options", [](const AVSync& s) { return s.options(); }, "A copy of the options.")
      .def_property_readonly("max_audio_steps", [](const AVSync& s) { return s.options().max_audio_steps(); })
      .def_property_readonly("max_video_steps", [](const AVSync& s) { return s.options().max_video_steps(); })
      .def_property_readonly("audio_buffer_steps",
                             [](const AVSync& s) { return s.options().audio_buffer_steps(); })
      .def_property_readonly("video_buffer_steps",
                             [](const AVSync& s) { return s.options().video_buffer_steps(); })
      .def_property_readonly("sync_pair_capacity",
                             [](const AVSync& s) { return s.options().sync_pair_capacity(); })
      .def("map_video_time", &AVSync::map_video_time, py::arg("pts"),
           "Video pts -> audio clock with the current clock-sync mapping.")
      .def("stats", &AVSync::stats, "A SyncStats snapshot (to_dict() for a plain dict).");
}

}  // namespace avemotion::bindings
