"""Real-time streaming: a lock-free frame ring and the audio-video synchronizer (C++ core).

``AVSync`` cuts the model's analysis windows out of two timestamped step streams (audio: 89-d
eGeMAPS+RMS steps on the audio clock; video: 512-d FaceNet steps with frame pts, or "no face") under
jitter, gaps, drops, reordering and clock drift. ``FrameRing`` is the single-producer /
single-consumer queue to put between a capture thread and the thread that owns the ``AVSync``.

Window semantics (docs/contracts.md, "Analysis windows")
    Windows live on the audio clock: window ``k`` ends at ``t = k * hop_s`` and holds every step with
    ``t - window_s < ts <= t``. The first window is ``k0 = ceil(ts0 / hop_s)``, ``ts0`` the first
    accepted step of either stream.

Watermarks and emission
    A stream's watermark is its largest accepted timestamp, or its completion bound from ``flush`` /
    ``mark_complete`` when later (streams are expected in timestamp order, so a stream is complete up
    to its watermark). Window ``t`` is emitted, in order, after the step (or flush) that makes either (a) both watermarks ``>= t``, or (b) the leading watermark ``>= t + max_latency_s``
    ("forced"; the lagging modality's missing steps are absent and masked). Latency is measured on
    the stream clock, so the output is a pure function of the input sequence (reproducible, testable).
    Set ``max_latency_s`` above the largest batching delay between the two streams. A window's content
    is fixed when it is emitted.

End of stream
    ``flush(end_time=None)`` declares both streams complete up to ``end_time`` (default: the latest
    timestamp seen on either stream) and emits every window ending ``<= end_time``; the last ones may
    be partial, and a modality with no steps in a window is missing/masked as usual. Flushed windows
    are **not** ``forced`` (``forced`` means "cut by the max-latency rule before the lagging stream
    was known complete"; after a flush both are known complete, so nothing they lack can still
    arrive), and ``stats().forced`` does not count them. A second ``flush`` with the same or an
    earlier ``end_time`` emits nothing. The synchronizer stays usable: later steps at or before
    ``end_time`` are counted ``late`` (rule 6 below), later windows are emitted as usual.
    ``mark_complete(stream, until)`` is the one-stream form (a watermark advance without a step,
    MediaPipe's timestamp bound); ``flush(t)`` is ``mark_complete("audio", t)`` plus
    ``mark_complete("video", t)``. Completion bounds only move forward and are on the audio clock
    (for a video pts use :meth:`AVSync.map_video_time`). A stream's watermark in ``stats()`` is
    ``max(largest accepted timestamp, completion bound)``; rules 1-3 compare with the largest
    accepted timestamp.

Per-step rules, in order
    1. timestamp equal to the watermark: duplicate, dropped (first one wins); for video the raw pts is
       compared with the last in-order raw pts. 2. below the watermark: out of order, dropped.
    3. (video) mapped to the audio clock; a mapped time at or behind the video watermark is dropped as
       out of order. 4. the watermark advances. 5. at or before the start of the next window to emit:
       too late for any window, dropped (``dropped_late``). 6. at or before the end of the last emitted
       window, or at or before the stream's completion bound (``flush``/``mark_complete``): accepted,
       counted ``late`` (it missed that window, it is kept for later ones).
    7. stored; a full stream buffer discards its oldest step (``overflowed``).

Padding
    Window arrays have fixed shapes: ``max_audio_steps = ceil(window_s * audio_rate_hz * rate_margin)
    + 1`` rows (likewise video with ``video_fps``); steps fill rows ``0..n-1`` in time order, the rest
    is zero with mask False and time NaN. A window with more steps keeps the latest ones (``truncated``).
    ``video_mask`` is True only for steps with a face; ``face_missing_share`` is the share of the
    window's video steps without a face (0.0 when it has none; then ``video_missing`` is True).

Clock sync (video against audio)
    At the end of each ``push_video`` call that brought a new in-order frame (once audio has
    started), the pair (audio watermark, raw pts of the call's newest frame) is kept over
    ``sync_horizon_s``. One pair per call: the newest frame is the one that has just arrived, and
    pairing every frame of a batch with one arrival time would bias the slope by about -1/K^2 (K
    batches in the horizon). Every ``sync_refit_every`` pairs (once they span ``sync_min_span_s`` of
    pts) ``audio = alpha + beta * pts`` is fitted by least squares, the exact pts as regressor so
    arrival jitter does not bias the slope. ``stats()`` reports ``drift_ppm = (1/beta - 1) * 1e6``
    (positive: video clock fast), ``drift_stderr_ppm`` and ``offset_s`` (video pts minus the audio
    clock it arrived at, pipeline latency included).

    ``clock_sync="drift"`` (default) maps ``t = anchor_t + beta_c * (pts - anchor_p)``: identity
    before the first fit; the first fit anchors at the first paired pts (the clocks are taken to agree
    at the start), later fits re-anchor continuously on the newest paired pts. ``beta_c`` is 1 unless
    ``|beta - 1| > sync_min_sigmas * stderr`` (a drift that arrival noise could explain is not
    applied), else ``beta`` clamped to ``max_drift_ppm``. ``"full"`` maps ``t = alpha_c + beta_c * pts``
    within ``max_offset_s`` of the drift mapping (video slaved to the audio arrival clock, as ffplay
    does). ``"none"`` only estimates. The smallest resolvable drift grows with the batching jitter
    between the streams and shrinks with ``sync_horizon_s``: with ~1 s batches use a horizon of
    minutes; when both streams come from one container or one capture clock use ``"none"``.

Threads
    ``AVSync`` is used by one thread. ``FrameRing`` is SPSC: one thread ``push``es while another
    ``pop``s; the C++ calls release the GIL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from avemotion import _core
from avemotion.kernels import as_real_array

__all__ = [
    "AVSync",
    "FrameRing",
    "ReferenceAVSync",
    "StreamStats",
    "SyncStats",
    "Window",
    "WindowBatch",
]

Policy = Literal["drop_oldest", "drop_newest"]
ClockSyncMode = Literal["none", "drift", "full"]


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class Window:
    """One analysis window ``(start, end]`` on the audio clock (seconds).

    ``audio`` float32 (Ta, audio_dim), ``audio_mask`` bool (Ta,), ``audio_times`` float64 (Ta,);
    ``video`` float32 (Tv, video_dim), ``video_mask`` bool (Tv,) True = step with a face,
    ``video_times`` float64 (Tv,) on the audio clock. Ta/Tv are the synchronizer's fixed maxima;
    padding rows are zero, mask False, time NaN. ``n_audio``/``n_video``: real steps (video: with or
    without a face). ``forced``: emitted by the max-latency rule (False for windows emitted by
    ``flush``: both streams were complete).
    """

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
class WindowBatch:
    """``n`` windows stacked: the same fields as :class:`Window` with a leading axis (N, ...)."""

    start: np.ndarray
    end: np.ndarray
    audio: np.ndarray
    audio_mask: np.ndarray
    audio_times: np.ndarray
    video: np.ndarray
    video_mask: np.ndarray
    video_times: np.ndarray
    n_audio: np.ndarray
    n_video: np.ndarray
    forced: np.ndarray
    face_missing_share: np.ndarray

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def audio_missing(self) -> np.ndarray:
        return self.n_audio == 0

    @property
    def video_missing(self) -> np.ndarray:
        return self.n_video == 0

    def windows(self) -> list[Window]:
        """The batch as :class:`Window` objects (views into the batch arrays)."""
        return [
            Window(
                start=float(self.start[i]),
                end=float(self.end[i]),
                audio=self.audio[i],
                audio_mask=self.audio_mask[i],
                audio_times=self.audio_times[i],
                video=self.video[i],
                video_mask=self.video_mask[i],
                video_times=self.video_times[i],
                n_audio=int(self.n_audio[i]),
                n_video=int(self.n_video[i]),
                audio_missing=bool(self.n_audio[i] == 0),
                video_missing=bool(self.n_video[i] == 0),
                face_missing_share=float(self.face_missing_share[i]),
                forced=bool(self.forced[i]),
            )
            for i in range(len(self))
        ]


@dataclass
class StreamStats:
    """Per-stream counters. ``dropped`` = duplicate + out of order + late drops."""

    accepted: int = 0
    dropped: int = 0
    dropped_duplicate: int = 0
    dropped_out_of_order: int = 0
    dropped_late: int = 0
    late: int = 0
    overflowed: int = 0
    truncated: int = 0


@dataclass
class SyncStats:
    """Health of an :class:`AVSync`. Watermarks: ``max(largest accepted timestamp, completion
    bound)``; lags are the leading watermark minus the stream's (NaN before its first step or bound);
    ``forced`` counts max-latency emissions only (never flushed windows); ``drift_ppm``/``offset_s``
    are the latest estimates (0 before the first fit), ``applied_drift_ppm`` what the timestamp mapping removes (clamped; 0 with ``clock_sync="none"``)."""

    audio: StreamStats = field(default_factory=StreamStats)
    video: StreamStats = field(default_factory=StreamStats)
    emitted: int = 0
    forced: int = 0
    popped: int = 0
    windows_overflowed: int = 0
    pending: int = 0
    watermark_audio: float = -math.inf
    watermark_video: float = -math.inf
    lag_audio_s: float = math.nan
    lag_video_s: float = math.nan
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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyncStats:
        kw = dict(d)
        kw["audio"] = StreamStats(**d["audio"])
        kw["video"] = StreamStats(**d["video"])
        return cls(**kw)


# --------------------------------------------------------------------------------------------------
# Input conversion


def _timestamps(name: str, value: Any) -> np.ndarray:
    arr = as_real_array(name, value, np.float64, expected="a 1-D array of seconds")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected shape (N,), got {arr.shape}")
    return arr


def _steps(name: str, value: Any, n: int, dim: int) -> np.ndarray:
    arr = as_real_array(name, value, np.float32, expected=f"an (N, {dim}) float array")
    if arr.ndim == 1 and n == 1 and arr.shape[0] == dim:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape != (n, dim):
        raise ValueError(f"{name}: expected shape ({n}, {dim}), got {arr.shape}")
    return arr


def _flags(name: str, value: Any, n: int) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name}: expected a bool array, got dtype {arr.dtype}")
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: expected 0/1 or bool values, got {np.unique(arr)[:5]}")
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.bool_)


def _seconds(name: str, value: Any) -> float:
    """One finite time in seconds within +-1e12 (ValueError/TypeError naming ``name``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected seconds (a real number), got {type(value).__name__}")
    t = float(value)
    if not math.isfinite(t) or abs(t) > 1e12:
        raise ValueError(f"{name}: expected finite seconds within +-1e12, got {t}")
    return t


def _check_finite(name: str, ts: np.ndarray) -> None:
    bad = ~np.isfinite(ts) | (np.abs(ts) > 1e12)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: expected finite seconds within +-1e12, got {ts[i]} at index {i}")


# --------------------------------------------------------------------------------------------------
# FrameRing


class FrameRing:
    """Fixed-capacity SPSC lock-free ring of ``(timestamp, vector[dim], flag)`` items.

    One thread calls :meth:`push`, another :meth:`pop`, concurrently; both release the GIL inside.
    ``policy`` decides what a push into a full ring does: ``"drop_oldest"`` (default) discards the
    oldest unread item (``dropped_oldest``), ``"drop_newest"`` drops the pushed one
    (``dropped_newest``). Under ``drop_oldest`` a consumer stalled in the middle of a pop of a full
    ring makes the producer drop the new item instead (also ``dropped_newest``): the producer never
    blocks and never writes a slot being read. At rest ``pushed == popped + dropped_oldest + len(ring)``;
    every pushed item is counted in ``pushed`` or ``dropped_newest``. No allocation after construction
    except the arrays :meth:`pop` returns.
    """

    def __init__(
        self, dim: int, capacity: int, policy: Policy = "drop_oldest", max_pop_batch: int = 256
    ) -> None:
        self._ring = _core.FrameRing(int(dim), int(capacity), str(policy), int(max_pop_batch))

    def push(self, timestamps: Any, steps: Any, flags: Any = None) -> int:
        """Push N items: timestamps (N,) seconds, steps (N, dim), flags (N,) bool or None (all True).
        Returns how many were stored (N minus those dropped as newest)."""
        ts = _timestamps("timestamps", timestamps)
        x = _steps("steps", steps, ts.shape[0], self.dim)
        return int(self._ring.push(ts, x, _flags("flags", flags, ts.shape[0])))

    def pop(self, max_n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Remove and return up to ``max_n`` (default: all available) oldest items as
        ``(timestamps float64 (n,), steps float32 (n, dim), flags bool (n,))``."""
        if max_n is None:
            max_n = self.capacity
        if max_n < 0:
            raise ValueError(f"max_n: expected >= 0, got {max_n}")
        return self._ring.pop(int(max_n))

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def dim(self) -> int:
        return int(self._ring.dim)

    @property
    def capacity(self) -> int:
        return int(self._ring.capacity)

    @property
    def policy(self) -> str:
        return str(self._ring.policy)

    def stats(self) -> dict[str, int]:
        """``pushed``, ``popped``, ``dropped_oldest``, ``dropped_newest``, ``size``."""
        r = self._ring
        return {
            "pushed": r.pushed,
            "popped": r.popped,
            "dropped_oldest": r.dropped_oldest,
            "dropped_newest": r.dropped_newest,
            "size": len(r),
        }


# --------------------------------------------------------------------------------------------------
# AVSync


@dataclass
class _Options:
    window_s: float = 2.0
    hop_s: float = 0.5
    max_latency_s: float = 1.0
    audio_dim: int = 89
    video_dim: int = 512
    audio_rate_hz: float = 10.0
    video_fps: float = 5.0
    rate_margin: float = 1.25
    max_pending_windows: int = 64
    clock_sync: str = "drift"
    sync_horizon_s: float = 30.0
    sync_min_span_s: float = 10.0
    sync_refit_every: int = 4
    max_drift_ppm: float = 20000.0
    max_offset_s: float = 0.5
    sync_min_sigmas: float = 3.0
    grid_start_s: float = math.nan


class AVSync:
    """Audio-video synchronizer (C++): see the module docstring for every rule.

    Args:
        window_s, hop_s: window length and hop on the audio clock (seconds; defaults = the model's).
        max_latency_s: a window is emitted at the latest when the leading stream is this far past its end.
        audio_dim, video_dim: step sizes (89, 512).
        audio_rate_hz, video_fps: nominal step rates (defaults: the contract's 0.1 s audio hop, 5 fps);
            they size the per-window arrays and buffers (with ``rate_margin`` headroom).
        max_pending_windows: emitted windows kept until popped (oldest discarded beyond, counted).
        clock_sync: ``"drift"`` (default), ``"full"`` or ``"none"``; sync_horizon_s, sync_min_span_s,
            sync_refit_every, max_drift_ppm, max_offset_s, sync_min_sigmas tune the estimate and bound
            the correction.
        grid_start_s: the first window ends at ``ceil(grid_start_s / hop_s) * hop_s``; ``None``
            (default) starts the grid at the first step pushed on either stream, which depends on
            which stream delivers first. A source whose media time starts at 0 passes 0.0.
    Invalid values raise ``ValueError`` naming the argument, the expected range and the value.
    """

    def __init__(
        self,
        window_s: float = 2.0,
        hop_s: float = 0.5,
        max_latency_s: float = 1.0,
        audio_dim: int = 89,
        video_dim: int = 512,
        *,
        audio_rate_hz: float = 10.0,
        video_fps: float = 5.0,
        rate_margin: float = 1.25,
        max_pending_windows: int = 64,
        clock_sync: ClockSyncMode = "drift",
        sync_horizon_s: float = 30.0,
        sync_min_span_s: float = 10.0,
        sync_refit_every: int = 4,
        max_drift_ppm: float = 20000.0,
        max_offset_s: float = 0.5,
        sync_min_sigmas: float = 3.0,
        grid_start_s: float | None = None,
    ) -> None:
        self.options = _Options(
            float(window_s), float(hop_s), float(max_latency_s), int(audio_dim), int(video_dim),
            float(audio_rate_hz), float(video_fps), float(rate_margin), int(max_pending_windows),
            str(clock_sync), float(sync_horizon_s), float(sync_min_span_s), int(sync_refit_every),
            float(max_drift_ppm), float(max_offset_s), float(sync_min_sigmas),
            math.nan if grid_start_s is None else float(grid_start_s),
        )  # fmt: skip
        self._s = _core.AVSync(**self.options.__dict__)
        self._empty = WindowBatch(
            **self._s.pop(0)
        )  # returned (shared, zero-length) when nothing is ready

    @property
    def max_audio_steps(self) -> int:
        return int(self._s.max_audio_steps)

    @property
    def max_video_steps(self) -> int:
        return int(self._s.max_video_steps)

    @property
    def pending(self) -> int:
        """Windows emitted and not yet popped."""
        return int(self._s.pending)

    def push_audio(self, timestamps: Any, steps: Any) -> int:
        """Push N audio steps: timestamps (N,) seconds (step window end), steps (N, audio_dim).
        Returns how many were accepted. Non-finite timestamps raise ValueError (nothing applied)."""
        try:  # fast path: float64 / float32 C-contiguous numpy arrays go straight to the core
            return int(self._s.push_audio(timestamps, steps))
        except TypeError:
            pass
        ts = _timestamps("timestamps", timestamps)
        x = _steps("steps", steps, ts.shape[0], self.options.audio_dim)
        return int(self._s.push_audio(ts, x))

    def push_video(self, timestamps: Any, steps: Any, face_present: Any = None) -> int:
        """Push N video steps: timestamps (N,) frame pts in seconds, steps (N, video_dim),
        face_present (N,) bool or None (all True). Returns how many were accepted."""
        try:
            return int(self._s.push_video(timestamps, steps, face_present))
        except TypeError:
            pass
        ts = _timestamps("timestamps", timestamps)
        x = _steps("steps", steps, ts.shape[0], self.options.video_dim)
        return int(self._s.push_video(ts, x, _flags("face_present", face_present, ts.shape[0])))

    def flush(self, end_time: float | None = None) -> int:
        """End of stream: mark both streams complete up to ``end_time`` (seconds, audio clock;
        default: the latest timestamp seen on either stream; no-op before the first step) and emit
        every window ending ``<= end_time`` (not ``forced``; the last ones may be partial). Returns
        the number of windows emitted by this call (0 on a repeated flush). Later steps at or before
        ``end_time`` are counted ``late``. Raises ValueError for a non-finite ``end_time``."""
        t = None if end_time is None else _seconds("end_time", end_time)
        return int(self._s.flush(t))

    def mark_complete(self, stream: Literal["audio", "video"], until: float) -> int:
        """Declare one stream complete up to ``until`` (seconds, audio clock) without a step (a
        timestamp bound): emits what the window rules then allow (forced windows when ``until`` leads
        the other stream by ``max_latency_s``). Returns the number of windows emitted."""
        if stream not in ("audio", "video"):
            raise ValueError(f"stream: expected 'audio' or 'video', got {stream!r}")
        return int(self._s.mark_complete(stream, _seconds("until", until)))

    def new_batch(self, capacity: int) -> WindowBatch:
        """Allocate a reusable output for :meth:`pop_batch` (``out=``) holding up to ``capacity``
        windows."""
        if capacity < 1:
            raise ValueError(f"capacity: expected >= 1, got {capacity}")
        n, ta, tv = int(capacity), self.max_audio_steps, self.max_video_steps
        o = self.options
        return WindowBatch(
            start=np.empty(n),
            end=np.empty(n),
            audio=np.empty((n, ta, o.audio_dim), np.float32),
            audio_mask=np.empty((n, ta), np.bool_),
            audio_times=np.empty((n, ta)),
            video=np.empty((n, tv, o.video_dim), np.float32),
            video_mask=np.empty((n, tv), np.bool_),
            video_times=np.empty((n, tv)),
            n_audio=np.empty(n, np.int32),
            n_video=np.empty(n, np.int32),
            forced=np.empty(n, np.bool_),
            face_missing_share=np.empty(n, np.float32),
        )

    def pop_batch(self, max_n: int | None = None, *, out: WindowBatch | None = None) -> WindowBatch:
        """Remove and return up to ``max_n`` (default all) ready windows, stacked.

        Without ``out`` the arrays are allocated once per call. With ``out`` (from
        :meth:`new_batch`) the windows are written into it, nothing is allocated, and the result is a
        view of its first rows (at most ``len(out)`` windows per call; the rest stay pending). The
        view is overwritten by the next ``pop_batch(out=...)`` into the same ``out``.
        """
        n = self.pending if max_n is None else min(int(max_n), self.pending)
        if n < 0:
            raise ValueError(f"max_n: expected >= 0, got {max_n}")
        if n == 0:
            return self._empty
        if out is not None:
            got = int(self._s.pop_into(out.__dict__, n))
            return WindowBatch(**{k: v[:got] for k, v in out.__dict__.items()})
        return WindowBatch(**self._s.pop(n))

    def pop_windows(self, max_n: int | None = None) -> list[Window]:
        """Remove and return the ready windows (oldest first) as :class:`Window` objects."""
        if self._s.pending == 0:
            return []
        return self.pop_batch(max_n).windows()

    def map_video_time(self, pts: float) -> float:
        """Video pts -> audio clock with the current clock-sync mapping."""
        return float(self._s.map_video_time(float(pts)))

    def stats(self) -> SyncStats:
        return SyncStats.from_dict(self._s.stats())


# --------------------------------------------------------------------------------------------------
# Plain-Python reference (the tests' oracle): the same rules, written for clarity, not speed.


class _RefBuffer:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.first = 0
        self.items: dict[int, tuple[float, np.ndarray, bool]] = {}
        self.end = 0

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
        for seq in range(self.first, self.end):
            if self.items[seq][0] > bound:
                return seq
        return self.end

    def prune_to(self, keep: int) -> None:
        new_first = max(self.first, min(keep, self.end))
        for seq in range(self.first, new_first):
            del self.items[seq]
        self.first = new_first


class ReferenceAVSync:
    """Pure-Python :class:`AVSync` with identical rules and arithmetic (same operations in the same
    order on float64, so results match bit for bit). Slow; used by the tests as the oracle."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("grid_start_s") is None:
            kwargs["grid_start_s"] = math.nan
        o = _Options(**kwargs)
        self.o = o
        self.max_a = math.ceil(o.window_s * o.audio_rate_hz * o.rate_margin) + 1
        self.max_v = math.ceil(o.window_s * o.video_fps * o.rate_margin) + 1
        buf_s = o.window_s + o.max_latency_s + (o.max_pending_windows + 1) * o.hop_s
        self.a = _RefBuffer(math.ceil(buf_s * o.audio_rate_hz * o.rate_margin) + 16)
        self.v = _RefBuffer(math.ceil(buf_s * o.video_fps * o.rate_margin) + 16)
        self.pair_cap = math.ceil(o.sync_horizon_s * o.video_fps * o.rate_margin) + 16
        self.pending: list[tuple[float, bool, int, int, int, int]] = []
        self.has_grid = not math.isnan(o.grid_start_s)
        self.next_k = math.ceil(o.grid_start_s / o.hop_s) if self.has_grid else 0
        self.last_emitted_end = -math.inf
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
        self.st = SyncStats()

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

    # pushing
    def push_audio(self, timestamps: Any, steps: Any) -> int:
        ts = _timestamps("timestamps", timestamps)
        x = _steps("steps", steps, ts.shape[0], self.o.audio_dim)
        _check_finite("timestamps", ts)
        before = self.st.audio.accepted
        for i, t in enumerate(ts.tolist()):
            if t == self.wm_a:
                self.st.audio.dropped_duplicate += 1
            elif t < self.wm_a:
                self.st.audio.dropped_out_of_order += 1
            else:
                self._accept(True, t, x[i], True)
        return self.st.audio.accepted - before

    def push_video(self, timestamps: Any, steps: Any, face_present: Any = None) -> int:
        ts = _timestamps("timestamps", timestamps)
        x = _steps("steps", steps, ts.shape[0], self.o.video_dim)
        fp = _flags("face_present", face_present, ts.shape[0])
        _check_finite("timestamps", ts)
        before = self.st.video.accepted
        new_raw = False
        for i, raw in enumerate(ts.tolist()):
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
            if t <= self.last_emitted_end or t <= (self.done_a if audio else self.done_v):
                c.late += 1
            if not (self.a if audio else self.v).append(t, v.copy(), f):
                c.overflowed += 1
            c.accepted += 1
        self._try_emit()

    def _try_emit(self) -> None:
        o = self.o
        while self.has_grid:
            t = float(self.next_k) * o.hop_s
            wa, wv = max(self.wm_a, self.done_a), max(self.wm_v, self.done_v)
            both = wa >= t and wv >= t
            forced = (not both) and max(wa, wv) >= t + o.max_latency_s
            if not both and not forced:
                break
            start = t - o.window_s
            w = (t, forced, self.a.first_above(start), self.a.first_above(t),
                 self.v.first_above(start), self.v.first_above(t))  # fmt: skip
            if len(self.pending) == o.max_pending_windows:
                self.pending.pop(0)
                self.st.windows_overflowed += 1
            self.pending.append(w)
            self.st.emitted += 1
            self.st.forced += int(forced)
            self.last_emitted_end = t
            self.next_k += 1
            self._prune()

    def flush(self, end_time: float | None = None) -> int:
        before = self.st.emitted
        if end_time is None:
            t = max(self.wm_a, self.done_a, self.wm_v, self.done_v)
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
            keep = self.pending[0][2 + 2 * s] if self.pending else buf.first_above(next_start)
            buf.prune_to(int(keep))

    def pop_windows(self) -> list[Window]:
        o = self.o
        out: list[Window] = []
        for end, forced, a_lo, a_hi, v_lo, v_hi in self.pending:
            parts = []
            for audio, lo0, hi, buf, max_steps, dim in (
                (True, a_lo, a_hi, self.a, self.max_a, o.audio_dim),
                (False, v_lo, v_hi, self.v, self.max_v, o.video_dim),
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
            out.append(
                Window(
                    end - o.window_s,
                    end,
                    ax,
                    am,
                    at,
                    vx,
                    vm,
                    vt,
                    na,
                    nv,
                    na == 0,
                    nv == 0,
                    share,
                    forced,
                )
            )
        self.st.popped += len(self.pending)
        self.pending = []
        self._prune()
        return out

    def stats(self) -> SyncStats:
        s = self.st
        for c in (s.audio, s.video):
            c.dropped = c.dropped_duplicate + c.dropped_out_of_order + c.dropped_late
        s.pending = len(self.pending)
        s.sync_pairs = len(self.pairs)
        wa, wv = max(self.wm_a, self.done_a), max(self.wm_v, self.done_v)
        s.watermark_audio, s.watermark_video = wa, wv
        lead = max(wa, wv)
        s.lag_audio_s = lead - wa if wa > -math.inf else math.nan
        s.lag_video_s = lead - wv if wv > -math.inf else math.nan
        return SyncStats.from_dict(
            {k: (v.__dict__ if isinstance(v, StreamStats) else v) for k, v in s.__dict__.items()}
        )
