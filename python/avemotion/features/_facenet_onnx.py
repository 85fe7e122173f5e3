"""ONNX exports: the FaceNet embedder (identity in its metadata) and the three MTCNN nets.

Part of :mod:`avemotion.features.facenet_weights` (which re-exports every public name; import from
there; its docstring describes the source, the conversion and the cache).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._io import atomic_write_bytes
from avemotion.features._facenet_source import (
    FACE_SIZE,
    ONNX_META_NAME,
    ONNX_META_SHA256,
    EmbedderIdentity,
    file_sha256,
    weights_digest,
)

logger = logging.getLogger("avemotion.features.facenet_weights")


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
