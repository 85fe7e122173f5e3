"""Plain-Python AVSync: the tests' oracle (not shipped with the package).

The same rules as ``cpp/include/avemotion/av_sync.h`` and the same arithmetic (the same float64
operations in the same order), written for clarity, not speed: the property tests compare it with the
C++ synchronizer bit for bit. It follows :class:`avemotion.streaming.AVSync`'s API: the constructor
takes the same arguments (parsed and range-checked by ``_core.AVSyncOptions``; everything else here
is independent of the C++ code), ``push_audio``/``push_video``/``flush``/``mark_complete``/
``pop_windows``/``pending``/``stats()``/``map_video_time``. Windows are :class:`RefWindow` objects with
:class:`avemotion.streaming.Window`'s fields, stats :class:`RefSyncStats` with the same ``to_dict()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from avemotion import _core

#: Window's fields (avemotion._core.Window), in the order the tests compare them.
WINDOW_FIELDS = (
    "start", "end", "audio", "audio_mask", "audio_times", "video", "video_mask", "video_times",
    "n_audio", "n_video", "audio_missing", "video_missing", "face_missing_share", "forced",
)  # fmt: skip
MAX_ABS_TIME = 1e12


@dataclass
class RefWindow:
    start: float
    end: float
    audio: np.ndarray
    audio_mask: np.ndarray
    audio_times: np.ndarray
    video: np.ndarray
    video_mask: np.ndarray
    video_times: np.ndarray
    n_audio: int
    n_video: int
    audio_missing: bool
    video_missing: bool
    face_missing_share: float
    forced: bool


@dataclass
class RefStreamStats:
    accepted: int = 0
    dropped_duplicate: int = 0
    dropped_out_of_order: int = 0
    dropped_late: int = 0
    late: int = 0
    overflowed: int = 0
    truncated: int = 0

    @property
    def dropped(self) -> int:
        return self.dropped_duplicate + self.dropped_out_of_order + self.dropped_late

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["dropped"] = self.dropped
        return d


@dataclass
class RefSyncStats:
    audio: RefStreamStats = field(default_factory=RefStreamStats)
    video: RefStreamStats = field(default_factory=RefStreamStats)
    emitted: int = 0
    forced: int = 0
    popped: int = 0
    windows_overflowed: int = 0
    pending: int = 0
    windows_skipped: int = 0
    discontinuities: int = 0
    watermark_audio: float = -math.inf
    watermark_video: float = -math.inf
    lag_audio_s: float = 0.0
    lag_video_s: float = 0.0
    drift_ppm: float = 0.0
    drift_stderr_ppm: float = 0.0
    offset_s: float = 0.0
    applied_drift_ppm: float = 0.0
    sync_pairs: int = 0
    sync_fits: int = 0

    @property
    def dropped(self) -> int:
        return self.audio.dropped + self.video.dropped

    @property
    def late(self) -> int:
        return self.audio.late + self.video.late

    @property
    def overflowed(self) -> int:
        return self.audio.overflowed + self.video.overflowed + self.windows_overflowed

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = v.to_dict() if isinstance(v, RefStreamStats) else v
        d.update(dropped=self.dropped, late=self.late, overflowed=self.overflowed)
        return d


def _check_times(name: str, ts: np.ndarray) -> None:
    bad = ~np.isfinite(ts) | (np.abs(ts) > MAX_ABS_TIME)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: expected finite seconds within +-1e12, got {ts[i]} at index {i}")


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected seconds (a real number), got {type(value).__name__}")
    t = float(value)
    if not math.isfinite(t) or abs(t) > MAX_ABS_TIME:
        raise ValueError(f"{name}: expected finite seconds within +-1e12, got {t}")
    return t


def _first_end_at_or_after(t: float, hop: float) -> int:
    """The first window index k with k * hop >= t."""
    k = math.ceil(t / hop)
    while float(k) * hop < t:
        k += 1
    while float(k - 1) * hop >= t:
        k -= 1
    return k


class _RefBuffer:
    """Steps by absolute sequence number [first, end); timestamps increase from ``seg`` on."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.first = 0
        self.end = 0
        self.seg = 0
        self.items: dict[int, tuple[float, np.ndarray, bool]] = {}

    def append(self, t: float, v: np.ndarray, f: bool) -> bool:
        kept = True
        if self.end - self.first == self.cap:
            del self.items[self.first]
            self.first += 1
            kept = False
        self.items[self.end] = (t, v, f)
        self.end += 1
        return kept

    def first_above(self, bound: float) -> int:
        for seq in range(max(self.first, self.seg), self.end):
            if self.items[seq][0] > bound:
                return seq
        return self.end

    def prune_to(self, keep: int) -> None:
        new_first = max(self.first, min(keep, self.end))
        for seq in range(self.first, new_first):
            del self.items[seq]
        self.first = new_first


class ReferenceAVSync:
    """Pure-Python AVSync with identical rules and arithmetic. Slow; the tests' oracle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        o = _core.AVSyncOptions(*args, **kwargs)
        self.o = o
        self.grid_start = math.nan if o.grid_start_s is None else float(o.grid_start_s)
        self.max_audio_steps = math.ceil(o.window_s * o.audio_rate_hz * o.rate_margin) + 1
        self.max_video_steps = math.ceil(o.window_s * o.video_fps * o.rate_margin) + 1
        buf_s = o.window_s + o.max_latency_s + (o.max_pending_windows + 1) * o.hop_s
        self.a = _RefBuffer(math.ceil(buf_s * o.audio_rate_hz * o.rate_margin) + 16)
        self.v = _RefBuffer(math.ceil(buf_s * o.video_fps * o.rate_margin) + 16)
        self.pair_cap = math.ceil(o.sync_horizon_s * o.video_fps * o.rate_margin) + 16
        self.pending_w: list[tuple[float, bool, int, int, int, int]] = []
        self.has_grid = not math.isnan(self.grid_start)
        self.next_k = math.ceil(self.grid_start / o.hop_s) if self.has_grid else 0
        self.st = RefSyncStats()
        self._reset_stream_state()

    def _reset_stream_state(self) -> None:
        self.last_cut_end = -math.inf  # end of the last window emitted or skipped
        self.done_a = -math.inf  # completion bounds (flush / mark_complete)
        self.done_v = -math.inf
        self.wm_a = -math.inf  # largest accepted timestamps
        self.wm_v = -math.inf
        self.last_raw_v: float | None = None
        self.pairs: list[tuple[float, float]] = []
        self.since_fit = 0
        self.y0: float | None = None
        self.anchor_p = 0.0
        self.anchor_t = 0.0
        self.fitted = False
        self.alpha_c = 0.0
        self.beta_c = 1.0

    @property
    def pending(self) -> int:
        return len(self.pending_w)

    # clock sync
    def map_video_time(self, pts: float) -> float:
        o = self.o
        if not self.fitted or o.clock_sync == "none":
            return pts
        td = self.anchor_t + self.beta_c * (pts - self.anchor_p)
        if o.clock_sync == "drift":
            return td
        tf = self.alpha_c + self.beta_c * pts
        return min(max(tf, td - o.max_offset_s), td + o.max_offset_s)

    def _add_pair(self, x: float, y: float) -> None:
        if self.y0 is None:
            self.y0 = y
        while self.pairs and self.pairs[0][0] < x - self.o.sync_horizon_s:
            self.pairs.pop(0)
        if len(self.pairs) == self.pair_cap:
            self.pairs.pop(0)
        self.pairs.append((x, y))
        self.since_fit += 1
        if self.since_fit >= self.o.sync_refit_every:
            self.since_fit = 0
            self._refit()

    def _refit(self) -> None:
        n = len(self.pairs)
        if n < 8:
            return
        y_last = self.pairs[-1][1]
        if y_last - self.pairs[0][1] < self.o.sync_min_span_s:
            return
        sx = sy = 0.0
        for x, y in self.pairs:
            sx += x
            sy += y
        mx, my = sx / n, sy / n
        syy = sxy = 0.0
        for x, y in self.pairs:
            dy, dx = y - my, x - mx
            syy += dy * dy
            sxy += dy * dx
        if not syy > 0:
            return
        beta = sxy / syy
        if not beta > 0:
            return
        alpha = mx - beta * my
        ssr = 0.0
        for x, y in self.pairs:
            r = (x - mx) - beta * (y - my)
            ssr += r * r
        se = math.sqrt(ssr / float(n - 2) / syy)
        self.st.drift_ppm = (1.0 / beta - 1.0) * 1e6
        self.st.drift_stderr_ppm = se / (beta * beta) * 1e6
        self.st.offset_s = y_last - (alpha + beta * y_last)
        m = self.o.max_drift_ppm * 1e-6
        b = 1.0 if abs(beta - 1.0) <= self.o.sync_min_sigmas * se else beta
        assert self.y0 is not None
        if self.fitted:
            self.anchor_p, self.anchor_t = (
                y_last,
                self.anchor_t + self.beta_c * (y_last - self.anchor_p),
            )
        else:  # the first fit anchors at the first paired pts (the clocks agree at the start)
            self.anchor_p, self.anchor_t = self.y0, self.y0
        self.beta_c = min(max(b, 1.0 / (1.0 + m)), 1.0 / (1.0 - m))
        self.alpha_c = mx - self.beta_c * my
        self.st.applied_drift_ppm = (
            0.0 if self.o.clock_sync == "none" else (1.0 / self.beta_c - 1.0) * 1e6
        )
        self.fitted = True
        self.st.sync_fits += 1

    # gaps and discontinuities
    def _lead(self) -> float:
        return max(self.wm_a, self.done_a, self.wm_v, self.done_v)

    def _restart(self) -> None:
        lead = self._lead()
        if self.has_grid and lead > -math.inf:  # flush to the end of the window holding the lead
            t_end = float(_first_end_at_or_after(lead, self.o.hop_s)) * self.o.hop_s
            self.done_a = max(self.done_a, t_end)
            self.done_v = max(self.done_v, t_end)
            self._try_emit()
        self.has_grid = False
        self.next_k = 0
        self._reset_stream_state()
        self.st.drift_ppm = self.st.drift_stderr_ppm = 0.0
        self.st.offset_s = self.st.applied_drift_ppm = 0.0
        self.a.seg, self.v.seg = self.a.end, self.v.end
        self.st.discontinuities += 1
        self._prune()

    # pushing
    def push_audio(self, timestamps: Any, steps: Any) -> int:
        ts = np.asarray(timestamps, np.float64).reshape(-1)
        x = np.asarray(steps, np.float32).reshape(ts.shape[0], self.o.audio_dim)
        _check_times("timestamps", ts)
        gap = self.o.max_gap_s
        before = self.st.audio.accepted
        for i, t in enumerate(ts.tolist()):
            lead = self._lead()
            if (lead > -math.inf and t > lead + gap) or (self.wm_a > -math.inf and t < self.wm_a - gap):
                self._restart()
            if t == self.wm_a:
                self.st.audio.dropped_duplicate += 1
            elif t < self.wm_a:
                self.st.audio.dropped_out_of_order += 1
            else:
                self._accept(True, t, x[i], True)
        return self.st.audio.accepted - before

    def push_video(self, timestamps: Any, steps: Any, face_present: Any = None) -> int:
        ts = np.asarray(timestamps, np.float64).reshape(-1)
        x = np.asarray(steps, np.float32).reshape(ts.shape[0], self.o.video_dim)
        fp = None if face_present is None else np.asarray(face_present, np.bool_)
        _check_times("timestamps", ts)
        gap = self.o.max_gap_s
        before = self.st.video.accepted
        new_raw = False
        for i, raw in enumerate(ts.tolist()):
            lead = self._lead()
            if (self.last_raw_v is not None and raw < self.last_raw_v - gap) or (
                lead > -math.inf and self.map_video_time(raw) > lead + gap
            ):
                self._restart()
            if self.last_raw_v is not None and raw == self.last_raw_v:
                self.st.video.dropped_duplicate += 1
                continue
            if self.last_raw_v is not None and raw < self.last_raw_v:
                self.st.video.dropped_out_of_order += 1
                continue
            self.last_raw_v = raw
            new_raw = True
            t = self.map_video_time(raw)
            if t <= self.wm_v:
                self.st.video.dropped_out_of_order += 1
                continue
            self._accept(False, t, x[i], True if fp is None else bool(fp[i]))
        if new_raw and self.wm_a > -math.inf:
            assert self.last_raw_v is not None
            self._add_pair(self.wm_a, self.last_raw_v)
        return self.st.video.accepted - before

    def _accept(self, audio: bool, t: float, v: np.ndarray, f: bool) -> None:
        c = self.st.audio if audio else self.st.video
        if audio:
            self.wm_a = t
        else:
            self.wm_v = t
        if not self.has_grid:
            self.has_grid = True
            self.next_k = math.ceil(t / self.o.hop_s)
        next_start = float(self.next_k) * self.o.hop_s - self.o.window_s
        if t <= next_start:
            c.dropped_late += 1
        else:
            if t <= self.last_cut_end or t <= (self.done_a if audio else self.done_v):
                c.late += 1
            if not (self.a if audio else self.v).append(t, v.copy(), f):
                c.overflowed += 1
            c.accepted += 1
        self._try_emit()

    def _due(self, k: int) -> bool:
        t = float(k) * self.o.hop_s
        wa, wv = max(self.wm_a, self.done_a), max(self.wm_v, self.done_v)
        return (wa >= t and wv >= t) or max(wa, wv) >= t + self.o.max_latency_s

    def _try_emit(self) -> None:
        o = self.o
        while self.has_grid and self._due(self.next_k):
            t = float(self.next_k) * o.hop_s
            forced = not (max(self.wm_a, self.done_a) >= t and max(self.wm_v, self.done_v) >= t)
            start = t - o.window_s
            w = (t, forced, self.a.first_above(start), self.a.first_above(t),
                 self.v.first_above(start), self.v.first_above(t))  # fmt: skip
            if w[2] == w[3] and w[4] == w[5]:
                self._skip_empty(w[3], w[5])
                continue
            if len(self.pending_w) == o.max_pending_windows:
                self.pending_w.pop(0)
                self.st.windows_overflowed += 1
            self.pending_w.append(w)
            self.st.emitted += 1
            self.st.forced += int(forced)
            self.last_cut_end = t
            self.next_k += 1
            self._prune()

    def _skip_empty(self, a_hi: int, v_hi: int) -> None:
        """Window next_k is due and empty: jump over every due empty window at once."""
        hop = self.o.hop_s
        nxt = math.inf
        if a_hi < self.a.end:
            nxt = self.a.items[a_hi][0]
        if v_hi < self.v.end:
            nxt = min(nxt, self.v.items[v_hi][0])
        wa, wv = max(self.wm_a, self.done_a), max(self.wm_v, self.done_v)
        bound = max(min(wa, wv), max(wa, wv) - self.o.max_latency_s)
        last = max(self.next_k, math.floor(bound / hop))
        while self._due(last + 1):
            last += 1
        while not self._due(last):
            last -= 1
        target = last + 1
        if nxt < math.inf:
            target = min(target, _first_end_at_or_after(nxt, hop))
        self.st.windows_skipped += target - self.next_k
        self.last_cut_end = float(target - 1) * hop
        self.next_k = target
        self._prune()

    def flush(self, end_time: float | None = None) -> int:
        before = self.st.emitted
        if end_time is None:
            t = self._lead()
            if t == -math.inf:
                return 0
        else:
            t = _seconds("end_time", end_time)
        self.done_a = max(self.done_a, t)
        self.done_v = max(self.done_v, t)
        self._try_emit()
        return self.st.emitted - before

    def mark_complete(self, stream: str, until: float) -> int:
        if stream not in ("audio", "video"):
            raise ValueError(f"stream: expected 'audio' or 'video', got {stream!r}")
        t = _seconds("until", until)
        before = self.st.emitted
        if stream == "audio":
            self.done_a = max(self.done_a, t)
        else:
            self.done_v = max(self.done_v, t)
        self._try_emit()
        return self.st.emitted - before

    def _prune(self) -> None:
        next_start = float(self.next_k) * self.o.hop_s - self.o.window_s
        for s, buf in ((0, self.a), (1, self.v)):
            keep = self.pending_w[0][2 + 2 * s] if self.pending_w else buf.first_above(next_start)
            buf.prune_to(int(keep))

    def pop_windows(self, max_n: int | None = None) -> list[RefWindow]:
        o = self.o
        n = len(self.pending_w) if max_n is None else min(max_n, len(self.pending_w))
        out: list[RefWindow] = []
        for end, forced, a_lo, a_hi, v_lo, v_hi in self.pending_w[:n]:
            parts = []
            for audio, lo0, hi, buf, max_steps, dim in (
                (True, a_lo, a_hi, self.a, self.max_audio_steps, o.audio_dim),
                (False, v_lo, v_hi, self.v, self.max_video_steps, o.video_dim),
            ):
                lo = max(lo0, buf.first)
                cnt = max(0, hi - lo)
                if cnt > max_steps:
                    (self.st.audio if audio else self.st.video).truncated += cnt - max_steps
                    lo, cnt = hi - max_steps, max_steps
                xs = np.zeros((max_steps, dim), np.float32)
                mask = np.zeros(max_steps, np.bool_)
                times = np.full(max_steps, np.nan)
                for k in range(cnt):
                    t, v, f = buf.items[lo + k]
                    xs[k], mask[k], times[k] = v, f, t
                parts.append((xs, mask, times, cnt, int(mask[:cnt].sum())))
            (ax, am, at, na, _), (vx, vm, vt, nv, faces) = parts
            share = float(np.float32((nv - faces) / nv)) if nv else 0.0
            out.append(RefWindow(end - o.window_s, end, ax, am, at, vx, vm, vt, na, nv,
                                 na == 0, nv == 0, share, forced))  # fmt: skip
        self.st.popped += n
        self.pending_w = self.pending_w[n:]
        self._prune()
        return out

    def stats(self) -> RefSyncStats:
        s = self.st
        s.pending = len(self.pending_w)
        s.sync_pairs = len(self.pairs)
        wa, wv = max(self.wm_a, self.done_a), max(self.wm_v, self.done_v)
        lead = max(wa, wv)
        snap = RefSyncStats(**{f.name: getattr(s, f.name) for f in fields(s)})
        snap.audio, snap.video = RefStreamStats(**s.audio.__dict__), RefStreamStats(**s.video.__dict__)
        snap.watermark_audio, snap.watermark_video = wa, wv
        snap.lag_audio_s = lead - wa if wa > -math.inf else math.nan
        snap.lag_video_s = lead - wv if wv > -math.inf else math.nan
        return snap
