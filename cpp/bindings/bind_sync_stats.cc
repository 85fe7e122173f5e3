// SyncStats: an AVSync's health, a snapshot taken by AVSync.stats().
#include <pybind11/pybind11.h>

#include "avemotion/av_sync.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {

void BindSyncStats(py::module_& m) {
  py::class_<SyncStats> c(
      m, "SyncStats",
      "Health of an AVSync (a snapshot; cpp/include/avemotion/av_sync.h). Watermarks: max(largest\n"
      "accepted timestamp, completion bound), -inf before either; lags: the leading watermark minus\n"
      "the stream's (NaN before it starts); forced counts max-latency emissions only; drift_ppm /\n"
      "offset_s are the latest estimates (0 before the first fit), applied_drift_ppm what the\n"
      "timestamp mapping removes. to_dict() gives the same as nested dicts.");
  c.def(py::init<>())
      .def_readonly("audio", &SyncStats::audio)
      .def_readonly("video", &SyncStats::video)
      .def_readonly("emitted", &SyncStats::emitted, "windows emitted (holding at least one step)")
      .def_readonly("forced", &SyncStats::forced, "windows emitted by the max-latency rule")
      .def_readonly("popped", &SyncStats::popped)
      .def_readonly("windows_overflowed", &SyncStats::windows_overflowed,
                    "emitted windows discarded by a full pending queue")
      .def_readonly("pending", &SyncStats::pending)
      .def_readonly("windows_skipped", &SyncStats::windows_skipped,
                    "due windows holding no step: jumped over, not emitted")
      .def_readonly("discontinuities", &SyncStats::discontinuities,
                    "restarts after a timestamp jump larger than max_gap_s")
      .def_readonly("watermark_audio", &SyncStats::watermark_audio)
      .def_readonly("watermark_video", &SyncStats::watermark_video)
      .def_readonly("lag_audio_s", &SyncStats::lag_audio_s)
      .def_readonly("lag_video_s", &SyncStats::lag_video_s)
      .def_readonly("drift_ppm", &SyncStats::drift_ppm)
      .def_readonly("drift_stderr_ppm", &SyncStats::drift_stderr_ppm)
      .def_readonly("offset_s", &SyncStats::offset_s)
      .def_readonly("applied_drift_ppm", &SyncStats::applied_drift_ppm)
      .def_readonly("sync_pairs", &SyncStats::sync_pairs)
      .def_readonly("sync_fits", &SyncStats::sync_fits)
      .def_property_readonly("dropped", &SyncStats::dropped, "both streams' drops")
      .def_property_readonly("late", &SyncStats::late, "both streams' late steps")
      .def_property_readonly("overflowed", &SyncStats::overflowed,
                             "both streams' buffer overflows + windows_overflowed");
  DefFieldMethods(c);
}

}  // namespace avemotion::bindings
