"""Soak test: ``avemotion live`` on a looped UDP stream for a while; resident memory must not grow.

::

    python benchmarks/soak_live.py [--seconds 300] [--model DIR] [--clip FILE] [--max-growth-mb 64]
    nox -s soak -- --seconds 600

ffmpeg loops the clip forever in real time (``-stream_loop -1 -re ... -f mpegts udp://127.0.0.1:PORT``,
loopback only, a free port); ``avemotion live --source udp://... --no-display`` runs for ``--seconds``.
The live process's resident set size (VmRSS from /proc) is sampled every second; the report gives
it after warm-up (``--warmup`` seconds, default 20% of the run: models loaded, buffers full) and at the
end, the maximum, the growth, plus the live report (windows, drops, latency p50/p95/p99, drift).
Exit 1 when RSS grew more than ``--max-growth-mb`` between warm-up and the end, or live failed.
FaceNet uses random weights (torch) unless ``--facenet-weights`` is given, or ``--real-facenet``: live's
default, the CASIA-WebFace weights in ONNX Runtime (what a user runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="how long live runs (default 120)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds before the first RSS sample (default 20%%)")
    ap.add_argument("--clip", type=Path, default=ROOT / "samples" / "demo_clip.mp4")
    ap.add_argument("--model", type=Path, default=None, help="model bundle (default: live's default)")
    ap.add_argument("--facenet-weights", type=Path, default=None)
    ap.add_argument("--real-facenet", action="store_true",
                    help="live's default FaceNet (the converted CASIA-WebFace weights in ONNX Runtime: "
                         "`avemotion weights`) instead of random weights")
    ap.add_argument("--max-growth-mb", type=float, default=64.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the soak report here")
    args = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("soak: ffmpeg not found", file=sys.stderr)
        return 2
    warmup = args.warmup if args.warmup is not None else 0.2 * args.seconds
    tmp = Path(tempfile.mkdtemp(prefix="avemotion-soak-"))
    clip = tmp / "clip.mp4"  # a keyframe every second: a receiver never waits long for video
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(args.clip), "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
                   check=True, timeout=300)
    port = free_udp_port()
    stats = tmp / "live_stats.json"
    cmd = [sys.executable, "-m", "avemotion", "live", "--source", f"udp://127.0.0.1:{port}", "--no-display",
           "--duration", str(args.seconds), "--open-timeout", "120", "--stats-json", str(stats)]
    cmd += ["--model", str(args.model)] if args.model else []
    if args.facenet_weights:
        cmd += ["--facenet-weights", str(args.facenet_weights)]
    elif not args.real_facenet:
        cmd += ["--random-facenet"]
    live = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # keep reading stderr so that live never blocks on a full pipe
        assert live.stderr is not None
        for line in live.stderr:
            err_lines.append(line)
            if line.startswith("avemotion live: reading"):
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    ready.wait(300)
    if live.poll() is not None:
        print("soak: live exited before starting:\n" + "".join(err_lines)[-2000:], file=sys.stderr)
        return 1
    ff = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-stream_loop", "-1", "-re", "-i", str(clip),
                           "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"])
    t0 = time.monotonic()
    samples: list[tuple[float, float]] = []
    try:
        while live.poll() is None:
            r = rss_mb(live.pid)
            if r is not None:
                samples.append((time.monotonic() - t0, r))
            time.sleep(1.0)
    finally:
        ff.terminate()
        ff.wait(10)
        if live.poll() is None:
            live.kill()
    out = live.stdout.read() if live.stdout else ""
    live.wait()
    err = "".join(err_lines)
    after = [r for t, r in samples if t >= warmup]
    if not after:
        print(f"soak: no RSS samples after warm-up ({warmup:g} s); live stderr:\n{err[-2000:]}", file=sys.stderr)
        return 1
    start, end, peak = after[0], after[-1], max(r for _, r in samples)
    rep = json.loads(stats.read_text()) if stats.is_file() else {}
    doc = {"seconds": args.seconds, "warmup_s": warmup, "rss_start_mb": round(start, 1), "rss_end_mb": round(end, 1),
           "rss_peak_mb": round(peak, 1), "rss_growth_mb": round(end - start, 1), "live_exit": live.returncode,
           "live": {k: rep.get(k) for k in ("windows_emitted", "windows_dropped", "video_frames_captured",
                                            "video_frames_dropped", "latency_p50_s", "latency_p95_s",
                                            "latency_p99_s", "av_drift_ppm", "media_vs_wall_ppm", "end_reason")}}
    print(f"RSS after warm-up ({warmup:g} s): {start:.1f} MB; at the end ({samples[-1][0]:.0f} s): {end:.1f} MB; "
          f"growth {end - start:+.1f} MB; peak {peak:.1f} MB")
    print("\n".join(line for line in out.splitlines() if not line.startswith(("Running cmake", "[", "--", "ninja"))))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    if live.returncode != 0:
        print(f"soak: live exited with {live.returncode}:\n{err[-2000:]}", file=sys.stderr)
        return 1
    if end - start > args.max_growth_mb:
        print(f"soak: FAIL: RSS grew {end - start:.1f} MB (> {args.max_growth_mb:g} MB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
