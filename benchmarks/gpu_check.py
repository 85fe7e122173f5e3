"""Face pipeline on CUDA vs CPU (torch): FaceNet embedding and MTCNN detection timings.

Run on a machine with an NVIDIA GPU and facenet-pytorch installed:
``python benchmarks/gpu_check.py``. Prints one JSON object (medians in ms). Random-init FaceNet
(the weights are not needed for timing); the MTCNN weights ship inside facenet-pytorch.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import torch
from facenet_pytorch import MTCNN, InceptionResnetV1


def _median_ms(fn, sync, rounds: int = 30, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(ts), 3)


def main() -> None:
    out: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    rng = np.random.default_rng(0)
    frame = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    try:
        from PIL import Image
        from skimage import data

        img = Image.fromarray(data.astronaut()).resize((480, 480))
        canvas = Image.new("RGB", (640, 480), (40, 40, 40))
        canvas.paste(img, (80, 0))
        frame = np.asarray(canvas)
    except Exception:
        pass
    for dev in devices:
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        net = InceptionResnetV1(pretrained=None, classify=False).eval().to(dev)
        for b in (1, 8, 32):
            x = torch.randn(b, 3, 160, 160, device=dev)
            with torch.inference_mode():
                out[f"facenet_b{b}_{dev}_ms"] = _median_ms(lambda net=net, x=x: net(x), sync)
        mtcnn = MTCNN(keep_all=False, device=dev)
        out[f"mtcnn_640x480_{dev}_ms"] = _median_ms(lambda m=mtcnn: m.detect(frame), sync, rounds=20)
        batch = np.stack([frame] * 8)
        out[f"mtcnn_batch8_640x480_{dev}_ms"] = _median_ms(lambda m=mtcnn, b=batch: m.detect(b), sync, rounds=10)
        boxes, probs = mtcnn.detect(frame)
        out[f"mtcnn_faces_{dev}"] = 0 if boxes is None else int(len(np.asarray(boxes, np.float32)))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
