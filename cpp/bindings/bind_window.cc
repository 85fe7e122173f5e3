// Window: one analysis window, a view of one row of a WindowBatch (no copy; a later
// pop_batch(out=...) into the same batch overwrites it).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "avemotion/av_sync.h"
#include "bindings.h"
#include "window_row.h"

namespace py = pybind11;

namespace avemotion::bindings {

void BindWindow(py::module_& m) {
  using R = WindowRow;
  py::class_<R>(m, "Window",
                "One analysis window (start, end] on the audio clock (seconds): a view of one row of a\n"
                "WindowBatch. audio float32 (Ta, audio_dim), audio_mask bool (Ta,), audio_times float64\n"
                "(Ta,); video float32 (Tv, video_dim), video_mask bool (Tv,) True = step with a face,\n"
                "video_times (Tv,) on the audio clock. Padding rows are zero, mask False, time NaN.")
      .def_property_readonly("start", [](const R& r) { return r.b().start[r.i]; })
      .def_property_readonly("end", [](const R& r) { return r.b().end[r.i]; })
      .def_property_readonly("audio", [](const R& r) {
        const WindowBatch& b = r.b();
        return View<float>(r.batch, &b.audio[r.i * b.max_audio_steps * b.audio_dim],
                           {b.max_audio_steps, b.audio_dim});
      })
      .def_property_readonly("audio_mask", [](const R& r) {
        const WindowBatch& b = r.b();
        return View<bool>(r.batch, &b.audio_mask[r.i * b.max_audio_steps], {b.max_audio_steps});
      })
      .def_property_readonly("audio_times", [](const R& r) {
        const WindowBatch& b = r.b();
        return View<double>(r.batch, &b.audio_times[r.i * b.max_audio_steps], {b.max_audio_steps});
      })
      .def_property_readonly("video", [](const R& r) {
        const WindowBatch& b = r.b();
        return View<float>(r.batch, &b.video[r.i * b.max_video_steps * b.video_dim],
                           {b.max_video_steps, b.video_dim});
      })
      .def_property_readonly("video_mask", [](const R& r) {
        const WindowBatch& b = r.b();
        return View<bool>(r.batch, &b.video_mask[r.i * b.max_video_steps], {b.max_video_steps});
      })
      .def_property_readonly("video_times", [](const R& r) {
        const WindowBatch& b = r.b();
        return View<double>(r.batch, &b.video_times[r.i * b.max_video_steps], {b.max_video_steps});
      })
      .def_property_readonly("n_audio", [](const R& r) { return r.b().n_audio[r.i]; },
                             "real audio steps")
      .def_property_readonly("n_video", [](const R& r) { return r.b().n_video[r.i]; },
                             "video steps, with or without a face")
      .def_property_readonly("audio_missing", [](const R& r) { return r.b().n_audio[r.i] == 0; })
      .def_property_readonly("video_missing", [](const R& r) { return r.b().n_video[r.i] == 0; })
      .def_property_readonly("face_missing_share",
                             [](const R& r) { return static_cast<double>(r.b().face_missing_share[r.i]); },
                             "share of the window's video steps without a face (0.0 when none)")
      .def_property_readonly("forced", [](const R& r) { return r.b().forced[r.i] != 0; },
                             "emitted by the max-latency rule (never by flush)")
      .def("__repr__", [](const R& r) {
        const WindowBatch& b = r.b();
        return "Window(start=" + std::string(py::repr(py::float_(b.start[r.i]))) +
               ", end=" + std::string(py::repr(py::float_(b.end[r.i]))) +
               ", n_audio=" + std::to_string(b.n_audio[r.i]) + ", n_video=" + std::to_string(b.n_video[r.i]) +
               ", forced=" + (b.forced[r.i] ? "True" : "False") + ")";
      });
}

}  // namespace avemotion::bindings
