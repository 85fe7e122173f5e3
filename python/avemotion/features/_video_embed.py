"""FaceNet embedders (part of :mod:`avemotion.features.video`; import from there).

:class:`TorchEmbedder` (torch eager) and :class:`OnnxEmbedder` (ONNX Runtime) give the same 512-d
embeddings of standardised 160x160 faces (within 1e-5); :func:`make_embedder` picks one for the
``analyze``/``live`` choices; :func:`session_options` is FaceNet's ONNX Runtime setup.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from avemotion._contract import VIDEO_DIM, strict_from_env
from avemotion.features import facenet_weights as FW
from avemotion.features._video_device import check_device, resolve_device
from avemotion.features._video_weights import WEIGHTS_ENV, find_facenet_weights, load_facenet
from avemotion.features.facenet_weights import (
    EmbedderIdentity,
    FaceNetWeightsInvalid,
    FaceNetWeightsMissing,
)

logger = logging.getLogger("avemotion.features.video")  # the front module's name: one logger for video features

#: Side of the square, standardised face crop FaceNet takes (px).
FACE_SIZE = 160


class Embedder(Protocol):
    def __call__(self, faces: np.ndarray) -> np.ndarray: ...


class TorchEmbedder:
    """FaceNet in torch eager: ``faces`` float32 (N, 3, 160, 160) standardised -> (N, 512) float32.

    ``device``: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``, ``"auto"`` (see :func:`resolve_device`;
    ``self.device`` is the resolved ``torch.device``). A ``net`` given is moved there with
    ``net.to(device)`` (in place for a torch module). Faces are copied to the device per call and the
    embeddings come back as CPU float32 numpy.
    """

    def __init__(
        self,
        net: Any = None,
        *,
        weights: str | os.PathLike[str] | None = None,
        allow_random_weights: bool = False,
        device: Any = "cpu",
    ) -> None:
        self.device = resolve_device(device)
        if net is not None:
            self.net = net.to(self.device) if self.device.type != "cpu" else net
        else:
            self.net = load_facenet(
                weights, allow_random_weights=allow_random_weights, device=self.device
            )
        #: where the weights came from: a file path or ``"random"``
        self.weights_source: str = str(getattr(self.net, "avemotion_weights", "unknown"))
        self._identity: EmbedderIdentity | None = getattr(self.net, "avemotion_identity", None)

    @property
    def identity(self) -> EmbedderIdentity:
        """Which weights embed (:class:`EmbedderIdentity`); for a ``net`` made elsewhere, computed
        once from its state dict (name ``facenet-custom``)."""
        if self._identity is None:
            self._identity = EmbedderIdentity("facenet-custom", FW.weights_digest(self.net.state_dict()))
        return self._identity

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        import torch

        x = _check_faces(faces)
        if x.shape[0] == 0:
            return np.zeros((0, VIDEO_DIM), np.float32)
        with torch.inference_mode():
            if self.device.type == "cpu":
                return self.net(torch.from_numpy(x)).numpy().astype(np.float32, copy=False)
            y = self.net(torch.from_numpy(x).to(self.device, non_blocking=False))
            return y.float().cpu().numpy()


class OnnxEmbedder:
    """FaceNet through ONNX Runtime: same I/O as :class:`TorchEmbedder`.

    ``providers``: ``None`` (CUDA when onnxruntime-gpu offers it, else the CPU: the historical
    default), ``"cpu"``, ``"cuda"`` (also ``"cuda:N"``: the index is ignored, ORT uses device 0) or
    ``"auto"`` decided by :func:`avemotion.inference.select_provider` (``"cuda"`` without the CUDA
    provider: the CPU with a warning, ``RuntimeError`` in strict mode), or a list of ORT provider
    names passed through as is. ``self.provider`` is the provider the session runs on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        providers: str | Sequence[str] | None = None,
        strict: bool | None = None,
        identity: EmbedderIdentity | None = None,
    ) -> None:
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(
                f"FaceNet ONNX model not found: {p} (make one with `avemotion weights --export-onnx PATH`)"
            )
        opts = session_options(threads)
        avail = ort.get_available_providers()
        if isinstance(providers, str):
            from avemotion.inference import select_provider

            req = check_device(providers, name="providers")
            kind, warn = select_provider(
                "cuda" if req.startswith("cuda") else req,
                avail,
                strict=strict_from_env() if strict is None else strict,
            )
            if warn:
                logger.warning("FaceNet ONNX: %s", warn)
            chosen = (
                ["CUDAExecutionProvider", "CPUExecutionProvider"]
                if kind == "cuda"
                else ["CPUExecutionProvider"]
            )
        elif providers:
            chosen = list(providers)
        else:
            chosen = [x for x in ("CUDAExecutionProvider", "CPUExecutionProvider") if x in avail]
        self.session = ort.InferenceSession(str(p), opts, providers=chosen)
        self.input_name = self.session.get_inputs()[0].name
        self.weights_source = str(p)
        #: which weights embed: from the model's avemotion metadata (see
        #: :func:`avemotion.features.facenet_weights.export_facenet_onnx`), else the file's sha256
        self.identity: EmbedderIdentity = identity if identity is not None else FW.onnx_identity(p)
        self.provider: str = self.session.get_providers()[0]
        logger.info("FaceNet ONNX on %s", self.provider)

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        x = _check_faces(faces)
        if x.shape[0] == 0:
            return np.zeros((0, VIDEO_DIM), np.float32)
        return self.session.run(None, {self.input_name: x})[0].astype(np.float32, copy=False)


def session_options(threads: int | None = None) -> Any:
    """ONNX Runtime session options for FaceNet: ``threads`` intra-op threads (None/0: ORT's default,
    one per core), one inter-op thread, and with more than one intra-op thread no spin-waiting
    (``session.intra_op.allow_spinning`` 0). Measured on 2 shared cores (CASIA FaceNet, one face):
    1 thread 49 ms CPU; 2 spinning threads 90 ms CPU (the pool spins between calls while the other
    stages want the core); 2 without spinning 51 ms CPU, and faster in wall time when a core is free.
    ORT's full graph optimization (its default) stays: "basic" was 1.3x slower."""
    import onnxruntime as ort

    if threads is not None and (isinstance(threads, bool) or int(threads) != threads or threads < 0):
        raise ValueError(f"threads: expected an integer >= 0 or None, got {threads!r}")
    opts = ort.SessionOptions()
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    if threads != 1:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def make_embedder(
    *,
    weights: str | os.PathLike[str] | None = None,
    random_weights: bool = False,
    onnx: str | os.PathLike[str] | None = None,
    device: Any = "cpu",
    threads: int | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> TorchEmbedder | OnnxEmbedder:
    """The FaceNet embedder for these choices (what ``analyze``/``live`` use):

    - ``onnx``: that ONNX file in ONNX Runtime (``providers=device``);
    - ``weights`` (a facenet-pytorch state dict, e.g. VGGFace2), or ``random_weights`` (tests only), or
      ``$AVEMOTION_FACENET_WEIGHTS``: torch on ``device``;
    - else the converted CASIA-WebFace weights (:mod:`avemotion.features.facenet_weights`): on the CPU
      their ONNX export in ONNX Runtime (measured faster than torch eager at batch 1 and 8:
      ``benchmarks/bench_face.py``), on CUDA the state dict in torch. Both verified against the manifest.

    Raises :class:`FaceNetWeightsMissing` (with the fix) or :class:`FaceNetWeightsInvalid`.
    """
    if onnx is not None:
        return OnnxEmbedder(onnx, providers=check_device(device), threads=threads)
    if weights is not None or random_weights or os.environ.get(WEIGHTS_ENV):
        return TorchEmbedder(weights=weights, allow_random_weights=random_weights, device=device)
    dev = resolve_device(device)
    if dev.type == "cpu":
        try:
            path, identity = FW.default_weights("onnx", cache)
        except FaceNetWeightsInvalid:
            raise
        except FaceNetWeightsMissing:
            find_facenet_weights(cache=cache)  # raises the full message (argument, environment, cache)
            raise
        return OnnxEmbedder(path, providers="cpu", threads=threads, identity=identity)
    return TorchEmbedder(device=dev, net=load_facenet(device=dev, cache=cache))


def _check_faces(faces: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(faces, dtype=np.float32)
    if x.ndim != 4 or x.shape[1:] != (3, FACE_SIZE, FACE_SIZE):
        raise ValueError(f"faces must have shape (N, 3, {FACE_SIZE}, {FACE_SIZE}), got {x.shape}")
    return x
