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
non-``av`` mode the missing modality's rows say ``audio_missing``/``video_missing`` = True. The
model is fed only the modalities its bundle was trained on (``training.modalities``; see
:class:`~avemotion.pipeline.stages.WindowPredictor`): with an audio-only bundle, ``av`` mode still
detects and embeds faces and reports face presence, but the model gets no video.

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

Layout: the steps of each modality and the window prediction live in ``_offline_steps`` (the parts
never import this module).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from avemotion.pipeline._offline_steps import (
    Progress,
    _audio_steps,
    _AudioFeeder,
    _predict_windows,
    _Steps,
    _video_steps,
)
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
)

__all__ = ["AnalysisResult", "MediaCoverage", "analyze_file", "analyze_stream"]

#: A decoded stream may end this much (seconds, plus one sampling period for video) before the
#: container's declared duration and still count as complete.
COVERAGE_SLACK_S = 0.5



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
    #: wall seconds of the whole analysis (None: not measured; stages may overlap, so this is less
    #: than ``timings.total_s``)
    wall_s: float | None = None

    @property
    def real_time_factor(self) -> float:
        """Processing seconds per media second (< 1: faster than real time): ``wall_s`` when
        measured, else the stages' summed seconds."""
        spent = self.wall_s if self.wall_s is not None else self.timings.total_s
        return spent / self.media_duration_s if self.media_duration_s > 0 else math.nan


def analyze_file(
    path: str | os.PathLike[str],
    predictor: Any,
    *,
    mode: str = "av",
    video_extractor: Any = None,
    settings: PipelineSettings | None = None,
    progress: Progress | None = None,
    batch_windows: int = 64,
    overlap: bool = True,
) -> AnalysisResult:
    """Analyze one media file (see the module docstring). ``progress(stage, done_s, total_s)`` is
    called as media time is processed. Raises :class:`avemotion.features.media.MediaError`
    (unreadable file, no audio stream in ``av``/``audio`` mode, no video stream in ``av``/``video``
    mode) and the video extractor's errors.

    ``overlap`` (default True; issue 17): in ``av`` mode the stages run at once on three threads:
    the calling thread decodes and detects faces, the audio is handed over as it is decoded to an
    audio thread (the streaming extractor, :class:`avemotion.features.audio.AudioStreamExtractor`:
    the same steps as the batch extractor, tested), and FaceNet runs one batch behind the detector
    (``VideoExtractor.extract(overlap=True)``). The results are identical either way; False runs
    the stages one after the other (frames, then the audio track)."""
    import time

    t_start = time.perf_counter()
    mode = check_mode(mode)
    s = settings or PipelineSettings.from_bundle(predictor.bundle)
    wp = WindowPredictor(predictor, s, mode)  # first: a mode the model cannot take fails before any work
    timer = StageTimer()
    threaded_audio = overlap and mode == "av"
    feeder = _AudioFeeder(s, timer) if threaded_audio else None
    with _DecoderWarnings() as warnings:
        with timer("decode_s"):
            dmx = _open(path, s, mode, on_audio=feeder.put if feeder is not None else None)
        with dmx:
            _check_streams(path, dmx.info, mode, video_extractor)
            check_embedder(predictor, video_extractor, mode)
            cov = MediaCoverage(declared_s=float(dmx.info.duration) if dmx.info.duration else None)
            total = cov.declared_s or 0.0
            audio, video = _Steps.empty(s.audio_dim), _Steps.empty(s.video_dim)
            if feeder is not None:
                feeder.start()
            try:
                if uses_video(mode):  # frames first: the audio is collected during the same pass
                    video = _video_steps(dmx, video_extractor, timer, progress, total, overlap)
                    cov.video_s = float(video.times[-1]) if video.times.size else 0.0
                if feeder is not None:
                    with timer("decode_s"):
                        cov.audio_s = dmx.audio_seconds  # the pass is over: the audio is all handed over
                    audio = feeder.finish()
                elif uses_audio(mode):
                    audio, cov.audio_s = _audio_steps(dmx, s, timer)
            finally:
                if feeder is not None:
                    feeder.stop()
            if uses_audio(mode):
                assert cov.audio_s is not None
                total = max(total, cov.audio_s)
                if progress:
                    progress("audio", total, total)
    cov.warnings = warnings
    cov.complete = _is_complete(cov, s.video_fps)
    results, stats = _predict_windows(audio, video, wp, s, timer, batch_windows)
    return AnalysisResult(results, timer.timings, total, int(audio.times.size), int(video.times.size), stats, cov,
                          wall_s=time.perf_counter() - t_start)


def _open(path: str | os.PathLike[str], s: PipelineSettings, mode: str, on_audio: Any = None) -> Any:
    """One :class:`avemotion.features.media.Demux` pass over the streams ``mode`` needs (the
    container is opened once: no separate probe, one read for audio and frames)."""
    from avemotion.features.media import MediaError, demux

    try:
        return demux(path, fps=s.video_fps, audio=uses_audio(mode), video=uses_video(mode), on_audio=on_audio)
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
