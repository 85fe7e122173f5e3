"""``avemotion live``: real-time emotion and laughter from a stream, a file, or a camera and microphone.

Sources (one of):
    ``--source URL``   anything FFmpeg opens: ``udp://HOST:PORT`` (e.g. MPEG-TS), ``rtsp://``, ``rtmp://``,
                       ``http(s)://``, ``tcp://``, ``srt://``, a file path or ``file://`` URL. Files are read as
                       fast as the pipeline consumes them unless ``--realtime`` paces them to the media clock.
                       The stream ends when the source ends or sends nothing for ``--read-timeout`` seconds.
    ``--camera N``     OpenCV camera N, with ``--mic NAME`` (sounddevice/PortAudio input device, name or
                       index; default input device) in ``--mode av``; ``--list-devices`` lists both.

Capture runs on its own thread(s), feature extraction on an audio and a video worker, the synchronizer
and the model on an inference thread (see :class:`avemotion.pipeline.LiveEngine`); the terminal view
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
from pathlib import Path
from typing import Any, TextIO

from avemotion.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError
from avemotion.cli.analyze import add_model_args, load_extractor, load_predictor, split_source


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
    for name in ("open_timeout", "read_timeout", "max_latency"):
        v = getattr(args, name)
        if not v > 0:
            raise UsageError(f"--{name.replace('_', '-')}: expected > 0, got {v}")
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration: expected > 0 seconds, got {args.duration}")
    if not 0 < args.ema_alpha <= 1:
        raise UsageError(f"--ema-alpha: expected a value in (0, 1], got {args.ema_alpha}")
    if args.enhanced is False and args.ema_alpha != 0.4:
        raise UsageError("--ema-alpha: only with --enhanced")


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


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from avemotion import pipeline

    to_stdout = args.jsonl == "-"
    if args.list_devices:
        list_devices(sys.stdout)
        return EXIT_OK
    _validate(args)
    if args.mode == "audio" and args.camera is not None and args.mic is None:
        pass  # the default input device
    url = None
    if args.source is not None:
        scheme, target = split_source(args.source)
        if scheme == "file":
            if not Path(target).is_file():
                raise UsageError(f"--source: no such file: {target}")
            url = target
        else:
            url = args.source
    predictor = load_predictor(args.model)
    extractor = load_extractor(args)
    settings = pipeline.PipelineSettings.from_bundle(predictor.bundle)

    console = Console(stderr=to_stdout)
    out: TextIO | None = None
    if args.jsonl and not to_stdout:
        Path(args.jsonl).parent.mkdir(parents=True, exist_ok=True)
        out = open(args.jsonl, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    elif to_stdout:
        out = sys.stdout
    shown: queue.SimpleQueue[tuple[Any, dict[str, Any]]] = queue.SimpleQueue()
    out_lock = threading.Lock()

    def on_result(r: Any, info: dict[str, Any]) -> None:
        if out is not None:
            row = r.to_row() | {"latency_ms": round(info["latency_s"] * 1000, 1) if info["latency_s"] is not None else None,
                                "forced": info["forced"]}
            with out_lock:
                out.write(json.dumps(row, separators=(",", ":")) + "\n")
                out.flush()
        shown.put((r, info))

    is_file = url is not None and split_source(args.source)[0] == "file"
    cfg = pipeline.LiveConfig(
        mode=args.mode, enhanced=args.enhanced, ema_alpha=args.ema_alpha,
        # a file read as fast as the pipeline goes waits for every modality: no window is forced
        max_latency_s=max(args.max_latency, 30.0) if is_file and not args.realtime else args.max_latency,
        blocking=is_file and not args.realtime, clock_sync="none" if url is not None else "drift",
    )
    engine = pipeline.LiveEngine(predictor, cfg, video_extractor=extractor, settings=settings, on_result=on_result)
    source: Any
    if url is not None:
        opts = pipeline.stream_options(url)
        source = pipeline.StreamSource(url, engine, fps=settings.video_fps, realtime=args.realtime,
                                       open_timeout_s=args.open_timeout, read_timeout_s=args.read_timeout, options=opts)
    else:
        source = pipeline.DeviceSource(engine, camera=args.camera, mic=args.mic, fps=settings.video_fps)
    engine.start()
    try:
        source.start()
    except RuntimeError as exc:
        engine.on_end("error", str(exc))
        engine.wait(10)
        raise UsageError(str(exc)) from None
    # one line on stderr once capture has started (scripts and tests wait for it)
    print(f"avemotion live: reading {args.source or f'camera {args.camera}'} (mode {args.mode}"
          f"{', enhanced' if args.enhanced else ''}; model {predictor.bundle.path}"
          f"{', a demonstration model' if predictor.bundle.training.get('demonstration') else ''})",
          file=sys.stderr, flush=True)
    view = _View(console, settings.labels, settings.laughter_threshold)
    t_end = None if args.duration is None else time.monotonic() + args.duration
    interrupted = False
    live = Live(view.render(engine), console=console, refresh_per_second=4, transient=False) if not args.no_display else None
    try:
        if live is not None:
            live.start()
        while not engine.finished:
            try:
                item = shown.get(timeout=0.25)
                view.last = item
                while True:  # keep only the newest for display
                    view.last = shown.get_nowait()
            except queue.Empty:
                pass
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
        if out is not None and out is not sys.stdout:
            out.close()
    if rep is None:
        print("avemotion live: error: the pipeline did not stop within the timeout", file=sys.stderr)
        return EXIT_FAILURE
    report_out = sys.stderr if to_stdout else sys.stdout
    for line in _report_lines(rep):
        print(line, file=report_out)
    if args.stats_json is not None:
        from avemotion.analysis import atomic_write_text

        atomic_write_text(args.stats_json, json.dumps(rep.to_dict(), indent=2, default=str) + "\n")
    if interrupted:
        return EXIT_INTERRUPTED
    if rep.error or rep.end_reason == "error":
        print(f"avemotion live: error: {rep.error or rep.end_reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
