"""``analyze --mode video`` on CUDA vs CPU: per-stage seconds of the real pipeline code.

Makes a test clip with ffmpeg (default 20 s, 640x480 at 25 fps, H.264, no audio: the astronaut photo
of scikit-image (NASA, public domain) looped, as ``scripts/make_sample_clip.sh`` does), then for each
device runs :func:`avemotion.pipeline.analyze_file` in mode ``video`` with the extractor of
:func:`avemotion.pipeline.get_video_extractor` (MTCNN + torch FaceNet on that device) and the model
bundle (default ``models/dynamic_padding_no_leakage``). Prints one JSON object::

    {"torch": ..., "cuda_available": ..., "gpu": ..., "clip": {...},
     "cpu":  {"setup_s", "warmup_s", "runs": [{"decode_s", "face_detection_s", "embedding_s",
                                               "sync_s", "model_s", "total_s", "real_time_factor",
                                               "wall_s", "windows", "faces"}, ...]},
     "cuda": {...same...},
     "speedup": {"face_detection": cpu/cuda, "embedding": ..., "total": ...},
     "max_abs_diff": {"embedding": cuda vs cpu steps on one batch, "window_probs": ...}}

``setup_s``: building the extractor (nets loaded, moved to the device); ``warmup_s``: one batch of
8 frames through detection + embedding (CUDA context, kernel selection), not counted in the runs.
FaceNet weights: the usual lookup (``$AVEMOTION_FACENET_WEIGHTS``, torch's hub cache), else random
weights (timings are the same; embeddings meaningless, noted as ``"weights": "random"``).
Opensmile is not needed (video mode decodes no audio).

Usage (repository root, the package importable, e.g. ``pip install .`` or an editable build)::

    python benchmarks/gpu_face.py                       # cpu and cuda (cuda skipped if absent)
    python benchmarks/gpu_face.py --devices cuda --seconds 60 --repeats 2 --json out.json

Python packages imported: avemotion (and its C++ module ``avemotion._core``), numpy, torch,
facenet-pytorch, PyAV (``av``), opencv-python-headless (``cv2``, frames shrunk for detection),
onnxruntime (or onnxruntime-gpu; the emotion model), scikit-image (the photo); ffmpeg on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_clip(path: Path, seconds: float) -> Path:
    """``seconds`` of 640x480 25 fps H.264 video, the astronaut photo (480x480) centred on grey."""
    from skimage import data

    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found on PATH")
    img = data.astronaut()  # (512, 512, 3) uint8 RGB
    ppm = path.with_suffix(".ppm")
    ppm.write_bytes(b"P6 %d %d 255\n" % (img.shape[1], img.shape[0]) + np.ascontiguousarray(img).tobytes())
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-framerate", "25", "-i", str(ppm),
         "-t", f"{seconds:g}", "-vf", "scale=480:480,pad=640:480:80:0:color=0x282828,format=yuv420p",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-r", "25", str(path)],
        check=True,
    )
    ppm.unlink()
    return path


def run_device(device: str, clip: Path, predictor: Any, repeats: int) -> tuple[dict[str, Any], Any, list]:
    import torch

    from avemotion.features.media import iter_video_frames
    from avemotion.pipeline import analyze_file, get_video_extractor

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    ex = get_video_extractor(random_weights=True, device=device)
    sync()
    out: dict[str, Any] = {"setup_s": round(time.perf_counter() - t0, 4),
                           "embedder_device": str(ex.embedder.device), "detector_device": str(ex.detector.device),
                           "weights": "random" if ex.embedder.weights_source == "random" else "file"}
    frames = [f for _, f in iter_video_frames(clip, fps=5.0, end=2.0)][:8]
    t0 = time.perf_counter()
    steps, mask, _ = ex.process(frames)
    sync()
    out["warmup_s"] = round(time.perf_counter() - t0, 4)
    runs, res = [], None
    for _ in range(repeats):
        w0 = time.perf_counter()
        res = analyze_file(clip, predictor, mode="video", video_extractor=ex)
        sync()
        r = res.timings.to_dict()
        r.update(real_time_factor=round(res.real_time_factor, 4), wall_s=round(time.perf_counter() - w0, 4),
                 windows=len(res.results), video_steps=res.n_video_steps,
                 face_share=round(float(np.mean([w.face_present_share for w in res.results])), 4)
                 if res.results else 0.0)
        runs.append(r)
    out["runs"] = runs
    return out, res, [steps, mask]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu,cuda", help="comma-separated (default cpu,cuda)")
    ap.add_argument("--seconds", type=float, default=20.0, help="clip length (default 20)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per device (default 1)")
    ap.add_argument("--clip", type=Path, help="use this media file instead of making one")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "dynamic_padding_no_leakage")
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)

    import torch

    from avemotion.inference import load_model

    info: dict[str, Any] = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                            "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    tmp = Path(tempfile.mkdtemp(prefix="gpu_face_"))
    clip = args.clip or make_clip(tmp / "astronaut.mp4", args.seconds)
    info["clip"] = {"path": str(clip), "bytes": clip.stat().st_size, "seconds": args.seconds}
    predictor = load_model(args.model)
    results: dict[str, Any] = {}
    for dev in [d.strip() for d in args.devices.split(",") if d.strip()]:
        if dev.startswith("cuda") and not torch.cuda.is_available():
            info[dev] = {"skipped": "torch.cuda.is_available() is False"}
            continue
        info[dev], res, steps = run_device(dev, clip, predictor, max(1, args.repeats))
        results[dev] = (res, steps)
        print(f"{dev}: {info[dev]['runs'][-1]}", file=sys.stderr)
    if "cpu" in results and "cuda" in results:
        c, g = info["cpu"]["runs"][-1], info["cuda"]["runs"][-1]
        info["speedup"] = {k.removesuffix("_s"): round(c[k] / g[k], 2) if g[k] > 0 else None
                           for k in ("face_detection_s", "embedding_s", "total_s")}
        (rc, (sc, mc)), (rg, (sg, mg)) = results["cpu"], results["cuda"]
        diff: dict[str, Any] = {"same_face_mask": bool(np.array_equal(mc, mg))}
        if np.array_equal(mc, mg):
            diff["embedding"] = float(np.max(np.abs(sc - sg))) if sc.size else 0.0
        if len(rc.results) == len(rg.results) and rc.results:
            diff["window_probs"] = max(abs(a.probabilities[k] - b.probabilities[k])
                                       for a, b in zip(rc.results, rg.results, strict=True) for k in a.probabilities)
        info["max_abs_diff"] = diff
    text = json.dumps(info, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
