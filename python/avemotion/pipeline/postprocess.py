"""Post-processing of per-window predictions: rows, smoothing, laughter events, summaries, writers, plots.

Shared by ``avemotion analyze`` (offline) and ``avemotion live`` (real time). Pure functions over
plain arrays and dataclasses; matplotlib is imported only by :func:`plot_timeline`. Files are
written atomically through :mod:`avemotion._io`.

Laughter events use hysteresis: an event starts when the laughter probability rises to ``on``
(default: the bundle's threshold) and ends when it falls below ``off`` (default
:func:`off_threshold`, ``on - 0.15``); events
shorter than ``min_duration_s`` are dropped, and events separated by less than ``merge_gap_s`` are
merged. An event's onset is the start time of its first window's hop (the window end where the
probability first crossed ``on``, minus one hop), its offset the end of its last window above ``off``;
its peak is the highest probability inside and when it occurred.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._io import atomic_open

#: The laughter state switches off this far below the ``on`` threshold (hysteresis).
OFF_DELTA = 0.15


def off_threshold(on: float) -> float:
    """The default ``off`` threshold of the laughter hysteresis for ``on``: ``max(0, on - 0.15)``."""
    return max(0.0, on - OFF_DELTA)


@dataclass
class WindowResult:
    """One analysis window's prediction (times in seconds on the media clock)."""

    start: float
    end: float
    emotion: str
    probabilities: dict[str, float]
    laugh_prob: float
    laughing: bool
    face_present_share: float
    audio_missing: bool
    video_missing: bool

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "emotion": self.emotion,
        }
        row.update({f"p_{k}": round(float(v), 6) for k, v in self.probabilities.items()})
        row.update(
            laugh_prob=round(float(self.laugh_prob), 6),
            laughing=bool(self.laughing),
            face_present_share=round(float(self.face_present_share), 4),
            audio_missing=bool(self.audio_missing),
            video_missing=bool(self.video_missing),
        )
        return row


@dataclass
class LaughterEvent:
    onset: float
    offset: float
    peak_time: float
    peak_prob: float

    @property
    def duration(self) -> float:
        return self.offset - self.onset


@dataclass
class Summary:
    windows: int
    duration_s: float
    emotion_shares: dict[str, float]
    mean_probabilities: dict[str, float]
    laughter_count: int
    laughter_total_s: float
    face_present_share: float
    events: list[LaughterEvent] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events"] = [asdict(e) | {"duration": e.duration} for e in self.events]
        return d


class EMASmoother:
    """Exponential moving average of probability vectors (the live ``--enhanced`` mode).

    ``alpha`` in (0, 1]: weight of the newest window (1 = no smoothing). Time constant in windows is
    about ``1 / alpha``.
    """

    def __init__(self, alpha: float = 0.4) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha: expected a value in (0, 1], got {alpha}")
        self.alpha = alpha
        self._state: np.ndarray | None = None

    def __call__(self, probs: Sequence[float] | np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        self._state = p.copy() if self._state is None else self.alpha * p + (1 - self.alpha) * self._state
        return self._state.copy()


class Hysteresis:
    """Online laughter state with hysteresis (``on`` to start, below ``off`` to stop)."""

    def __init__(self, on: float = 0.5, off: float | None = None) -> None:
        off = off_threshold(on) if off is None else off
        if not 0.0 <= off <= on <= 1.0:
            raise ValueError(f"thresholds: expected 0 <= off <= on <= 1, got on={on}, off={off}")
        self.on, self.off, self.active = on, off, False

    def __call__(self, p: float) -> bool:
        self.active = p >= self.off if self.active else p >= self.on
        return self.active


class Enhancer:
    """The live ``--enhanced`` mode on a stream of rows: EMA over the emotion and laughter
    probabilities (``alpha``), then laughter hysteresis at ``threshold`` (:class:`Hysteresis`).
    :meth:`apply` rewrites a :class:`WindowResult` in place (emotion = argmax of the smoothed vector)."""

    def __init__(self, labels: Sequence[str], alpha: float = 0.4, threshold: float = 0.5) -> None:
        self.labels = tuple(labels)
        self.ema = EMASmoother(alpha)
        self.hysteresis = Hysteresis(threshold)

    def apply(self, r: WindowResult) -> WindowResult:
        labels = self.labels
        p = self.ema([r.probabilities[k] for k in labels] + [r.laugh_prob])
        r.probabilities = {k: float(p[i]) for i, k in enumerate(labels)}
        r.emotion = labels[int(np.argmax(p[:-1]))]
        r.laugh_prob = float(p[-1])
        r.laughing = self.hysteresis(r.laugh_prob)
        return r


def detect_laughter_events(
    starts: Sequence[float] | np.ndarray,
    ends: Sequence[float] | np.ndarray,
    probs: Sequence[float] | np.ndarray,
    *,
    on: float = 0.5,
    off: float | None = None,
    min_duration_s: float = 0.5,
    merge_gap_s: float = 0.25,
) -> list[LaughterEvent]:
    """Laughter events from per-window probabilities (windows in time order; see module doc)."""
    s = np.asarray(starts, np.float64)
    e = np.asarray(ends, np.float64)
    p = np.asarray(probs, np.float64)
    if not (s.shape == e.shape == p.shape) or s.ndim != 1:
        raise ValueError(f"starts/ends/probs: expected equal 1-D shapes, got {s.shape}, {e.shape}, {p.shape}")
    if len(p) and not np.isfinite(p).all():
        raise ValueError("probs: expected finite values")
    hyst = Hysteresis(on, off)
    hop = float(np.median(np.diff(e))) if len(e) > 1 else float(e[0] - s[0]) if len(e) else 0.0
    raw: list[list[int]] = []
    for i, pi in enumerate(p):
        was = hyst.active
        now = hyst(float(pi))
        if now and not was:
            raw.append([i, i])
        elif now:
            raw[-1][1] = i
    events: list[LaughterEvent] = []
    for i0, i1 in raw:
        onset = max(float(s[i0]), float(e[i0]) - hop)
        offset = float(e[i1])
        k = i0 + int(np.argmax(p[i0 : i1 + 1]))
        ev = LaughterEvent(onset, offset, float(e[k]), float(p[k]))
        if events and ev.onset - events[-1].offset < merge_gap_s:
            last = events[-1]
            peak = ev if ev.peak_prob > last.peak_prob else last
            events[-1] = LaughterEvent(last.onset, ev.offset, peak.peak_time, peak.peak_prob)
        else:
            events.append(ev)
    return [ev for ev in events if ev.duration >= min_duration_s]


def summarize(results: Sequence[WindowResult], labels: Sequence[str], events: list[LaughterEvent]) -> Summary:
    n = len(results)
    counts = {lab: 0 for lab in labels}
    for r in results:
        counts[r.emotion] = counts.get(r.emotion, 0) + 1
    mean_p = {lab: float(np.mean([r.probabilities[lab] for r in results])) if n else 0.0 for lab in labels}
    return Summary(
        windows=n,
        duration_s=float(results[-1].end - results[0].start) if n else 0.0,
        emotion_shares={k: (v / n if n else 0.0) for k, v in counts.items()},
        mean_probabilities=mean_p,
        laughter_count=len(events),
        laughter_total_s=float(sum(ev.duration for ev in events)),
        face_present_share=float(np.mean([r.face_present_share for r in results])) if n else 0.0,
        events=events,
    )


def rows_to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)


def rows_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def plot_timeline(
    results: Sequence[WindowResult],
    labels: Sequence[str],
    events: Sequence[LaughterEvent],
    threshold: float,
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """PNG: emotion probabilities over time (top), laughter probability with threshold and events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r.end for r in results])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, constrained_layout=True)
    for lab in labels:
        ax1.plot(t, [r.probabilities[lab] for r in results], label=lab, lw=1.5)
    ax1.set_ylabel("emotion probability")
    ax1.set_ylim(0, 1)
    ax1.legend(loc="upper right", ncol=len(labels), fontsize=8)
    no_face = [r for r in results if r.face_present_share == 0.0]
    for r in no_face:
        ax1.axvspan(r.end - (r.end - r.start) / 4, r.end, color="0.9", lw=0)
    ax2.plot(t, [r.laugh_prob for r in results], color="tab:red", lw=1.5, label="laughter")
    ax2.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    for ev in events:
        ax2.axvspan(ev.onset, ev.offset, color="tab:red", alpha=0.15)
        ax2.plot([ev.peak_time], [ev.peak_prob], "v", color="tab:red")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("laughter probability")
    ax2.set_xlabel("time (s, window end)")
    ax2.legend(loc="upper right", fontsize=8)
    if title:
        ax1.set_title(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, dpi=100, format="png")
    finally:
        plt.close(fig)
    return path
