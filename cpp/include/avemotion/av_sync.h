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
// from flush/mark_complete) (-inf before either): steps are expected in timestamp order, so a stream
// is complete up to its watermark. Rules 1-3 below compare with the largest accepted timestamp.
// Window t is emitted, in order, as soon as (after any accepted step)
//   * both watermarks are >= t, or
//   * the leading watermark max(wm_audio, wm_video) is >= t + max_latency_s ("forced"): the lagging
//     stream's steps not yet arrived are simply absent (masked). Latency is measured on the stream
//     clock, not the wall clock, so the output is a pure function of the input sequence.
// An emitted window's content is fixed at emission: steps that arrive later are never added to it.
// A window holding no step of either stream is skipped, not emitted ("Gaps and discontinuities").
//
// End of stream. flush(end_time) declares both streams complete up to end_time (default: the latest
// timestamp seen on either stream, i.e. max of the two watermarks below) and emits, in order, every
// window whose end is <= end_time and that holds a step. The last windows may be partial; a modality
// with no steps in a window is absent (masked, n = 0) as usual. A flushed window is NOT `forced`: `forced` means "cut by
// the max-latency rule before the lagging stream was known complete", whereas after a flush both
// streams are known complete, so nothing a flushed window lacks can still arrive (stats().forced
// counts only max-latency emissions). flush is idempotent: a second call with the same (or an
// earlier) end_time emits nothing. It does not end the synchronizer: later steps are still taken,
// those at or before end_time are counted `late` (rule 6), and the windows after end_time are emitted
// by the usual rules or by a later flush.
// mark_complete(stream, until) is the one-stream form (MediaPipe's timestamp bound): the stream's
// watermark advances to `until` without a step, which emits what the two rules above allow (windows
// both streams are complete for; forced ones when `until` leads by max_latency_s). flush(T) is
// mark_complete(audio, T) + mark_complete(video, T). Completion bounds only move forward; `until` and
// end_time are on the audio clock (for a video pts p use map_video_time(p)).
//
// Per-step rules, in this order (counters in StreamStats):
//   0. a jump larger than max_gap_s is a discontinuity (see "Gaps and discontinuities"): the
//      synchronizer restarts, then the step is taken by the rules below as a first step.
//   1. ts == last accepted ts: duplicate, dropped (the first step with a timestamp wins). For video
//      the raw pts is compared with the last in-order raw pts.
//   2. ts <  last accepted ts: out of order, dropped.
//   3. (video) the step is mapped to the audio clock; if the mapped time is <= the last accepted
//      (mapped) video time it is dropped as out of order (a clock-sync update moved it back).
//   4. the last accepted ts advances to ts.
//   5. ts <= start of the next window to emit: too late for any window, dropped (dropped_late).
//   6. ts <= end of the last window emitted or skipped, or ts <= the stream's completion bound
//      (flush / mark_complete): accepted but counted `late` (missed that window or arrived after its
//      stream was declared complete; kept for the later windows it belongs to).
//   7. stored; a full stream buffer discards its oldest step (overflowed).
//
// Gaps and discontinuities. The cost of a step never depends on the size of a timestamp gap.
//   * Empty windows are skipped. A due window (the emission rules above hold for it) that holds no
//     step of either stream is not emitted: the grid jumps over the whole run of such windows at
//     once, stats().windows_skipped counts them, and they count as cut for rule 6. This happens
//     when both streams have a gap longer than window_s, before the first step with a fixed
//     grid_start_s, after the last one (flush(end_time) far past the data), or when a buffer
//     overflow discarded a window's steps before it was due. Only due windows are skipped, so no
//     step still to come could have been in one except as `late`. (A pending window whose steps an
//     overflow discards after its emission is still popped, empty.)
//   * A jump larger than max_gap_s is a stream discontinuity (a corrupt timestamp, a restarted
//     source). A step is one when its time (video: mapped to the audio clock) is more than
//     max_gap_s past the leading watermark max(watermark_audio, watermark_video), or more than
//     max_gap_s before its own stream's last accepted timestamp (video: its raw pts before the last
//     in-order raw pts). Then, before the step is taken:
//       1. the segment is flushed, as flush(t) with t the end of the window holding the leading
//          watermark (the first k * hop_s >= it); later windows, which would hold only the
//          segment's last steps, are not emitted;
//       2. the synchronizer restarts: both streams' watermarks and completion bounds, the last cut
//          window and the clock sync (pairs, fit, the mapping back to the identity; drift_ppm,
//          drift_stderr_ppm, offset_s and applied_drift_ppm back to 0) are reset, and the grid
//          restarts at this step (k0 = ceil(ts / hop_s); grid_start_s only applies to the first
//          segment); the other counters are kept;
//       3. stats().discontinuities counts it.
//     Windows already emitted stay pending with their content, so after a backward jump later
//     windows may end before pending ones. One corrupt timestamp in a steady stream costs two
//     discontinuities: at the bad step, and at the next good step of the same stream (more than
//     max_gap_s before the bad one); the window between holds the bad step alone, and steps of the
//     other stream that arrive between the two fall behind the grid (dropped_late).
//     max_gap_s = inf turns discontinuities off: a forward jump is then only skipped windows, and
//     later steps behind the jumped watermark are dropped as out of order (rules 1-2) until their
//     timestamps pass it.

// Buffers. Everything is allocated at construction. Per-window arrays have fixed sizes
// max_audio_steps = ceil(window_s * audio_rate_hz * rate_margin) + 1 (same for video with video_fps):
// a window holding more steps keeps the latest ones (the rest counted `truncated`). Emitted windows wait
// in a queue of max_pending_windows (a full queue discards its oldest window, counted
// windows_overflowed) as index ranges into the stream buffers; the buffers keep steps from the oldest
// pending window's start, and hold
//   ceil((window_s + max_latency_s + (max_pending_windows + 1) * hop_s) * rate * rate_margin) + 16
// steps. pop() copies windows out into a WindowBatch allocated beforehand.
//
// Clock sync. The video clock may drift against the audio clock. At the end of each push_video() call
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
//
// Names: types and free functions PascalCase, member functions snake_case; the Python binding
// (avemotion._core) exposes the same member and field names.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace avemotion {

enum class ClockSync { kNone, kDrift, kFull };
ClockSync ParseClockSync(const std::string& name);  // "none" | "drift" | "full"
const char* ClockSyncName(ClockSync c);

// Python builds this struct itself (avemotion._core.AVSyncOptions: one attribute per field; the
// keyword arguments of avemotion.streaming.AVSync). The defaults of window_s, hop_s, audio_dim,
// video_dim, audio_rate_hz (1 / audio hop) and video_fps are the contract's
// (python/avemotion/_contract.py); tests/streaming checks that they agree.
struct AVSyncOptions {
  double window_s = 2.0;        // > 0, finite
  double hop_s = 0.5;           // >= 1e-3, finite (keeps window indices exact: |ts| / hop_s < 2^53)
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
  int64_t sync_refit_every = 4;   // >= 1 (pairs; one pair per push_video call)
  double max_drift_ppm = 20000.0;  // in [0, 1e5]
  double max_offset_s = 0.5;       // >= 0 (kFull only)
  double sync_min_sigmas = 3.0;    // >= 0: apply a drift only when |beta - 1| > this * stderr(beta)
  // First window: k0 = ceil(grid_start_s / hop_s). NaN (default): from the first accepted step.
  double grid_start_s = std::numeric_limits<double>::quiet_NaN();  // finite or NaN
  // A larger timestamp jump is a stream discontinuity ("Gaps and discontinuities"). > 0; inf: never.
  double max_gap_s = 60.0;

  // Throws std::invalid_argument naming the first bad field, the expected range and the value.
  void validate() const;
  int64_t max_audio_steps() const;
  int64_t max_video_steps() const;
  int64_t audio_buffer_steps() const;
  int64_t video_buffer_steps() const;
  int64_t sync_pair_capacity() const;
};

// Per-stream counters (the per-step rules above).
struct StreamStats {
  int64_t accepted = 0, dropped_duplicate = 0, dropped_out_of_order = 0, dropped_late = 0;
  int64_t late = 0, overflowed = 0, truncated = 0;
  int64_t dropped() const { return dropped_duplicate + dropped_out_of_order + dropped_late; }
};

struct SyncStats {
  StreamStats audio, video;
  // forced: windows emitted by the max-latency rule (never those emitted by flush)
  int64_t emitted = 0, forced = 0, popped = 0, windows_overflowed = 0, pending = 0;
  int64_t windows_skipped = 0;  // due windows holding no step: jumped over, not emitted
  int64_t discontinuities = 0;  // restarts after a jump larger than max_gap_s
  // max(largest accepted timestamp, completion bound); -inf before either
  double watermark_audio = -std::numeric_limits<double>::infinity();
  double watermark_video = -std::numeric_limits<double>::infinity();
  double lag_audio_s = 0, lag_video_s = 0;  // leading watermark minus this stream's (NaN: not started)
  double drift_ppm = 0, offset_s = 0;       // latest estimate (0 before the first fit)
  double drift_stderr_ppm = 0;              // standard error of drift_ppm
  double applied_drift_ppm = 0;             // drift the mapping currently removes (clamped)
  int64_t sync_pairs = 0, sync_fits = 0;
  int64_t dropped() const { return audio.dropped() + video.dropped(); }
  int64_t late() const { return audio.late + video.late; }
  int64_t overflowed() const { return audio.overflowed + video.overflowed + windows_overflowed; }
};

// Windows popped by AVSync::pop(), stacked on a leading axis. The arrays for `capacity` windows are
// allocated here and never again; pop() fills the first `size`. Row-major; Ta = max_audio_steps,
// Tv = max_video_steps of the options it was made for. A window's steps fill rows 0..n-1 in time
// order; the other rows are zero with mask 0 and time NaN.
struct WindowBatch {
  WindowBatch(const AVSyncOptions& options, int64_t capacity);  // capacity >= 0

  const int64_t capacity, max_audio_steps, max_video_steps, audio_dim, video_dim;
  int64_t size = 0;
  std::vector<double> start, end;         // [capacity]: window (start, end] on the audio clock
  std::vector<float> audio;               // [capacity, Ta, audio_dim]
  std::vector<uint8_t> audio_mask;        // [capacity, Ta], 1 = real step
  std::vector<double> audio_times;        // [capacity, Ta]
  std::vector<float> video;               // [capacity, Tv, video_dim], no-face steps as given
  std::vector<uint8_t> video_mask;        // [capacity, Tv], 1 = step with a face
  std::vector<double> video_times;        // [capacity, Tv], mapped to the audio clock
  std::vector<int32_t> n_audio;           // [capacity] real audio steps
  std::vector<int32_t> n_video;           // [capacity] video steps (with or without a face)
  std::vector<uint8_t> forced;            // [capacity] emitted by the max-latency rule
  std::vector<float> face_missing_share;  // [capacity] no-face steps / video steps (0 when none)
};

class AVSync {
 public:
  explicit AVSync(const AVSyncOptions& options);  // validates, allocates everything

  // n steps: timestamps[n] (finite, within +-1e12, else std::invalid_argument naming the index;
  // nothing is applied then), x[n * audio_dim]. Returns the number accepted.
  int64_t push_audio(const double* timestamps, const float* x, int64_t n);
  // face_present[n] (nullptr: all present). A step without a face is stored as given, masked.
  int64_t push_video(const double* timestamps, const float* x, const uint8_t* face_present, int64_t n);

  // End of stream (see "End of stream" above): both streams complete up to end_time (finite, within
  // +-1e12, else std::invalid_argument naming end_time). Returns the number of windows emitted by
  // this call. flush() uses the latest watermark of either stream (nothing happens before the first
  // step).
  int64_t flush(double end_time);
  int64_t flush();
  // One stream complete up to `until` (audio clock): a watermark advance without a step. Returns the
  // number of windows emitted by this call.
  int64_t mark_complete(bool audio, double until);

  int64_t pending() const;
  // Moves the min(max_n, pending(), out->capacity) oldest pending windows into *out, sets out->size
  // to that number and returns it. out must have been made for options with this synchronizer's
  // max_audio_steps, max_video_steps, audio_dim and video_dim (std::invalid_argument otherwise).
  int64_t pop(WindowBatch* out, int64_t max_n);

  const AVSyncOptions& options() const { return opt_; }
  SyncStats stats() const;
  // Video pts -> audio clock with the current mapping.
  double map_video_time(double pts) const;

 private:
  struct Buffer {
    // Absolute sequence numbers [first, end). Timestamps increase with seq from `seg` (the current
    // segment) on; steps before it (kept for pending windows) came before a discontinuity.
    int64_t dim = 0, cap = 0, first = 0, end = 0, seg = 0;
    std::vector<double> ts;
    std::vector<float> x;
    std::vector<uint8_t> flag;
    void init(int64_t d, int64_t c);
    bool append(double t, const float* v, uint8_t f);  // false when the oldest was discarded
    int64_t first_above(double bound) const;  // first seq in [max(first, seg), end) with ts > bound
  };
  struct PendingWindow {
    double end;
    bool forced;
    int64_t a_lo, a_hi, v_lo, v_hi;
  };

  double lead() const;  // max of both streams' watermarks (with completion bounds)
  void restart();
  void accept(bool audio, double t, const float* v, uint8_t f);
  bool due(int64_t k) const;  // window k may be emitted now
  void try_emit();
  void skip_empty(int64_t a_hi, int64_t v_hi);
  void prune();
  void add_pair(double x, double y);
  void refit();

  AVSyncOptions opt_;
  int64_t max_a_, max_v_;
  Buffer a_, v_;
  std::vector<PendingWindow> pending_;
  int64_t pend_first_ = 0, pend_count_ = 0;
  bool has_grid_ = false;
  int64_t next_k_ = 0;
  double last_cut_end_ = -std::numeric_limits<double>::infinity();  // last window emitted or skipped
  // completion bounds from flush/mark_complete (audio clock)
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
  SyncStats st_;
};

}  // namespace avemotion
