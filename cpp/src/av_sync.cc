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

void CheckTimestamps(const char* name, const double* ts, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(ts[i]) || std::fabs(ts[i]) > kMaxAbsTime) {
      throw std::invalid_argument(std::string(name) + ": expected finite seconds within +-1e12, got " +
                                  Num(ts[i]) + " at index " + std::to_string(i));
    }
  }
}

}  // namespace

void AVSyncOptions::Validate() const {
  Require(window_s > 0 && std::isfinite(window_s), "window_s", "> 0", window_s);
  Require(hop_s > 0 && std::isfinite(hop_s), "hop_s", "> 0", hop_s);
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
  Require(max_drift_ppm >= 0 && max_drift_ppm < 1e6, "max_drift_ppm", "in [0, 1e6)", max_drift_ppm);
  Require(max_offset_s >= 0 && std::isfinite(max_offset_s), "max_offset_s", ">= 0", max_offset_s);
  Require(sync_min_sigmas >= 0 && std::isfinite(sync_min_sigmas), "sync_min_sigmas", ">= 0",
          sync_min_sigmas);
  Require(!std::isinf(grid_start_s), "grid_start_s", "finite, or NaN (from the first step)", grid_start_s);
  const double buf_s = window_s + max_latency_s + (max_pending_windows + 1) * hop_s;
  Require(AudioBufferSteps() <= (int64_t{1} << 28), "audio_rate_hz",
          "a buffer of at most 2^28 steps (rate * (window_s + max_latency_s + pending * hop_s))",
          audio_rate_hz * buf_s);
  Require(VideoBufferSteps() <= (int64_t{1} << 28), "video_fps",
          "a buffer of at most 2^28 steps (fps * (window_s + max_latency_s + pending * hop_s))",
          video_fps * buf_s);
}

int64_t AVSyncOptions::MaxAudioSteps() const { return StepsFor(window_s, audio_rate_hz, rate_margin) + 1; }
int64_t AVSyncOptions::MaxVideoSteps() const { return StepsFor(window_s, video_fps, rate_margin) + 1; }
int64_t AVSyncOptions::AudioBufferSteps() const {
  return StepsFor(window_s + max_latency_s + (max_pending_windows + 1) * hop_s, audio_rate_hz,
                  rate_margin) + 16;
}
int64_t AVSyncOptions::VideoBufferSteps() const {
  return StepsFor(window_s + max_latency_s + (max_pending_windows + 1) * hop_s, video_fps,
                  rate_margin) + 16;
}
int64_t AVSyncOptions::SyncPairCapacity() const {
  return StepsFor(sync_horizon_s, video_fps, rate_margin) + 16;
}

void AVSync::Buffer::Init(int64_t d, int64_t c) {
  dim = d;
  cap = c;
  ts.assign(c, 0.0);
  x.assign(c * d, 0.0f);
  flag.assign(c, 0);
}

bool AVSync::Buffer::Append(double t, const float* v, uint8_t f) {
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

int64_t AVSync::Buffer::FirstAbove(double bound) const {
  int64_t lo = first, hi = end;  // timestamps increase with seq
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
  opt_.Validate();
  max_a_ = opt_.MaxAudioSteps();
  max_v_ = opt_.MaxVideoSteps();
  a_.Init(opt_.audio_dim, opt_.AudioBufferSteps());
  v_.Init(opt_.video_dim, opt_.VideoBufferSteps());
  pending_.resize(opt_.max_pending_windows);
  px_.assign(opt_.SyncPairCapacity(), 0.0);
  py_.assign(opt_.SyncPairCapacity(), 0.0);
  if (!std::isnan(opt_.grid_start_s)) {
    has_grid_ = true;
    next_k_ = static_cast<int64_t>(std::ceil(opt_.grid_start_s / opt_.hop_s));
  }
}

double AVSync::MapVideoTime(double pts) const {
  if (!fitted_ || opt_.clock_sync == ClockSync::kNone) return pts;
  const double td = anchor_t_ + beta_c_ * (pts - anchor_p_);
  if (opt_.clock_sync == ClockSync::kDrift) return td;
  const double tf = alpha_c_ + beta_c_ * pts;
  return std::min(std::max(tf, td - opt_.max_offset_s), td + opt_.max_offset_s);
}

int64_t AVSync::PushAudio(const double* timestamps, const float* x, int64_t n) {
  CheckTimestamps("timestamps", timestamps, n);
  const int64_t before = st_.audio.accepted;
  for (int64_t i = 0; i < n; ++i) {
    const double t = timestamps[i];
    if (t == st_.watermark_audio) {
      ++st_.audio.dropped_duplicate;
    } else if (t < st_.watermark_audio) {
      ++st_.audio.dropped_out_of_order;
    } else {
      Accept(true, t, x + i * opt_.audio_dim, 1);
    }
  }
  return st_.audio.accepted - before;
}

int64_t AVSync::PushVideo(const double* timestamps, const float* x, const uint8_t* face_present,
                          int64_t n) {
  CheckTimestamps("timestamps", timestamps, n);
  const int64_t before = st_.video.accepted;
  bool new_raw = false;
  for (int64_t i = 0; i < n; ++i) {
    const double raw = timestamps[i];
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
    const double t = MapVideoTime(raw);
    if (t <= st_.watermark_video) {
      ++st_.video.dropped_out_of_order;
      continue;
    }
    Accept(false, t, x + i * opt_.video_dim, face_present ? (face_present[i] ? 1 : 0) : 1);
  }
  // One clock pair per call: the newest frame has just arrived, the others were held by batching.
  if (new_raw && st_.watermark_audio > -kInf) AddPair(st_.watermark_audio, last_raw_v_);
  return st_.video.accepted - before;
}

void AVSync::Accept(bool audio, double t, const float* v, uint8_t f) {
  StreamCounters& c = audio ? st_.audio : st_.video;
  (audio ? st_.watermark_audio : st_.watermark_video) = t;  // st_ keeps the last accepted ts; Stats() adds done_
  if (!has_grid_) {
    has_grid_ = true;
    next_k_ = static_cast<int64_t>(std::ceil(t / opt_.hop_s));
  }
  const double next_start = static_cast<double>(next_k_) * opt_.hop_s - opt_.window_s;
  if (t <= next_start) {
    ++c.dropped_late;
  } else {
    if (t <= last_emitted_end_ || t <= (audio ? done_a_ : done_v_)) ++c.late;
    if (!(audio ? a_ : v_).Append(t, v, f)) ++c.overflowed;
    ++c.accepted;
  }
  TryEmit();
}

void AVSync::TryEmit() {
  while (has_grid_) {
    const double t = static_cast<double>(next_k_) * opt_.hop_s;
    const double wa = std::max(st_.watermark_audio, done_a_);
    const double wv = std::max(st_.watermark_video, done_v_);
    const bool both = wa >= t && wv >= t;
    const bool forced = !both && std::max(wa, wv) >= t + opt_.max_latency_s;
    if (!both && !forced) break;
    const double start = t - opt_.window_s;
    PendingWindow w{t, forced, a_.FirstAbove(start), a_.FirstAbove(t), v_.FirstAbove(start),
                    v_.FirstAbove(t)};
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
    last_emitted_end_ = t;
    ++next_k_;
    Prune();
  }
}

void AVSync::Prune() {
  const double next_start = static_cast<double>(next_k_) * opt_.hop_s - opt_.window_s;
  const int64_t cap = static_cast<int64_t>(pending_.size());
  for (int s = 0; s < 2; ++s) {
    Buffer& b = s == 0 ? a_ : v_;
    int64_t keep;
    if (pend_count_ > 0) {
      const PendingWindow& w = pending_[pend_first_ % cap];
      keep = s == 0 ? w.a_lo : w.v_lo;
    } else {
      keep = b.FirstAbove(next_start);
    }
    b.first = std::max(b.first, std::min(keep, b.end));
  }
}

void AVSync::AddPair(double x, double y) {
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
    Refit();
  }
}

void AVSync::Refit() {
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

int64_t AVSync::MarkComplete(bool audio, double until) {
  CheckTime("until", until);
  const int64_t before = st_.emitted;
  double& done = audio ? done_a_ : done_v_;
  done = std::max(done, until);
  TryEmit();
  return st_.emitted - before;
}

int64_t AVSync::Flush(double end_time) {
  CheckTime("end_time", end_time);
  const int64_t before = st_.emitted;
  done_a_ = std::max(done_a_, end_time);
  done_v_ = std::max(done_v_, end_time);
  TryEmit();
  return st_.emitted - before;
}

int64_t AVSync::Flush() {
  const double t = std::max(std::max(st_.watermark_audio, done_a_), std::max(st_.watermark_video, done_v_));
  if (t == -kInf) return 0;  // nothing seen yet
  return Flush(t);
}

int64_t AVSync::Pending() const { return pend_count_; }

int64_t AVSync::Pop(const WindowOut& out, int64_t max_n) {
  const int64_t n = std::max<int64_t>(0, std::min(max_n, pend_count_));
  const int64_t cap = static_cast<int64_t>(pending_.size());
  for (int64_t j = 0; j < n; ++j) {
    const PendingWindow& w = pending_[(pend_first_ + j) % cap];
    out.start[j] = w.end - opt_.window_s;
    out.end[j] = w.end;
    out.forced[j] = w.forced ? 1 : 0;
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
      float* xo = (audio ? out.audio : out.video) + j * max_steps * dim;
      uint8_t* mo = (audio ? out.audio_mask : out.video_mask) + j * max_steps;
      double* to = (audio ? out.audio_times : out.video_times) + j * max_steps;
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
        out.n_audio[j] = static_cast<int32_t>(cnt);
      } else {
        out.n_video[j] = static_cast<int32_t>(cnt);
        out.face_missing_share[j] =
            cnt ? static_cast<float>(static_cast<double>(cnt - faces) / static_cast<double>(cnt)) : 0.0f;
      }
    }
  }
  pend_first_ = (pend_first_ + n) % cap;
  pend_count_ -= n;
  st_.popped += n;
  Prune();
  return n;
}

AVSyncStats AVSync::Stats() const {
  AVSyncStats s = st_;
  s.pending = pend_count_;
  s.sync_pairs = p_count_;
  s.watermark_audio = std::max(s.watermark_audio, done_a_);
  s.watermark_video = std::max(s.watermark_video, done_v_);
  const double lead = std::max(s.watermark_audio, s.watermark_video);
  s.lag_audio_s = s.watermark_audio > -kInf ? lead - s.watermark_audio : kNaN;
  s.lag_video_s = s.watermark_video > -kInf ? lead - s.watermark_video : kNaN;
  return s;
}

}  // namespace avemotion
