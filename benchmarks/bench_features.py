"""Feature extraction benchmarks (pytest-benchmark); each case beside the baseline a user would use.

    python -m pytest benchmarks/bench_features.py --benchmark-only

Groups (the audio step cases are in ``benchmarks/bench_audio.py``):
- ``facenet-b1`` / ``facenet-b8``: FaceNet through ONNX Runtime vs torch eager (random weights:
  the cost does not depend on them), batch 1 and 8.
- ``clip-rtf``: whole-clip extraction (decode + audio + MTCNN + FaceNet, 5 fps) of a 640x480 25 fps
  clip of ``AVEMOTION_BENCH_CLIP_S`` (default 10) seconds, FaceNet on ONNX Runtime vs torch; the
  real-time factor and the per-stage seconds are in each case's ``extra_info``.
The long cases run one round (``pedantic``): timings are for comparison on one machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CLIP_S = float(os.environ.get("AVEMOTION_BENCH_CLIP_S", "10"))
AMI = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real"
    / "ami"
    / "ES2011a.Headset-0-40s-46s.wav"
)


@pytest.fixture(scope="module")
def embedders(tmp_path_factory):
    pytest.importorskip("facenet_pytorch")
    from avemotion.features.export_onnx import export_facenet
    from avemotion.features.video import OnnxEmbedder, TorchEmbedder, load_facenet

    net = load_facenet(allow_random_weights=True)
    path = export_facenet(tmp_path_factory.mktemp("onnx") / "facenet.onnx", net=net)
    return {"onnxruntime": OnnxEmbedder(path), "torch": TorchEmbedder(net)}


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_facenet(benchmark, embedders, backend: str, batch: int) -> None:
    benchmark.group = f"facenet-b{batch}"
    x = np.random.default_rng(0).standard_normal((batch, 3, 160, 160)).astype(np.float32)
    e = embedders[backend]
    e(x)  # warm-up
    out = benchmark.pedantic(e, args=(x,), rounds=10 if batch == 1 else 4, iterations=1)
    assert out.shape == (batch, 512)


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory) -> Path:
    if shutil.which("ffmpeg") is None or not AMI.is_file():
        pytest.skip("ffmpeg and the AMI sample are needed")
    from PIL import Image
    from skimage import data

    d = tmp_path_factory.mktemp("clip")
    Image.fromarray(data.astronaut()).resize((480, 480)).save(d / "face.png")
    out = d / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-loop",
            "1",
            "-framerate",
            "25",
            "-i",
            str(d / "face.png"),
            "-stream_loop",
            "-1",
            "-i",
            str(AMI),
            "-t",
            str(CLIP_S),
            "-vf",
            "pad=640:480:80:0",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(out),
        ],
        check=True,
    )
    return out


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_clip_rtf(benchmark, av_clip: Path, embedders, tmp_path: Path, backend: str) -> None:
    from avemotion.features import extract as E

    benchmark.group = "clip-rtf"
    settings = E.ExtractSettings(allow_random_weights=True)
    # inject the prepared embedder into this process's extractor cache (no export/init in the timing)
    E._STATE.pop(settings, None)
    state = E._extractors(settings)
    state["video"].embedder = embedders[backend]
    task = E.ClipTask("clip", str(av_clip))
    E.extract_clip(task, tmp_path / "warm", settings)  # warm-up (MTCNN, ORT first runs)
    res = benchmark.pedantic(
        E.extract_clip, args=(task, tmp_path, settings), rounds=1, iterations=1
    )
    assert res.status == "ok", res.error
    vx = state["video"]
    benchmark.extra_info.update(
        clip_s=res.seconds,
        rtf=res.total_s / res.seconds,
        decode_s=res.decode_s,
        audio_s=res.audio_s,
        video_s=res.video_s,
        n_audio=res.n_audio,
        n_video=res.n_video,
        n_faces=res.n_faces,
        detect_s_total=vx.timings["detect_s"],
        embed_s_total=vx.timings["embed_s"],
    )
    E._STATE.pop(settings, None)


@pytest.fixture(scope="module")
def frame_640x480() -> np.ndarray:
    from PIL import Image
    from skimage import data

    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[:, 80:560] = np.asarray(Image.fromarray(data.astronaut()).resize((480, 480)))
    return canvas


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_mtcnn_640x480(
    benchmark, frame_640x480: np.ndarray, tmp_path_factory, backend: str
) -> None:
    pytest.importorskip("facenet_pytorch")
    from avemotion.features.export_onnx import export_mtcnn
    from avemotion.features.video import FaceDetector

    benchmark.group = "mtcnn-640x480"
    onnx_dir = export_mtcnn(tmp_path_factory.mktemp("mtcnn")) if backend == "onnxruntime" else None
    det = FaceDetector(onnx_dir=onnx_dir)
    det.detect([frame_640x480])  # warm-up
    out = benchmark.pedantic(det.detect, args=([frame_640x480],), rounds=10, iterations=1)
    assert out[0] is not None
