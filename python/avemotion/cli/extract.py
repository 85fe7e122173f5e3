"""``avemotion extract``: audio/video feature files for one media file or a whole manifest.

    avemotion extract clip.mp4 -o features/                       # one clip (id = file stem)
    avemotion extract datasets/manifests/laughter_v1.csv -o features/laughter_v1 --workers 4
    avemotion extract manifest.csv -o out --backend ray --ray-address auto

Writes ``OUT/{clip_id}.npz`` per clip and ``OUT/index.csv`` (per-clip status, counts, timings).
Reruns skip clips already done whose file is intact (size and sha256 as ``index.csv`` recorded them;
a damaged file is extracted again; ``--no-resume`` redoes every clip). Exit code 0 when every clip is ok,
3 when some failed (see the index), 2 for bad usage, 130 when interrupted (the index is written).

``--device cpu|cuda|cuda:N|auto`` (default cpu): where MTCNN and FaceNet run. When it resolves to
CUDA, clips are extracted in one worker (``--workers`` capped to 1, with a warning; ``--backend ray``
with CUDA is a usage error). ``cuda`` without CUDA warns and uses the CPU (exit 2 with
``AVEMOTION_STRICT=1``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from avemotion._contract import DEFAULT_AUDIO_MODE
from avemotion.cli import EXIT_OK, EXIT_PARTIAL, UsageError
from avemotion.cli._common import device_arg


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "extract",
        help="extract audio/video features of a media file or a manifest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="a media file, or a manifest CSV (*.csv)")
    p.add_argument(
        "-o", "--out", type=Path, required=True, help="output directory (.npz files + index.csv)"
    )
    p.add_argument("--clip-id", help="clip id for a single media file (default: the file's stem)")
    p.add_argument("--start", type=float, default=0.0, help="single file: start second (default 0)")
    p.add_argument(
        "--end", type=float, default=None, help="single file: end second (default: the end)"
    )
    p.add_argument(
        "--media-root",
        type=Path,
        default=None,
        help="resolve relative manifest media paths here (default: cwd)",
    )
    p.add_argument(
        "--modalities", default="audio,video", help="audio, video or audio,video (default)"
    )
    p.add_argument("--window", type=float, default=1.0, help="audio window seconds (default 1.0)")
    p.add_argument("--hop", type=float, default=0.1, help="audio hop seconds (default 0.1)")
    p.add_argument(
        "--audio-mode",
        choices=("sliding", "window"),
        default=DEFAULT_AUDIO_MODE,
        help="audio step extractor: sliding functionals over one LLD pass (default; what bundles record) "
        "or one openSMILE call per window",
    )
    p.add_argument(
        "--redetect-every",
        type=int,
        default=5,
        help="full MTCNN face detection every N sampled frames, tracking between (1: every frame; default 5)",
    )
    p.add_argument(
        "--fps", type=float, default=5.0, help="video frames sampled per second (default 5)"
    )
    p.add_argument(
        "--detect-max-side",
        type=int,
        default=320,
        help="shrink frames to this longer side for face detection (0: full resolution; default 320)",
    )
    p.add_argument(
        "--mtcnn-onnx",
        default=None,
        help="directory with pnet/rnet/onet.onnx: run MTCNN through ONNX Runtime",
    )
    p.add_argument(
        "--facenet-weights",
        default=None,
        help="FaceNet weights (.pt, e.g. VGGFace2; default: $AVEMOTION_FACENET_WEIGHTS, else the converted CASIA-WebFace weights)",
    )
    p.add_argument(
        "--facenet-onnx", default=None, help="use this FaceNet ONNX model through ONNX Runtime"
    )
    p.add_argument(
        "--facenet-int8",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the converted weights' INT8 model on the CPU (default: when `avemotion weights` made it; "
        "--no-facenet-int8: fp32)",
    )
    p.add_argument(
        "--device",
        type=device_arg,
        default="cpu",
        metavar="cpu|cuda|cuda:N|auto",
        help="where face detection and FaceNet run (default cpu; auto = cuda when available). "
        "On CUDA the video clips run in one worker process (--workers is capped to 1); "
        "cuda without CUDA warns and uses the CPU (an error with AVEMOTION_STRICT=1)",
    )
    p.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="random FaceNet weights if none found (testing only)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes of the process backend (default: min(4, CPUs); 1 = in this process); "
        "Ray uses one CPU per clip of the whole cluster",
    )
    p.add_argument(
        "--backend",
        choices=("process", "ray"),
        default="process",
        help="local process pool (default) or Ray",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to join: HOST:PORT of its head, or auto (default: a local runtime "
        "started for this run and stopped after it)",
    )
    p.add_argument("--no-resume", action="store_true", help="extract every clip again")
    p.add_argument("--limit", type=int, default=None, help="only the first N clips of the manifest")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from avemotion.features.extract import (
        ClipTask,
        ExtractSettings,
        extract_corpus,
        gpu_workers,
        read_tasks,
    )
    from avemotion.features.video import FaceNetWeightsMissing

    mods = {m.strip() for m in args.modalities.split(",") if m.strip()}
    if not mods or mods - {"audio", "video"}:
        raise UsageError(
            f"--modalities must be audio, video or audio,video; got {args.modalities!r}"
        )
    if not args.input.exists():
        raise UsageError(f"input not found: {args.input}")
    try:
        settings = ExtractSettings(
            audio="audio" in mods,
            video="video" in mods,
            audio_window_s=args.window,
            audio_hop_s=args.hop,
            audio_mode=args.audio_mode,
            video_fps=args.fps,
            redetect_every=args.redetect_every,
            detect_max_side=args.detect_max_side or None,
            mtcnn_onnx=args.mtcnn_onnx,
            facenet_weights=args.facenet_weights,
            facenet_onnx=args.facenet_onnx,
            facenet_int8=args.facenet_int8,
            allow_random_weights=args.allow_random_weights,
            device=args.device,
        )
        if args.facenet_int8 and (args.facenet_onnx or args.facenet_weights or args.allow_random_weights):
            raise ValueError("--facenet-int8: the INT8 model is the converted default weights' (not with "
                             "--facenet-onnx/--facenet-weights/--allow-random-weights)")
        if args.input.suffix.lower() == ".csv":
            tasks = read_tasks(args.input, media_root=args.media_root)
        else:
            tasks = [
                ClipTask(args.clip_id or args.input.stem, str(args.input), args.start, args.end)
            ]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.limit is not None:
        tasks = tasks[: max(0, args.limit)]
    if settings.video and not settings.facenet_onnx:
        from avemotion.features.video import find_facenet_weights

        try:
            find_facenet_weights(settings.facenet_weights)
        except FaceNetWeightsMissing as exc:
            if not settings.allow_random_weights or settings.facenet_weights:
                raise UsageError(str(exc)) from None
    workers = (
        args.workers
        if args.workers is not None
        else min(4, os.cpu_count() or 1, max(1, len(tasks)))
    )
    try:
        workers = gpu_workers(settings, workers, args.backend)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"--device: {exc}") from None

    from tqdm import tqdm

    bar = tqdm(
        total=len(tasks), unit="clip", disable=args.no_progress, file=sys.stderr, dynamic_ncols=True
    )
    failed = 0

    def progress(r) -> None:  # type: ignore[no-untyped-def]
        nonlocal failed
        failed += r.status != "ok"
        bar.set_postfix(failed=failed, last=f"{r.clip_id} {r.total_s:.2f}s", refresh=False)
        bar.update(1)

    try:
        results = extract_corpus(
            tasks,
            args.out,
            settings,
            workers=workers,
            backend=args.backend,
            resume=not args.no_resume,
            ray_address=args.ray_address,
            progress=progress,
        )
    except FaceNetWeightsMissing as exc:
        raise UsageError(str(exc)) from None
    except RuntimeError as exc:
        if args.backend == "ray" and "Ray" in str(exc):
            raise UsageError(str(exc)) from None
        raise
    finally:
        bar.close()
    ok = sum(r.status == "ok" for r in results)
    secs = sum(r.seconds for r in results if r.status == "ok")
    busy = sum(r.total_s for r in results if r.status == "ok")
    rtf = f", real-time factor {busy / secs:.3f}" if secs > 0 else ""
    print(
        f"{ok}/{len(results)} clips ok, {len(results) - ok} failed; index: {Path(args.out) / 'index.csv'}{rtf}"
    )
    for r in results:
        if r.status != "ok":
            print(f"  {r.clip_id}: {r.error_kind}: {r.error}", file=sys.stderr)
    return EXIT_OK if ok == len(results) else EXIT_PARTIAL
