"""Face detection benchmarks: MTCNN on every frame vs the face tracker, on the same frames.

    python -m pytest benchmarks/bench_face_detect.py --benchmark-only [--benchmark-timer=time.process_time]
    python benchmarks/bench_face_detect.py agreement [--out table.md]   # faces found, IoU, FaceNet cosine
    python benchmarks/bench_face_detect.py threads                      # the thread-budget measurements
    python benchmarks/bench_face_detect.py analyze MEDIA [MEDIA ...]      # analyze per stage, every frame vs tracking

Groups (each case beside its baseline, every-frame ``FaceDetector``, which is what ``analyze`` ran
before; frames fed in the extractor's batches of 8; one intra-op torch thread, the pipeline's budget):

- ``face-detect demo_clip``: the 60 frames (5 fps) of ``samples/demo_clip.mp4`` (a real face photo
  0-10 s, no face 10-12 s, 640x480: detection on the frame shrunk to 320 px);
- ``face-detect zoompan``: 20 frames of ffmpeg's zoompan (pan + zoom) over ``skimage.data.astronaut()``;
- ``face-detect one frame``: one full MTCNN detection vs one tracking step (O-net) on a demo frame.

``extra_info``: milliseconds per frame, face-present share, the tracker's counts. Rounds:
``AVEMOTION_BENCH_ROUNDS`` (default 3). On a shared machine use ``--benchmark-timer=time.process_time``
(CPU seconds; with one thread per stage that is the work done, whatever the other jobs' load).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "samples" / "demo_clip.mp4"
ROUNDS = int(os.environ.get("AVEMOTION_BENCH_ROUNDS", "3"))
BATCH = 8


def _frames(path: Path, fps: float = 5.0) -> list[np.ndarray]:
    from avemotion.features.media import iter_video_frames

    return [f for _, f in iter_video_frames(path, fps=fps)]


def _run(det: Any, frames: list[np.ndarray]) -> list[Any]:
    reset = getattr(det, "reset", None)
    if reset is not None:
        reset()
    out: list[Any] = []
    for i in range(0, len(frames), BATCH):
        out.extend(det.detect(frames[i : i + BATCH]))
    return out


def _zoompan(path: Path) -> Path:
    from PIL import Image
    from skimage import data

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg not found")
    png = path.with_suffix(".png")
    canvas = np.full((512, 684, 3), 128, np.uint8)
    canvas[:, 86:598] = data.astronaut()
    Image.fromarray(canvas).save(png)
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-framerate", "25", "-i", str(png),
         "-vf", "zoompan=z='1.25+0.2*sin(on/13)':x='(iw-iw/zoom)/2+50*sin(on/9)':"
         "y='(ih-ih/zoom)/2+30*cos(on/11)':d=1:s=640x480:fps=25",
         "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


# ------------------------------------------------------------------------------ pytest-benchmark


@pytest.fixture(scope="module")
def detector() -> Any:
    pytest.importorskip("facenet_pytorch")
    import torch

    from avemotion.features.video import FaceDetector

    torch.set_num_threads(1)
    return FaceDetector()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[np.ndarray]]:
    if not DEMO.is_file():
        pytest.skip(f"{DEMO} not found")
    out = {"demo_clip": _frames(DEMO)}
    if shutil.which("ffmpeg"):
        out["zoompan"] = _frames(_zoompan(tmp_path_factory.mktemp("bench_faces") / "zoompan.mp4"))
    return out


def _case(benchmark: Any, clip: str, frames: list[np.ndarray], det: Any) -> None:
    benchmark.group = f"face-detect {clip}"
    _run(det, frames[:2])  # warm-up (and the O-net export, once per cache)
    dets = benchmark.pedantic(_run, args=(det, frames), rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(
        frames=len(frames),
        face_present_share=round(sum(d is not None for d in dets) / len(frames), 4),
        ms_per_frame=round(benchmark.stats.stats.median / len(frames) * 1e3, 2),
    )
    stats = getattr(det, "stats", None)
    if stats is not None:
        benchmark.extra_info.update(tracker=stats.to_dict())


@pytest.mark.parametrize("clip", ["demo_clip", "zoompan"])
def test_every_frame(benchmark: Any, clips: dict, detector: Any, clip: str) -> None:
    if clip not in clips:
        pytest.skip("ffmpeg not found")
    _case(benchmark, clip, clips[clip], detector)


@pytest.mark.parametrize("clip", ["demo_clip", "zoompan"])
def test_tracking(benchmark: Any, clips: dict, detector: Any, clip: str) -> None:
    from avemotion.features.face_track import TrackingFaceDetector

    if clip not in clips:
        pytest.skip("ffmpeg not found")
    _case(benchmark, clip, clips[clip], TrackingFaceDetector(detector))


def test_one_frame_full_detection(benchmark: Any, clips: dict, detector: Any) -> None:
    benchmark.group = "face-detect one frame"
    frame = clips["demo_clip"][1]
    benchmark.pedantic(detector.detect, args=([frame],), rounds=10 * ROUNDS, iterations=1, warmup_rounds=1)


def test_one_frame_tracking_step(benchmark: Any, clips: dict, detector: Any) -> None:
    from avemotion.features.face_track import TrackingFaceDetector

    benchmark.group = "face-detect one frame"
    frames = clips["demo_clip"]
    tr = TrackingFaceDetector(detector, redetect_every=10**9)
    tr.detect([frames[0]])
    benchmark.pedantic(tr.detect, args=([frames[1]],), rounds=10 * ROUNDS, iterations=1, warmup_rounds=1)
    assert tr.last_sources == ["tracked"]
    benchmark.extra_info.update(onet_backend=tr.onet_backend)


# ------------------------------------------------------------------------------ reports (python benchmarks/...)


def _test_clips_module() -> Any:
    """The moving clips rendered by tests/features/test_face_track.py (one definition of them)."""
    spec = importlib.util.spec_from_file_location("_face_track_clips", ROOT / "tests" / "features" / "test_face_track.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def agreement(out: Path | None) -> str:
    """Markdown: per clip, faces found (every frame vs tracking), box IoU and FaceNet cosine on the
    tracked frames, IoU with the rendered ground truth, CPU ms per frame."""
    import torch

    from avemotion.features import facenet_weights as FW
    from avemotion.features.face_track import TrackingFaceDetector, box_iou
    from avemotion.features.media import iter_video_frames
    from avemotion.features.video import FaceDetector, OnnxEmbedder

    torch.set_num_threads(1)
    det = FaceDetector()
    path, _ = FW.default_weights("onnx", None)
    emb = OnnxEmbedder(path, providers="cpu", threads=1)
    tft = _test_clips_module()
    from skimage import data

    d0 = det.detect([data.astronaut()])[0]
    assert d0 is not None
    work = Path(tempfile.mkdtemp(prefix="bench_faces_"))
    clips: dict[str, tuple[list[float], list[np.ndarray], dict]] = {}
    for name, (dur, place) in tft.CLIPS.items():
        p = work / f"{name}.mp4"
        truth = tft.render_clip(p, dur, place, d0.box)
        tf = list(iter_video_frames(p, fps=5.0))
        clips[name] = ([t for t, _ in tf], [f for _, f in tf], truth)
    tft.render_zoompan(work / "zoompan.mp4", work)
    for name, p in (("zoompan", work / "zoompan.mp4"), ("demo_clip", DEMO)):
        tf = list(iter_video_frames(p, fps=5.0))
        clips[name] = ([t for t, _ in tf], [f for _, f in tf], {})

    def cos(a: Any, b: Any) -> float:
        ea, eb = emb(np.stack([a.face, b.face]))
        return float(ea @ eb)

    rows = ["| clip | frames | faces (every / tracked) | tracked frames | IoU tracked vs every (min / median) "
            "| FaceNet cosine (min / median) | IoU with truth, median (every / tracked) "
            "| CPU ms/frame (every / tracking) |",
            "|---|---|---|---|---|---|---|---|"]
    for name, (times, frames, truth) in clips.items():
        _run(det, frames[:1])
        c0 = time.process_time()
        every = _run(det, frames)
        c_every = time.process_time() - c0
        tr = TrackingFaceDetector(det)
        tracked: list[Any] = []
        sources: list[str] = []
        c0 = time.process_time()
        for i in range(0, len(frames), BATCH):
            tracked.extend(tr.detect(frames[i : i + BATCH]))
            sources.extend(tr.last_sources)
        c_track = time.process_time() - c0
        # tracked frames with a face in both (and one face on screen: with two the tracker may keep
        # the other one until the next keyframe)
        pairs = [(a, b) for a, b, s, t in zip(every, tracked, sources, times, strict=True)
                 if a is not None and b is not None and s == "tracked"
                 and (not truth or len(truth[round(t, 6)]) <= 1)]
        ious = [box_iou(a.box, b.box) for a, b in pairs]
        coss = [cos(a, b) for a, b in pairs]

        def gt(ds: list[Any], tt: list[float] = times, tru: dict = truth) -> str:
            v = [max(box_iou(d.box, g) for g in tru[round(t, 6)]) for t, d in zip(tt, ds, strict=True)
                 if d is not None and tru.get(round(t, 6))]
            return f"{np.median(v):.3f}" if v else "-"

        n = len(frames)
        rows.append(
            f"| {name} | {n} | {sum(d is not None for d in every)} / {sum(d is not None for d in tracked)} "
            f"| {sources.count('tracked')} | "
            + (f"{min(ious):.3f} / {np.median(ious):.3f} | {min(coss):.4f} / {np.median(coss):.4f}" if ious else "- | -")
            + f" | {gt(every)} / {gt(tracked)} | {c_every / n * 1e3:.1f} / {c_track / n * 1e3:.1f} |"
        )
    # the reference: MTCNN against itself on one demo frame shifted by 1-5 px
    f = clips["demo_clip"][1][0]
    ref = det.detect([f])[0]
    assert ref is not None
    ious, coss = [], []
    for dx, dy in [(1, 0), (0, 1), (2, 2), (3, -1), (-2, 3), (4, 0), (0, -4), (5, 5)]:
        g = np.roll(np.roll(f, dy, 0), dx, 1)
        d = det.detect([g])[0]
        assert d is not None
        d.box = d.box - np.array([dx, dy, dx, dy], np.float32)
        ious.append(box_iou(d.box, ref.box))
        coss.append(cos(d, ref))
    rows.append(f"| MTCNN vs itself, frame shifted 1-5 px | 8 | - | - | {min(ious):.3f} / {np.median(ious):.3f} "
                f"| {min(coss):.4f} / {np.median(coss):.4f} | - | - |")
    text = "\n".join(rows) + "\n"
    if out is not None:
        out.write_text(text)
    return text


def threads() -> str:
    """Markdown: MTCNN (torch) and FaceNet (ONNX Runtime) per frame/face with 1 or 2 intra-op threads."""
    import onnxruntime as ort
    import torch

    from avemotion.features import facenet_weights as FW
    from avemotion.features.video import FaceDetector

    frames = _frames(DEMO)[:16]
    det = FaceDetector()

    def med(fn: Callable[[], Any], reps: int = 3) -> tuple[float, float]:
        fn()
        w, c = [], []
        for _ in range(reps):
            _, dw, dc = _timed(fn)
            w.append(dw)
            c.append(dc)
        return float(np.median(w)), float(np.median(c))

    rows = ["| stage | setting | wall ms | CPU ms |", "|---|---|---|---|"]
    for th in (1, 2):
        torch.set_num_threads(th)
        w, c = med(lambda: [det.detect(frames[i : i + 8]) for i in (0, 8)])
        rows.append(f"| MTCNN per frame (batches of 8) | torch {th} thread(s) | {w / 16 * 1e3:.1f} | {c / 16 * 1e3:.1f} |")
    torch.set_num_threads(1)
    faces = np.stack([d.face for d in det.detect(frames[:8]) if d is not None])
    path, _ = FW.default_weights("onnx", None)
    for th in (1, 2):
        for spin in ("1", "0"):
            so = ort.SessionOptions()
            so.intra_op_num_threads = th
            so.add_session_config_entry("session.intra_op.allow_spinning", spin)
            s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            for bs in (1, 8):
                x = faces[:bs]
                feed = {s.get_inputs()[0].name: x}
                w, c = med(partial(s.run, None, feed), reps=5)
                rows.append(f"| FaceNet per face, batch {bs} | ORT intra {th}, spinning {'on' if spin == '1' else 'off'} "
                            f"| {w / bs * 1e3:.1f} | {c / bs * 1e3:.1f} |")
    return "\n".join(rows) + "\n"


def analyze(media: list[Path]) -> str:
    """Markdown: ``analyze_file`` per stage (wall s) in av mode with every-frame detection and with
    tracking, and in audio mode; the real-time factor and process CPU seconds per media second."""
    import avemotion
    from avemotion._contract import resolve_model_dir
    from avemotion.pipeline.offline import analyze_file
    from avemotion.pipeline.stages import get_video_extractor

    pred = avemotion.load_model(resolve_model_dir(None))
    stages = ("decode_s", "audio_features_s", "face_detection_s", "embedding_s", "sync_s", "model_s")
    rows = ["| media | mode | frames | " + " | ".join(s[:-2] for s in stages) + " | total s | RTF | CPU s / media s |",
            "|---|---|---|" + "---|" * (len(stages) + 3)]
    for m in media:
        for label, mode, n in (("av, every frame", "av", 1), ("av, tracking", "av", None), ("audio", "audio", None)):
            ex = get_video_extractor(redetect_every=n) if mode != "audio" else None
            analyze_file(m, pred, mode=mode, video_extractor=ex)  # warm-up
            r, _, cpu = _timed(partial(analyze_file, m, pred, mode=mode, video_extractor=ex))
            t = r.timings.to_dict()
            rows.append(f"| {m.name} | {label} | {'-' if mode == 'audio' else r.n_video_steps} | "
                        + " | ".join(f"{t[s]:.3f}" for s in stages)
                        + f" | {t['total_s']:.2f} | {r.real_time_factor:.3f} | {cpu / r.media_duration_s:.3f} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_face_detect.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("agreement")
    a.add_argument("--out", type=Path)
    sub.add_parser("threads")
    z = sub.add_parser("analyze")
    z.add_argument("media", type=Path, nargs="+")
    args = p.parse_args(argv)
    if args.cmd == "agreement":
        print(agreement(args.out))
    elif args.cmd == "threads":
        print(threads())
    else:
        print(analyze(args.media))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "python"))
    sys.exit(main())
