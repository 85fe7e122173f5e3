"""The stages offline and live analysis share, each behind a small interface so one can be swapped
(a face tracker instead of per-frame detection, another audio front end, a batched model server):

==================  =====================================  ==============================================
stage               interface                              default
==================  =====================================  ==============================================
audio steps (live)  :class:`AudioStepper` from an          :func:`default_audio_stepper`: one persistent
                    :data:`AudioStepperFactory`            openSMILE instance (``AudioStreamExtractor``)
video steps         :class:`FrameEmbedder` (``process``)   :func:`get_video_extractor`: MTCNN (tracked
                                                           between keyframes) + FaceNet, cached per process
synchronizer        ``AVSync`` (C++)                       :func:`make_sync` from the settings
model               :class:`WindowPredictor` over any      ``avemotion.load_model(...)``
                    object with ``predict`` and ``bundle``
==================  =====================================  ==============================================

The process-global video extractor cache lives here and only here (:func:`get_video_extractor`):
MTCNN + FaceNet take seconds to build, so ``analyze`` over many inputs and ``live`` reuse one.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np

from avemotion.pipeline.postprocess import WindowResult
from avemotion.pipeline.settings import (
    PipelineSettings,
    check_mode,
    fed_modalities,
    modality_notice,
)

log = logging.getLogger(__name__)

__all__ = ["STAGE_THREADS", "AudioStepper", "AudioStepperFactory", "FrameEmbedder", "WindowPredictor",
           "clear_video_extractors", "default_audio_stepper", "get_video_extractor", "last_window_end",
           "limit_torch_threads", "make_sync", "sync_stats_dict"]


class AudioStepper(Protocol):
    """Incremental audio steps: ``push(samples)`` -> ``(times (k,), steps (k, audio_dim))`` for every
    window the new 16 kHz mono samples complete (times: window end on the media clock)."""

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


#: ``factory(settings, t0)``: a new :class:`AudioStepper` whose first sample is at media time ``t0``.
AudioStepperFactory = Callable[[PipelineSettings, float], AudioStepper]


class FrameEmbedder(Protocol):
    """Frames in, video steps out (:class:`avemotion.features.video.VideoExtractor`'s interface).
    ``process(frames)`` (live: one batch from the frame queue) -> ``(steps (N, video_dim),
    face_present (N,) bool, probs (N,))``; ``extract(pairs)`` (offline: an iterator of ``(t, rgb)``,
    batched inside) -> an object with ``times``, ``steps``, ``mask``; ``timings`` holds cumulative
    ``detect_s``/``embed_s`` seconds (optional)."""

    def process(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def extract(self, frames: Iterable[tuple[float, np.ndarray]]) -> Any: ...


def default_audio_stepper(settings: PipelineSettings, t0: float) -> AudioStepper:
    """The streaming eGeMAPS extractor (one persistent openSMILE instance) for the settings."""
    from avemotion.features.audio import AudioStreamExtractor

    return AudioStreamExtractor(settings.audio_window_s, settings.audio_hop_s, t0=t0, mode=settings.audio_mode)


# --------------------------------------------------------------------------------------------------
# The video extractor cache (one per process, per configuration)

#: Intra-op threads per stage (torch, ONNX Runtime) the pipeline asks for; see get_video_extractor.
STAGE_THREADS = 1

_EXTRACTORS: dict[tuple[Any, ...], Any] = {}
_EXTRACTORS_LOCK = threading.Lock()


def get_video_extractor(
    *,
    weights: str | os.PathLike[str] | None = None,
    random_weights: bool = False,
    onnx: str | os.PathLike[str] | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    redetect_every: int | None = None,
    threads: int | None = STAGE_THREADS,
    int8: bool | None = None,
) -> Any:
    """A :class:`avemotion.features.video.VideoExtractor` (MTCNN + FaceNet), cached per process.

    Faces: ``redetect_every`` (default :data:`avemotion.features.face_track.DEFAULT_REDETECT_EVERY`,
    5 frames = 1 s at 5 fps) > 1 tracks the face between full MTCNN detections
    (:class:`avemotion.features.face_track.TrackingFaceDetector`: same faces found, ~2.5x less
    detection time on a talking face); 1 detects on every frame. A tracking extractor holds one
    stream's state: use it for one stream at a time (``analyze`` files in turn, one ``live`` engine);
    ``extract()`` and the live engine reset it at the start of a stream.

    Threads: ``threads`` (default :data:`STAGE_THREADS` = 1) intra-op threads for FaceNet in ONNX
    Runtime and for torch (MTCNN; ``torch.set_num_threads`` is lowered to it, process-wide, once):
    on 2 shared cores a second intra-op thread made MTCNN 3x and FaceNet 1.5-2x slower (spinning
    threads fighting each other and the other stages); the live engine's audio, video and model
    threads overlap instead. ``None`` leaves torch's and ONNX Runtime's defaults.

    ``device``: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` for MTCNN and torch
    FaceNet (see :func:`avemotion.features.video.resolve_device`: ``"cuda"`` without CUDA falls back
    to the CPU with a warning, or raises ``RuntimeError`` with ``AVEMOTION_STRICT=1``); with
    ``onnx`` it picks ONNX Runtime's provider (``"cuda"``/``"auto"`` use CUDA when onnxruntime-gpu
    offers it). A bad value is a ``ValueError``.

    The embedder is :func:`avemotion.features.video.make_embedder`'s: ``onnx`` (a FaceNet ONNX file,
    ``avemotion weights --export-onnx``) in ONNX Runtime; else ``weights`` (e.g. VGGFace2) in torch;
    ``random_weights=True``: random FaceNet weights (demo/tests only: embeddings are meaningless); else
    the converted CASIA-WebFace weights (``avemotion weights``; ONNX Runtime on the CPU). ``int8``
    (:func:`avemotion.features.facenet_weights.int8_onnx`): for those weights on the CPU, ``None``
    (default) runs their INT8 quantization when the cache has it (2.3-2.8x faster FaceNet, cosine
    >= 0.996 with fp32 on held-out faces), ``False`` the fp32 model, ``True`` requires INT8. Raises
    :class:`avemotion.features.video.FaceNetWeightsMissing` (a ``FileNotFoundError``) with the
    message that says how to obtain the weights.
    """
    from avemotion.features.face_track import DEFAULT_REDETECT_EVERY, TrackingFaceDetector
    from avemotion.features.video import FaceDetector, VideoExtractor, check_device, make_embedder

    device = check_device(device)
    if int8 is not False and onnx is None:
        from avemotion.features.facenet_weights import int8_onnx
        from avemotion.features.video import WEIGHTS_ENV, resolve_device

        default = not (weights or random_weights or os.environ.get(WEIGHTS_ENV))
        onnx = int8_onnx(int8, default_on_cpu=default and resolve_device(device).type == "cpu")
    elif int8:
        raise ValueError("int8: the INT8 model replaces the converted default weights, not an --facenet-onnx file")
    n = DEFAULT_REDETECT_EVERY if redetect_every is None else redetect_every
    if int(n) != n or n < 1:
        raise ValueError(f"redetect_every: expected an integer >= 1 (frames), got {redetect_every!r}")
    key = (str(weights) if weights else None, bool(random_weights), str(onnx) if onnx else None, batch_size,
           device, int(n), threads)
    with _EXTRACTORS_LOCK:
        ex = _EXTRACTORS.get(key)
        if ex is not None:
            return ex
        if onnx is not None and not Path(onnx).is_file():
            from avemotion.features.video import FaceNetWeightsMissing

            raise FaceNetWeightsMissing(f"--facenet-onnx: FaceNet ONNX model not found: {onnx}")
        limit_torch_threads(threads)
        embedder = make_embedder(weights=weights, random_weights=random_weights, onnx=onnx, device=device,
                                 threads=threads)
        detector = FaceDetector(device=device)
        ex = VideoExtractor(embedder, TrackingFaceDetector(detector, redetect_every=int(n)) if n > 1 else detector,
                            batch_size=batch_size)
        _EXTRACTORS[key] = ex
        return ex


def limit_torch_threads(threads: int | None) -> None:
    """Lower torch's intra-op threads (process-wide) to ``threads``; None: leave them."""
    if threads is None:
        return
    if int(threads) != threads or threads < 1:
        raise ValueError(f"threads: expected an integer >= 1 or None, got {threads!r}")
    import torch

    if torch.get_num_threads() > threads:
        log.info("torch intra-op threads %d -> %d (pipeline thread budget)", torch.get_num_threads(), threads)
        torch.set_num_threads(int(threads))


def check_embedder(predictor: Any, video_extractor: Any, mode: str) -> None:
    """BundleError when the bundle's recorded face embedder is not the extractor's (see
    :func:`avemotion.bundle.check_embedder`); nothing for predictors without a bundle (test doubles)."""
    from avemotion.bundle import Bundle
    from avemotion.bundle import check_embedder as _check

    bundle = getattr(predictor, "bundle", None)
    if isinstance(bundle, Bundle) and video_extractor is not None:
        _check(bundle, getattr(video_extractor, "embedder", None), mode=mode)


def clear_video_extractors() -> None:
    """Forget every cached video extractor (frees their models once no caller holds them)."""
    with _EXTRACTORS_LOCK:
        _EXTRACTORS.clear()


# --------------------------------------------------------------------------------------------------
# Synchronizer


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
    """An AVSync ``stats()`` result as a plain JSON-ready dict: a dataclass, a namespace, a dict, or a
    bound C++ class with fields (its public non-callable attributes); non-finite floats become None."""
    return _plain(stats)  # type: ignore[no-any-return]


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if is_dataclass(v) and not isinstance(v, type):
        return {k: _plain(x) for k, x in asdict(v).items()}
    if isinstance(v, SimpleNamespace):
        return {k: _plain(x) for k, x in vars(v).items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return {k: _plain(getattr(v, k)) for k in dir(v) if not k.startswith("_") and not callable(getattr(v, k))}


def last_window_end(last_t: float, hop_s: float) -> float:
    """Where a finished input's windows stop: the end of the hop holding the last step ``last_t``
    (``k * hop_s``, the first window end at or after it; a ``last_t`` within 1e-9 hop of a window end
    counts as on it). The value to pass to ``AVSync.flush`` at the end of the input."""
    return math.ceil(last_t / hop_s - 1e-9) * hop_s


# --------------------------------------------------------------------------------------------------
# Model


class WindowPredictor:
    """Batched prediction of synchronizer windows into :class:`WindowResult` rows.

    ``predictor``: anything with ``predict([audio, video], masks=[audio_mask, video_mask])`` ->
    ``(emotion (N, labels), laughter (N,) or (N, 1))`` (an :class:`avemotion.inference.Predictor`).
    In mode ``video`` the audio input is fully masked, in mode ``audio`` the video input.
    Windows ending at or before ``t_min`` (the media start) are skipped; starts are clamped to it.

    Trained modalities (issue 14): the model is fed only what it learned from
    (:func:`~avemotion.pipeline.settings.fed_modalities` of the mode and
    ``settings.trained_modalities``, from ``bundle.json``). A modality the mode extracts but the model
    was not trained on (video for an audio-only bundle in ``av`` mode) reaches it as the model's
    "no face" input: zero steps, mask 0. The rows still report it (``face_present_share``,
    ``video_missing`` say what the face stage found); the notice is logged once, when the predictor
    is built (once per ``analyze_file`` / live engine). ``fed``: the modalities fed, in order.
    Online speaker adaptation (``settings.adapts``; one WindowPredictor per stream): an
    :class:`avemotion.adaptation.OnlineNormalizer` started from the bundle's audio statistics takes
    each window's audio steps it has not seen yet (by timestamp, speech-masked), in time order, and the
    window is normalized with the statistics at that point (its own steps included, as ``avemotion
    evaluate`` measures it: causal). The Predictor normalizes with the bundle's statistics, so the
    window's steps are mapped affinely into the bundle's units first (``x' = (x - m) / s * s_b + m_b``,
    exact up to float rounding).
    """

    def __init__(self, predictor: Any, settings: PipelineSettings, mode: str = "av", *, t_min: float = 0.0) -> None:
        self.predictor = predictor
        self.t_min = t_min
        self.settings = settings
        self.mode = check_mode(mode)
        self.fed = fed_modalities(self.mode, settings.trained_modalities)
        self.notice = modality_notice(self.mode, settings.trained_modalities)
        if self.notice:
            log.info("mode %s: %s", self.mode, self.notice)
        self.adapter: Any = None
        self._seen_t = -math.inf
        if settings.adapts and "audio" in self.fed:
            from avemotion.adaptation import OnlineNormalizer

            self.adapter = OnlineNormalizer.from_bundle(predictor.bundle, prior_weight=settings.adaptation_prior_weight)

    def _adapt(self, batch: Any, a_mask: np.ndarray) -> np.ndarray:
        """The batch's audio in the bundle's units after per-window online adaptation (see above)."""
        ad = self.adapter
        audio = np.array(batch.audio, np.float32, copy=True)
        times = np.asarray(batch.audio_times, np.float64)
        pm, ps = ad.prior_mean.astype(np.float32), np.maximum(ad.prior_std, ad.eps).astype(np.float32)
        for i in range(audio.shape[0]):
            new = a_mask[i] & (times[i] > self._seen_t)
            if new.any():
                ad.update(audio[i], new)
                self._seen_t = float(times[i][new].max())
            m, s = ad.stats()
            audio[i] = (audio[i] - m) / np.maximum(s, ad.eps) * ps + pm
        return audio

    def __call__(self, batch: Any) -> list[WindowResult]:
        n = int(np.shape(batch.start)[0])
        if n == 0:
            return []
        audio, video = batch.audio, batch.video
        a_mask = np.asarray(batch.audio_mask, bool)
        v_mask = np.asarray(batch.video_mask, bool)
        if "audio" not in self.fed:
            a_mask, audio = np.zeros_like(a_mask), np.zeros_like(audio)
        if "video" not in self.fed:
            v_mask, video = np.zeros_like(v_mask), np.zeros_like(video)
        if self.adapter is not None:  # only built when audio is fed
            audio = self._adapt(batch, a_mask)
        emo, laugh = self.predictor.predict([audio, video], masks=[a_mask, v_mask])
        emo = np.asarray(emo, np.float64).reshape(n, -1)
        laugh = np.asarray(laugh, np.float64).reshape(n)
        # No input, no laughter: a window holding no step of any modality the model is fed (an
        # audio-only bundle's first 0.5 s in av mode, before the first 1 s audio window ends) gets
        # the model's answer to nothing, its laughter prior (~0.4 for the default bundle), which
        # would start an event at a low calibrated threshold. Its laughter probability is 0.
        laugh[~(a_mask.any(axis=-1) | v_mask.any(axis=-1))] = 0.0
        return [self._row(batch, i, emo[i], float(laugh[i])) for i in range(n) if float(batch.end[i]) > self.t_min]

    def _row(self, batch: Any, i: int, emo: np.ndarray, laugh: float) -> WindowResult:
        labels = self.settings.labels
        has_v = self.mode != "audio" and int(batch.n_video[i]) > 0
        return WindowResult(
            start=max(float(batch.start[i]), self.t_min), end=float(batch.end[i]),
            emotion=labels[int(np.argmax(emo))],
            probabilities={lab: float(emo[j]) for j, lab in enumerate(labels)},
            laugh_prob=laugh, laughing=laugh >= self.settings.laughter_threshold,
            face_present_share=float(1.0 - float(batch.face_missing_share[i])) if has_v else 0.0,
            audio_missing=self.mode == "video" or int(batch.n_audio[i]) == 0,
            video_missing=not has_v,
        )
