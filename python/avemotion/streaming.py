"""Real-time streaming: a lock-free frame ring and the audio-video synchronizer (C++ core).

``AVSync`` cuts the model's analysis windows out of two timestamped step streams (audio: 89-d
eGeMAPS+RMS steps on the audio clock; video: 512-d FaceNet steps with frame pts, or "no face") under
jitter, gaps, drops, reordering and clock drift. ``FrameRing`` is the single-producer /
single-consumer queue to put between a capture thread and the thread that owns the ``AVSync``.

This module is a thin layer over ``avemotion._core``: the options (:class:`AVSyncOptions`), the
statistics (:class:`SyncStats`, :class:`StreamStats`) and the windows (:class:`WindowBatch`,
:class:`Window`) are C++ structs bound with their fields; Python reads them directly. What is added
here is the conversion of array-likes (the ``_core`` calls take C-contiguous float64/float32 numpy
arrays only, never copying silently). The contract, every rule with its edge cases, is the header
comment of ``cpp/include/avemotion/av_sync.h``; in short:

Windows
    Window ``k`` ends at ``t = k * hop_s`` on the audio clock and holds the steps with
    ``t - window_s < ts <= t``; the first is ``ceil(ts0 / hop_s)``, ``ts0`` the first accepted step of
    either stream, or ``grid_start_s``. A window is emitted, in order, once both streams' watermarks
    reach ``t``, or once the leading one reaches ``t + max_latency_s`` (``forced``: the lagging
    modality's missing steps are masked). Latency is measured on the stream clock, so the output is a
    pure function of the input sequence. A window's content is fixed when it is emitted.
Per-step rules
    Duplicates, out-of-order steps and steps too late for any window are dropped and counted; a step
    that missed an already cut window but fits later ones is kept and counted ``late``; full buffers
    discard their oldest step (``overflowed``), a window holding more steps than its array keeps the
    latest (``truncated``).
Gaps and discontinuities
    A due window holding no step of either stream is skipped, not emitted (``windows_skipped``): the
    grid jumps over any run of them at once, so the cost of a step never depends on the size of a
    timestamp gap. A step more than ``max_gap_s`` (default 60 s) past the leading watermark, or more
    than ``max_gap_s`` before its own stream's last step, is a discontinuity (a corrupt timestamp, a
    restarted source): what is pending is flushed, the synchronizer restarts (watermarks, clock sync,
    grid from this step) and ``discontinuities`` counts it. ``max_gap_s=math.inf`` turns this off.
End of stream
    ``flush(end_time=None)`` declares both streams complete up to ``end_time`` (default: the latest
    timestamp seen) and emits every window ending by then that holds a step; flushed windows are not
    ``forced``; a second flush emits nothing; later steps at or before ``end_time`` count as ``late``.
    ``mark_complete(stream, until)`` advances one stream's watermark without a step.
Clock sync
    ``clock_sync="drift"`` (default) fits ``audio = alpha + beta * pts`` over ``sync_horizon_s`` (one
    pair per ``push_video`` call) and corrects a significant drift, bounded by ``max_drift_ppm``;
    ``"full"`` also slaves video to the audio arrival clock (within ``max_offset_s``); ``"none"`` only
    estimates. ``stats()`` reports ``drift_ppm``, ``drift_stderr_ppm``, ``offset_s``,
    ``applied_drift_ppm``.
Threads
    ``AVSync`` is used by one thread. ``FrameRing`` is SPSC: one thread ``push``es while another
    ``pop``s; the C++ calls release the GIL.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from avemotion import _core
from avemotion._core import AVSyncOptions, StreamStats, SyncStats, Window, WindowBatch
from avemotion.kernels import as_real_array

__all__ = [
    "AVSync",
    "AVSyncOptions",
    "FrameRing",
    "StreamStats",
    "SyncStats",
    "Window",
    "WindowBatch",
]

Policy = Literal["drop_oldest", "drop_newest"]
ClockSyncMode = Literal["none", "drift", "full"]


# --------------------------------------------------------------------------------------------------
# Input conversion (the _core calls are strict)


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
    except the arrays :meth:`pop` returns. See ``cpp/include/avemotion/frame_ring.h``.
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
        ts, x, flags = self._ring.pop(int(max_n))
        return ts, x, flags

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


class AVSync(_core.AVSync):
    """Audio-video synchronizer (C++): see the module docstring and ``av_sync.h`` for every rule.

    ``AVSync(window_s, hop_s, max_latency_s, audio_dim, video_dim, **options)``: the arguments are
    the fields of :class:`AVSyncOptions` (the first five also positionally; defaults: the contract's
    2.0 s window, 0.5 s hop, 89/512 dims, 10 Hz audio, 5 fps video, and ``max_latency_s=1.0``,
    ``clock_sync="drift"``, ``max_gap_s=60``, ``grid_start_s=None``), or ``options=`` a prepared
    :class:`AVSyncOptions`. ``audio_rate_hz``/``video_fps`` (with ``rate_margin``) size the fixed
    window arrays and the buffers. An unknown name raises TypeError, a value out of range ValueError
    naming the argument, the expected range and the value.

    Methods (inherited from ``_core.AVSync`` unless noted): ``push_audio``/``push_video`` (here:
    accept any array-like), ``pop_batch(max_n=None, *, out=None)`` -> :class:`WindowBatch`,
    ``pop_windows(max_n=None)`` -> list of :class:`Window`, ``new_batch(capacity)`` (a reusable
    ``out``: popping into it allocates nothing), ``flush``, ``mark_complete``, ``map_video_time``,
    ``stats()`` -> :class:`SyncStats` (``.to_dict()`` for a plain dict); properties ``pending``,
    ``options``, ``max_audio_steps``, ``max_video_steps``.
    """

    def __init__(self, *args: Any, options: AVSyncOptions | None = None, **kwargs: Any) -> None:
        if options is None:
            options = AVSyncOptions(*args, **kwargs)
        elif args or kwargs:
            raise TypeError("AVSync: pass either options= or the option arguments, not both")
        super().__init__(options)

    def push_audio(self, timestamps: Any, steps: Any) -> int:
        """Push N audio steps: timestamps (N,) seconds (each step's window end), steps
        (N, audio_dim), any array-like. Returns how many were accepted. Non-finite timestamps raise
        ValueError (nothing applied)."""
        try:  # fast path: float64 / float32 C-contiguous numpy arrays go straight to the core
            return super().push_audio(timestamps, steps)
        except TypeError:
            pass
        ts = _timestamps("timestamps", timestamps)
        x = _steps("steps", steps, ts.shape[0], self.options.audio_dim)
        return super().push_audio(ts, x)

    def push_video(self, timestamps: Any, steps: Any, face_present: Any = None) -> int:
        """Push N video steps: timestamps (N,) frame pts in seconds, steps (N, video_dim),
        face_present (N,) bool or None (all True), any array-likes. Returns how many were accepted."""
        try:
            return super().push_video(timestamps, steps, face_present)
        except TypeError:
            pass
        ts = _timestamps("timestamps", timestamps)
        x = _steps("steps", steps, ts.shape[0], self.options.video_dim)
        return super().push_video(ts, x, _flags("face_present", face_present, ts.shape[0]))
