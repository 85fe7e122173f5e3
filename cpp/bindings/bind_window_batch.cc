// WindowBatch: windows popped from an AVSync, stacked; each array property is a numpy view of the
// first len(batch) rows (no copy), kept alive by the batch.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "avemotion/av_sync.h"
#include "bindings.h"
#include "window_row.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

const WindowBatch& B(const py::object& self) { return self.cast<const WindowBatch&>(); }

py::array Missing(const std::vector<int32_t>& n, int64_t size) {
  py::array_t<bool> out(size);
  bool* p = out.mutable_data();
  for (int64_t i = 0; i < size; ++i) p[i] = n[i] == 0;
  return out;
}

}  // namespace

void BindWindowBatch(py::module_& m) {
  using O = const py::object&;
  py::class_<WindowBatch>(
      m, "WindowBatch",
      "n windows stacked (AVSync.pop_batch): the fields of Window with a leading axis (n, ...).\n"
      "Arrays are views of the batch's memory: AVSync.new_batch(capacity) allocates one batch that\n"
      "pop_batch(out=batch) fills again and again without allocating (the next pop overwrites).")
      .def(py::init<const AVSyncOptions&, int64_t>(), py::arg("options"), py::arg("capacity"))
      .def("__len__", [](const WindowBatch& b) { return b.size; })
      .def_readonly("capacity", &WindowBatch::capacity)
      .def_readonly("max_audio_steps", &WindowBatch::max_audio_steps)
      .def_readonly("max_video_steps", &WindowBatch::max_video_steps)
      .def_readonly("audio_dim", &WindowBatch::audio_dim)
      .def_readonly("video_dim", &WindowBatch::video_dim)
      .def_property_readonly("start", [](O s) { return View<double>(s, B(s).start.data(), {B(s).size}); })
      .def_property_readonly("end", [](O s) { return View<double>(s, B(s).end.data(), {B(s).size}); })
      .def_property_readonly("audio", [](O s) {
        const WindowBatch& b = B(s);
        return View<float>(s, b.audio.data(), {b.size, b.max_audio_steps, b.audio_dim});
      })
      .def_property_readonly("audio_mask", [](O s) {
        const WindowBatch& b = B(s);
        return View<bool>(s, b.audio_mask.data(), {b.size, b.max_audio_steps});
      })
      .def_property_readonly("audio_times", [](O s) {
        const WindowBatch& b = B(s);
        return View<double>(s, b.audio_times.data(), {b.size, b.max_audio_steps});
      })
      .def_property_readonly("video", [](O s) {
        const WindowBatch& b = B(s);
        return View<float>(s, b.video.data(), {b.size, b.max_video_steps, b.video_dim});
      })
      .def_property_readonly("video_mask", [](O s) {
        const WindowBatch& b = B(s);
        return View<bool>(s, b.video_mask.data(), {b.size, b.max_video_steps});
      })
      .def_property_readonly("video_times", [](O s) {
        const WindowBatch& b = B(s);
        return View<double>(s, b.video_times.data(), {b.size, b.max_video_steps});
      })
      .def_property_readonly("n_audio", [](O s) { return View<int32_t>(s, B(s).n_audio.data(), {B(s).size}); })
      .def_property_readonly("n_video", [](O s) { return View<int32_t>(s, B(s).n_video.data(), {B(s).size}); })
      .def_property_readonly("forced", [](O s) { return View<bool>(s, B(s).forced.data(), {B(s).size}); })
      .def_property_readonly("face_missing_share",
                             [](O s) { return View<float>(s, B(s).face_missing_share.data(), {B(s).size}); })
      .def_property_readonly("audio_missing", [](O s) { return Missing(B(s).n_audio, B(s).size); },
                             "n_audio == 0 (a new array)")
      .def_property_readonly("video_missing", [](O s) { return Missing(B(s).n_video, B(s).size); },
                             "n_video == 0 (a new array)")
      .def("__getitem__", [](O s, int64_t i) {
        const int64_t n = B(s).size;
        if (i < 0) i += n;
        if (i < 0 || i >= n) throw py::index_error("window index out of range");
        return WindowRow{s, i};
      })
      .def("windows", [](O s) {
        std::vector<WindowRow> out;
        out.reserve(B(s).size);
        for (int64_t i = 0; i < B(s).size; ++i) out.push_back(WindowRow{s, i});
        return out;
      }, "The batch as Window views, oldest first.");
}

}  // namespace avemotion::bindings
