"""``avemotion analyze INPUT...``: per-window emotion and laughter of media files, offline.

For each input (a media file FFmpeg reads, a ``file://`` URL, or a stream URL such as ``http://``,
``udp://``, ``rtsp://`` read to its end or until ``--read-timeout`` seconds pass without data) the
audio track and frames sampled at
the model's ``video_fps`` are decoded, turned into feature steps, cut into the model's analysis
windows (``window_s`` every ``hop_s``, from the bundle's ``bundle.json``) and predicted in batches
(see :mod:`avemotion.pipeline`). Outputs, each written atomically (temporary file + ``os.replace``):

``--out DIR`` (default ``out/<input stem>``; with several inputs ``DIR/<input stem>``)::

    windows.jsonl | windows.csv   one row per window (--format): start, end (s), emotion,
                                  p_<label> for the 6 labels, laugh_prob, laughing, face_present_share,
                                  audio_missing, video_missing
    events.json                   laughter events: onset, offset, duration, peak_time, peak_prob
                                  (hysteresis: on = the model's threshold, off = on - 0.15;
                                  events shorter than --min-event-s dropped)
    summary.json                  emotion shares, mean probabilities, laughter count and total time,
                                  face-present share, per-stage timings, real-time factor, input,
                                  model and settings; written last: its presence marks a complete run

``--jsonl F`` / ``--csv F`` write the rows to that file instead (events and summary then go beside it
as ``<F stem>.events.json`` and ``<F stem>.summary.json``). ``--plot PNG``: timeline image (emotion
probabilities over time; laughter probability with the threshold and the events).

A rerun whose ``summary.json`` records the same input (size, mtime), model and mode skips the input
("up to date"); ``--force`` recomputes.

Modes: ``av`` (default; the input needs audio and video), ``video`` (needs video; audio ignored),
``audio`` (needs audio; no face detection). FaceNet weights: ``--facenet-weights PATH``, else
``$AVEMOTION_FACENET_WEIGHTS`` or torch's hub cache; none found is an error (exit 2) unless
``--random-facenet`` (demo/tests: random embeddings), or ``--facenet-onnx`` gives an exported model.

``--device cpu|cuda|cuda:N|auto`` (default ``cpu``; also on ``avemotion live``): where face
detection (MTCNN) and FaceNet run (see :func:`avemotion.features.video.resolve_device`). ``auto``
takes CUDA when torch sees it; ``cuda`` without CUDA warns and uses the CPU, or exits 2 with
``AVEMOTION_STRICT=1``. With ``--facenet-onnx`` it picks ONNX Runtime's provider (CUDA needs
onnxruntime-gpu). A value outside these is a usage error (exit 2).

Exit codes: 0 done (or up to date), 1 runtime failure, 2 bad input (missing file, not a media file,
audio-only file in ``av`` mode, unknown URL scheme, missing model bundle or FaceNet weights),
3 several inputs and some failed (each reported; the others are written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from avemotion.cli import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UsageError

#: URL schemes accepted as sources (FFmpeg protocols), besides local files and file://.
STREAM_SCHEMES = ("udp", "rtp", "rtsp", "rtmp", "http", "https", "tcp", "srt")
FILE_SCHEME = "file"


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "analyze",
        help="per-window emotion + laughter of media files (JSONL/CSV, events, summary, plot)",
        description="Analyze media files offline: per-window emotion probabilities and laughter "
        "probability (rows), laughter events and a summary, written atomically; optional timeline PNG. "
        "Exit codes: 0 ok, 1 failure, 2 bad input, 3 some inputs failed.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="media file(s), file:// URLs, or stream URLs (http(s)://, udp://, rtsp://, ...: read to their end)")
    add_model_args(p)
    out = p.add_argument_group("outputs")
    out.add_argument("--out", type=Path, help="output directory (default out/<input stem>)")
    out.add_argument("--jsonl", type=Path, help="write the window rows as JSON lines to this file")
    out.add_argument("--csv", type=Path, help="write the window rows as CSV to this file")
    out.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                     help="row format in --out (default jsonl)")
    out.add_argument("--plot", type=Path, metavar="PNG", help="write the timeline plot to this PNG")
    out.add_argument("--min-event-s", type=float, default=0.5,
                     help="shortest laughter event kept, seconds (default 0.5)")
    out.add_argument("--force", action="store_true", help="recompute even when the outputs are up to date")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument("--read-timeout", type=float, default=5.0,
                     help="stream URLs: seconds without data that end the stream (default 5)")
    out.add_argument("--quiet", action="store_true", help="no printed summary")
    p.set_defaults(func=run)
    return p


def add_model_args(p: argparse.ArgumentParser, *, modes: tuple[str, ...] = ("av", "video", "audio")) -> None:
    """Arguments shared with ``avemotion live``: model bundle, mode, FaceNet weights."""
    g = p.add_argument_group("model")
    g.add_argument("--model", type=Path, default=None,
                   help="model bundle directory (default $AVEMOTION_MODEL_DIR or models/dynamic_padding_no_leakage)")
    g.add_argument("--mode", choices=modes, default="av", help="modalities used (default av)")
    w = g.add_mutually_exclusive_group()
    w.add_argument("--facenet-weights", type=Path, metavar="PATH",
                   help="FaceNet VGGFace2 weights (.pt); default $AVEMOTION_FACENET_WEIGHTS or torch's hub cache")
    w.add_argument("--random-facenet", action="store_true",
                   help="allow random FaceNet weights when none are found (demo/tests: video embeddings are meaningless)")
    w.add_argument("--facenet-onnx", type=Path, metavar="PATH",
                   help="FaceNet exported to ONNX (python -m avemotion.features.export_onnx): faster on the CPU")
    g.add_argument("--device", type=device_arg, default="cpu", metavar="cpu|cuda|cuda:N|auto",
                   help="where face detection and FaceNet run (default cpu; auto = cuda when available; "
                        "cuda without CUDA warns and uses the CPU, an error with AVEMOTION_STRICT=1)")


def device_arg(text: str) -> str:
    """argparse type for ``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (else exit 2)."""
    from avemotion.features.video import check_device

    try:
        return check_device(text, name="--device")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Shared helpers (also used by cli/live.py)


def load_predictor(model: Path | None) -> Any:
    """Load the bundle; a missing or bad bundle is a :class:`UsageError` saying what to do."""
    from avemotion.bundle import BundleError
    from avemotion.inference import DEFAULT_MODEL_DIR, load_model

    path = model if model is not None else Path(os.environ.get("AVEMOTION_MODEL_DIR") or DEFAULT_MODEL_DIR)
    if not (path / "bundle.json").is_file():
        raise UsageError(
            f"--model: no model bundle at {path} (expected {path / 'bundle.json'}). Pass --model DIR or set "
            "AVEMOTION_MODEL_DIR; `avemotion train` and `avemotion export` make one."
        )
    try:
        return load_model(path)
    except BundleError as exc:
        raise UsageError(f"--model: {exc}") from None


def load_extractor(args: argparse.Namespace) -> Any:
    """The video extractor for ``args`` (None in audio mode); missing weights: :class:`UsageError`."""
    from avemotion.features.video import FaceNetWeightsMissing
    from avemotion.pipeline import get_video_extractor

    if args.mode == "audio":
        return None
    device = getattr(args, "device", "cpu")
    if not args.facenet_onnx:  # torch decides (with --facenet-onnx, ONNX Runtime decides for FaceNet)
        from avemotion.features.video import resolve_device

        try:
            device = str(resolve_device(device, name="--device"))
        except (ValueError, RuntimeError) as exc:
            raise UsageError(str(exc)) from None
    try:
        return get_video_extractor(weights=args.facenet_weights, random_weights=args.random_facenet,
                                   onnx=args.facenet_onnx, device=device)
    except RuntimeError as exc:
        if "strict" in str(exc):
            raise UsageError(f"--device: {exc}") from None
        raise
    except FaceNetWeightsMissing as exc:
        raise UsageError(f"{exc} (or pass --random-facenet for a demo with meaningless video embeddings)") from None


def split_source(source: str) -> tuple[str, str]:
    """``(scheme, target)``: ``("file", path)`` for paths and file:// URLs, else the URL's scheme.
    An unknown scheme is a :class:`UsageError` listing the supported ones."""
    if "://" not in source:
        return FILE_SCHEME, source
    scheme, rest = source.split("://", 1)
    scheme = scheme.lower()
    if scheme == FILE_SCHEME:
        return FILE_SCHEME, rest
    if scheme not in STREAM_SCHEMES:
        raise UsageError(
            f"{source}: unknown URL scheme {scheme!r}; expected a file path, file:// or one of "
            + ", ".join(f"{s}://" for s in STREAM_SCHEMES)
        )
    return scheme, source


def _input_path(source: str) -> Path | str:
    """A local file's Path (checked), or the URL string of a stream."""
    scheme, target = split_source(source)
    if scheme != FILE_SCHEME:
        return source
    p = Path(target)
    if not p.exists():
        raise UsageError(f"INPUT: no such file: {p}")
    if not p.is_file():
        raise UsageError(f"INPUT: not a regular file: {p}")
    return p


# --------------------------------------------------------------------------------------------------


class _Outputs:
    def __init__(self, rows: Path, fmt: str, events: Path, summary: Path, plot: Path | None) -> None:
        self.rows, self.fmt, self.events, self.summary, self.plot = rows, fmt, events, summary, plot

    def all(self) -> list[Path]:
        return [self.rows, self.events, self.summary] + ([self.plot] if self.plot else [])


def _stem(src: Path | str) -> str:
    if isinstance(src, Path):
        return src.stem
    import re

    tail = src.split("://", 1)[1].split("?", 1)[0].rstrip("/")
    name = tail.rsplit("/", 1)[-1] if "/" in tail else tail
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem or name) or "stream"


def _outputs(args: argparse.Namespace, path: Path | str, several: bool) -> _Outputs:
    plot = args.plot
    if several and plot is not None:
        plot = plot.with_name(f"{plot.stem}_{_stem(path)}{plot.suffix}")
    explicit = args.jsonl or args.csv
    if explicit and args.out:
        raise UsageError("--out and --jsonl/--csv: give one of them")
    if args.jsonl and args.csv:
        raise UsageError("--jsonl and --csv: give one of them")
    if explicit:
        if several:
            raise UsageError("--jsonl/--csv name one file; with several inputs use --out DIR")
        fmt = "jsonl" if args.jsonl else "csv"
        f = Path(explicit)
        return _Outputs(f, fmt, f.with_name(f"{f.stem}.events.json"), f.with_name(f"{f.stem}.summary.json"), plot)
    base = args.out if args.out is not None else Path("out")
    d = base / _stem(path) if (several or args.out is None) else base
    return _Outputs(d / f"windows.{args.format}", args.format, d / "events.json", d / "summary.json", plot)


def _fingerprint(path: Path | str) -> dict[str, Any]:
    if isinstance(path, str):
        return {"url": path}
    st = path.stat()
    return {"path": str(path), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _model_id(predictor: Any) -> dict[str, Any]:
    files = predictor.bundle.meta.get("files", {})
    return {"path": str(predictor.bundle.path),
            "model_sha256": files.get("model.onnx", {}).get("sha256"),
            "training": predictor.bundle.training}


def _up_to_date(outs: _Outputs, path: Path | str, predictor: Any, mode: str) -> bool:
    if isinstance(path, str):
        return False  # a stream is analyzed again every time
    if not outs.summary.is_file() or not all(p.is_file() for p in outs.all()):
        return False
    try:
        old = json.loads(outs.summary.read_text())
    except (OSError, ValueError):
        return False
    return (old.get("input") == _fingerprint(path) and old.get("mode") == mode
            and (old.get("model") or {}).get("model_sha256") == _model_id(predictor)["model_sha256"])


def analyze_one(path: Path | str, args: argparse.Namespace, predictor: Any, extractor: Any, outs: _Outputs,
                progress: Any = None) -> dict[str, Any]:
    """Analyze one file and write its outputs; returns the summary dict."""
    from avemotion import analysis, pipeline

    settings = pipeline.PipelineSettings.from_bundle(predictor.bundle)
    t0 = time.perf_counter()
    if isinstance(path, str):
        res = pipeline.analyze_stream(path, predictor, mode=args.mode, video_extractor=extractor, settings=settings,
                                      read_timeout_s=args.read_timeout)
    else:
        res = pipeline.analyze_file(path, predictor, mode=args.mode, video_extractor=extractor, settings=settings,
                                    progress=progress)
    wall = time.perf_counter() - t0
    if not res.results:
        raise UsageError(
            f"{path}: no analysis windows (media {res.media_duration_s:.2f} s, {res.n_audio_steps} audio and "
            f"{res.n_video_steps} video steps; audio needs at least {settings.audio_window_s} s)"
        )
    results = res.results
    events = analysis.detect_laughter_events(
        [r.start for r in results], [r.end for r in results], [r.laugh_prob for r in results],
        on=settings.laughter_threshold, min_duration_s=args.min_event_s,
    )
    summary = analysis.summarize(results, settings.labels, events)
    rows = [r.to_row() for r in results]
    text = analysis.rows_to_jsonl(rows) if outs.fmt == "jsonl" else analysis.rows_to_csv(rows)
    analysis.atomic_write_text(outs.rows, text)
    off = max(0.0, settings.laughter_threshold - 0.15)
    ev_doc = {"threshold_on": settings.laughter_threshold, "threshold_off": off, "min_duration_s": args.min_event_s,
              "events": summary.to_dict()["events"]}
    analysis.atomic_write_text(outs.events, json.dumps(ev_doc, indent=2) + "\n")
    if outs.plot is not None:
        analysis.plot_timeline(results, settings.labels, events, settings.laughter_threshold, outs.plot,
                               title=f"{_name(path)} ({args.mode})")
    doc = summary.to_dict()
    doc.pop("events")
    doc.update(
        input=_fingerprint(path), mode=args.mode, model=_model_id(predictor),
        settings={k: v for k, v in vars(settings).items()} | {"labels": list(settings.labels)},
        media_duration_s=round(res.media_duration_s, 4), audio_steps=res.n_audio_steps,
        video_steps=res.n_video_steps, timings=res.timings.to_dict(), wall_s=round(wall, 4),
        real_time_factor=round(wall / res.media_duration_s, 4) if res.media_duration_s > 0 else None,
        sync=res.sync_stats,
        outputs={"rows": str(outs.rows), "events": str(outs.events), "plot": str(outs.plot) if outs.plot else None},
        random_facenet=bool(getattr(args, "random_facenet", False)),
    )
    doc["_events"] = ev_doc["events"]
    public = {k: v for k, v in doc.items() if k != "_events"}
    analysis.atomic_write_text(outs.summary, json.dumps(public, indent=2) + "\n")
    return doc


def _name(path: Path | str) -> str:
    return path.name if isinstance(path, Path) else path


def _print_summary(console: Any, path: Path | str, doc: dict[str, Any], outs: _Outputs) -> None:
    from rich.table import Table

    t = Table(title=f"{_name(path)}: {doc['windows']} windows, {doc['media_duration_s']:.1f} s "
                    f"(processed in {doc['wall_s']:.1f} s, real-time factor {doc['real_time_factor']:.2f})")
    t.add_column("emotion")
    t.add_column("share of windows", justify="right")
    t.add_column("mean probability", justify="right")
    for lab, share in sorted(doc["emotion_shares"].items(), key=lambda kv: -kv[1]):
        t.add_row(lab, f"{share:.0%}", f"{doc['mean_probabilities'][lab]:.3f}")
    console.print(t)
    console.print(f"laughter: {doc['laughter_count']} event(s), {doc['laughter_total_s']:.1f} s in total; "
                  f"mean face-present share per window {doc['face_present_share']:.0%}")
    for ev in doc["_events"]:
        console.print(f"  laugh {ev['onset']:7.2f} - {ev['offset']:7.2f} s  peak {ev['peak_prob']:.2f} at {ev['peak_time']:.2f} s")
    if (doc.get("model") or {}).get("training", {}).get("demonstration"):
        console.print("[yellow]note: the model is a demonstration model (trained on synthetic data): its predictions "
                      "on real media carry no meaning; see training/README.md to train a real one[/]")
    if doc.get("random_facenet"):
        console.print("[yellow]note: FaceNet ran with RANDOM weights (--random-facenet): video embeddings are meaningless[/]")
    console.print(f"wrote {outs.rows}, {outs.events}, {outs.summary}" + (f", {outs.plot}" if outs.plot else ""))


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from avemotion.features.media import MediaError

    console = Console()
    err = Console(stderr=True)
    if args.min_event_s < 0:
        raise UsageError(f"--min-event-s: expected >= 0, got {args.min_event_s}")
    if not args.read_timeout > 0:
        raise UsageError(f"--read-timeout: expected > 0 seconds, got {args.read_timeout}")
    several = len(args.inputs) > 1
    # Validate every input first: a typo fails fast, before minutes of loading.
    paths: list[Path | str | UsageError] = []
    for src in args.inputs:
        try:
            paths.append(_input_path(src))
        except UsageError as exc:
            if not several:
                raise
            paths.append(exc)
    predictor = load_predictor(args.model)
    extractor = load_extractor(args)
    failures: list[tuple[str, str, int]] = []
    done = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=err, disable=args.no_progress, transient=True) as prog:
        for src, p in zip(args.inputs, paths, strict=True):
            if isinstance(p, UsageError):
                failures.append((src, str(p), EXIT_USAGE))
                continue
            try:
                outs = _outputs(args, p, several)
                if not args.force and _up_to_date(outs, p, predictor, args.mode):
                    console.print(f"{p}: up to date ({outs.summary}); --force recomputes")
                    done += 1
                    continue
                task = prog.add_task(_name(p), total=1.0)

                def progress(stage: str, t: float, total: float, task: Any = task, name: str = _name(p)) -> None:
                    frac = min(t / total, 1.0) if total > 0 else 0.0
                    # audio features are computed first (~1/3 of the work), video after
                    value = frac / 3 if stage == "audio" else (1 / 3 if args.mode == "av" else 0) + frac * (2 / 3 if args.mode == "av" else 1)
                    prog.update(task, completed=value, description=f"{name} [{stage}]")

                doc = analyze_one(p, args, predictor, extractor, outs, progress)
                prog.remove_task(task)
                done += 1
                if not args.quiet:
                    _print_summary(console, p, doc, outs)
            except UsageError as exc:
                if not several:
                    raise
                failures.append((src, str(exc), EXIT_USAGE))
            except MediaError as exc:
                msg = _media_message(exc, args.mode)
                if not several:
                    raise UsageError(msg) from None
                failures.append((src, msg, EXIT_USAGE))
            except (OSError, ValueError, RuntimeError) as exc:
                if not several:
                    print(f"avemotion analyze: error: {src}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    return EXIT_FAILURE
                failures.append((src, f"{type(exc).__name__}: {exc}", EXIT_FAILURE))
    for src, msg, _ in failures:
        print(f"avemotion analyze: failed: {src}: {msg}", file=sys.stderr)
    if failures:
        print(f"avemotion analyze: {done} of {len(args.inputs)} input(s) done, {len(failures)} failed", file=sys.stderr)
        return EXIT_PARTIAL if done else max(code for _, _, code in failures)
    return EXIT_OK


def _media_message(exc: Exception, mode: str) -> str:
    kind = getattr(exc, "kind", "")
    if kind == "unreadable" or kind == "empty":
        return f"{exc} (not a media file FFmpeg can read)"
    return str(exc)  # no_audio / no_video: analyze_file's message names the mode to use
