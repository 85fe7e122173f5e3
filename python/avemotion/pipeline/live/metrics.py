"""What the live engine measures: when media time was captured (:class:`CaptureClock`), latency
percentiles, the media clock against the wall clock, and the end-of-run :class:`LiveReport`."""

from __future__ import annotations

import bisect
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["CaptureClock", "LiveReport", "media_vs_wall_ppm", "percentile"]


class CaptureClock:
    """Monotone ``(media_t, wall)`` pairs of one modality: when was media time ``t`` captured?

    Pairs older than ``keep_s`` of media time are forgotten (halving, so memory stays bounded);
    a sparse series (one pair per 0.25 s of wall clock, at most 20000) is kept for the drift fit.
    """

    def __init__(self, keep_s: float = 60.0) -> None:
        self.keep_s = keep_s
        self._t: list[float] = []
        self._w: list[float] = []
        self._lock = threading.Lock()
        self.first: tuple[float, float] | None = None
        self.fit_pairs: list[tuple[float, float]] = []  # sparse (wall, media) samples for drift

    def add(self, media_t: float, wall: float) -> None:
        with self._lock:
            if self._t and media_t <= self._t[-1]:
                return
            self._t.append(media_t)
            self._w.append(wall)
            if self.first is None:
                self.first = (media_t, wall)
            if not self.fit_pairs or wall - self.fit_pairs[-1][0] >= 0.25:
                self.fit_pairs.append((wall, media_t))
                if len(self.fit_pairs) > 20000:
                    del self.fit_pairs[::2]
            if len(self._t) > 64 and self._t[0] < media_t - self.keep_s:
                cut = len(self._t) // 2
                del self._t[:cut], self._w[:cut]

    def wall_at(self, t: float) -> float | None:
        """Wall time at which media time ``t`` had been captured (the first pair at or after ``t``);
        None when ``t`` is later than everything captured."""
        with self._lock:
            i = bisect.bisect_left(self._t, t - 1e-6)
            return self._w[i] if i < len(self._t) else None


def percentile(x: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(x), q)) if x else None


def media_vs_wall_ppm(pairs: list[tuple[float, float]], *, min_span_s: float = 10.0) -> float | None:
    """The media clock's rate against the wall clock, in ppm, from ``(wall, media)`` pairs (a line
    fit after the first fifth, the start-up burst of probing and buffered data); None when the pairs
    span less than ``min_span_s`` of wall clock."""
    pairs = pairs[len(pairs) // 5:]
    if len(pairs) < 8 or pairs[-1][0] - pairs[0][0] < min_span_s:
        return None
    w, m = np.asarray(pairs).T
    slope = np.polyfit(w - w[0], m - m[0], 1)[0]
    return float((slope - 1.0) * 1e6)


@dataclass
class LiveReport:
    """End-of-run statistics (latencies in seconds, capture to prediction)."""

    windows_emitted: int
    windows_dropped: int
    video_frames_captured: int
    video_frames_dropped: int
    audio_seconds_captured: float
    audio_seconds_dropped: float
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    latency_max_s: float | None
    latencies_measured: int
    av_drift_ppm: float | None  # None: one muxed source (clock_sync "none"), one clock by construction
    media_vs_wall_ppm: float | None
    wall_s: float
    end_reason: str
    sync: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
