"""Offline analysis: a whole file (:func:`analyze_file`) or a stream URL read to its end
(:func:`analyze_stream`) into per-window rows.

::

    media ─► decode (PyAV) ─► audio: 16 kHz mono ─► eGeMAPS steps (openSMILE) ───────────────┐
                           └► video: frames at the bundle's video_fps ─► MTCNN ─► FaceNet ───┤
                                                                                             ▼
                            AVSync (C++): windows of window_s every hop_s on the audio clock
                                                                                             ▼
                            WindowPredictor (the bundle's stats + two-head ONNX model), batched

Modes: ``"av"`` (both modalities), ``"video"`` (audio is not decoded nor extracted; the model sees an
all-masked audio input), ``"audio"`` (no face detection/embedding; all-masked video input). In a
non-``av`` mode the missing modality's rows say ``audio_missing``/``video_missing`` = True.

:func:`analyze_file`: the file is read once (:func:`avemotion.features.media.demux`: the frames
sampled at the bundle's fps are detected and embedded in batches as they are decoded, the audio
track collected in the same pass, bit-identical to :func:`~avemotion.features.media.decode_audio`),
the whole audio track is turned into steps (identical to training-time extraction:
:func:`avemotion.features.audio.extract_audio`), then both step streams are pushed into an
``AVSync`` in hop-sized slices in time order (so the synchronizer never forces a window for lack of
the other stream), windows are popped and predicted in batches. At the end of the media the synchronizer is flushed (``AVSync.flush``, see
:func:`avemotion.pipeline.stages.last_window_end`): every window up to the hop holding the last step
is emitted (the last ones partial, a modality without steps masked as usual, none ``forced``).

A file that decodes only in part (a truncated mp4: the decoder stops early, or a stream ends well
before the container's declared duration) is analysed as far as it goes, and
:attr:`AnalysisResult.coverage` says so (``complete`` False, with the decoder's messages).

:func:`analyze_stream` runs the live engine in blocking mode (nothing dropped) on a
:class:`avemotion.pipeline.live.sources.StreamSource` and returns the rows at the end.
Per-stage wall-clock timings (:class:`StageTimings`) are collected for the real-time-factor breakdown.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from avemotion.pipeline.postprocess import WindowResult
from avemotion.pipeline.settings import (
    PipelineSettings,
    StageTimer,
    StageTimings,
    check_mode,
    uses_audio,
    uses_video,
)
from avemotion.pipeline.stages import (
    WindowPredictor,
    check_embedder,
    last_window_end,
    make_sync,
    sync_stats_dict,
)

__all__ = ["AnalysisResult", "MediaCoverage", "analyze_file", "analyze_stream"]

#: A decoded stream may end this much (seconds, plus one sampling period for video) before the
#: container's declared duration and still count as complete.
COVERAGE_SLACK_S = 0.5

Progress = Callable[[str, float, float], None]


@dataclass
class MediaCoverage:
    """How much of the media the analysis saw (seconds). ``declared_s``: the container's duration
    (None when unknown, e.g. a stream); ``audio_s``/``video_s``: where the decoded audio ends and the
    time of the last sampled frame (None when that modality was not decoded); ``warnings``: what the
    decoders reported (e.g. "audio decoding stopped early: ..."); ``complete``: no warning and every
    decoded stream reaches the declared duration (within :data:`COVERAGE_SLACK_S`)."""

    declared_s: float | None = None
    audio_s: float | None = None
    video_s: float | None = None
    warnings: list[str] = field(default_factory=list)
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class AnalysisResult:
    """What :func:`analyze_file` produced: rows, timings, media duration (s), step counts,
    synchronizer stats and how much of the media was decoded."""

    results: list[WindowResult]
    timings: StageTimings
    media_duration_s: float
    n_audio_steps: int
    n_video_steps: int
    sync_stats: dict[str, Any] = field(default_factory=dict)
    coverage: MediaCoverage = field(default_factory=MediaCoverage)

    @property
    def real_time_factor(self) -> float:
        """Processing seconds per media second (< 1: faster than real time)."""
        return self.timings.total_s / self.media_duration_s if self.media_duration_s > 0 else math.nan


@dataclass
class _Steps:
    """One modality's steps: times (N,) s, steps (N, D) float32, mask (N,) bool (True = real data)."""

    times: np.ndarray
    x: np.ndarray
    mask: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> _Steps:
        return cls(np.zeros(0, np.float64), np.zeros((0, dim), np.float32), np.zeros(0, bool))


def analyze_file(
    path: str | os.PathLike[str],
    predictor: Any,
    *,
    mode: str = "av",
    video_extractor: Any = None,
    settings: PipelineSettings | None = None,
    progress: Progress | None = None,
    batch_windows: int = 64,
) -> AnalysisResult:
    """Analyze one media file (see the module docstring). ``progress(stage, done_s, total_s)`` is
    called as media time is processed. Raises :class:`avemotion.features.media.MediaError`
    (unreadable file, no audio stream in ``av``/``audio`` mode, no video stream in ``av``/``video``
    mode) and the video extractor's errors."""
    mode = check_mode(mode)
    s = settings or PipelineSettings.from_bundle(predictor.bundle)
    timer = StageTimer()
    with _DecoderWarnings() as warnings:
        with timer("decode_s"):
            dmx = _open(path, s, mode)
        with dmx:
            _check_streams(path, dmx.info, mode, video_extractor)
            check_embedder(predictor, video_extractor, mode)
            cov = MediaCoverage(declared_s=float(dmx.info.duration) if dmx.info.duration else None)
            total = cov.declared_s or 0.0
            audio, video = _Steps.empty(s.audio_dim), _Steps.empty(s.video_dim)
            if uses_video(mode):  # frames first: the audio is collected during the same pass
                video = _video_steps(dmx, video_extractor, timer, progress, total)
                cov.video_s = float(video.times[-1]) if video.times.size else 0.0
            if uses_audio(mode):
                audio, cov.audio_s = _audio_steps(dmx, s, timer)
                total = max(total, cov.audio_s)
                if progress:
                    progress("audio", total, total)
    cov.warnings = warnings
    cov.complete = _is_complete(cov, s.video_fps)
    wp = WindowPredictor(predictor, s, mode)
    results, stats = _predict_windows(audio, video, wp, s, timer, batch_windows)
    return AnalysisResult(results, timer.timings, total, int(audio.times.size), int(video.times.size), stats, cov)


def _open(path: str | os.PathLike[str], s: PipelineSettings, mode: str) -> Any:
    """One :class:`avemotion.features.media.Demux` pass over the streams ``mode`` needs (the
    container is opened once: no separate probe, one read for audio and frames)."""
    from avemotion.features.media import MediaError, demux

    try:
        return demux(path, fps=s.video_fps, audio=uses_audio(mode), video=uses_video(mode))
    except MediaError as exc:
        hint = {"no_audio": ("audio", "video"), "no_video": ("video", "audio")}.get(exc.kind)
        if hint is None:
            raise
        raise MediaError(path, exc.kind,
                         f"no {hint[0]} stream (mode {mode!r} needs one; use --mode {hint[1]})") from None


def _check_streams(path: str | os.PathLike[str], info: Any, mode: str, video_extractor: Any) -> None:
    from avemotion.features.media import MediaError

    if uses_audio(mode) and not info.has_audio:
        raise MediaError(path, "no_audio", f"no audio stream (mode {mode!r} needs one; use --mode video)")
    if uses_video(mode) and not info.has_video:
        raise MediaError(path, "no_video", f"no video stream (mode {mode!r} needs one; use --mode audio)")
    if uses_video(mode) and video_extractor is None:
        raise ValueError("video_extractor: required in mode 'av' and 'video' (see get_video_extractor)")


def _audio_steps(dmx: Any, s: PipelineSettings, timer: StageTimer) -> tuple[_Steps, float]:
    """The whole audio track's steps and its decoded duration (s)."""
    from avemotion.features.audio import extract_audio

    with timer("decode_s"):
        audio = dmx.audio  # complete after the frames; in audio mode this is the whole pass
    with timer("audio_features_s"):
        feats = extract_audio(audio.samples, window_s=s.audio_window_s, hop_s=s.audio_hop_s, mode=s.audio_mode)
    return _Steps(feats.times, feats.steps, np.ones(feats.times.size, bool)), float(audio.duration)


def _video_steps(dmx: Any, ex: Any, timer: StageTimer, progress: Progress | None, total: float) -> _Steps:
    """Frames sampled at the bundle's fps, faces detected and embedded in the extractor's batches."""
    mark = timer.extractor_mark(ex)
    frames = timer.iterate(dmx, "decode_s")
    if progress:
        frames = _report(frames, progress, total)
    vf = ex.extract(frames)
    timer.extractor_delta(ex, mark)
    return _Steps(vf.times, vf.steps, vf.mask)


def _predict_windows(a: _Steps, v: _Steps, wp: WindowPredictor, s: PipelineSettings, timer: StageTimer,
                     batch_windows: int) -> tuple[list[WindowResult], dict[str, Any]]:
    """Both step streams into one AVSync in hop-sized slices, in time order; windows predicted in
    batches of ``batch_windows``; flushed at the end of the media."""
    last_t = max(a.times[-1] if a.times.size else -math.inf, v.times[-1] if v.times.size else -math.inf)
    if not math.isfinite(last_t):
        return [], {}
    sync = make_sync(s, max_latency_s=max(1.0, 2 * s.hop_s), clock_sync="none",
                     max_pending_windows=max(64, 2 * batch_windows))
    results: list[WindowResult] = []

    def drain(final: bool = False) -> None:
        while sync.pending >= (1 if final else batch_windows):
            with timer("sync_s"):
                batch = sync.pop_batch(batch_windows)
            with timer("model_s"):
                results.extend(wp(batch))

    t0 = min(a.times[0] if a.times.size else math.inf, v.times[0] if v.times.size else math.inf)
    ai = vi = 0
    for edge in np.arange(math.floor(t0 / s.hop_s), math.ceil(last_t / s.hop_s) + 1) * s.hop_s:
        with timer("sync_s"):
            aj = int(np.searchsorted(a.times, edge, side="right"))
            vj = int(np.searchsorted(v.times, edge, side="right"))
            if aj > ai:
                sync.push_audio(a.times[ai:aj], a.x[ai:aj])
            if vj > vi:
                sync.push_video(v.times[vi:vj], v.x[vi:vj], v.mask[vi:vj])
            ai, vi = aj, vj
        drain()
    with timer("sync_s"):
        sync.flush(last_window_end(last_t, s.hop_s))  # end of media: both streams complete
    drain(final=True)
    return results, sync_stats_dict(sync.stats())


def _report(frames: Iterable[tuple[float, np.ndarray]], progress: Progress,
            total: float) -> Iterator[tuple[float, np.ndarray]]:
    for t, rgb in frames:
        progress("video", t, total)
        yield t, rgb
    progress("video", total, total)


def _is_complete(cov: MediaCoverage, video_fps: float) -> bool:
    if cov.warnings:
        return False
    if cov.declared_s is None:
        return True
    short_audio = cov.audio_s is not None and cov.audio_s < cov.declared_s - COVERAGE_SLACK_S
    short_video = cov.video_s is not None and cov.video_s < cov.declared_s - COVERAGE_SLACK_S - 1.0 / video_fps
    return not (short_audio or short_video)


class _DecoderWarnings(logging.Handler):
    """Collects the warnings :mod:`avemotion.features.media` logs on this thread (decoding stopped
    early, ...) while the ``with`` block runs; they are still logged as usual."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self._thread = threading.get_ident()
        self._logger = logging.getLogger("avemotion.features.media")

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self.messages.append(record.getMessage())

    def __enter__(self) -> list[str]:
        self._logger.addHandler(self)
        return self.messages

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)


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
    returned at the end. The stream must start within ``open_timeout_s`` and ends at its end or after
    ``read_timeout_s`` without data.

    Raises :class:`avemotion.pipeline.live.sources.SourceOpenError` (a ``RuntimeError``) when it
    cannot be opened, :class:`avemotion.features.media.MediaError` when it lacks a stream the mode
    needs, ``RuntimeError`` when reading or the pipeline fails. ``timings.decode_s`` stays 0
    (decoding overlaps the other stages on the capture thread)."""
    from avemotion.features.media import MediaError
    from avemotion.pipeline.live.engine import LiveConfig, LiveEngine
    from avemotion.pipeline.live.sources import SourceOpenError, StreamSource, stream_options

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
    if isinstance(eng.failure, (MediaError, SourceOpenError)):
        raise eng.failure
    if rep.error:
        raise RuntimeError(f"{url}: {rep.error}") from eng.failure
    video_s = eng.last_video_t if math.isfinite(eng.last_video_t) else None
    cov = MediaCoverage(audio_s=eng.audio_captured_s if eng.use_audio else None, video_s=video_s)
    n_a = int(rep.sync.get("audio", {}).get("accepted", 0))
    n_v = int(rep.sync.get("video", {}).get("accepted", 0))
    return AnalysisResult(results, eng.timings, max(eng.audio_captured_s, video_s or 0.0), n_a, n_v, rep.sync, cov)
