"""``avemotion analyze INPUT...``: per-window emotion and laughter of media files, offline.

For each input (a media file FFmpeg reads, a ``file://`` URL, or a stream URL such as ``http://``,
``udp://``, ``rtsp://`` read to its end or until ``--read-timeout`` seconds pass without data; a
stream that sends nothing within ``--open-timeout`` seconds, default the read timeout, cannot be
opened: exit 1) the audio track and frames sampled at the model's ``video_fps`` are decoded, turned
into feature steps, cut into the model's analysis windows (``window_s`` every ``hop_s``, from the
bundle's ``bundle.json``) and predicted in batches (see :mod:`avemotion.pipeline`). Outputs, each
written atomically (temporary file + ``os.replace``):

``--out DIR`` (default ``out/<input stem>``; with several inputs ``DIR/<input stem>``)::

    windows.jsonl | windows.csv   one row per window (--format): start, end (s), emotion,
                                  p_<label> for the 6 labels, laugh_prob, laughing, face_present_share,
                                  audio_missing, video_missing
    events.json                   laughter events: onset, offset, duration, peak_time, peak_prob
                                  (hysteresis: on = the model's threshold, off = on - 0.15;
                                  events shorter than --min-event-s dropped)
    summary.json                  emotion shares, mean probabilities, laughter count and total time,
                                  face-present share, per-stage timings, real-time factor, input,
                                  model and settings, ``complete`` and ``decode`` (False / the
                                  decoders' messages when the media decoded only in part, e.g. a
                                  truncated mp4); written last: its presence marks a finished run

``--jsonl F`` / ``--csv F`` write the rows to that file instead (events and summary then go beside it
as ``<F stem>.events.json`` and ``<F stem>.summary.json``). ``--plot PNG``: timeline image (emotion
probabilities over time; laughter probability with the threshold and the events). Every output
path is checked before any work starts (an existing directory where a file goes, a file where a
directory goes: exit 2).

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

Exit codes: 0 done (or up to date), 1 runtime failure (a stream that cannot be opened or fails),
2 bad input (missing file, not a media file, audio-only file in ``av`` mode, unknown URL scheme,
missing model bundle or FaceNet weights, an output path that cannot be written),
3 several inputs and some failed (each reported; the others are written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from avemotion.cli import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UsageError
from avemotion.cli._analyze_outputs import (
    _fingerprint,
    _Job,
    _model_id,
    _Outputs,
    _plan,
    _up_to_date,
)
from avemotion.cli._common import (
    add_model_args,
    check_model_extractor,
    load_extractor,
    load_predictor,
    model_inputs_notice,
    positive,
)


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
    out.add_argument("--open-timeout", type=float, default=None,
                     help="stream URLs: seconds to wait for the stream to start (default: --read-timeout); "
                          "a stream that sends nothing by then cannot be opened (exit 1)")
    out.add_argument("--quiet", action="store_true", help="no printed summary")
    p.set_defaults(func=run)
    return p


# --------------------------------------------------------------------------------------------------
# One input


def analyze_one(path: Path | str, args: argparse.Namespace, predictor: Any, extractor: Any, outs: _Outputs,
                progress: Any = None) -> dict[str, Any]:
    """Analyze one input and write its outputs; returns the summary dict (plus ``_events``)."""
    from avemotion.cli._common import pipeline_settings
    from avemotion.pipeline.settings import fed_modalities

    settings = pipeline_settings(predictor, args)
    t0 = time.perf_counter()
    res = _analyze(path, args, predictor, extractor, settings, progress)
    wall = time.perf_counter() - t0
    ev_doc, summary = _write_rows_and_events(res, args, settings, outs, path)
    doc = summary.to_dict()
    doc.pop("events")
    doc.update(
        input=_fingerprint(path), mode=args.mode, model=_model_id(predictor),
        settings={k: v for k, v in vars(settings).items()} | {"labels": list(settings.labels)}
        | {"adaptation_prior_weight": settings.adaptation_prior_weight if settings.adapts else None},
        media_duration_s=round(res.media_duration_s, 4), audio_steps=res.n_audio_steps,
        video_steps=res.n_video_steps, timings=res.timings.to_dict(), timings_cpu=res.timings.cpu_dict(), wall_s=round(wall, 4),
        real_time_factor=round(wall / res.media_duration_s, 4) if res.media_duration_s > 0 else None,
        sync=res.sync_stats, complete=res.coverage.complete, decode=res.coverage.to_dict(),
        outputs={"rows": str(outs.rows), "events": str(outs.events), "plot": str(outs.plot) if outs.plot else None},
        random_facenet=bool(getattr(args, "random_facenet", False)),
        model_inputs=list(fed_modalities(args.mode, settings.trained_modalities)),
    )
    from avemotion._io import atomic_write_text

    atomic_write_text(outs.summary, json.dumps(doc, indent=2) + "\n")
    return doc | {"_events": ev_doc["events"]}


def _analyze(path: Path | str, args: argparse.Namespace, predictor: Any, extractor: Any, settings: Any,
             progress: Any) -> Any:
    from avemotion import pipeline

    if isinstance(path, str):
        res = pipeline.analyze_stream(path, predictor, mode=args.mode, video_extractor=extractor, settings=settings,
                                      open_timeout_s=args.open_timeout if args.open_timeout is not None
                                      else args.read_timeout, read_timeout_s=args.read_timeout)
    else:
        res = pipeline.analyze_file(path, predictor, mode=args.mode, video_extractor=extractor, settings=settings,
                                    progress=progress)
    if not res.results:
        raise UsageError(
            f"{path}: no analysis windows (media {res.media_duration_s:.2f} s, {res.n_audio_steps} audio and "
            f"{res.n_video_steps} video steps; audio needs at least {settings.audio_window_s} s)"
        )
    return res


def _write_rows_and_events(res: Any, args: argparse.Namespace, settings: Any, outs: _Outputs,
                           path: Path | str) -> tuple[dict[str, Any], Any]:
    """Rows, ``events.json`` and the plot; returns the events document and the summary."""
    from avemotion._io import atomic_write_text
    from avemotion.pipeline import postprocess as pp

    results = res.results
    on = settings.laughter_threshold
    events = pp.detect_laughter_events([r.start for r in results], [r.end for r in results],
                                       [r.laugh_prob for r in results], on=on, min_duration_s=args.min_event_s)
    summary = pp.summarize(results, settings.labels, events)
    rows = [r.to_row() for r in results]
    atomic_write_text(outs.rows, pp.rows_to_jsonl(rows) if outs.fmt == "jsonl" else pp.rows_to_csv(rows))
    ev_doc = {"threshold_on": on, "threshold_off": pp.off_threshold(on), "min_duration_s": args.min_event_s,
              "events": summary.to_dict()["events"]}
    atomic_write_text(outs.events, json.dumps(ev_doc, indent=2) + "\n")
    if outs.plot is not None:
        pp.plot_timeline(results, settings.labels, events, on, outs.plot, title=f"{_name(path)} ({args.mode})")
    return ev_doc, summary


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
    if not doc.get("complete", True):
        d = doc["decode"]
        console.print(f"[yellow]note: the media decoded only in part (declared {d['declared_s']} s, audio to "
                      f"{d['audio_s']} s, video to {d['video_s']} s); see \"decode\" in the summary[/]")
    if (doc.get("model") or {}).get("training", {}).get("demonstration"):
        console.print("[yellow]note: the model is a demonstration model (trained on synthetic data): its predictions "
                      "on real media carry no meaning; see training/README.md to train a real one[/]")
    if doc.get("random_facenet"):
        console.print("[yellow]note: FaceNet ran with RANDOM weights (--random-facenet): video embeddings are meaningless[/]")
    console.print(f"wrote {outs.rows}, {outs.events}, {outs.summary}" + (f", {outs.plot}" if outs.plot else ""))


# --------------------------------------------------------------------------------------------------
# The command


def run(args: argparse.Namespace) -> int:
    if args.min_event_s < 0:
        raise UsageError(f"--min-event-s: expected >= 0, got {args.min_event_s}")
    positive(args, "open_timeout", "read_timeout")
    jobs = _plan(args)
    predictor = load_predictor(args.model)
    notice = model_inputs_notice(predictor, args.mode)
    if notice:  # once per run
        print(f"avemotion analyze: note: {notice}", file=sys.stderr, flush=True)
    extractor = load_extractor(args)
    check_model_extractor(predictor, extractor, args.mode)
    several = len(jobs) > 1
    failures: list[tuple[str, str, int]] = []
    done = 0
    with _progress_bar(args) as prog:
        for job in jobs:
            try:
                _run_job(job, args, predictor, extractor, prog)
                done += 1
            except Exception as exc:  # noqa: BLE001 - classified by type below; anything else propagates
                msg, code = _classify(exc, args.mode)
                if several:
                    failures.append((job.src, msg, code))
                elif code == EXIT_USAGE:
                    raise UsageError(msg) from None
                else:
                    print(f"avemotion analyze: error: {job.src}: {msg}", file=sys.stderr)
                    return EXIT_FAILURE
    for src, msg, _ in failures:
        print(f"avemotion analyze: failed: {src}: {msg}", file=sys.stderr)
    if failures:
        print(f"avemotion analyze: {done} of {len(jobs)} input(s) done, {len(failures)} failed", file=sys.stderr)
        return EXIT_PARTIAL if done else max(code for _, _, code in failures)
    return EXIT_OK


def _progress_bar(args: argparse.Namespace) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeRemainingColumn(), console=Console(stderr=True), disable=args.no_progress, transient=True)


def _run_job(job: _Job, args: argparse.Namespace, predictor: Any, extractor: Any, prog: Any) -> None:
    from rich.console import Console

    if job.error is not None:
        raise job.error
    assert job.path is not None and job.outs is not None
    console = Console()
    from avemotion.cli._common import pipeline_settings

    if not args.force and _up_to_date(job.outs, job.path, predictor, args.mode, pipeline_settings(predictor, args)):
        console.print(f"{job.path}: up to date ({job.outs.summary}); --force recomputes")
        return
    name = _name(job.path)
    task = prog.add_task(name, total=1.0)
    av = args.mode == "av"

    def progress(stage: str, t: float, total: float) -> None:
        frac = min(t / total, 1.0) if total > 0 else 0.0
        # audio features are computed first (~1/3 of the work), video after
        value = frac / 3 if stage == "audio" else (1 / 3 if av else 0) + frac * (2 / 3 if av else 1)
        prog.update(task, completed=value, description=f"{name} [{stage}]")

    doc = analyze_one(job.path, args, predictor, extractor, job.outs, progress)
    prog.remove_task(task)
    if not args.quiet:
        _print_summary(console, job.path, doc, job.outs)


def _classify(exc: Exception, mode: str) -> tuple[str, int]:
    """``(message, exit code)`` of a failed input, by the exception's type: bad input (2) or a
    runtime failure (1: a stream that cannot be opened, a decoder or pipeline error)."""
    from avemotion.features.media import MediaError

    if isinstance(exc, UsageError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, MediaError):
        if exc.kind in ("unreadable", "empty"):
            return f"{exc} (not a media file FFmpeg can read)", EXIT_USAGE
        return str(exc), EXIT_USAGE  # no_audio / no_video: the message names the mode to use
    if isinstance(exc, (OSError, ValueError, RuntimeError)):
        return f"{type(exc).__name__}: {exc}", EXIT_FAILURE
    raise exc
