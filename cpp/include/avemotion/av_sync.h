// Audio-video synchronizer: cuts analysis windows out of two timestamped step streams.
//
// Clock. Windows live on the audio clock: window k ends at t_k = k * hop_s (double product) and holds
// the steps with start < ts <= t_k, start = t_k - window_s (docs/contracts.md "Analysis windows").
// The first window is k0 = ceil(ts0 / hop_s), ts0 = grid_start_s when set, else the first accepted
// step of either stream (which then depends on which stream delivers first; sources whose media
// time starts at 0 set grid_start_s = 0 so the grid does not depend on arrival order).
// Video timestamps are first mapped onto the audio clock (see "Clock sync" below).
//
// Watermarks. Each stream's watermark is max(its largest accepted timestamp, its completion bound
// from Flush/MarkComplete) (-inf before either): steps are expected in timestamp order, so a stream
// is complete up to its watermark. Rules 1-3 below compare with the largest accepted timestamp.
// Window t is emitted, in order, as soon as (after any accepted step)
//   * both watermarks are >= t, or
//   * the leading watermark max(wm_audio, wm_video) is >= t + max_latency_s ("forced"): the lagging
//     stream's steps not yet arrived are simply absent (masked). Latency is measured on the stream
//     clock, not the wall clock, so the output is a pure function of the input sequence.
// An emitted window's content is fixed at emission: steps that arrive later are never added to it.
//
// End of stream. Flush(end_time) declares both streams complete up to end_time (default: the latest
// timestamp seen on either stream, i.e. max of the two watermarks below) and emits, in order, every
// window whose end is <= end_time. The last windows may be partial; a modality with no steps in a
// window is absent (masked, n = 0) as usual. A flushed window is NOT `forced`: `forced` means "cut by
// the max-latency rule before the lagging stream was known complete", whereas after a flush both
// streams are known complete, so nothing a flushed window lacks can still arrive (Stats().forced
// counts only max-latency emissions). Flush is idempotent: a second call with the same (or an
// earlier) end_time emits nothing. It does not end the synchronizer: later steps are still taken,
// those at or before end_time are counted `late` (rule 6), and the windows after end_time are emitted
// by the usual rules or by a later Flush.
// MarkComplete(stream, until) is the one-stream form (MediaPipe's timestamp bound): the stream's
// watermark advances to `until` without a step, which emits what the two rules above allow (windows
// both streams are complete for; forced ones when `until` leads by max_latency_s). Flush(T) is
// MarkComplete(audio, T) + MarkComplete(video, T). Completion bounds only move forward; `until` and
// end_time are on the audio clock (for a video pts p use MapVideoTime(p)).
//
// Per-step rules, in this order (counters in StreamCounters):
//   1. ts == last accepted ts: duplicate, dropped (the first step with a timestamp wins). For video
//      the raw pts is compared with the last in-order raw pts.
//   2. ts <  last accepted ts: out of order, dropped.
//   3. (video) the step is mapped to the audio clock; if the mapped time is <= the last accepted
//      (mapped) video time it is dropped as out of order (a clock-sync update moved it back).
//   4. the last accepted ts advances to ts.
//   5. ts <= start of the next window to emit: too late for any window, dropped (dropped_late).
//   6. ts <= end of the last emitted window, or ts <= the stream's completion bound (Flush /
//      MarkComplete): accepted but counted `late` (missed that window or arrived after its stream was
//      declared complete; kept for the later windows it belongs to).
//   7. stored; a full stream buffer discards its oldest step (overflowed).
//
// Buffers. Everything is allocated at construction. Per-window arrays have fixed sizes
// max_audio_steps = ceil(window_s * audio_rate_hz * rate_margin) + 1 (same for video with video_fps):
// a window holding more steps keeps the latest ones (the rest counted `truncated`). Emitted windows wait
// in a queue of max_pending_windows (a full queue discards its oldest window, counted
// windows_overflowed) as index ranges into the stream buffers; the buffers keep steps from the oldest
// pending window's start, and hold
//   ceil((window_s + max_latency_s + (max_pending_windows + 1) * hop_s) * rate * rate_margin) + 16
// steps. Pop copies windows out into caller-provided arrays.
//
// Clock sync. The video clock may drift against the audio clock. At the end of each PushVideo() call
// that brought a new in-order frame, once audio has started, the pair (x = audio watermark now,
// y = raw pts of the call's newest frame) is kept over a sliding horizon (x >= x_latest -
// sync_horizon_s). One pair per call: the newest frame is the one that has just arrived, the others
// were held back by batching, and pairing them all with one arrival time would bias the slope by about
// -1/K^2 (K batches in the horizon). Every sync_refit_every pairs, once the pairs span
// >= sync_min_span_s of pts and number >= 8, x = alpha + beta * y is fitted by least squares
// (two-pass, centered). The regressor is the exact pts and the response the noisy arrival clock, so
// arrival jitter does not bias beta. Reported: drift_ppm = (1/beta - 1) * 1e6 (video clock fast when
// > 0), drift_stderr_ppm, and offset_s = y - (alpha + beta * y) at the latest pair (video pts minus the
// audio clock it arrived at: includes the video pipeline's latency). Applied, by clock_sync mode:
//   * kNone: video timestamps used as given (the estimate is still reported).
//   * kDrift (default): t = anchor_t + beta_c * (pts - anchor_p), piecewise linear. The first fit
//     anchors at the first paired pts y0 (t = y0: the clocks are taken to agree at the start), which
//     may map the next frames a little behind those already mapped by the identity (dropped by rule 3);
//     each later fit re-anchors on the newest paired pts, continuously. beta_c = 1 unless
//     |beta - 1| > sync_min_sigmas * stderr(beta) (a drift that arrival noise could explain is not
//     applied), else beta, clamped so |drift| <= max_drift_ppm.
//   * kFull: t = alpha_c + beta_c * pts, alpha_c = mean(x) - beta_c * mean(y) (video slaved to the
//     audio arrival clock, as ffplay does), clamped to within max_offset_s of the kDrift mapping; a
//     refit can move later timestamps back a little (rule 3 drops what lands behind the watermark).
// The identity applies before the first fit. The smallest drift that can be resolved grows with the
// batching jitter between the streams and shrinks with sync_horizon_s: with ~1 s batches use a
// horizon of minutes; with one clock for both streams use kNone.
//
// Not thread-safe: one thread pushes and pops (put a FrameRing in front for a capture thread).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace avemotion {

enum class ClockSync { kNone, kDrift, kFull };
ClockSync ParseClockSync(const std::string& name);  // "none" | "drift" | "full"
const char* ClockSyncName(ClockSync c);

struct AVSyncOptions {
  double window_s = 2.0;        // > 0
  double hop_s = 0.5;           // > 0
  double max_latency_s = 1.0;   // >= 0
  int64_t audio_dim = 89;       // >= 1
  int64_t video_dim = 512;      // >= 1
  double audio_rate_hz = 10.0;  // nominal steps per second (> 0): sizes buffers and window arrays
  double video_fps = 5.0;       // nominal video steps per second (> 0)
  double rate_margin = 1.25;    // >= 1: headroom over the nominal rates
  int64_t max_pending_windows = 64;  // >= 1
  ClockSync clock_sync = ClockSync::kDrift;
  double sync_horizon_s = 30.0;   // > 0
  double sync_min_span_s = 10.0;  // >= 0, <= sync_horizon_s
  int64_t sync_refit_every = 4;   // >= 1 (pairs; one pair per PushVideo call)
  double max_drift_ppm = 20000.0;  // >= 0
  double max_offset_s = 0.5;       // >= 0 (kFull only)
  double sync_min_sigmas = 3.0;    // >= 0: apply a drift only when |beta - 1| > this * stderr(beta)
  // First window: k0 = ceil(grid_start_s / hop_s). NaN (default): from the first accepted step.
  double grid_start_s = std::numeric_limits<double>::quiet_NaN();  // finite or NaN

  // Throws std::invalid_argument naming the first bad field, the expected range and the value.
  void Validate() const;
  int64_t MaxAudioSteps() const;
  int64_t MaxVideoSteps() const;
  int64_t AudioBufferSteps() const;
  int64_t VideoBufferSteps() const;
  int64_t SyncPairCapacity() const;
};

struct StreamCounters {
  int64_t accepted = 0, dropped_duplicate = 0, dropped_out_of_order = 0, dropped_late = 0;
  int64_t late = 0, overflowed = 0, truncated = 0;
  int64_t dropped() const { return dropped_duplicate + dropped_out_of_order + dropped_late; }
};

struct AVSyncStats {
  StreamCounters audio, video;
  // forced: windows emitted by the max-latency rule (never those emitted by Flush)
  int64_t emitted = 0, forced = 0, popped = 0, windows_overflowed = 0, pending = 0;
  // max(largest accepted timestamp, completion bound); -inf before either
  double watermark_audio = -std::numeric_limits<double>::infinity();
  double watermark_video = -std::numeric_limits<double>::infinity();
  double lag_audio_s = 0, lag_video_s = 0;  // leading watermark minus this stream's (NaN: not started)
  double drift_ppm = 0, offset_s = 0;       // latest estimate (0 before the first fit)
  double drift_stderr_ppm = 0;              // standard error of drift_ppm
  double applied_drift_ppm = 0;             // drift the mapping currently removes (clamped)
  int64_t sync_pairs = 0, sync_fits = 0;
};

// Output arrays for Pop(): n windows, row-major, caller-allocated with the option's max sizes.
struct WindowOut {
  double* start;          // [n]
  double* end;            // [n]
  float* audio;           // [n, max_audio_steps, audio_dim], zero padding
  uint8_t* audio_mask;    // [n, max_audio_steps], 1 = real step
  double* audio_times;    // [n, max_audio_steps], NaN padding
  float* video;           // [n, max_video_steps, video_dim], zero padding and no-face steps as given
  uint8_t* video_mask;    // [n, max_video_steps], 1 = step with a face
  double* video_times;    // [n, max_video_steps], NaN padding (mapped to the audio clock)
  int32_t* n_audio;       // [n] real audio steps
  int32_t* n_video;       // [n] video steps (with or without a face)
  uint8_t* forced;        // [n] emitted by the max-latency rule
  float* face_missing_share;  // [n] no-face steps / video steps (0 when none)
};

class AVSync {
 public:
  explicit AVSync(const AVSyncOptions& options);

  // n steps: timestamps[n] (finite, else std::invalid_argument naming the index; nothing is applied
  // then), x[n * audio_dim]. Returns the number accepted.
  int64_t PushAudio(const double* timestamps, const float* x, int64_t n);
  // face_present[n] (nullptr: all present). A step without a face is stored as given, masked.
  int64_t PushVideo(const double* timestamps, const float* x, const uint8_t* face_present, int64_t n);

  // End of stream (see "End of stream" above): both streams complete up to end_time (finite, within
  // +-1e12, else std::invalid_argument naming end_time); emits every window ending <= end_time.
  // Returns the number of windows emitted by this call. Flush() uses the latest watermark of either
  // stream (nothing happens before the first step).
  int64_t Flush(double end_time);
  int64_t Flush();
  // One stream complete up to `until` (audio clock): a watermark advance without a step. Returns the
  // number of windows emitted by this call.
  int64_t MarkComplete(bool audio, double until);

  int64_t Pending() const;
  // Copies up to max_n oldest pending windows into out and removes them; returns how many.
  int64_t Pop(const WindowOut& out, int64_t max_n);

  const AVSyncOptions& options() const { return opt_; }
  AVSyncStats Stats() const;
  // Video pts -> audio clock with the current mapping.
  double MapVideoTime(double pts) const;

 private:
  struct Buffer {
    int64_t dim = 0, cap = 0, first = 0, end = 0;  // absolute sequence numbers [first, end)
    std::vector<double> ts;
    std::vector<float> x;
    std::vector<uint8_t> flag;
    void Init(int64_t d, int64_t c);
    bool Append(double t, const float* v, uint8_t f);  // false when the oldest was discarded
    int64_t FirstAbove(double bound) const;          // first seq in [first, end) with ts > bound
  };
  struct PendingWindow {
    double end;
    bool forced;
    int64_t a_lo, a_hi, v_lo, v_hi;
  };

  void Accept(bool audio, double t, const float* v, uint8_t f);
  void TryEmit();
  void Prune();
  void AddPair(double x, double y);
  void Refit();

  AVSyncOptions opt_;
  int64_t max_a_, max_v_;
  Buffer a_, v_;
  std::vector<PendingWindow> pending_;
  int64_t pend_first_ = 0, pend_count_ = 0;
  bool has_grid_ = false;
  int64_t next_k_ = 0;
  double last_emitted_end_ = -std::numeric_limits<double>::infinity();
  // completion bounds from Flush/MarkComplete (audio clock)
  double done_a_ = -std::numeric_limits<double>::infinity();
  double done_v_ = -std::numeric_limits<double>::infinity();
  bool has_raw_v_ = false;
  double last_raw_v_ = 0;
  // clock sync
  std::vector<double> px_, py_;
  int64_t p_first_ = 0, p_count_ = 0, since_fit_ = 0;
  bool has_y0_ = false;
  double y0_ = 0;                       // first paired pts
  double anchor_p_ = 0, anchor_t_ = 0;  // kDrift: t = anchor_t + beta_c * (pts - anchor_p)
  bool fitted_ = false;
  double alpha_c_ = 0, beta_c_ = 1;  // applied fit (beta clamped, alpha refitted with it)
  AVSyncStats st_;
};

}  // namespace avemotion
