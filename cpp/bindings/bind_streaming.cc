// FrameRing, AVSync and the ring stress hook. Strict inputs (the Python wrappers in
// avemotion/streaming.py convert): timestamps C-contiguous float64 (N,), steps float32 (N, dim),
// flags/face_present bool (N,). The GIL is released around every loop over data.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "avemotion/av_sync.h"
#include "avemotion/frame_ring.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

using F32 = py::array_t<float, py::array::c_style>;
using F64 = py::array_t<double, py::array::c_style>;
using B8 = py::array_t<bool, py::array::c_style>;

// Checks shapes; returns N.
int64_t CheckBatch(const F64& ts, const F32& x, int64_t dim) {
  if (ts.ndim() != 1) throw std::invalid_argument("timestamps: expected shape (N,), got " + ShapeStr(ts));
  const int64_t n = ts.shape(0);
  if (x.ndim() != 2 || x.shape(0) != n || x.shape(1) != dim) {
    throw std::invalid_argument("steps: expected shape (" + std::to_string(n) + ", " +
                                std::to_string(dim) + "), got " + ShapeStr(x));
  }
  return n;
}

const uint8_t* FlagPtr(const py::object& flags, int64_t n, const char* name, B8& holder) {
  if (flags.is_none()) return nullptr;
  if (!py::isinstance<B8>(flags) || py::cast<py::array>(flags).dtype().kind() != 'b') {
    throw py::type_error(std::string(name) + ": expected a C-contiguous numpy bool array, got " +
                         std::string(py::str(py::type::of(flags))));
  }
  holder = py::cast<B8>(flags);
  if (holder.ndim() != 1 || holder.shape(0) != n) {
    throw std::invalid_argument(std::string(name) + ": expected shape (" + std::to_string(n) +
                                ",), got " + ShapeStr(holder));
  }
  return reinterpret_cast<const uint8_t*>(holder.data());
}

py::dict CountersDict(const StreamCounters& c) {
  py::dict d;
  d["accepted"] = c.accepted;
  d["dropped"] = c.dropped();
  d["dropped_duplicate"] = c.dropped_duplicate;
  d["dropped_out_of_order"] = c.dropped_out_of_order;
  d["dropped_late"] = c.dropped_late;
  d["late"] = c.late;
  d["overflowed"] = c.overflowed;
  d["truncated"] = c.truncated;
  return d;
}

py::tuple RingPop(FrameRing& ring, int64_t max_n) {
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
    n = ring.Pop(pt, px, pf, n0);
  }
  if (n < n0) {  // only another consumer could cause this; keep the arrays honest anyway
    ts.resize({n});
    x.resize({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(ring.dim())});
    fl.resize({n});
  }
  return py::make_tuple(ts, x, fl);
}

py::dict SyncPop(AVSync& s, int64_t max_n) {
  if (max_n < 0) throw std::invalid_argument("max_n: expected >= 0, got " + std::to_string(max_n));
  const py::ssize_t n = std::min<int64_t>(max_n, s.Pending());
  const py::ssize_t ta = s.options().MaxAudioSteps(), tv = s.options().MaxVideoSteps();
  const py::ssize_t da = s.options().audio_dim, dv = s.options().video_dim;
  F64 start(n), end(n), at({n, ta}), vt({n, tv});
  F32 a({n, ta, da}), v({n, tv, dv}), fms(n);
  B8 am({n, ta}), vm({n, tv}), forced(n);
  py::array_t<int32_t> na(n), nv(n);
  WindowOut o{start.mutable_data(),
              end.mutable_data(),
              a.mutable_data(),
              reinterpret_cast<uint8_t*>(am.mutable_data()),
              at.mutable_data(),
              v.mutable_data(),
              reinterpret_cast<uint8_t*>(vm.mutable_data()),
              vt.mutable_data(),
              na.mutable_data(),
              nv.mutable_data(),
              reinterpret_cast<uint8_t*>(forced.mutable_data()),
              fms.mutable_data()};
  {
    py::gil_scoped_release release;
    s.Pop(o, n);
  }
  py::dict d;
  d["start"] = start;
  d["end"] = end;
  d["audio"] = a;
  d["audio_mask"] = am;
  d["audio_times"] = at;
  d["video"] = v;
  d["video_mask"] = vm;
  d["video_times"] = vt;
  d["n_audio"] = na;
  d["n_video"] = nv;
  d["forced"] = forced;
  d["face_missing_share"] = fms;
  return d;
}

// Pops into caller-owned arrays (AVSync.new_batch): no allocation. Each array must be C-contiguous,
// of the right dtype, with a leading axis >= the windows popped and the option's trailing shape.
int64_t SyncPopInto(AVSync& s, const py::dict& out, int64_t max_n) {
  if (max_n < 0) throw std::invalid_argument("max_n: expected >= 0, got " + std::to_string(max_n));
  const AVSyncOptions& o = s.options();
  const py::ssize_t ta = o.MaxAudioSteps(), tv = o.MaxVideoSteps();
  py::ssize_t rows = -1;
  auto get = [&](const char* key, char kind, py::ssize_t itemsize,
                 std::vector<py::ssize_t> tail) -> void* {
    if (!out.contains(key)) throw std::invalid_argument(std::string("out: missing array '") + key + "'");
    py::array a = py::reinterpret_borrow<py::array>(out[key]);
    if (!py::isinstance<py::array>(out[key]) || a.dtype().kind() != kind || a.itemsize() != itemsize ||
        !(a.flags() & py::array::c_style) || !a.writeable() ||
        a.ndim() != static_cast<py::ssize_t>(tail.size()) + 1) {
      throw py::type_error(std::string("out['") + key + "']: expected a writable C-contiguous array of " +
                           std::to_string(tail.size() + 1) + " dims, kind '" + kind + "', " +
                           std::to_string(itemsize) + " bytes per item");
    }
    for (size_t i = 0; i < tail.size(); ++i) {
      if (a.shape(i + 1) != tail[i]) {
        throw std::invalid_argument(std::string("out['") + key + "']: expected trailing shape of size " +
                                    std::to_string(tail[i]) + " on axis " + std::to_string(i + 1) +
                                    ", got " + ShapeStr(a));
      }
    }
    rows = rows < 0 ? a.shape(0) : std::min(rows, a.shape(0));
    return a.mutable_data();
  };
  WindowOut w{static_cast<double*>(get("start", 'f', 8, {})),
              static_cast<double*>(get("end", 'f', 8, {})),
              static_cast<float*>(get("audio", 'f', 4, {ta, o.audio_dim})),
              static_cast<uint8_t*>(get("audio_mask", 'b', 1, {ta})),
              static_cast<double*>(get("audio_times", 'f', 8, {ta})),
              static_cast<float*>(get("video", 'f', 4, {tv, o.video_dim})),
              static_cast<uint8_t*>(get("video_mask", 'b', 1, {tv})),
              static_cast<double*>(get("video_times", 'f', 8, {tv})),
              static_cast<int32_t*>(get("n_audio", 'i', 4, {})),
              static_cast<int32_t*>(get("n_video", 'i', 4, {})),
              static_cast<uint8_t*>(get("forced", 'b', 1, {})),
              static_cast<float*>(get("face_missing_share", 'f', 4, {}))};
  const int64_t n = std::min<int64_t>(max_n, rows);
  py::gil_scoped_release release;
  return s.Pop(w, n);
}

}  // namespace

void BindStreaming(py::module_& m) {
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
            const int64_t n = CheckBatch(ts, x, r.dim());
            B8 holder;
            const uint8_t* pf = FlagPtr(flags, n, "flags", holder);
            const double* pt = ts.data();
            const float* px = x.data();
            py::gil_scoped_release release;
            return r.Push(pt, px, pf, n);
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

  m.def(
      "ring_stress_test",
      [](int64_t dim, int64_t capacity, const std::string& policy, int64_t n_items, int64_t push_batch,
         int64_t pop_batch) {
        const OverflowPolicy p = ParseOverflowPolicy(policy);
        RingStressResult r;
        {
          py::gil_scoped_release release;
          r = RingStressTest(dim, capacity, p, n_items, push_batch, pop_batch);
        }
        py::dict d;
        d["pushed"] = r.pushed;
        d["popped"] = r.popped;
        d["dropped_oldest"] = r.dropped_oldest;
        d["dropped_newest"] = r.dropped_newest;
        d["order_errors"] = r.order_errors;
        d["payload_errors"] = r.payload_errors;
        return d;
      },
      py::arg("dim"), py::arg("capacity"), py::arg("policy"), py::arg("n_items"), py::arg("push_batch"),
      py::arg("pop_batch"),
      "Test hook: a C++ producer thread and consumer thread hammer one FrameRing; returns counters.");

  py::class_<AVSync>(m, "AVSync", "Audio-video synchronizer; see cpp/include/avemotion/av_sync.h.")
      .def(py::init([](double window_s, double hop_s, double max_latency_s, int64_t audio_dim,
                       int64_t video_dim, double audio_rate_hz, double video_fps, double rate_margin,
                       int64_t max_pending_windows, const std::string& clock_sync, double sync_horizon_s,
                       double sync_min_span_s, int64_t sync_refit_every, double max_drift_ppm,
                       double max_offset_s, double sync_min_sigmas, double grid_start_s) {
             AVSyncOptions o;
             o.window_s = window_s;
             o.hop_s = hop_s;
             o.max_latency_s = max_latency_s;
             o.audio_dim = audio_dim;
             o.video_dim = video_dim;
             o.audio_rate_hz = audio_rate_hz;
             o.video_fps = video_fps;
             o.rate_margin = rate_margin;
             o.max_pending_windows = max_pending_windows;
             o.clock_sync = ParseClockSync(clock_sync);
             o.sync_horizon_s = sync_horizon_s;
             o.sync_min_span_s = sync_min_span_s;
             o.sync_refit_every = sync_refit_every;
             o.max_drift_ppm = max_drift_ppm;
             o.max_offset_s = max_offset_s;
             o.sync_min_sigmas = sync_min_sigmas;
             o.grid_start_s = grid_start_s;
             return new AVSync(o);
           }),
           py::arg("window_s"), py::arg("hop_s"), py::arg("max_latency_s"), py::arg("audio_dim"),
           py::arg("video_dim"), py::arg("audio_rate_hz"), py::arg("video_fps"), py::arg("rate_margin"),
           py::arg("max_pending_windows"), py::arg("clock_sync"), py::arg("sync_horizon_s"),
           py::arg("sync_min_span_s"), py::arg("sync_refit_every"), py::arg("max_drift_ppm"),
           py::arg("max_offset_s"), py::arg("sync_min_sigmas"),
           py::arg("grid_start_s") = std::numeric_limits<double>::quiet_NaN())
      .def(
          "push_audio",
          [](AVSync& s, const F64& ts, const F32& x) {
            const int64_t n = CheckBatch(ts, x, s.options().audio_dim);
            const double* pt = ts.data();
            const float* px = x.data();
            py::gil_scoped_release release;
            return s.PushAudio(pt, px, n);
          },
          py::arg("timestamps").noconvert(), py::arg("steps").noconvert())
      .def(
          "push_video",
          [](AVSync& s, const F64& ts, const F32& x, const py::object& face_present) {
            const int64_t n = CheckBatch(ts, x, s.options().video_dim);
            B8 holder;
            const uint8_t* pf = FlagPtr(face_present, n, "face_present", holder);
            const double* pt = ts.data();
            const float* px = x.data();
            py::gil_scoped_release release;
            return s.PushVideo(pt, px, pf, n);
          },
          py::arg("timestamps").noconvert(), py::arg("steps").noconvert(),
          py::arg("face_present") = py::none())
      .def(
          "flush",
          [](AVSync& s, const py::object& end_time) {
            const bool latest = end_time.is_none();
            const double t = latest ? 0.0 : py::cast<double>(end_time);
            py::gil_scoped_release release;  // emits (and indexes) every window up to end_time
            return latest ? s.Flush() : s.Flush(t);
          },
          py::arg("end_time") = py::none())
      .def(
          "mark_complete",
          [](AVSync& s, const std::string& stream, double until) {
            if (stream != "audio" && stream != "video") {
              throw std::invalid_argument("stream: expected 'audio' or 'video', got '" + stream + "'");
            }
            const bool audio = stream == "audio";
            py::gil_scoped_release release;
            return s.MarkComplete(audio, until);
          },
          py::arg("stream"), py::arg("until"))
      .def("pop", &SyncPop, py::arg("max_n"))
      .def("pop_into", &SyncPopInto, py::arg("out"), py::arg("max_n"))
      .def_property_readonly("pending", &AVSync::Pending)
      .def_property_readonly("max_audio_steps", [](const AVSync& s) { return s.options().MaxAudioSteps(); })
      .def_property_readonly("max_video_steps", [](const AVSync& s) { return s.options().MaxVideoSteps(); })
      .def_property_readonly("audio_buffer_steps",
                             [](const AVSync& s) { return s.options().AudioBufferSteps(); })
      .def_property_readonly("video_buffer_steps",
                             [](const AVSync& s) { return s.options().VideoBufferSteps(); })
      .def_property_readonly("sync_pair_capacity",
                             [](const AVSync& s) { return s.options().SyncPairCapacity(); })
      .def("map_video_time", &AVSync::MapVideoTime, py::arg("pts"))
      .def("stats", [](const AVSync& s) {
        const AVSyncStats st = s.Stats();
        py::dict d;
        d["audio"] = CountersDict(st.audio);
        d["video"] = CountersDict(st.video);
        d["emitted"] = st.emitted;
        d["forced"] = st.forced;
        d["popped"] = st.popped;
        d["windows_overflowed"] = st.windows_overflowed;
        d["pending"] = st.pending;
        d["watermark_audio"] = st.watermark_audio;
        d["watermark_video"] = st.watermark_video;
        d["lag_audio_s"] = st.lag_audio_s;
        d["lag_video_s"] = st.lag_video_s;
        d["drift_ppm"] = st.drift_ppm;
        d["offset_s"] = st.offset_s;
        d["drift_stderr_ppm"] = st.drift_stderr_ppm;
        d["applied_drift_ppm"] = st.applied_drift_ppm;
        d["sync_pairs"] = st.sync_pairs;
        d["sync_fits"] = st.sync_fits;
        return d;
      });
}

}  // namespace avemotion::bindings
