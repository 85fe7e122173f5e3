"""``avemotion live``: real-time emotion and laughter from a stream, a file, or a camera and microphone.

Sources (one of):
    ``--source URL``   anything FFmpeg opens: ``udp://HOST:PORT`` (e.g. MPEG-TS), ``rtsp://``, ``rtmp://``,
                       ``http(s)://``, ``tcp://``, ``srt://``, a file path or ``file://`` URL. Files are read as
                       fast as the pipeline consumes them unless ``--realtime`` paces them to the media clock.
                       The stream ends when the source ends or sends nothing for ``--read-timeout`` seconds.
    ``--camera N``     OpenCV camera N, with ``--mic NAME`` (sounddevice/PortAudio input device, name or
                       index; default input device) in ``--mode av``; ``--list-devices`` lists both.

Capture runs on its own thread(s), feature extraction on an audio and a video worker, the synchronizer
and the model on an inference thread (see :class:`avemotion.pipeline.live.engine.LiveEngine`); the terminal view
(rich) only reads results, so it never blocks capture. When a worker falls behind, video frames are
dropped (oldest first) rather than delaying everything; a window waits at most ``--max-latency``
seconds of stream time for the lagging modality.

Modes: ``--mode av`` (audio + video; the original ``compatible_realtime_emotion.py``), ``--enhanced``
(exponential smoothing of the probabilities, alpha ``--ema-alpha``, and laughter hysteresis: on at the
model's threshold, off 0.15 below; the original ``enhanced_compatible_realtime_emotion.py``),
``--mode video`` (faces only; the original ``video_only_emotion.py``), ``--mode audio`` (voice only).
``--device cpu|cuda|cuda:N|auto`` (default cpu): where face detection and FaceNet run, as for
``avemotion analyze`` (``cuda`` without CUDA warns and uses the CPU; exit 2 with ``AVEMOTION_STRICT=1``).

Output: ``--jsonl PATH`` (or ``-`` for stdout; the view and the report then go to stderr) gets one row
per window as it is predicted: the ``analyze`` row fields plus ``latency_ms`` (capture to prediction)
and ``forced`` (emitted without waiting for the lagging modality). On exit (end of stream,
``--duration`` reached, Ctrl-C) a report: windows emitted and dropped, video frames captured and
dropped, capture-to-prediction latency p50/p95/p99, clock drift estimates (video against audio from
the synchronizer; media clock against the wall clock); ``--stats-json PATH`` writes it as JSON.

Exit codes: 0 the stream ended or the duration was reached, 1 the source failed (cannot open,
stream error) or the pipeline failed, 2 bad input (unknown URL scheme, missing file, missing model or
weights), 130 interrupted (the report is still printed).
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from avemotion.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError
from avemotion.cli._common import (
    FILE_SCHEME,
    add_model_args,
    check_model_extractor,
    check_output_file,
    load_extractor,
    load_predictor,
    model_inputs_notice,
    positive,
    split_source,
)


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser(
        "live",
        help="real-time emotion + laughter from a stream URL, a file, or camera + microphone",
        description="Real-time analysis with a live terminal view; prints latency percentiles, "
        "windows emitted/dropped and drift on exit. Exit codes: 0 ok, 1 source/pipeline failure, "
        "2 bad input, 130 interrupted.",
    )
    src = p.add_argument_group("source")
    one = src.add_mutually_exclusive_group()
    one.add_argument("--source", metavar="URL", help="udp://, rtsp://, rtmp://, http(s)://, tcp://, srt://, file path or file://")
    one.add_argument("--camera", type=int, metavar="N", help="OpenCV camera index")
    src.add_argument("--mic", metavar="NAME", help="microphone (sounddevice device name or index) with --camera")
    src.add_argument("--list-devices", action="store_true", help="list cameras and microphones, then exit")
    src.add_argument("--realtime", action="store_true", help="pace a file source to its media clock")
    src.add_argument("--open-timeout", type=float, default=10.0, help="seconds to wait for the source to start (default 10)")
    src.add_argument("--read-timeout", type=float, default=3.0,
                     help="seconds without data that end the stream (default 3)")
    add_model_args(p)
    g = p.add_argument_group("live")
    g.add_argument("--enhanced", action="store_true", help="smooth probabilities (EMA) and laughter hysteresis")
    g.add_argument("--ema-alpha", type=float, default=0.4, help="weight of the newest window with --enhanced (default 0.4)")
    g.add_argument("--max-latency", type=float, default=1.5,
                   help="seconds of stream time a window waits for the lagging modality (default 1.5)")
    g.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    g.add_argument("--jsonl", metavar="PATH|-", help="write one JSON row per window (- = stdout)")
    g.add_argument("--stats-json", type=Path, metavar="PATH", help="write the end-of-run report as JSON")
    g.add_argument("--no-display", action="store_true", help="no live terminal view")
    p.set_defaults(func=run)
    return p


def list_devices(out: TextIO) -> None:
    """Print microphones (sounddevice) and the cameras OpenCV can open (indices 0-9)."""
    try:
        import sounddevice as sd

        print("microphones (--mic NAME or index):", file=out)
        for i, d in enumerate(sd.query_devices()):
            if d.get("max_input_channels", 0) > 0:
                print(f"  {i}: {d['name']} ({d['max_input_channels']} ch, {d['default_samplerate']:.0f} Hz)", file=out)
    except (ImportError, OSError) as exc:
        print(f"microphones: unavailable ({exc}); pip install sounddevice (and PortAudio: apt-get install libportaudio2)", file=out)
    import cv2

    cams = []
    for i in range(10):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            cams.append(f"  {i}: {int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}")
        cap.release()
    print("cameras (--camera N):" if cams else "cameras: none found (indices 0-9)", file=out)
    for c in cams:
        print(c, file=out)


def _validate(args: argparse.Namespace) -> None:
    if args.source is None and args.camera is None:
        raise UsageError("give a source: --source URL or --camera N (or --list-devices)")
    if args.mic is not None and args.camera is None:
        raise UsageError("--mic: only with --camera (a --source URL carries its own audio)")
    if args.realtime and args.source is None:
        raise UsageError("--realtime: only with --source (a file)")
    positive(args, "open_timeout", "read_timeout", "max_latency")
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration: expected > 0 seconds, got {args.duration}")
    if not 0 < args.ema_alpha <= 1:
        raise UsageError(f"--ema-alpha: expected a value in (0, 1], got {args.ema_alpha}")
    if args.enhanced is False and args.ema_alpha != 0.4:
        raise UsageError("--ema-alpha: only with --enhanced")
    if args.jsonl and args.jsonl != "-":
        check_output_file(Path(args.jsonl), "--jsonl")
    if args.stats_json is not None:
        check_output_file(args.stats_json, "--stats-json")


def _source_url(args: argparse.Namespace) -> str | None:
    """The URL or file path to decode (``--source``; a file checked), or None for ``--camera``."""
    if args.source is None:
        return None
    scheme, target = split_source(args.source)
    if scheme != FILE_SCHEME:
        return args.source
    if not Path(target).is_file():
        raise UsageError(f"--source: no such file: {target}")
    return target


class _View:
    """Rich terminal view fed from a queue; rendering happens on the caller's (main) thread."""

    def __init__(self, console: Any, labels: tuple[str, ...], threshold: float) -> None:
        self.console, self.labels, self.threshold = console, labels, threshold
        self.last: tuple[Any, dict[str, Any]] | None = None
        self.n = 0

    def render(self, engine: Any) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        t = Table.grid(padding=(0, 1))
        t.add_column(justify="right")
        t.add_column()
        t.add_column(justify="right")
        if self.last is None:
            t.add_row("", "waiting for the first window...", "")
        else:
            r, info = self.last
            t.add_row("emotion", f"[bold]{r.emotion}[/]", f"{r.start:.1f}-{r.end:.1f} s")
            for lab in self.labels:
                p = r.probabilities[lab]
                t.add_row(lab, "█" * int(round(p * 30)) + "·" * (30 - int(round(p * 30))), f"{p:.2f}")
            lp = r.laugh_prob
            cells = int(round(lp * 30))
            mark = int(round(self.threshold * 30))
            bar = "".join("█" if i < cells else ("|" if i == mark else "·") for i in range(30))
            t.add_row("laughter", f"[{'red' if r.laughing else 'white'}]{bar}[/]",
                      f"{lp:.2f}{' LAUGHING' if r.laughing else ''}")
            lat = info.get("latency_s")
            t.add_row("latency", f"{lat * 1000:.0f} ms" if lat is not None else "-", "")
        t.add_row("windows", f"{engine.windows_emitted}", "")
        t.add_row("dropped", f"video frames {engine.frames_dropped}/{engine.frames_captured}, "
                             f"audio {engine.audio_dropped_s:.1f} s", "")
        return Panel(t, title="avemotion live", subtitle="Ctrl-C to stop")


def _report_lines(rep: Any) -> list[str]:
    def ms(v: float | None) -> str:
        return f"{v * 1000:.0f} ms" if v is not None else "n/a"

    sync = rep.sync or {}
    steps_dropped = (sync.get("audio") or {}).get("dropped", 0) + (sync.get("video") or {}).get("dropped", 0)
    wall = f"{rep.media_vs_wall_ppm:+.0f} ppm" if rep.media_vs_wall_ppm is not None else "n/a (run too short)"
    return [
        f"windows: {rep.windows_emitted} emitted, {rep.windows_dropped} dropped "
        f"({sync.get('forced', 0)} forced without the lagging modality; {steps_dropped} late/out-of-order steps dropped)",
        f"video frames: {rep.video_frames_captured} captured, {rep.video_frames_dropped} dropped; "
        f"audio: {rep.audio_seconds_captured:.1f} s captured, {rep.audio_seconds_dropped:.1f} s dropped",
        f"latency (capture to prediction, {rep.latencies_measured} windows): p50 {ms(rep.latency_p50_s)}, "
        f"p95 {ms(rep.latency_p95_s)}, p99 {ms(rep.latency_p99_s)}, max {ms(rep.latency_max_s)}",
        "drift: video vs audio " + (f"{rep.av_drift_ppm:+.0f} ppm" if rep.av_drift_ppm is not None
                                     else "n/a (one container clock)") + f"; media clock vs wall clock {wall}",
        f"ended: {rep.end_reason} after {rep.wall_s:.1f} s" + (f" (error: {rep.error})" if rep.error else ""),
    ]


@dataclass
class _RowSink:
    """Where window rows go: ``--jsonl PATH`` (a file), ``-`` (stdout) or nowhere; and the display queue."""

    out: TextIO | None = None
    shown: queue.SimpleQueue[tuple[Any, dict[str, Any]]] = field(default_factory=queue.SimpleQueue)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, jsonl: str | None) -> _RowSink:
        if jsonl == "-":
            return cls(sys.stdout)
        if jsonl:
            Path(jsonl).parent.mkdir(parents=True, exist_ok=True)
            return cls(open(jsonl, "w", encoding="utf-8"))  # noqa: SIM115 - closed by close()
        return cls()

    def __call__(self, r: Any, info: dict[str, Any]) -> None:  # the engine's on_result (inference thread)
        if self.out is not None:
            lat = info["latency_s"]
            row = r.to_row() | {"latency_ms": round(lat * 1000, 1) if lat is not None else None, "forced": info["forced"]}
            with self.lock:
                self.out.write(json.dumps(row, separators=(",", ":")) + "\n")
                self.out.flush()
        self.shown.put((r, info))

    def close(self) -> None:
        if self.out is not None and self.out is not sys.stdout:
            self.out.close()


def _build(args: argparse.Namespace, url: str | None, predictor: Any, extractor: Any,
           sink: _RowSink) -> tuple[Any, Any]:
    """The engine and its source for the options."""
    from avemotion import pipeline
    from avemotion.cli._common import pipeline_settings

    settings = pipeline_settings(predictor, args)
    is_file = url is not None and split_source(args.source)[0] == FILE_SCHEME
    read_fast = is_file and not args.realtime  # a file read as fast as the pipeline goes: nothing dropped
    cfg = pipeline.LiveConfig(
        mode=args.mode, enhanced=args.enhanced, ema_alpha=args.ema_alpha,
        # ... and it waits for every modality: no window is forced
        max_latency_s=max(args.max_latency, 30.0) if read_fast else args.max_latency,
        blocking=read_fast, clock_sync="none" if url is not None else "drift",
    )
    engine = pipeline.LiveEngine(predictor, cfg, video_extractor=extractor, settings=settings, on_result=sink)
    if url is None:
        return engine, pipeline.DeviceSource(engine, camera=args.camera, mic=args.mic, fps=settings.video_fps)
    return engine, pipeline.StreamSource(url, engine, fps=settings.video_fps, realtime=args.realtime,
                                         open_timeout_s=args.open_timeout, read_timeout_s=args.read_timeout,
                                         options=pipeline.stream_options(url))


def _start(engine: Any, source: Any) -> None:
    """Start the engine, then the source; a device that cannot be opened is a :class:`UsageError`."""
    from avemotion.pipeline import SourceError

    engine.start()
    try:
        source.start()
    except SourceError as exc:
        engine.on_end("error", exc)
        engine.wait(10)
        raise UsageError(str(exc)) from None


def _watch(engine: Any, source: Any, view: _View, sink: _RowSink, args: argparse.Namespace, console: Any) -> tuple[Any, bool]:
    """Show results until the engine finishes (or ``--duration``, or Ctrl-C); returns ``(report or
    None if the pipeline did not stop, interrupted)``."""
    from rich.live import Live

    from avemotion import pipeline

    t_end = None if args.duration is None else time.monotonic() + args.duration
    interrupted = False
    live = None if args.no_display else Live(view.render(engine), console=console, refresh_per_second=4)
    try:
        if live is not None:
            live.start()
        while not engine.finished:
            _take_newest(sink.shown, view)
            if live is not None:
                live.update(view.render(engine))
            if t_end is not None and time.monotonic() >= t_end and not engine.stopping:
                engine.stop(f"duration {args.duration:g} s reached")
    except KeyboardInterrupt:
        interrupted = True
        engine.stop("interrupted")
    finally:
        if isinstance(source, pipeline.DeviceSource):
            source.close()
        rep = engine.wait(timeout=args.read_timeout + 60)
        if live is not None:
            live.update(view.render(engine))
            live.stop()
        sink.close()
    return rep, interrupted


def _take_newest(shown: queue.SimpleQueue[tuple[Any, dict[str, Any]]], view: _View) -> None:
    """Wait up to 0.25 s for results; keep only the newest for display."""
    try:
        view.last = shown.get(timeout=0.25)
        while True:
            view.last = shown.get_nowait()
    except queue.Empty:
        pass


def _finish(rep: Any, interrupted: bool, args: argparse.Namespace, report_out: TextIO) -> int:
    """Print the report (and ``--stats-json``); the exit code."""
    if rep is None:
        print("avemotion live: error: the pipeline did not stop within the timeout", file=sys.stderr)
        return EXIT_FAILURE
    for line in _report_lines(rep):
        print(line, file=report_out)
    if args.stats_json is not None:
        from avemotion._io import atomic_write_text

        atomic_write_text(args.stats_json, json.dumps(rep.to_dict(), indent=2, default=str) + "\n")
    if interrupted:
        return EXIT_INTERRUPTED
    if rep.error or rep.end_reason == "error":
        print(f"avemotion live: error: {rep.error or rep.end_reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    if args.list_devices:
        list_devices(sys.stdout)
        return EXIT_OK
    _validate(args)
    url = _source_url(args)
    predictor = load_predictor(args.model)
    notice = model_inputs_notice(predictor, args.mode)
    if notice:  # once per run
        print(f"avemotion live: note: {notice}", file=sys.stderr, flush=True)
    extractor = load_extractor(args)
    check_model_extractor(predictor, extractor, args.mode)
    to_stdout = args.jsonl == "-"
    sink = _RowSink.open(args.jsonl)
    try:
        engine, source = _build(args, url, predictor, extractor, sink)
        _start(engine, source)
    except BaseException:
        sink.close()
        raise
    # one line on stderr once capture has started (scripts and tests wait for it)
    bundle = predictor.bundle
    print(f"avemotion live: reading {args.source or f'camera {args.camera}'} (mode {args.mode}"
          f"{', enhanced' if args.enhanced else ''}; model {bundle.path}"
          f"{', a demonstration model' if bundle.training.get('demonstration') else ''})",
          file=sys.stderr, flush=True)
    console = Console(stderr=to_stdout)
    view = _View(console, engine.settings.labels, engine.settings.laughter_threshold)
    rep, interrupted = _watch(engine, source, view, sink, args, console)
    return _finish(rep, interrupted, args, sys.stderr if to_stdout else sys.stdout)
