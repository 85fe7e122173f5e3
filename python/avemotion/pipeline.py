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
batches. At the end of the media the synchronizer is flushed (``AVSync.flush``, see :func:`last_window_end`):
both streams are complete, so every window up to the hop holding the last step is emitted (the last
ones partial, a modality without steps masked as usual, none ``forced``), and none after it.

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
    device: str = "cpu",
) -> Any:
    """A :class:`avemotion.features.video.VideoExtractor` (MTCNN + FaceNet), cached per process.

    ``device``: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` for MTCNN and torch
    FaceNet (see :func:`avemotion.features.video.resolve_device`: ``"cuda"`` without CUDA falls back
    to the CPU with a warning, or raises ``RuntimeError`` with ``AVEMOTION_STRICT=1``); with
    ``onnx`` it picks ONNX Runtime's provider (``"cuda"``/``"auto"`` use CUDA when onnxruntime-gpu
    offers it). A bad value is a ``ValueError``.

    ``onnx``: a FaceNet ONNX file (``python -m avemotion.features.export_onnx``) run by ONNX Runtime
    (faster on the CPU); else FaceNet in torch with ``weights`` (default lookup: argument,
    ``$AVEMOTION_FACENET_WEIGHTS``, torch's hub cache). ``random_weights=True`` allows random FaceNet
    weights when no file is found (demo/tests only: embeddings are meaningless). Raises
    :class:`avemotion.features.video.FaceNetWeightsMissing` (a ``FileNotFoundError``) with the
    message that says how to obtain the weights.
    """
    from avemotion.features.video import (
        FaceDetector,
        FaceNetWeightsMissing,
        OnnxEmbedder,
        TorchEmbedder,
        VideoExtractor,
        check_device,
    )

    device = check_device(device)
    key = (str(weights) if weights else None, bool(random_weights), str(onnx) if onnx else None, batch_size,
           device)
    with _EXTRACTORS_LOCK:
        ex = _EXTRACTORS.get(key)
        if ex is not None:
            return ex
        if onnx is not None:
            if not Path(onnx).is_file():
                raise FaceNetWeightsMissing(f"--facenet-onnx: FaceNet ONNX model not found: {onnx}")
            embedder: Any = OnnxEmbedder(onnx, providers=device)
        else:
            embedder = TorchEmbedder(weights=weights, allow_random_weights=random_weights, device=device)
        ex = VideoExtractor(embedder, FaceDetector(device=device), batch_size=batch_size)
        _EXTRACTORS[key] = ex
        return ex


def make_sync(settings: PipelineSettings, *, max_latency_s: float, clock_sync: str = "none",
              max_pending_windows: int = 256, grid_start_s: float | None = None) -> Any:
    """An :class:`avemotion.streaming.AVSync` for the settings (``grid_start_s``: see AVSync)."""
    from avemotion.streaming import AVSync

    return AVSync(window_s=settings.window_s, hop_s=settings.hop_s, max_latency_s=max_latency_s,
                  audio_dim=settings.audio_dim, video_dim=settings.video_dim,
                  audio_rate_hz=1.0 / settings.audio_hop_s, video_fps=settings.video_fps,
                  max_pending_windows=max_pending_windows, clock_sync=clock_sync,  # type: ignore[arg-type]
                  grid_start_s=grid_start_s)


def sync_stats_dict(stats: Any) -> dict[str, Any]:
    """An AVSync ``stats()`` result (dataclass or namespace) as a plain dict."""
    def conv(v: Any) -> Any:
        if hasattr(v, "to_dict"):  # the bound C++ SyncStats (avemotion.streaming)
            return conv(v.to_dict())
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


def last_window_end(last_t: float, hop_s: float) -> float:
    """Where a finished input's windows stop: the end of the hop holding the last step ``last_t``
    (``k * hop_s``, the first window end at or after it; a ``last_t`` within 1e-9 hop of a window end
    counts as on it). The value to pass to ``AVSync.flush`` at the end of the input."""
    return math.ceil(last_t / hop_s - 1e-9) * hop_s


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
        sync.flush(last_window_end(last_t, s.hop_s))  # end of media: both streams complete
    drain(final=True)
    return AnalysisResult(results, timings, total, int(a_ts.size), int(v_ts.size), sync_stats_dict(sync.stats()))


def _report(frames: Iterable[tuple[float, np.ndarray]], progress: Callable[[str, float, float], None],
            total: float) -> Iterator[tuple[float, np.ndarray]]:
    for t, rgb in frames:
        progress("video", t, total)
        yield t, rgb
    progress("video", total, total)


# --------------------------------------------------------------------------------------------------
# Real time
#
# Threads (each "never blocks" the one before it; queues between them are bounded):
#
#   capture (source)  ──audio chunks──► audio worker: AudioStreamExtractor ──► FrameRing(89)  ─┐
#      PyAV demux /   ──video frames──► video worker: MTCNN + FaceNet      ──► FrameRing(512) ─┤
#      camera + mic      (deque, oldest dropped when the worker is busy)                       ▼
#                                       inference: rings ─► AVSync ─► batched Predictor ─► results
#                                                                                              ▼
#                                       caller's on_result (JSONL writer) and the display queue
#
# A source calls LiveEngine.on_audio(t0, samples, wall) / on_video(t, rgb, wall) / on_end(reason)
# from its own thread. Media times are seconds on the source's clock (0 = first timestamp seen);
# ``wall`` is time.monotonic() when the data was captured (decoded), used for latency.


@dataclass
class LiveConfig:
    """Live settings. ``max_latency_s``: a window waits at most this long (stream clock) for the lagging
    modality. ``blocking``: capture waits for the workers instead of dropping (files read as fast as
    possible); else video frames beyond ``frame_queue`` waiting ones are dropped (oldest first) and
    audio beyond ``audio_queue_s`` seconds waiting is dropped. ``clock_sync``: AVSync's mode (``none``
    for one muxed stream, ``drift`` for camera + microphone on separate clocks)."""

    mode: str = "av"
    enhanced: bool = False
    ema_alpha: float = 0.4
    max_latency_s: float = 1.5
    frame_queue: int = 4
    audio_queue_s: float = 10.0
    blocking: bool = False
    clock_sync: str = "none"
    batch_frames: int = 4


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


class _CaptureClock:
    """Monotone (media_t, wall) pairs of one modality: when was media time t captured?"""

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
        import bisect

        with self._lock:
            i = bisect.bisect_left(self._t, t - 1e-6)
            return self._w[i] if i < len(self._t) else None


def _percentile(x: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(x), q)) if x else None


def _make_ring(dim: int, capacity: int) -> Any:
    from avemotion.streaming import FrameRing

    return FrameRing(dim, capacity, "drop_oldest")


class LiveEngine:
    """Real-time pipeline: sources feed it from their threads, results come out per window.

    ``on_result(result, info)`` is called on the inference thread for each window in order;
    ``info`` holds ``latency_s`` (None when unknown), ``raw_laugh_prob`` and ``forced``.
    Call :meth:`start`, then let a source push data, then :meth:`wait` (returns a :class:`LiveReport`).
    :meth:`stop` asks everything to finish (the source should stop pushing; pending data is drained).
    """

    def __init__(self, predictor: Any, config: LiveConfig, *, video_extractor: Any = None,
                 settings: PipelineSettings | None = None,
                 on_result: Callable[[WindowResult, dict[str, Any]], None] | None = None) -> None:
        import collections
        import queue

        self.cfg = config
        check_mode(config.mode)
        self.settings = settings or PipelineSettings.from_bundle(predictor.bundle)
        s = self.settings
        self.use_audio = config.mode in ("av", "audio")
        self.use_video = config.mode in ("av", "video")
        if self.use_video and video_extractor is None:
            raise ValueError("video_extractor: required in mode 'av' and 'video'")
        self.extractor = video_extractor
        self.predict = WindowPredictor(predictor, s, config.mode)
        self.on_result = on_result
        self.timings = StageTimings()
        self._timer = _Timer(self.timings)
        # one modality: nothing to wait for, a window is cut as soon as its stream passes its end
        self.max_latency_s = config.max_latency_s if config.mode == "av" else 0.0
        # av: the grid starts at media time 0, as offline (not at whichever worker delivers first)
        self.sync = make_sync(s, max_latency_s=self.max_latency_s, clock_sync=config.clock_sync,
                              grid_start_s=0.0 if config.mode == "av" else None)
        self.audio_ring = _make_ring(s.audio_dim, int(64 / s.audio_hop_s) + 64)
        self.video_ring = _make_ring(s.video_dim, int(64 * s.video_fps) + 64)
        self.audio_q: queue.Queue[tuple[float, np.ndarray, float] | None] = queue.Queue()
        self._frames: collections.deque[tuple[float, np.ndarray, float]] = collections.deque()
        self._frames_cv = threading.Condition()
        self._audio_cv = threading.Condition()
        self._audio_pending_s = 0.0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._capture_done = threading.Event()
        self._workers_done = {"audio": not self.use_audio, "video": not self.use_video}
        self.clock_a, self.clock_v = _CaptureClock(), _CaptureClock()
        self.latencies: list[float] = []
        self.windows_emitted = 0
        self.frames_captured = self.frames_dropped = 0
        self.audio_captured_s = self.audio_dropped_s = 0.0
        self.last_audio_t = self.last_video_t = -math.inf
        self.end_reason = "running"
        self.error: str | None = None
        self._ema = None
        self._hyst = None
        if config.enhanced:
            from avemotion.analysis import EMASmoother, Hysteresis

            self._ema = EMASmoother(config.ema_alpha)
            self._hyst = Hysteresis(s.laughter_threshold)
        self._threads: list[threading.Thread] = []
        self._t_start = time.monotonic()
        self._lock = threading.Lock()

    # -- source side (any thread)

    def on_audio(self, t0: float, samples: np.ndarray, wall: float) -> None:
        """Contiguous 16 kHz mono float32 samples starting at media time ``t0``."""
        if not self.use_audio or samples.size == 0:
            return
        dur = samples.size / 16000.0
        with self._audio_cv:
            self.audio_captured_s += dur
            if self.cfg.blocking:
                while self._audio_pending_s > self.cfg.audio_queue_s and not self._stop.is_set():
                    self._audio_cv.wait(0.1)
            elif self._audio_pending_s > self.cfg.audio_queue_s:
                self.audio_dropped_s += dur  # the worker fell behind: drop (the extractor sees a gap as contiguous)
                return
            self._audio_pending_s += dur
        self.audio_q.put((t0, np.ascontiguousarray(samples, np.float32), wall))

    def on_video(self, t: float, rgb: np.ndarray, wall: float) -> None:
        """One sampled RGB uint8 (H, W, 3) frame at media time ``t``."""
        if not self.use_video:
            return
        with self._frames_cv:
            self.frames_captured += 1
            if self.cfg.blocking:
                while len(self._frames) >= self.cfg.frame_queue and not self._stop.is_set():
                    self._frames_cv.wait(0.1)
            elif len(self._frames) >= self.cfg.frame_queue:
                self._frames.popleft()
                self.frames_dropped += 1
            self._frames.append((t, rgb, wall))
            self._frames_cv.notify_all()

    def on_end(self, reason: str, error: str | None = None) -> None:
        """The source has no more data (end of stream, timeout, error or stop)."""
        if self.end_reason == "running":
            self.end_reason = reason
        if error and not self.error:
            self.error = error
        self._capture_done.set()
        self.audio_q.put(None)
        with self._frames_cv:
            self._frames_cv.notify_all()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, reason: str = "stopped") -> None:
        if self.end_reason == "running":
            self.end_reason = reason
        self._stop.set()
        with self._frames_cv:
            self._frames_cv.notify_all()
        with self._audio_cv:
            self._audio_cv.notify_all()

    # -- workers

    def start(self) -> None:
        if self.use_audio:
            self._threads.append(threading.Thread(target=self._guard(self._audio_worker), name="avemotion-audio", daemon=True))
        if self.use_video:
            self._threads.append(threading.Thread(target=self._guard(self._video_worker), name="avemotion-video", daemon=True))
        self._threads.append(threading.Thread(target=self._guard(self._inference), name="avemotion-inference", daemon=True))
        for th in self._threads:
            th.start()

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # report, and let the rest finish
                log.exception("%s failed", threading.current_thread().name)
                self.error = self.error or f"{threading.current_thread().name}: {type(exc).__name__}: {exc}"
                self.end_reason = "error" if self.end_reason == "running" else self.end_reason
                self._stop.set()
                self._capture_done.set()
                self._workers_done = {"audio": True, "video": True}
                self._ready.set()
        return run

    def _audio_worker(self) -> None:
        import queue

        from avemotion.features.audio import AudioStreamExtractor

        s = self.settings
        ex: AudioStreamExtractor | None = None
        try:
            while True:
                try:
                    item = self.audio_q.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():
                        break
                    continue
                if item is None:
                    break
                t0, x, wall = item
                with self._audio_cv:
                    self._audio_pending_s -= x.size / 16000.0
                    self._audio_cv.notify_all()
                if ex is None:
                    ex = AudioStreamExtractor(s.audio_window_s, s.audio_hop_s, t0=t0)
                self.clock_a.add(ex.t0 + (ex.samples_seen + x.size) / 16000.0, wall)
                with self._timer("audio_features_s"):
                    ts, steps = ex.push(x)
                if ts.size:
                    self.audio_ring.push(ts, steps, np.ones(ts.size, bool))
                    self.last_audio_t = float(ts[-1])
                    self._ready.set()
        finally:
            if ex is not None:
                ex.close()
            self._workers_done["audio"] = True
            self._ready.set()

    def _video_worker(self) -> None:
        ex = self.extractor
        while True:
            with self._frames_cv:
                while not self._frames and not (self._capture_done.is_set() or self._stop.is_set()):
                    self._frames_cv.wait(0.2)
                if not self._frames:
                    break
                batch = [self._frames.popleft()]
                while self._frames and len(batch) < self.cfg.batch_frames and self._frames[0][1].shape == batch[0][1].shape:
                    batch.append(self._frames.popleft())
                self._frames_cv.notify_all()
            d0, e0 = ex.timings["detect_s"], ex.timings["embed_s"]
            steps, mask, _ = ex.process([b[1] for b in batch])
            self._timer.add("face_detection_s", ex.timings["detect_s"] - d0)
            self._timer.add("embedding_s", ex.timings["embed_s"] - e0)
            ts = np.array([b[0] for b in batch], np.float64)
            for b in batch:
                self.clock_v.add(b[0], b[2])
            self.video_ring.push(ts, steps, mask)
            self.last_video_t = float(ts[-1])
            self._ready.set()
        self._workers_done["video"] = True
        self._ready.set()

    def _latency(self, t: float, now: float) -> float | None:
        walls = [w for w in ((self.clock_a.wall_at(t) if self.use_audio else None),
                             (self.clock_v.wall_at(t) if self.use_video else None)) if w is not None]
        return now - min(walls) if walls else None

    def _emit(self, batch: Any) -> None:
        with self._timer("model_s"):
            results = self.predict(batch)
        now = time.monotonic()
        forced = {float(e): bool(f) for e, f in zip(np.asarray(batch.end), np.asarray(batch.forced), strict=True)}
        for r in results:
            info: dict[str, Any] = {"latency_s": self._latency(r.end, now), "raw_laugh_prob": r.laugh_prob,
                                    # only meaningful with two modalities (one modality: every window)
                                    "forced": self.cfg.mode == "av" and forced.get(r.end, False)}
            if info["latency_s"] is not None:
                self.latencies.append(info["latency_s"])
            if self._ema is not None and self._hyst is not None:
                labels = self.settings.labels
                p = self._ema([r.probabilities[k] for k in labels] + [r.laugh_prob])
                r.probabilities = {k: float(p[i]) for i, k in enumerate(labels)}
                r.emotion = labels[int(np.argmax(p[:-1]))]
                r.laugh_prob = float(p[-1])
                r.laughing = self._hyst(r.laugh_prob)
            self.windows_emitted += 1
            if self.on_result is not None:
                self.on_result(r, info)

    def _inference(self) -> None:
        while True:
            self._ready.wait(0.1)
            self._ready.clear()
            workers_done = all(self._workers_done.values())
            with self._timer("sync_s"):
                # audio first: its watermark is the window clock; video then fills in
                if self.use_audio:
                    ts, x, _ = self.audio_ring.pop(1 << 16)
                    if len(ts):
                        self.sync.push_audio(ts, x)
                if self.use_video:
                    ts, x, f = self.video_ring.pop(1 << 16)
                    if len(ts):
                        self.sync.push_video(ts, x, f)
                batch = self.sync.pop_batch() if self.sync.pending else None
            if batch is not None:
                self._emit(batch)
            if workers_done and len(self.audio_ring) == 0 and len(self.video_ring) == 0:
                break
        last = max(self.last_audio_t, self.last_video_t)
        if math.isfinite(last) and self.error is None:
            with self._timer("sync_s"):  # end of input: both streams complete, emit the last windows
                self.sync.flush(last_window_end(last, self.settings.hop_s))
                batch = self.sync.pop_batch() if self.sync.pending else None
            if batch is not None:
                self._emit(batch)

    def wait(self, timeout: float | None = None) -> LiveReport | None:
        """Wait for the engine to finish (after the source ended or :meth:`stop`); None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for th in self._threads:
            th.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if th.is_alive():
                return None
        return self.report()

    @property
    def finished(self) -> bool:
        return bool(self._threads) and not any(th.is_alive() for th in self._threads)

    def report(self) -> LiveReport:
        st = sync_stats_dict(self.sync.stats())
        pairs = self.clock_a.fit_pairs if self.use_audio else self.clock_v.fit_pairs
        ppm = None
        pairs = pairs[len(pairs) // 5:]  # skip the start-up burst (probing, buffered data)
        if len(pairs) >= 8 and pairs[-1][0] - pairs[0][0] >= 10.0:
            w, m = np.asarray(pairs).T
            slope = np.polyfit(w - w[0], m - m[0], 1)[0]
            ppm = float((slope - 1.0) * 1e6)
        dropped_windows = int(st.get("windows_overflowed", 0))
        return LiveReport(
            windows_emitted=self.windows_emitted, windows_dropped=dropped_windows,
            video_frames_captured=self.frames_captured, video_frames_dropped=self.frames_dropped,
            audio_seconds_captured=round(self.audio_captured_s, 3), audio_seconds_dropped=round(self.audio_dropped_s, 3),
            latency_p50_s=_percentile(self.latencies, 50), latency_p95_s=_percentile(self.latencies, 95),
            latency_p99_s=_percentile(self.latencies, 99), latency_max_s=max(self.latencies) if self.latencies else None,
            latencies_measured=len(self.latencies),
            av_drift_ppm=None if self.cfg.clock_sync == "none" else float(st.get("drift_ppm") or 0.0),
            media_vs_wall_ppm=ppm, wall_s=time.monotonic() - self._t_start, end_reason=self.end_reason,
            sync=st, timings=self.timings.to_dict(), error=self.error,
        )


# -- sources


SAMPLE_RATE = 16000


class StreamSource:
    """Decodes a URL or file with PyAV (FFmpeg) on its own thread and feeds a :class:`LiveEngine`.

    Audio is resampled to 16 kHz mono and delivered as contiguous chunks (a gap in the audio pts of
    more than 0.1 s is filled with silence, so the audio clock keeps the media clock); frames are
    sampled at ``fps`` (kept when the pts reaches the next instant ``k / fps``). Media time 0 is the
    first timestamp seen in the container. ``realtime``: pace delivery to the media clock (for files).
    ``open_timeout_s`` / ``read_timeout_s``: how long to wait for the stream to start / for more data
    (a read timeout ends the stream cleanly: "no data").
    """

    def __init__(self, url: str, engine: LiveEngine, *, fps: float, realtime: bool = False,
                 open_timeout_s: float = 10.0, read_timeout_s: float = 3.0,
                 options: dict[str, str] | None = None) -> None:
        self.url, self.engine, self.fps, self.realtime = url, engine, fps, realtime
        self.timeouts = (open_timeout_s, read_timeout_s)
        self.options = dict(options or {})
        self.thread = threading.Thread(target=self._run, name="avemotion-capture", daemon=True)
        self.opened = threading.Event()

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        import av

        eng = self.engine
        try:
            container = av.open(self.url, timeout=self.timeouts, options=self.options)
        except Exception as exc:  # noqa: BLE001 - reported to the user as the end reason
            eng.on_end("error", f"cannot open {self.url}: {type(exc).__name__}: {exc}")
            return
        self.opened.set()
        reason, err = "end of stream", None
        try:
            a = container.streams.audio[0] if container.streams.audio and eng.use_audio else None
            v = container.streams.video[0] if container.streams.video and eng.use_video else None
            if eng.use_audio and a is None:
                eng.on_end("error", f"{self.url}: no audio stream (mode {eng.cfg.mode!r} needs one)")
                return
            if eng.use_video and v is None:
                eng.on_end("error", f"{self.url}: no video stream (mode {eng.cfg.mode!r} needs one)")
                return
            streams = [x for x in (a, v) if x is not None]
            if v is not None:
                v.thread_type = "AUTO"
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE) if a is not None else None
            origin: float | None = None
            wall0: float | None = None
            a_start: float | None = None
            a_emitted = 0
            k = 0
            try:
                for packet in container.demux(*streams):
                    if eng.stopping:
                        reason = "stopped"
                        break
                    frame: Any
                    for frame in packet.decode():
                        if frame.pts is None or frame.time is None:
                            continue
                        t_abs = float(frame.time)
                        if origin is None:
                            origin, wall0 = t_abs, time.monotonic()
                        t = t_abs - origin
                        if self.realtime and wall0 is not None:
                            delay = wall0 + t - time.monotonic()
                            if delay > 0 and eng._stop.wait(delay):
                                break
                        wall = time.monotonic()
                        if packet.stream is a and resampler is not None:
                            if a_start is None:
                                a_start = max(t, 0.0)
                            expected = a_start + a_emitted / SAMPLE_RATE
                            if t - expected > 0.1:  # a hole in the stream: keep the audio clock
                                gap = int(round((t - expected) * SAMPLE_RATE))
                                eng.on_audio(expected, np.zeros(gap, np.float32), wall)
                                a_emitted += gap
                            for out in resampler.resample(frame):
                                x = out.to_ndarray().reshape(-1)
                                eng.on_audio(a_start + a_emitted / SAMPLE_RATE, x, wall)
                                a_emitted += x.size
                        elif packet.stream is v:
                            if t + 1e-6 >= k / self.fps:
                                while (k + 1) / self.fps <= t + 1e-6:
                                    k += 1
                                k += 1
                                eng.on_video(t, frame.to_ndarray(format="rgb24"), wall)
            except (av.error.ExitError, TimeoutError) as exc:
                reason = f"no data for {self.timeouts[1]:g} s ({type(exc).__name__})"
            except av.error.EOFError:
                reason = "end of stream"
            except av.error.FFmpegError as exc:
                reason = "stream error"
                err = f"{type(exc).__name__}: {exc}"
        finally:
            container.close()
        if eng.stopping and reason == "end of stream":
            reason = "stopped"
        eng.on_end(reason, err)


class DeviceSource:
    """Camera (OpenCV ``VideoCapture(index)``) and microphone (sounddevice/PortAudio) capture threads.

    The microphone's sample count is the audio clock; camera frames are stamped with the monotonic
    clock since start (AVSync's ``drift`` clock sync maps them onto the audio clock). Frames are
    forwarded at ``fps``. ``sounddevice`` is imported only here; when it is missing and audio is
    needed, :class:`RuntimeError` says how to install it or to use ``--mode video``.
    """

    def __init__(self, engine: LiveEngine, *, camera: int | None, mic: str | int | None, fps: float) -> None:
        self.engine, self.camera, self.mic, self.fps = engine, camera, mic, fps
        self.threads: list[threading.Thread] = []
        self._t0 = time.monotonic()
        self._stream: Any = None
        self._mic_samples = 0
        self._mic_t0: float | None = None

    def start(self) -> None:
        eng = self.engine
        if eng.use_audio:
            try:
                import sounddevice as sd
            except (ImportError, OSError) as exc:
                raise RuntimeError(
                    f"microphone capture needs the sounddevice package and PortAudio ({exc}); "
                    "install them (pip install sounddevice; apt-get install libportaudio2) or use --mode video"
                ) from None

            def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
                wall = time.monotonic()
                if self._mic_t0 is None:
                    self._mic_t0 = wall - self._t0 - frames / SAMPLE_RATE
                t0 = self._mic_t0 + self._mic_samples / SAMPLE_RATE
                self._mic_samples += frames
                eng.on_audio(t0, indata[:, 0].copy(), wall)

            try:
                self._stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                              device=self.mic, blocksize=1600, callback=callback)
                self._stream.start()
            except Exception as exc:  # noqa: BLE001
                raise RuntimeError(f"--mic {self.mic!r}: cannot open the microphone: {exc}") from None
        if eng.use_video:
            import cv2

            cap = cv2.VideoCapture(int(self.camera if self.camera is not None else 0))
            if not cap.isOpened():
                self.close()
                raise RuntimeError(f"--camera {self.camera}: cannot open the camera (see --list-devices)")
            th = threading.Thread(target=self._camera, args=(cap,), name="avemotion-camera", daemon=True)
            self.threads.append(th)
            th.start()

    def _camera(self, cap: Any) -> None:
        import cv2

        eng = self.engine
        next_t = 0.0
        try:
            while not eng.stopping:
                ok, bgr = cap.read()
                wall = time.monotonic()
                if not ok:
                    eng.on_end("camera stopped")
                    return
                t = wall - self._t0
                if t >= next_t:
                    next_t = t + 1.0 / self.fps
                    eng.on_video(t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), wall)
        finally:
            cap.release()
        eng.on_end("stopped")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        if not self.engine.use_video:
            self.engine.on_end("stopped")


def stream_options(url: str) -> dict[str, str]:
    """FFmpeg options for a URL: for ``udp://`` a large receive FIFO that tolerates overruns
    (unless the URL sets its own ``fifo_size``), else none."""
    if url.startswith("udp://") and "fifo_size" not in url:
        return {"fifo_size": "1000000", "overrun_nonfatal": "1"}
    return {}


def analyze_stream(
    url: str,
    predictor: Any,
    *,
    mode: str = "av",
    video_extractor: Any = None,
    settings: PipelineSettings | None = None,
    open_timeout_s: float = 10.0,
    read_timeout_s: float = 5.0,
) -> AnalysisResult:
    """Analyze a stream URL (``http://``, ``udp://``, ...) to its end, offline-style: the live engine
    in blocking mode (nothing dropped, no window forced for lack of the other modality), all rows
    returned at the end. The stream ends at its end or after ``read_timeout_s`` without data.
    Raises :class:`avemotion.features.media.MediaError` when it cannot be opened or lacks a stream
    the mode needs; ``RuntimeError`` when the pipeline fails. ``timings.decode_s`` stays 0 (decoding
    overlaps the other stages on the capture thread)."""
    from avemotion.features.media import MediaError

    s = settings or PipelineSettings.from_bundle(predictor.bundle)
    results: list[WindowResult] = []
    cfg = LiveConfig(mode=check_mode(mode), max_latency_s=30.0, blocking=True, clock_sync="none")
    eng = LiveEngine(predictor, cfg, video_extractor=video_extractor, settings=s,
                     on_result=lambda r, info: results.append(r))
    src = StreamSource(url, eng, fps=s.video_fps, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s,
                       options=stream_options(url))
    eng.start()
    src.start()
    rep = eng.wait()
    assert rep is not None
    if rep.end_reason == "error" and rep.error and (rep.error.startswith("cannot open") or "no audio stream" in rep.error
                                                    or "no video stream" in rep.error):
        raise MediaError(url, "unreadable" if rep.error.startswith("cannot open") else "no_stream", rep.error)
    if rep.error:
        raise RuntimeError(f"{url}: {rep.error}")
    duration = max(eng.audio_captured_s, eng.last_video_t if math.isfinite(eng.last_video_t) else 0.0)
    n_a = int(rep.sync.get("audio", {}).get("accepted", 0))
    n_v = int(rep.sync.get("video", {}).get("accepted", 0))
    return AnalysisResult(results, eng.timings, duration, n_a, n_v, rep.sync)
