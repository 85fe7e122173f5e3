"""FaceNet with the default (converted CASIA-WebFace) weights: ONNX Runtime vs torch eager.

    python -m pytest benchmarks/bench_face.py --benchmark-only

Groups ``face-b1`` / ``face-b8``: one call embedding 1 or 8 real MTCNN crops (``skimage.data.astronaut()``
and its mirror) through the cached ONNX export (ONNX Runtime, CPU provider, default threads) beside the
cached state dict in torch eager (CPU, torch's default threads), and the cached INT8 quantization
(``onnxruntime-int8``, same session options as the fp32 ONNX). The fastest faithful one is the default
video path on the CPU (:func:`avemotion.features.facenet_weights.int8_onnx`). Needs the converted
weights (``avemotion weights``); skips otherwise (the INT8 case alone when that file is missing).
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def embedders() -> dict[str, object]:
    pytest.importorskip("facenet_pytorch")
    from avemotion.features import facenet_weights as FW
    from avemotion.features import video as V

    try:
        onnx_path, identity = FW.default_weights("onnx")
    except FW.FaceNetWeightsMissing as exc:
        pytest.skip(f"converted FaceNet weights not available: {exc}")
    out: dict[str, object] = {
        "onnxruntime": V.OnnxEmbedder(onnx_path, providers="cpu", identity=identity),
        "torch": V.TorchEmbedder(V.load_facenet()),
    }
    try:
        out["onnxruntime-int8"] = V.OnnxEmbedder(FW.default_weights("onnx_int8")[0], providers="cpu")
    except FW.FaceNetWeightsMissing:
        pass
    return out


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    from skimage import data

    from avemotion.features.video import FaceDetector

    img = data.astronaut()
    dets = FaceDetector().detect([img, img[:, ::-1].copy()])
    faces = np.stack([d.face for d in dets if d is not None])
    return np.concatenate([faces] * 4)  # 8 crops


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("backend", ["onnxruntime-int8", "onnxruntime", "torch"])
def test_face_embedding(benchmark, embedders, crops: np.ndarray, backend: str, batch: int) -> None:
    import torch

    benchmark.group = f"face-b{batch}"
    if backend not in embedders:
        pytest.skip(f"{backend}: no INT8 model in the cache (avemotion weights)")
    e = embedders[backend]
    x = np.ascontiguousarray(crops[:batch])
    e(x)  # warm-up (ONNX Runtime allocations, torch's first-call overhead)
    out = benchmark.pedantic(e, args=(x,), rounds=15 if batch == 1 else 6, iterations=1)
    assert out.shape == (batch, 512)
    benchmark.extra_info.update(torch_threads=torch.get_num_threads(), weights="casia-webface")


def fidelity() -> dict[str, float]:
    """INT8 vs fp32 on held-out real MTCNN crops (none among the calibration faces, skimage's LFW
    0-69): astronaut, its mirror, cameraman, Grace Hopper (matplotlib's sample), the demo clip at
    1 fps, LFW 70-99. ``python benchmarks/bench_face.py fidelity`` prints min/median cosine and the
    same/other-person similarities of both models."""
    from pathlib import Path

    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    from avemotion.features import facenet_weights as FW
    from avemotion.features import video as V
    from avemotion.features.media import iter_video_frames

    det = V.FaceDetector()
    ast = data.astronaut()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.asarray(Image.open(fh).convert("RGB"))
    named = det.detect([ast, np.ascontiguousarray(ast[:, ::-1]), np.repeat(data.camera()[:, :, None], 3, 2), hopper])
    demo_clip = Path(__file__).resolve().parents[1] / "samples" / "demo_clip.mp4"
    demo = [d.face for d in det.detect([f for _, f in iter_video_frames(demo_clip, fps=1.0)]) if d is not None]
    faces = np.concatenate([np.stack([d.face for d in named] + demo),
                            FW.lfw_faces()[FW.INT8_CALIBRATION_FACES:]]).astype(np.float32)
    fp32 = V.OnnxEmbedder(FW.default_weights("onnx")[0], providers="cpu")(faces)
    int8 = V.OnnxEmbedder(FW.default_weights("onnx_int8")[0], providers="cpu")(faces)
    cos = FW.embedding_cosines(int8, fp32)
    out = {"faces": float(len(faces)), "cos_min": float(cos.min()), "cos_median": float(np.median(cos))}
    for tag, e in (("fp32", fp32), ("int8", int8)):
        out[f"{tag}_same(ast,mirror)"] = float(e[0] @ e[1])
        out[f"{tag}_other_max(ast|mirror,cam|hopper)"] = float(max(e[i] @ e[j] for i in (0, 1) for j in (2, 3)))
    return out


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["fidelity"]:
        for k, v in fidelity().items():
            print(f"{k}: {v:.4f}")
