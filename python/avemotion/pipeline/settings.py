"""What the pipeline runs with and what it measures: :class:`PipelineSettings` (taken from a model
bundle), :class:`StageTimings` and the :class:`StageTimer` that fills them, and the mode check.

Every setting comes from the model bundle's ``bundle.json``: ``window_s``/``hop_s`` (analysis
windows), ``features.audio_window_s``/``audio_hop_s`` (audio steps), ``features.video_fps`` (sampled
frames) and ``laughter_threshold``; a bundle that omits a feature key gets the contract's default
(:data:`avemotion._contract.WINDOWS`); ``features.trained_modalities`` says which inputs the model
learned from (:func:`fed_modalities`: a modality it was not trained on is fed all-masked). Nothing
here is tuned separately from what the model was trained on.

Timings: :class:`StageTimings` holds wall seconds per stage and, in ``cpu``, the CPU seconds of the
threads that ran each stage (``time.thread_time``; a stage whose work runs on a thread of its own
library, such as openSMILE's tick loop in ``sliding`` mode, is not in ``cpu``: see
:attr:`StageTimings.cpu`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
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

__all__ = ["MODALITIES", "MODES", "Mode", "PipelineSettings", "StageTimer", "StageTimings", "check_mode",
           "fed_modalities", "modality_notice", "uses_audio", "uses_video"]

#: The model's inputs, in the bundle's order.
MODALITIES = ("audio", "video")


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


def fed_modalities(mode: str, trained: tuple[str, ...] = MODALITIES) -> tuple[str, ...]:
    """The modalities the model is fed in ``mode`` when it was trained on ``trained``: those the mode
    uses and the model learned from. A modality outside ``trained`` is still decoded and extracted
    in ``av`` mode (face presence is reported) but reaches the model all-masked. ``ValueError`` when
    nothing would be fed (e.g. ``video`` mode with an audio-only bundle), naming the mode to use."""
    used = [m for m, on in (("audio", uses_audio(mode)), ("video", uses_video(mode))) if on]
    fed = tuple(m for m in used if m in trained)
    if not fed:
        alt = "audio" if "audio" in trained else "video"
        raise ValueError(f"mode {mode!r}: the model was trained on {'+'.join(trained) or 'nothing'} only "
                         f"(bundle.json training.modalities); use --mode {alt} or av")
    return fed


def modality_notice(mode: str, trained: tuple[str, ...] = MODALITIES) -> str | None:
    """The one-line notice for a run in ``mode`` where a modality the mode extracts is not fed to the
    model (it was not trained on it); None when the model gets everything the mode extracts."""
    fed = fed_modalities(mode, trained)
    unfed = [m for m, on in (("audio", uses_audio(mode)), ("video", uses_video(mode))) if on and m not in fed]
    if not unfed:
        return None
    what = {"video": "faces are still detected and embedded (face presence is reported)",
            "audio": "the audio is still decoded and its steps extracted"}[unfed[0]]
    return (f"the model was trained on {'+'.join(fed)} only: {what}, but the model is fed no "
            f"{unfed[0]} (all-masked, as with no {'face' if unfed[0] == 'video' else 'audio'})")
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
    trained_modalities: tuple[str, ...] = MODALITIES  # what the model learned from (bundle.json)
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
        :func:`avemotion.bundle.bundle_audio_mode`; ``trained_modalities`` from
        :func:`avemotion.bundle.trained_modalities`, both when not recorded)."""
        from avemotion.bundle import bundle_audio_mode, trained_modalities

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
            trained_modalities=trained_modalities(bundle),
            adaptation_prior_weight=_adaptation_prior(bundle),
        )

    @property
    def sample_rate(self) -> int:
        """Audio sample rate of the pipeline (Hz, the contract's; sources resample to it)."""
        return SAMPLE_RATE


@dataclass
class StageTimings:
    """Seconds spent per stage, summed over the run: wall clock per field, and in ``cpu`` the CPU
    seconds of the threads that ran the stage, per field name (``time.thread_time``: decode, face
    detection, embedding, model; for audio only the feeding thread's share: in ``sliding`` mode
    openSMILE computes on its own thread, so the audio stage's CPU is the process's CPU minus the
    other stages', see ``benchmarks/bench_pipeline.py``). Stages may overlap (``analyze`` runs
    audio, face detection and embedding on separate threads), so the wall fields can add up to
    more than the run's wall time."""

    decode_s: float = 0.0
    audio_features_s: float = 0.0
    face_detection_s: float = 0.0
    embedding_s: float = 0.0
    sync_s: float = 0.0
    model_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        """Sum of the stages' wall seconds (the run's wall time when nothing overlaps)."""
        return sum(v for k, v in asdict(self).items() if k != "cpu")

    def to_dict(self) -> dict[str, float]:
        """The wall seconds per stage and ``total_s`` (flat; the CPU seconds: :meth:`cpu_dict`)."""
        return {k: round(v, 6) for k, v in asdict(self).items() if k != "cpu"} | {"total_s": round(self.total_s, 6)}

    def cpu_dict(self) -> dict[str, float]:
        """The CPU seconds per stage that were measured (see the class docstring)."""
        return {k: round(v, 6) for k, v in self.cpu.items()}


class StageTimer:
    """Adds elapsed seconds to the fields of one :class:`StageTimings`, from any thread.

    ``with timer("model_s"): ...`` times a block (wall, and the calling thread's CPU into ``cpu``);
    ``timer.add("sync_s", dt)`` adds a measured span; ``timer.iterate(it, "decode_s")`` times each
    ``next()`` of an iterator (a decoder that yields). ``timer.extractor_delta(ex)`` moves a video
    extractor's own detect/embed counters into the timings (call :meth:`extractor_mark` before the work).
    """

    def __init__(self, timings: StageTimings | None = None, lock: threading.Lock | None = None) -> None:
        self.timings = timings if timings is not None else StageTimings()
        self.lock = lock or threading.Lock()

    def add(self, name: str, seconds: float, cpu: float | None = None) -> None:
        with self.lock:
            setattr(self.timings, name, getattr(self.timings, name) + seconds)
            if cpu is not None:
                self.timings.cpu[name] = self.timings.cpu.get(name, 0.0) + cpu

    def __call__(self, name: str) -> _TimerBlock:
        return _TimerBlock(self, name)

    def iterate(self, it: Iterable[Any], name: str) -> Iterator[Any]:
        it = iter(it)
        while True:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                item = next(it)
            except StopIteration:
                self.add(name, time.perf_counter() - t0, time.thread_time() - c0)
                return
            self.add(name, time.perf_counter() - t0, time.thread_time() - c0)
            yield item

    _KEYS = (("face_detection_s", "detect_s"), ("embedding_s", "embed_s"))

    @classmethod
    def extractor_mark(cls, extractor: Any) -> tuple[tuple[float, ...], tuple[float, ...] | None]:
        """(wall, CPU or None) counters of a video extractor's ``timings`` / ``cpu_timings``."""
        t = getattr(extractor, "timings", None) or {}
        c = getattr(extractor, "cpu_timings", None)
        wall = tuple(float(t.get(k, 0.0)) for _, k in cls._KEYS)
        return wall, (tuple(float(c.get(k, 0.0)) for _, k in cls._KEYS) if c is not None else None)

    def extractor_delta(self, extractor: Any, mark: tuple[tuple[float, ...], tuple[float, ...] | None]) -> None:
        wall, cpu = self.extractor_mark(extractor)
        for i, (name, _) in enumerate(self._KEYS):
            dc = cpu[i] - mark[1][i] if cpu is not None and mark[1] is not None else None
            self.add(name, wall[i] - mark[0][i], dc)


class _TimerBlock:
    def __init__(self, timer: StageTimer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.thread_time()

    def __exit__(self, *exc: object) -> None:
        self.timer.add(self.name, time.perf_counter() - self.t0, time.thread_time() - self.c0)
