"""What the pipeline runs with and what it measures: :class:`PipelineSettings` (taken from a model
bundle), :class:`StageTimings` and the :class:`StageTimer` that fills them, and the mode check.

Every setting comes from the model bundle's ``bundle.json``: ``window_s``/``hop_s`` (analysis
windows), ``features.audio_window_s``/``audio_hop_s`` (audio steps), ``features.video_fps`` (sampled
frames) and ``laughter_threshold``; a bundle that omits a feature key gets the contract's default
(:data:`avemotion._contract.WINDOWS`). Nothing here is tuned separately from what the model was
trained on.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from avemotion._contract import (
    AUDIO_DIM,
    DEFAULT_AUDIO_MODE,
    EMOTION_LABELS,
    MODES,
    SAMPLE_RATE,
    VIDEO_DIM,
    WINDOWS,
)

Mode = Literal["av", "video", "audio"]

__all__ = ["MODES", "Mode", "PipelineSettings", "StageTimer", "StageTimings", "check_mode", "uses_audio",
           "uses_video"]


def check_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`avemotion._contract.MODES`, else ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


def uses_audio(mode: str) -> bool:
    """True when ``mode`` feeds audio to the model (``av``, ``audio``)."""
    return check_mode(mode) in ("av", "audio")


def uses_video(mode: str) -> bool:
    """True when ``mode`` feeds video to the model (``av``, ``video``)."""
    return check_mode(mode) in ("av", "video")


def _adaptation_prior(bundle: Any) -> float:
    """``training.online_adaptation.prior_weight`` of a bundle (a number >= 0), else ``inf`` (off)."""
    rec = (getattr(bundle, "training", None) or {}).get("online_adaptation")
    if not isinstance(rec, dict) or rec.get("prior_weight") is None:
        return math.inf
    w = float(rec["prior_weight"])
    if not w >= 0:
        raise ValueError(f"bundle.json training.online_adaptation.prior_weight: expected a number >= 0, got {w!r}")
    return w


@dataclass(frozen=True)
class PipelineSettings:
    """Analysis settings, all taken from a model bundle (seconds, Hz)."""

    window_s: float = WINDOWS.window_s
    hop_s: float = WINDOWS.hop_s
    audio_window_s: float = WINDOWS.audio_window_s
    audio_hop_s: float = WINDOWS.audio_hop_s
    audio_mode: str = DEFAULT_AUDIO_MODE  # how audio steps are computed (avemotion.features.audio)
    video_fps: float = WINDOWS.video_fps
    laughter_threshold: float = WINDOWS.laughter_threshold
    labels: tuple[str, ...] = EMOTION_LABELS
    audio_dim: int = AUDIO_DIM
    video_dim: int = VIDEO_DIM
    #: Online speaker adaptation (avemotion.adaptation.OnlineNormalizer, per stream): the prior's
    #: weight in speech steps; ``inf`` = off (the bundle's statistics only). From bundle.json
    #: ``training.online_adaptation.prior_weight`` (absent: off); ``--no-adapt`` turns it off.
    adaptation_prior_weight: float = math.inf

    @property
    def adapts(self) -> bool:
        """True when windows are normalized with per-stream adapted audio statistics."""
        return not math.isinf(self.adaptation_prior_weight)

    @classmethod
    def from_bundle(cls, bundle: Any) -> PipelineSettings:
        """Settings of a :class:`avemotion.bundle.Bundle` (missing feature keys keep the contract's
        defaults; the audio mode is the one the bundle's model was trained on, see
        :func:`avemotion.bundle.bundle_audio_mode`)."""
        from avemotion.bundle import bundle_audio_mode

        f = dict(getattr(bundle, "features", {}) or {})
        return cls(
            window_s=float(bundle.window_s),
            hop_s=float(bundle.hop_s),
            audio_window_s=float(f.get("audio_window_s", WINDOWS.audio_window_s)),
            audio_hop_s=float(f.get("audio_hop_s", WINDOWS.audio_hop_s)),
            audio_mode=bundle_audio_mode(f),
            video_fps=float(f.get("video_fps", WINDOWS.video_fps)),
            laughter_threshold=float(bundle.laughter_threshold),
            labels=tuple(bundle.labels),
            audio_dim=int(bundle.dims.get("audio", AUDIO_DIM)),
            video_dim=int(bundle.dims.get("video", VIDEO_DIM)),
            adaptation_prior_weight=_adaptation_prior(bundle),
        )

    @property
    def sample_rate(self) -> int:
        """Audio sample rate of the pipeline (Hz, the contract's; sources resample to it)."""
        return SAMPLE_RATE


@dataclass
class StageTimings:
    """Seconds of wall clock spent per stage (summed over the run)."""

    decode_s: float = 0.0
    audio_features_s: float = 0.0
    face_detection_s: float = 0.0
    embedding_s: float = 0.0
    sync_s: float = 0.0
    model_s: float = 0.0

    @property
    def total_s(self) -> float:
        return sum(asdict(self).values())

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in asdict(self).items()} | {"total_s": round(self.total_s, 6)}


class StageTimer:
    """Adds elapsed seconds to the fields of one :class:`StageTimings`, from any thread.

    ``with timer("model_s"): ...`` times a block; ``timer.add("sync_s", dt)`` adds a measured span;
    ``timer.iterate(it, "decode_s")`` times each ``next()`` of an iterator (a decoder that yields).
    ``timer.extractor_delta(ex)`` moves a video extractor's own detect/embed counters into the
    timings (call :meth:`extractor_mark` before the work).
    """

    def __init__(self, timings: StageTimings | None = None, lock: threading.Lock | None = None) -> None:
        self.timings = timings if timings is not None else StageTimings()
        self.lock = lock or threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            setattr(self.timings, name, getattr(self.timings, name) + seconds)

    def __call__(self, name: str) -> _TimerBlock:
        return _TimerBlock(self, name)

    def iterate(self, it: Iterable[Any], name: str) -> Iterator[Any]:
        it = iter(it)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.add(name, time.perf_counter() - t0)
                return
            self.add(name, time.perf_counter() - t0)
            yield item

    @staticmethod
    def extractor_mark(extractor: Any) -> tuple[float, float]:
        t = getattr(extractor, "timings", None) or {}
        return float(t.get("detect_s", 0.0)), float(t.get("embed_s", 0.0))

    def extractor_delta(self, extractor: Any, mark: tuple[float, float]) -> None:
        d, e = self.extractor_mark(extractor)
        self.add("face_detection_s", d - mark[0])
        self.add("embedding_s", e - mark[1])


class _TimerBlock:
    def __init__(self, timer: StageTimer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.add(self.name, time.perf_counter() - self.t0)
