"""The end-to-end pipeline shared by ``avemotion analyze`` (offline) and ``avemotion live`` (real time).

::

    media ─► decode (PyAV) ─► audio: 16 kHz mono ─► eGeMAPS steps (openSMILE, persistent instance)  ─┐
                           └► video: frames at the bundle's video_fps ─► MTCNN ─► FaceNet 512-d ──────┤
                                                                                                    ▼
                            AVSync (C++): windows of window_s every hop_s on the audio clock
                                                                                                    ▼
                            Predictor (normalize with the bundle's stats, two-head ONNX model), batched
                                                                                                    ▼
                            WindowResult rows (avemotion.analysis)

Every setting comes from the model bundle's ``bundle.json``: ``window_s``/``hop_s`` (analysis windows),
``features.audio_window_s``/``audio_hop_s`` (audio steps), ``features.video_fps`` (sampled frames) and
``laughter_threshold``. Nothing here is tuned separately from what the model was trained on.

Modes: ``"av"`` (both modalities), ``"video"`` (audio is not decoded nor extracted; the model sees an
all-masked audio input), ``"audio"`` (no face detection/embedding; all-masked video input). In a
non-``av`` mode the missing modality's rows say ``audio_missing``/``video_missing`` = True.

Offline (:func:`analyze_file`): the whole audio track is decoded and turned into steps (identical to
training-time extraction: :func:`avemotion.features.audio.extract_audio` on
:func:`avemotion.features.media.decode_audio`), frames are decoded, detected and embedded in batches,
then both step streams are pushed into an :class:`AVSync` in hop-sized slices in time order (so the
synchronizer never forces a window for lack of the other stream), windows are popped and predicted in
batches. At the end of the media the synchronizer is flushed (see :func:`flush_sync`); windows ending
after the last real step's hop are not reported.

Per-stage wall-clock timings (:class:`StageTimings`: decode, audio features, face detection,
embedding, sync, model) are collected for the real-time-factor breakdown.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np

from avemotion.analysis import WindowResult

log = logging.getLogger(__name__)

Mode = Literal["av", "video", "audio"]
MODES: tuple[str, ...] = ("av", "video", "audio")
AUDIO_DIM, VIDEO_DIM = 89, 512


# --------------------------------------------------------------------------------------------------
# Settings and timings


@dataclass(frozen=True)
class PipelineSettings:
    """Analysis settings, all taken from a model bundle (seconds, Hz)."""

    window_s: float = 2.0
    hop_s: float = 0.5
    audio_window_s: float = 1.0
    audio_hop_s: float = 0.1
    video_fps: float = 5.0
    laughter_threshold: float = 0.5
    labels: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "neutral", "sad")
    audio_dim: int = AUDIO_DIM
    video_dim: int = VIDEO_DIM

    @classmethod
    def from_bundle(cls, bundle: Any) -> PipelineSettings:
        """Settings of a :class:`avemotion.bundle.Bundle` (missing feature keys keep the contract's defaults)."""
        f = dict(getattr(bundle, "features", {}) or {})
        d = cls()
        return cls(
            window_s=float(bundle.window_s),
            hop_s=float(bundle.hop_s),
            audio_window_s=float(f.get("audio_window_s", d.audio_window_s)),
            audio_hop_s=float(f.get("audio_hop_s", d.audio_hop_s)),
            video_fps=float(f.get("video_fps", d.video_fps)),
            laughter_threshold=float(bundle.laughter_threshold),
            labels=tuple(bundle.labels),
            audio_dim=int(bundle.dims.get("audio", AUDIO_DIM)),
            video_dim=int(bundle.dims.get("video", VIDEO_DIM)),
        )


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


class _Timer:
    """``with timer("model_s"):`` adds the elapsed time to that field of a :class:`StageTimings`."""

    def __init__(self, timings: StageTimings, lock: threading.Lock | None = None) -> None:
        self.timings = timings
        self.lock = lock or threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            setattr(self.timings, name, getattr(self.timings, name) + seconds)

    def __call__(self, name: str) -> _TimerCtx:
        return _TimerCtx(self, name)


class _TimerCtx:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.add(self.name, time.perf_counter() - self.t0)


# --------------------------------------------------------------------------------------------------
# Building blocks


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


_EXTRACTORS: dict[tuple[Any, ...], Any] = {}
_EXTRACTORS_LOCK = threading.Lock()


def get_video_extractor(
    *,
    weights: str | os.PathLike[str] | None = None,
    random_weights: bool = False,
    onnx: str | os.PathLike[str] | None = None,
    batch_size: int = 8,
) -> Any:
    """A :class:`avemotion.features.video.VideoExtractor` (MTCNN + FaceNet), cached per process.

    ``onnx``: a FaceNet ONNX file (``python -m avemotion.features.export_onnx``) run by ONNX Runtime
    (faster on the CPU); else FaceNet in torch with ``weights`` (default lookup: argument,
    ``$AVEMOTION_FACENET_WEIGHTS``, torch's hub cache). ``random_weights=True`` allows random FaceNet
    weights when no file is found (demo/tests only: embeddings are meaningless). Raises
    :class:`avemotion.features.video.FaceNetWeightsMissing` (a ``FileNotFoundError``) with the
    message that says how to obtain the weights.
    """
    from avemotion.features.video import FaceNetWeightsMissing, OnnxEmbedder, TorchEmbedder, VideoExtractor

    key = (str(weights) if weights else None, bool(random_weights), str(onnx) if onnx else None, batch_size)
    with _EXTRACTORS_LOCK:
        ex = _EXTRACTORS.get(key)
        if ex is not None:
            return ex
        if onnx is not None:
            if not Path(onnx).is_file():
                raise FaceNetWeightsMissing(f"--facenet-onnx: FaceNet ONNX model not found: {onnx}")
            embedder: Any = OnnxEmbedder(onnx)
        else:
            embedder = TorchEmbedder(weights=weights, allow_random_weights=random_weights)
        ex = VideoExtractor(embedder, batch_size=batch_size)
        _EXTRACTORS[key] = ex
        return ex


def make_sync(settings: PipelineSettings, *, max_latency_s: float, clock_sync: str = "none",
              max_pending_windows: int = 256) -> Any:
    """An AVSync for the settings: ``avemotion.streaming.AVSync`` when present, else the C++ class
    behind a thin adapter with the same ``push_audio``/``push_video``/``pop_batch``/``stats`` API."""
    kw = dict(window_s=settings.window_s, hop_s=settings.hop_s, max_latency_s=max_latency_s,
              audio_dim=settings.audio_dim, video_dim=settings.video_dim,
              audio_rate_hz=1.0 / settings.audio_hop_s, video_fps=settings.video_fps,
              max_pending_windows=max_pending_windows, clock_sync=clock_sync)
    try:
        from avemotion.streaming import AVSync

        return AVSync(**kw)  # type: ignore[arg-type]
    except ImportError:
        return _CoreSync(**kw)


class _CoreSync:
    """Adapter over ``avemotion._core.AVSync`` (used until ``avemotion.streaming`` is installed)."""

    def __init__(self, **kw: Any) -> None:
        from avemotion import _core

        full = dict(rate_margin=1.25, sync_horizon_s=30.0, sync_min_span_s=10.0, sync_refit_every=16,
                    max_drift_ppm=20000.0, max_offset_s=0.5) | kw
        self._s = _core.AVSync(**full)

    @property
    def pending(self) -> int:
        return int(self._s.pending)

    def push_audio(self, ts: np.ndarray, x: np.ndarray) -> int:
        return int(self._s.push_audio(np.ascontiguousarray(ts, np.float64), np.ascontiguousarray(x, np.float32)))

    def push_video(self, ts: np.ndarray, x: np.ndarray, face_present: np.ndarray | None = None) -> int:
        fp = None if face_present is None else np.ascontiguousarray(face_present, bool)
        return int(self._s.push_video(np.ascontiguousarray(ts, np.float64), np.ascontiguousarray(x, np.float32), fp))

    def pop_batch(self, max_n: int | None = None) -> Any:
        return SimpleNamespace(**self._s.pop(self.pending if max_n is None else int(max_n)))

    def stats(self) -> Any:
        d = self._s.stats()
        return SimpleNamespace(**{k: (SimpleNamespace(**v) if isinstance(v, dict) else v) for k, v in d.items()})


def sync_stats_dict(stats: Any) -> dict[str, Any]:
    """An AVSync ``stats()`` result (dataclass or namespace) as a plain dict."""
    def conv(v: Any) -> Any:
        if hasattr(v, "__dataclass_fields__"):
            return {k: conv(x) for k, x in asdict(v).items()}
        if isinstance(v, SimpleNamespace):
            return {k: conv(x) for k, x in vars(v).items()}
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v
    return conv(stats)  # type: ignore[no-any-return]


def flush_sync(sync: Any, settings: PipelineSettings, max_latency_s: float, last_t: float, *, stream: str) -> None:
    """End of input: emit every window up to ``last_t`` (the last real step) and a bit beyond.

    AVSync has no end-of-stream call; its max-latency rule emits window ``t`` once the leading
    watermark passes ``t + max_latency_s``. One zero step on ``stream`` at
    ``last_t + max_latency_s + 2 hop`` therefore emits every window ending up to ``last_t + 2 hop``;
    the step itself belongs to no emitted window (a window holds steps with ``ts <= end``).
    """
    t = float(last_t) + max_latency_s + 2 * settings.hop_s
    ts = np.array([t], np.float64)
    if stream == "audio":
        sync.push_audio(ts, np.zeros((1, settings.audio_dim), np.float32))
    else:
        sync.push_video(ts, np.zeros((1, settings.video_dim), np.float32), np.zeros(1, bool))


class WindowPredictor:
    """Batched prediction of synchronizer windows into :class:`WindowResult` rows."""

    def __init__(self, predictor: Any, settings: PipelineSettings, mode: str = "av", *, t_min: float = 0.0) -> None:
        self.predictor = predictor
        self.t_min = t_min  # window starts are clamped to the media start (the first windows are shorter)
        self.settings = settings
        self.mode = check_mode(mode)

    def __call__(self, batch: Any) -> list[WindowResult]:
        n = int(np.shape(batch.start)[0])
        if n == 0:
            return []
        a_mask = np.asarray(batch.audio_mask, bool)
        v_mask = np.asarray(batch.video_mask, bool)
        if self.mode == "video":
            a_mask = np.zeros_like(a_mask)
        elif self.mode == "audio":
            v_mask = np.zeros_like(v_mask)
        emo, laugh = self.predictor.predict([batch.audio, batch.video], masks=[a_mask, v_mask])
        emo = np.asarray(emo, np.float64).reshape(n, -1)
        laugh = np.asarray(laugh, np.float64).reshape(n)
        labels = self.settings.labels
        out = []
        n_video = np.asarray(batch.n_video)
        fms = np.asarray(batch.face_missing_share, np.float64)
        for i in range(n):
            if float(batch.end[i]) <= self.t_min:  # a window ending at the media start holds one frame at most
                continue
            has_v = self.mode != "audio" and n_video[i] > 0
            lp = float(laugh[i])
            out.append(WindowResult(
                start=max(float(batch.start[i]), self.t_min), end=float(batch.end[i]),
                emotion=labels[int(np.argmax(emo[i]))],
                probabilities={lab: float(emo[i, j]) for j, lab in enumerate(labels)},
                laugh_prob=lp, laughing=lp >= self.settings.laughter_threshold,
                face_present_share=float(1.0 - fms[i]) if has_v else 0.0,
                audio_missing=self.mode == "video" or int(batch.n_audio[i]) == 0,
                video_missing=not has_v,
            ))
        return out


# --------------------------------------------------------------------------------------------------
# Offline


@dataclass
class AnalysisResult:
    """What :func:`analyze_file` produced: rows, timings, media duration (s) and synchronizer stats."""

    results: list[WindowResult]
    timings: StageTimings
    media_duration_s: float
    n_audio_steps: int
    n_video_steps: int
    sync_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def real_time_factor(self) -> float:
        """Processing seconds per media second (< 1: faster than real time)."""
        return self.timings.total_s / self.media_duration_s if self.media_duration_s > 0 else math.nan


def _timed_iter(it: Iterable[Any], timer: _Timer, name: str) -> Iterator[Any]:
    it = iter(it)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            timer.add(name, time.perf_counter() - t0)
            return
        timer.add(name, time.perf_counter() - t0)
        yield item


def analyze_file(
    path: str | os.PathLike[str],
    predictor: Any,
    *,
    mode: str = "av",
    video_extractor: Any = None,
    settings: PipelineSettings | None = None,
    progress: Callable[[str, float, float], None] | None = None,
    batch_windows: int = 64,
) -> AnalysisResult:
    """Analyze one media file (see the module docstring). ``progress(stage, done_s, total_s)`` is
    called as media time is processed. Raises :class:`avemotion.features.media.MediaError`
    (unreadable file, no audio stream in ``av``/``audio`` mode, no video stream in ``av``/``video``
    mode) and the video extractor's errors."""
    from avemotion.features.audio import extract_audio
    from avemotion.features.media import MediaError, decode_audio, iter_video_frames, probe

    mode = check_mode(mode)
    s = settings or PipelineSettings.from_bundle(predictor.bundle)
    timings = StageTimings()
    timer = _Timer(timings)
    with timer("decode_s"):
        info = probe(path)
    if mode in ("av", "audio") and not info.has_audio:
        raise MediaError(path, "no_audio", f"no audio stream (mode {mode!r} needs one; use --mode video)")
    if mode in ("av", "video") and not info.has_video:
        raise MediaError(path, "no_video", f"no video stream (mode {mode!r} needs one; use --mode audio)")
    if mode in ("av", "video") and video_extractor is None:
        raise ValueError("video_extractor: required in mode 'av' and 'video' (see get_video_extractor)")
    total = float(info.duration or 0.0)

    a_ts = np.zeros(0, np.float64)
    a_x = np.zeros((0, s.audio_dim), np.float32)
    if mode in ("av", "audio"):
        with timer("decode_s"):
            audio = decode_audio(path)
        total = max(total, audio.duration)
        with timer("audio_features_s"):
            feats = extract_audio(audio.samples, window_s=s.audio_window_s, hop_s=s.audio_hop_s)
        a_ts, a_x = feats.times, feats.steps
        if progress:
            progress("audio", total, total)

    v_ts = np.zeros(0, np.float64)
    v_x = np.zeros((0, s.video_dim), np.float32)
    v_m = np.zeros(0, bool)
    if mode in ("av", "video"):
        ex = video_extractor
        d0, e0 = ex.timings["detect_s"], ex.timings["embed_s"]
        frames = _timed_iter(iter_video_frames(path, fps=s.video_fps), timer, "decode_s")
        if progress:
            frames = _report(frames, progress, total)
        vf = ex.extract(frames)
        timer.add("face_detection_s", ex.timings["detect_s"] - d0)
        timer.add("embedding_s", ex.timings["embed_s"] - e0)
        v_ts, v_x, v_m = vf.times, vf.steps, vf.mask

    max_latency = max(1.0, 2 * s.hop_s)
    sync = make_sync(s, max_latency_s=max_latency, clock_sync="none", max_pending_windows=max(64, 2 * batch_windows))
    wp = WindowPredictor(predictor, s, mode)
    results: list[WindowResult] = []
    last_t = max(a_ts[-1] if a_ts.size else -math.inf, v_ts[-1] if v_ts.size else -math.inf)
    if not math.isfinite(last_t):
        return AnalysisResult([], timings, total, int(a_ts.size), int(v_ts.size))

    def drain(final: bool = False) -> None:
        while sync.pending >= (1 if final else batch_windows):
            with timer("sync_s"):
                batch = sync.pop_batch(batch_windows)
            with timer("model_s"):
                results.extend(wp(batch))

    t0 = min(a_ts[0] if a_ts.size else math.inf, v_ts[0] if v_ts.size else math.inf)
    edges = np.arange(math.floor(t0 / s.hop_s), math.ceil(last_t / s.hop_s) + 1) * s.hop_s
    ai = vi = 0
    for edge in edges:
        with timer("sync_s"):
            aj = int(np.searchsorted(a_ts, edge, side="right"))
            vj = int(np.searchsorted(v_ts, edge, side="right"))
            if aj > ai:
                sync.push_audio(a_ts[ai:aj], a_x[ai:aj])
            if vj > vi:
                sync.push_video(v_ts[vi:vj], v_x[vi:vj], v_m[vi:vj])
            ai, vi = aj, vj
        drain()
    with timer("sync_s"):
        flush_sync(sync, s, max_latency, last_t, stream="audio" if a_ts.size else "video")
    drain(final=True)
    limit = math.ceil(last_t / s.hop_s - 1e-9) * s.hop_s + 1e-9
    results = [r for r in results if r.end <= limit]
    return AnalysisResult(results, timings, total, int(a_ts.size), int(v_ts.size), sync_stats_dict(sync.stats()))


def _report(frames: Iterable[tuple[float, np.ndarray]], progress: Callable[[str, float, float], None],
            total: float) -> Iterator[tuple[float, np.ndarray]]:
    for t, rgb in frames:
        progress("video", t, total)
        yield t, rgb
    progress("video", total, total)
