#include "avemotion/av_sync.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace avemotion {

ClockSync ParseClockSync(const std::string& name) {
  if (name == "none") return ClockSync::kNone;
  if (name == "drift") return ClockSync::kDrift;
  if (name == "full") return ClockSync::kFull;
  throw std::invalid_argument("clock_sync: expected 'none', 'drift' or 'full', got '" + name + "'");
}

const char* ClockSyncName(ClockSync c) {
  switch (c) {
    case ClockSync::kNone: return "none";
    case ClockSync::kDrift: return "drift";
    default: return "full";
  }
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// |timestamp| limit: keeps ceil(ts / hop_s) an exact integer.
constexpr double kMaxAbsTime = 1e12;

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void Require(bool ok, const char* name, const std::string& expected, double got) {
  if (!ok) {
    throw std::invalid_argument(std::string(name) + ": expected " + expected + ", got " + Num(got));
  }
}

int64_t StepsFor(double seconds, double rate, double margin) {
  return static_cast<int64_t>(std::ceil(seconds * rate * margin));
}

// The first window index k with k * hop >= t (exact: corrects the rounding of ceil(t / hop)).
int64_t FirstEndAtOrAfter(double t, double hop) {
  int64_t k = static_cast<int64_t>(std::ceil(t / hop));
  while (static_cast<double>(k) * hop < t) ++k;
  while (static_cast<double>(k - 1) * hop >= t) --k;
  return k;
}

void CheckTimestamps(const char* name, const double* ts, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(ts[i]) || std::fabs(ts[i]) > kMaxAbsTime) {
      throw std::invalid_argument(std::string(name) + ": expected finite seconds within +-1e12, got " +
                                  Num(ts[i]) + " at index " + std::to_string(i));
    }
  }
}

}  // namespace

void AVSyncOptions::validate() const {
  Require(window_s > 0 && std::isfinite(window_s), "window_s", "> 0", window_s);
  Require(hop_s >= 1e-3 && std::isfinite(hop_s), "hop_s", ">= 1e-3 (seconds)", hop_s);
  Require(max_latency_s >= 0 && std::isfinite(max_latency_s), "max_latency_s", ">= 0", max_latency_s);
  Require(audio_dim >= 1, "audio_dim", ">= 1", static_cast<double>(audio_dim));
  Require(video_dim >= 1, "video_dim", ">= 1", static_cast<double>(video_dim));
  Require(audio_rate_hz > 0 && audio_rate_hz <= 1e5, "audio_rate_hz", "in (0, 1e5]", audio_rate_hz);
  Require(video_fps > 0 && video_fps <= 1e4, "video_fps", "in (0, 1e4]", video_fps);
  Require(rate_margin >= 1 && rate_margin <= 100, "rate_margin", "in [1, 100]", rate_margin);
  Require(max_pending_windows >= 1 && max_pending_windows <= 1000000, "max_pending_windows",
          "in [1, 1e6]", static_cast<double>(max_pending_windows));
  Require(sync_horizon_s > 0 && std::isfinite(sync_horizon_s), "sync_horizon_s", "> 0", sync_horizon_s);
  Require(sync_min_span_s >= 0 && sync_min_span_s <= sync_horizon_s, "sync_min_span_s",
          "in [0, sync_horizon_s]", sync_min_span_s);
  Require(sync_refit_every >= 1, "sync_refit_every", ">= 1", static_cast<double>(sync_refit_every));
  Require(max_drift_ppm >= 0 && max_drift_ppm <= 1e5, "max_drift_ppm", "in [0, 1e5]", max_drift_ppm);
  Require(max_offset_s >= 0 && std::isfinite(max_offset_s), "max_offset_s", ">= 0", max_offset_s);
  Require(sync_min_sigmas >= 0 && std::isfinite(sync_min_sigmas), "sync_min_sigmas", ">= 0",
          sync_min_sigmas);
  Require(!std::isinf(grid_start_s), "grid_start_s", "finite, or NaN (from the first step)", grid_start_s);
  Require(max_gap_s > 0, "max_gap_s", "> 0 (inf: never a discontinuity)", max_gap_s);
  const double buf_s = window_s + max_latency_s + (max_pending_windows + 1) * hop_s;
  Require(audio_buffer_steps() <= (int64_t{1} << 28), "audio_rate_hz",
          "a buffer of at most 2^28 steps (rate * (window_s + max_latency_s + pending * hop_s))",
          audio_rate_hz * buf_s);
  Require(video_buffer_steps() <= (int64_t{1} << 28), "video_fps",
          "a buffer of at most 2^28 steps (fps * (window_s + max_latency_s + pending * hop_s))",
          video_fps * buf_s);
}

int64_t AVSyncOptions::max_audio_steps() const { return StepsFor(window_s, audio_rate_hz, rate_margin) + 1; }
int64_t AVSyncOptions::max_video_steps() const { return StepsFor(window_s, video_fps, rate_margin) + 1; }
int64_t AVSyncOptions::audio_buffer_steps() const {
  return StepsFor(window_s + max_latency_s + (max_pending_windows + 1) * hop_s, audio_rate_hz,
                  rate_margin) + 16;
}
int64_t AVSyncOptions::video_buffer_steps() const {
  return StepsFor(window_s + max_latency_s + (max_pending_windows + 1) * hop_s, video_fps,
                  rate_margin) + 16;
}
int64_t AVSyncOptions::sync_pair_capacity() const {
  return StepsFor(sync_horizon_s, video_fps, rate_margin) + 16;
}

WindowBatch::WindowBatch(const AVSyncOptions& o, int64_t cap)
    : capacity(cap), max_audio_steps(o.max_audio_steps()), max_video_steps(o.max_video_steps()),
      audio_dim(o.audio_dim), video_dim(o.video_dim) {
  Require(cap >= 0, "capacity", ">= 0", static_cast<double>(cap));
  const int64_t ta = cap * max_audio_steps, tv = cap * max_video_steps;
  start.resize(cap);
  end.resize(cap);
  audio.resize(ta * audio_dim);
  audio_mask.resize(ta);
  audio_times.resize(ta);
  video.resize(tv * video_dim);
  video_mask.resize(tv);
  video_times.resize(tv);
  n_audio.resize(cap);
  n_video.resize(cap);
  forced.resize(cap);
  face_missing_share.resize(cap);
}

void AVSync::Buffer::init(int64_t d, int64_t c) {
  dim = d;
  cap = c;
  ts.assign(c, 0.0);
  x.assign(c * d, 0.0f);
  flag.assign(c, 0);
}

bool AVSync::Buffer::append(double t, const float* v, uint8_t f) {
  bool kept_all = true;
  if (end - first == cap) {
    ++first;
    kept_all = false;
  }
  const int64_t slot = end % cap;
  ts[slot] = t;
  std::memcpy(&x[slot * dim], v, sizeof(float) * dim);
  flag[slot] = f;
  ++end;
  return kept_all;
}

int64_t AVSync::Buffer::first_above(double bound) const {
  int64_t lo = std::max(first, seg), hi = end;  // timestamps increase with seq from seg on
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (ts[mid % cap] > bound) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

AVSync::AVSync(const AVSyncOptions& options) : opt_(options) {
  opt_.validate();
  max_a_ = opt_.max_audio_steps();
  max_v_ = opt_.max_video_steps();
  a_.init(opt_.audio_dim, opt_.audio_buffer_steps());
  v_.init(opt_.video_dim, opt_.video_buffer_steps());
  pending_.resize(opt_.max_pending_windows);
  px_.assign(opt_.sync_pair_capacity(), 0.0);
  py_.assign(opt_.sync_pair_capacity(), 0.0);
  if (!std::isnan(opt_.grid_start_s)) {
    has_grid_ = true;
    next_k_ = static_cast<int64_t>(std::ceil(opt_.grid_start_s / opt_.hop_s));
  }
}

double AVSync::map_video_time(double pts) const {
  if (!fitted_ || opt_.clock_sync == ClockSync::kNone) return pts;
  const double td = anchor_t_ + beta_c_ * (pts - anchor_p_);
  if (opt_.clock_sync == ClockSync::kDrift) return td;
  const double tf = alpha_c_ + beta_c_ * pts;
  return std::min(std::max(tf, td - opt_.max_offset_s), td + opt_.max_offset_s);
}

double AVSync::lead() const {
  return std::max(std::max(st_.watermark_audio, done_a_), std::max(st_.watermark_video, done_v_));
}

int64_t AVSync::push_audio(const double* timestamps, const float* x, int64_t n) {
  CheckTimestamps("timestamps", timestamps, n);
  const int64_t before = st_.audio.accepted;
  for (int64_t i = 0; i < n; ++i) {
    const double t = timestamps[i];
    // rule 0: a discontinuity (more than max_gap_s past the lead, or back before this stream's last step)
    const double lead_t = lead();
    if ((lead_t > -kInf && t > lead_t + opt_.max_gap_s) ||
        (st_.watermark_audio > -kInf && t < st_.watermark_audio - opt_.max_gap_s)) {
      restart();
    }
    if (t == st_.watermark_audio) {
      ++st_.audio.dropped_duplicate;
    } else if (t < st_.watermark_audio) {
      ++st_.audio.dropped_out_of_order;
    } else {
      accept(true, t, x + i * opt_.audio_dim, 1);
    }
  }
  return st_.audio.accepted - before;
}

int64_t AVSync::push_video(const double* timestamps, const float* x, const uint8_t* face_present,
                           int64_t n) {
  CheckTimestamps("timestamps", timestamps, n);
  const int64_t before = st_.video.accepted;
  bool new_raw = false;
  for (int64_t i = 0; i < n; ++i) {
    const double raw = timestamps[i];
    const double lead_t = lead();
    if ((has_raw_v_ && raw < last_raw_v_ - opt_.max_gap_s) ||
        (lead_t > -kInf && map_video_time(raw) > lead_t + opt_.max_gap_s)) {
      restart();
    }
    if (has_raw_v_ && raw == last_raw_v_) {
      ++st_.video.dropped_duplicate;
      continue;
    }
    if (has_raw_v_ && raw < last_raw_v_) {
      ++st_.video.dropped_out_of_order;
      continue;
    }
    has_raw_v_ = true;
    last_raw_v_ = raw;
    new_raw = true;
    const double t = map_video_time(raw);
    if (t <= st_.watermark_video) {
      ++st_.video.dropped_out_of_order;
      continue;
    }
    accept(false, t, x + i * opt_.video_dim, face_present ? (face_present[i] ? 1 : 0) : 1);
  }
  // One clock pair per call: the newest frame has just arrived, the others were held by batching.
  if (new_raw && st_.watermark_audio > -kInf) add_pair(st_.watermark_audio, last_raw_v_);
  return st_.video.accepted - before;
}

void AVSync::restart() {
  const double lead_t = lead();
  if (has_grid_ && lead_t > -kInf) {  // flush up to the end of the window holding the lead
    const double t_end = static_cast<double>(FirstEndAtOrAfter(lead_t, opt_.hop_s)) * opt_.hop_s;
    done_a_ = std::max(done_a_, t_end);
    done_v_ = std::max(done_v_, t_end);
    try_emit();
  }
  has_grid_ = false;
  next_k_ = 0;
  last_cut_end_ = -kInf;
  done_a_ = done_v_ = -kInf;
  st_.watermark_audio = st_.watermark_video = -kInf;
  has_raw_v_ = false;
  last_raw_v_ = 0;
  p_first_ = p_count_ = since_fit_ = 0;
  has_y0_ = false;
  y0_ = anchor_p_ = anchor_t_ = alpha_c_ = 0;
  beta_c_ = 1;
  fitted_ = false;
  st_.drift_ppm = st_.drift_stderr_ppm = st_.offset_s = st_.applied_drift_ppm = 0;
  a_.seg = a_.end;  // the new segment's timestamps start over
  v_.seg = v_.end;
  ++st_.discontinuities;
  prune();
}

void AVSync::accept(bool audio, double t, const float* v, uint8_t f) {
  StreamStats& c = audio ? st_.audio : st_.video;
  (audio ? st_.watermark_audio : st_.watermark_video) = t;  // st_ keeps the last accepted ts; stats() adds done_
  if (!has_grid_) {
    has_grid_ = true;
    next_k_ = static_cast<int64_t>(std::ceil(t / opt_.hop_s));
  }
  const double next_start = static_cast<double>(next_k_) * opt_.hop_s - opt_.window_s;
  if (t <= next_start) {
    ++c.dropped_late;
  } else {
    if (t <= last_cut_end_ || t <= (audio ? done_a_ : done_v_)) ++c.late;
    if (!(audio ? a_ : v_).append(t, v, f)) ++c.overflowed;
    ++c.accepted;
  }
  try_emit();
}

bool AVSync::due(int64_t k) const {
  const double t = static_cast<double>(k) * opt_.hop_s;
  const double wa = std::max(st_.watermark_audio, done_a_);
  const double wv = std::max(st_.watermark_video, done_v_);
  return (wa >= t && wv >= t) || std::max(wa, wv) >= t + opt_.max_latency_s;
}

void AVSync::try_emit() {
  while (has_grid_ && due(next_k_)) {
    const double t = static_cast<double>(next_k_) * opt_.hop_s;
    const bool forced = !(std::max(st_.watermark_audio, done_a_) >= t &&
                          std::max(st_.watermark_video, done_v_) >= t);
    const double start = t - opt_.window_s;
    PendingWindow w{t, forced, a_.first_above(start), a_.first_above(t), v_.first_above(start),
                    v_.first_above(t)};
    if (w.a_lo == w.a_hi && w.v_lo == w.v_hi) {
      skip_empty(w.a_hi, w.v_hi);
      continue;
    }
    const int64_t cap = static_cast<int64_t>(pending_.size());
    if (pend_count_ == cap) {
      pend_first_ = (pend_first_ + 1) % cap;
      --pend_count_;
      ++st_.windows_overflowed;
    }
    pending_[(pend_first_ + pend_count_) % cap] = w;
    ++pend_count_;
    ++st_.emitted;
    if (forced) ++st_.forced;
    last_cut_end_ = t;
    ++next_k_;
    prune();
  }
}

// Window next_k_ is due and empty; a_hi / v_hi: each buffer's first step after its end. Jumps the
// grid in O(1) over every window that is due and empty: up to the first window that can hold the
// next stored step, and not past the last due window (due(k) is true up to some k, then false,
// because k * hop_s is monotone in k).
void AVSync::skip_empty(int64_t a_hi, int64_t v_hi) {
  const double hop = opt_.hop_s;
  double next_t = kInf;
  if (a_hi < a_.end) next_t = a_.ts[a_hi % a_.cap];
  if (v_hi < v_.end) next_t = std::min(next_t, v_.ts[v_hi % v_.cap]);
  const double wa = std::max(st_.watermark_audio, done_a_);
  const double wv = std::max(st_.watermark_video, done_v_);
  const double bound = std::max(std::min(wa, wv), std::max(wa, wv) - opt_.max_latency_s);  // finite
  int64_t last = std::max(next_k_, static_cast<int64_t>(std::floor(bound / hop)));
  while (due(last + 1)) ++last;
  while (!due(last)) --last;
  int64_t target = last + 1;
  if (next_t < kInf) target = std::min(target, FirstEndAtOrAfter(next_t, hop));  // > next_k_
  st_.windows_skipped += target - next_k_;
  last_cut_end_ = static_cast<double>(target - 1) * hop;
  next_k_ = target;
  prune();
}

void AVSync::prune() {
  const double next_start = static_cast<double>(next_k_) * opt_.hop_s - opt_.window_s;
  const int64_t cap = static_cast<int64_t>(pending_.size());
  for (int s = 0; s < 2; ++s) {
    Buffer& b = s == 0 ? a_ : v_;
    int64_t keep;
    if (pend_count_ > 0) {
      const PendingWindow& w = pending_[pend_first_ % cap];
      keep = s == 0 ? w.a_lo : w.v_lo;
    } else {
      keep = b.first_above(next_start);
    }
    b.first = std::max(b.first, std::min(keep, b.end));
  }
}

void AVSync::add_pair(double x, double y) {
  const int64_t cap = static_cast<int64_t>(px_.size());
  if (!has_y0_) {
    has_y0_ = true;
    y0_ = y;
  }
  while (p_count_ > 0 && px_[p_first_ % cap] < x - opt_.sync_horizon_s) {
    ++p_first_;
    --p_count_;
  }
  if (p_count_ == cap) {
    ++p_first_;
    --p_count_;
  }
  px_[(p_first_ + p_count_) % cap] = x;
  py_[(p_first_ + p_count_) % cap] = y;
  ++p_count_;
  if (++since_fit_ >= opt_.sync_refit_every) {
    since_fit_ = 0;
    refit();
  }
}

void AVSync::refit() {
  const int64_t cap = static_cast<int64_t>(px_.size());
  const int64_t n = p_count_;
  if (n < 8) return;
  const double y_first = py_[p_first_ % cap];
  const double y_last = py_[(p_first_ + n - 1) % cap];
  if (y_last - y_first < opt_.sync_min_span_s) return;
  // Oldest to newest (the reference sums in this order): the ring's two contiguous segments.
  const int64_t f = p_first_ % cap;
  const int64_t seg1 = std::min(n, cap - f);
  const int64_t seg_lo[2] = {f, 0}, seg_hi[2] = {f + seg1, n - seg1};
  double sx = 0, sy = 0;
  for (int s = 0; s < 2; ++s) {
    for (int64_t i = seg_lo[s]; i < seg_hi[s]; ++i) {
      sx += px_[i];
      sy += py_[i];
    }
  }
  const double mx = sx / static_cast<double>(n);
  const double my = sy / static_cast<double>(n);
  double syy = 0, sxy = 0;
  for (int s = 0; s < 2; ++s) {
    for (int64_t i = seg_lo[s]; i < seg_hi[s]; ++i) {
      const double dy = py_[i] - my;
      const double dx = px_[i] - mx;
      syy += dy * dy;
      sxy += dy * dx;
    }
  }
  if (!(syy > 0)) return;
  const double beta = sxy / syy;
  if (!(beta > 0)) return;
  const double alpha = mx - beta * my;
  double ssr = 0;
  for (int s = 0; s < 2; ++s) {
    for (int64_t i = seg_lo[s]; i < seg_hi[s]; ++i) {
      const double r = (px_[i] - mx) - beta * (py_[i] - my);
      ssr += r * r;
    }
  }
  const double se = std::sqrt(ssr / static_cast<double>(n - 2) / syy);  // standard error of beta
  st_.drift_ppm = (1.0 / beta - 1.0) * 1e6;
  st_.drift_stderr_ppm = se / (beta * beta) * 1e6;
  st_.offset_s = y_last - (alpha + beta * y_last);
  // Applied slope: 1 unless the drift is significant, then clamped to max_drift_ppm.
  const double m = opt_.max_drift_ppm * 1e-6;
  const double lo = 1.0 / (1.0 + m);
  const double hi = 1.0 / (1.0 - m);
  const double b = std::fabs(beta - 1.0) <= opt_.sync_min_sigmas * se ? 1.0 : beta;
  // Re-anchor at the newest paired pts so the mapping stays continuous (no jump, no reordering).
  // The first fit anchors at the first paired pts instead (the clocks agree at the start).
  const double p_at = fitted_ ? y_last : y0_;
  const double t_at = fitted_ ? anchor_t_ + beta_c_ * (y_last - anchor_p_) : y0_;
  anchor_p_ = p_at;
  anchor_t_ = t_at;
  beta_c_ = std::min(std::max(b, lo), hi);
  alpha_c_ = mx - beta_c_ * my;
  st_.applied_drift_ppm = opt_.clock_sync == ClockSync::kNone ? 0.0 : (1.0 / beta_c_ - 1.0) * 1e6;
  fitted_ = true;
  ++st_.sync_fits;
}

namespace {
void CheckTime(const char* name, double t) {
  if (!std::isfinite(t) || std::fabs(t) > kMaxAbsTime) {
    throw std::invalid_argument(std::string(name) + ": expected finite seconds within +-1e12, got " +
                                Num(t));
  }
}
}  // namespace

int64_t AVSync::mark_complete(bool audio, double until) {
  CheckTime("until", until);
  const int64_t before = st_.emitted;
  double& done = audio ? done_a_ : done_v_;
  done = std::max(done, until);
  try_emit();
  return st_.emitted - before;
}

int64_t AVSync::flush(double end_time) {
  CheckTime("end_time", end_time);
  const int64_t before = st_.emitted;
  done_a_ = std::max(done_a_, end_time);
  done_v_ = std::max(done_v_, end_time);
  try_emit();
  return st_.emitted - before;
}

int64_t AVSync::flush() {
  const double t = lead();
  if (t == -kInf) return 0;  // nothing seen yet
  return flush(t);
}

int64_t AVSync::pending() const { return pend_count_; }

int64_t AVSync::pop(WindowBatch* out, int64_t max_n) {
  if (out->max_audio_steps != max_a_ || out->max_video_steps != max_v_ ||
      out->audio_dim != opt_.audio_dim || out->video_dim != opt_.video_dim) {
    throw std::invalid_argument(
        "out: expected a WindowBatch for max_audio_steps=" + std::to_string(max_a_) +
        ", max_video_steps=" + std::to_string(max_v_) + ", audio_dim=" + std::to_string(opt_.audio_dim) +
        ", video_dim=" + std::to_string(opt_.video_dim) + " (this synchronizer's new_batch), got " +
        std::to_string(out->max_audio_steps) + ", " + std::to_string(out->max_video_steps) + ", " +
        std::to_string(out->audio_dim) + ", " + std::to_string(out->video_dim));
  }
  const int64_t n = std::max<int64_t>(0, std::min(std::min(max_n, pend_count_), out->capacity));
  const int64_t cap = static_cast<int64_t>(pending_.size());
  for (int64_t j = 0; j < n; ++j) {
    const PendingWindow& w = pending_[(pend_first_ + j) % cap];
    out->start[j] = w.end - opt_.window_s;
    out->end[j] = w.end;
    out->forced[j] = w.forced ? 1 : 0;
    for (int s = 0; s < 2; ++s) {
      const bool audio = s == 0;
      Buffer& b = audio ? a_ : v_;
      const int64_t max_steps = audio ? max_a_ : max_v_;
      const int64_t dim = b.dim;
      int64_t lo = std::max(audio ? w.a_lo : w.v_lo, b.first);
      const int64_t hi = audio ? w.a_hi : w.v_hi;
      int64_t cnt = std::max<int64_t>(0, hi - lo);
      if (cnt > max_steps) {
        (audio ? st_.audio : st_.video).truncated += cnt - max_steps;
        lo = hi - max_steps;
        cnt = max_steps;
      }
      float* xo = (audio ? out->audio : out->video).data() + j * max_steps * dim;
      uint8_t* mo = (audio ? out->audio_mask : out->video_mask).data() + j * max_steps;
      double* to = (audio ? out->audio_times : out->video_times).data() + j * max_steps;
      int64_t faces = 0;
      for (int64_t k = 0; k < cnt; ++k) {
        const int64_t slot = (lo + k) % b.cap;
        std::memcpy(xo + k * dim, &b.x[slot * dim], sizeof(float) * dim);
        mo[k] = b.flag[slot];
        faces += b.flag[slot];
        to[k] = b.ts[slot];
      }
      std::memset(xo + cnt * dim, 0, sizeof(float) * (max_steps - cnt) * dim);
      std::memset(mo + cnt, 0, max_steps - cnt);
      std::fill(to + cnt, to + max_steps, kNaN);
      if (audio) {
        out->n_audio[j] = static_cast<int32_t>(cnt);
      } else {
        out->n_video[j] = static_cast<int32_t>(cnt);
        out->face_missing_share[j] =
            cnt ? static_cast<float>(static_cast<double>(cnt - faces) / static_cast<double>(cnt)) : 0.0f;
      }
    }
  }
  out->size = n;
  pend_first_ = (pend_first_ + n) % cap;
  pend_count_ -= n;
  st_.popped += n;
  prune();
  return n;
}

SyncStats AVSync::stats() const {
  SyncStats s = st_;
  s.pending = pend_count_;
  s.sync_pairs = p_count_;
  s.watermark_audio = std::max(s.watermark_audio, done_a_);
  s.watermark_video = std::max(s.watermark_video, done_v_);
  const double lead_t = std::max(s.watermark_audio, s.watermark_video);
  s.lag_audio_s = s.watermark_audio > -kInf ? lead_t - s.watermark_audio : kNaN;
  s.lag_video_s = s.watermark_video > -kInf ? lead_t - s.watermark_video : kNaN;
  return s;
}

}  // namespace avemotion
