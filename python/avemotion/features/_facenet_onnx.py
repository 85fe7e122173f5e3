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
    INT8_MIN_COSINE,
    ONNX_META_NAME,
    ONNX_META_PRECISION,
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


# ----------------------------------------------------------------------------- INT8 quantization

#: skimage's ``lfw_subset()``: its first 100 images are LFW faces (25x25 grey crops); the first
#: :data:`INT8_CALIBRATION_FACES` (and their mirror images) calibrate, the rest check the result.
LFW_FACES, INT8_CALIBRATION_FACES = 100, 70


def lfw_faces() -> np.ndarray:
    """skimage's 100 LFW face crops as FaceNet input (100, 3, 160, 160): grey replicated to RGB, resized
    bilinearly, ``(x - 127.5) / 128``. Needs scikit-image (in the ``video`` extra)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise RuntimeError("the INT8 FaceNet calibration faces come from scikit-image's lfw_subset(): "
                           "`pip install scikit-image` (or convert with `avemotion weights --no-int8`)") from exc
    from PIL import Image

    out = np.empty((LFW_FACES, 3, FACE_SIZE, FACE_SIZE), np.float32)
    for i, g in enumerate(data.lfw_subset()[:LFW_FACES]):
        im = Image.fromarray(np.clip(np.asarray(g) * 255.0, 0, 255).astype(np.uint8))
        a = np.asarray(im.resize((FACE_SIZE, FACE_SIZE), Image.Resampling.BILINEAR), np.float32)
        out[i] = (a[None] - 127.5) / 128.0
    return out


def embedding_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) embedding arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)  # type: ignore[no-any-return]


def quantize_facenet_int8(
    fp32_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    identity: EmbedderIdentity,
    min_cosine: float = INT8_MIN_COSINE,
) -> dict[str, Any]:
    """Static INT8 quantization of the FaceNet ONNX model at ``fp32_path`` into ``out_path`` (atomically);
    returns the check figures.

    ONNX Runtime's ``quantize_static``: QDQ format, per-channel symmetric int8 weights, uint8
    activations, MinMax calibration on 140 real faces (:func:`lfw_faces` 0-69 and their mirror
    images), ``reduce_range=True`` (7-bit weights). Design choice: without ``reduce_range`` the u8s8
    kernels of AVX2 CPUs without VNNI saturate (``vpmaddubsw``), measured here: median cosine 0.89 and
    min 0.21 against fp32; with it 0.999 / 0.996 and the same speed. The model keeps ``identity`` (the
    fp32 weights' name and sha256: it is those weights, quantized) and is marked
    ``avemotion.embedder.precision = int8`` in its metadata. Before writing, embeddings of the 30
    held-out faces (:func:`lfw_faces` 70-99) are compared with the fp32 model's: ``RuntimeError``
    when the minimum cosine is below ``min_cosine``.
    """
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    faces = lfw_faces()
    calib = np.concatenate([faces[:INT8_CALIBRATION_FACES], faces[:INT8_CALIBRATION_FACES, :, :, ::-1]])
    calib = np.ascontiguousarray(calib)
    held_out = np.ascontiguousarray(faces[INT8_CALIBRATION_FACES:])

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter([{"faces": calib[i:i + 10]} for i in range(0, len(calib), 10)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="avemotion-int8-") as tmp:
        pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(q), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        model = onnx.load(str(q))
    del model.metadata_props[:]
    for key, value in ((ONNX_META_NAME, identity.name), (ONNX_META_SHA256, identity.sha256 or ""),
                       (ONNX_META_PRECISION, "int8")):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    data = model.SerializeToString()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    want = ort.InferenceSession(str(fp32_path), opts, providers=["CPUExecutionProvider"])
    got = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    cos = np.concatenate([embedding_cosines(got.run(None, {"faces": held_out[i:i + 10]})[0],
                                            want.run(None, {"faces": held_out[i:i + 10]})[0])
                          for i in range(0, len(held_out), 10)])
    checks = {"int8_vs_fp32_cosine_min": round(float(cos.min()), 5),
              "int8_vs_fp32_cosine_median": round(float(np.median(cos)), 5),
              "int8_check_faces": f"skimage lfw_subset faces {INT8_CALIBRATION_FACES}-{LFW_FACES - 1} (held out)",
              "int8_calibration": f"skimage lfw_subset faces 0-{INT8_CALIBRATION_FACES - 1} + mirrors, MinMax"}
    if not cos.min() >= min_cosine:
        raise RuntimeError(f"INT8 FaceNet agrees with fp32 down to cosine {cos.min():.4f} (< {min_cosine}) on "
                           f"held-out faces; {out_path} not written (use the fp32 model: --no-facenet-int8)")
    atomic_write_bytes(out_path, data)
    logger.info("FaceNet INT8 written to %s (cosine vs fp32 on held-out faces: min %.4f, median %.4f)",
                out_path, cos.min(), np.median(cos))
    return checks


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
