"""``avemotion live``: end to end over UDP (ffmpeg -re, MPEG-TS on loopback), file sources, the
enhanced mode, the entry scripts and bad inputs. Bounded: every process has a timeout, ``--duration``
caps the live run, and only 127.0.0.1 is used."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from avemotion.cli import main

from .conftest import ROOT


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _udp_bound(port: int) -> bool | None:
    """Whether some socket is bound to UDP ``port`` (from /proc/net/udp*; None where that is missing).
    Read passively: binding the port to probe it could steal it from the receiver."""
    found = None
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        found = bool(found) or any(line.split()[1].endswith(f":{port:04X}") for line in lines if line.strip())
    return found


def _rows(text: str) -> list[dict]:
    # (a development install with editable.rebuild prints its rebuild check on stdout at import: skipped)
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.slow
@pytest.mark.video
def test_udp_stream_end_to_end(tmp_path: Path, bundle_dir: Path, short_clip: Path) -> None:
    """ffmpeg streams 4 s in real time; live emits a window per hop while it plays, reports latency
    percentiles and exits 0 when the stream stops (read timeout), well before --duration.

    Load-independent: --max-latency 60 lets every window wait for both modalities however far a
    worker falls behind on a busy machine (the 4 s stream has only 4 frames at the bundle's 1 fps and
    the audio queue holds 10 s, so nothing is dropped), so the rows are asserted exactly, not by share.
    Real-time behaviour under load (forced windows, drops) is the engine unit tests' and the soak's job."""
    pytest.importorskip("facenet_pytorch")
    port = _free_udp_port()
    stats = tmp_path / "stats.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "avemotion", "live", "--source", f"udp://127.0.0.1:{port}", "--no-display",
           "--jsonl", "-", "--model", str(bundle_dir), "--random-facenet", "--duration", "90",
           "--read-timeout", "3", "--open-timeout", "60", "--max-latency", "60", "--stats-json", str(stats)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    err_lines: list[str] = []
    ready = threading.Event()

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line)
            if line.startswith("avemotion live: reading"):
                ready.set()
        ready.set()

    out_chunks: list[str] = []

    def read_out() -> None:
        assert proc.stdout is not None
        out_chunks.append(proc.stdout.read())

    # one reader per pipe (communicate() would race the stderr reader for the same pipe)
    reader = threading.Thread(target=read_err, daemon=True)
    out_reader = threading.Thread(target=read_out, daemon=True)
    reader.start()
    out_reader.start()
    try:
        assert ready.wait(120), "live did not start"
        # "reading" is printed once the capture thread has started; its socket is bound a moment
        # later. Send only then, else a busy machine loses the stream's first packets.
        bound = threading.Event()
        while _udp_bound(port) is False and proc.poll() is None and not bound.wait(0.02):
            pass
        assert proc.poll() is None, "".join(err_lines)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", str(short_clip), "-c", "copy",
                        "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"], check=True, timeout=60)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(120)  # the process has exited: both readers end at EOF
    out_reader.join(120)
    assert not reader.is_alive() and not out_reader.is_alive()
    out = "".join(out_chunks)
    err = "".join(err_lines)
    assert proc.returncode == 0, err
    rows = _rows(out)
    # a window every hop (0.5 s), without gaps, from media time 0 (as offline) to the end of the stream
    ends = np.array([r["end"] for r in rows])
    assert len(rows) >= 7 and ends[0] == 0.5 and ends[-1] >= 3.5, err
    assert np.allclose(np.diff(ends), 0.5)
    assert all(r["latency_ms"] is None or r["latency_ms"] > 0 for r in rows)
    # no window waited in vain: none forced, audio in every window that can hold an audio step (the
    # first one ends the first full 1 s audio window, as offline), video (the face photo) in every one
    assert not any(r["forced"] for r in rows)
    assert [r["end"] for r in rows if r["audio_missing"]] == [e for e in ends if e < 1.0]
    assert not any(r["video_missing"] for r in rows) and all(r["face_present_share"] == 1.0 for r in rows)
    assert "latency (capture to prediction" in err and "p50" in err and "p95" in err and "p99" in err
    assert "Traceback" not in err
    rep = json.loads(stats.read_text())
    assert rep["windows_emitted"] == len(rows) and rep["video_frames_dropped"] == 0
    assert rep["audio_seconds_dropped"] == 0.0 and rep["sync"]["forced"] == 0
    assert rep["latencies_measured"] > 0 and 0 < rep["latency_p50_s"] <= rep["latency_p95_s"] <= rep["latency_p99_s"]
    assert rep["end_reason"].startswith("no data for 3 s")  # the stream stopped; the duration was not reached
    assert rep["error"] is None


def test_file_source_matches_analyze(tmp_path: Path, bundle_dir: Path, speech_wav: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Audio mode on a file: the live pipeline (streaming extractor, rings, AVSync from threads)
    gives exactly the rows of the offline analysis."""
    off = tmp_path / "off.jsonl"
    assert main(["analyze", str(speech_wav), "--model", str(bundle_dir), "--mode", "audio", "--jsonl", str(off),
                 "--no-progress", "--quiet"]) == 0
    live = tmp_path / "live.jsonl"
    assert main(["live", "--source", f"file://{speech_wav}", "--model", str(bundle_dir), "--mode", "audio",
                 "--no-display", "--jsonl", str(live)]) == 0
    report = capsys.readouterr().out
    a, b = _rows(off.read_text()), _rows(live.read_text())
    assert len(a) == len(b) == 7
    for x, y in zip(a, b, strict=True):
        assert y.pop("forced") is False and y.pop("latency_ms") > 0
        assert x == y
    assert "windows: 7 emitted, 0 dropped" in report and "ended: end of stream" in report


def test_enhanced_smooths_probabilities(tmp_path: Path, bundle_dir: Path, speech_wav: Path) -> None:
    raw, smooth = tmp_path / "raw.jsonl", tmp_path / "smooth.jsonl"
    base = ["live", "--source", str(speech_wav), "--model", str(bundle_dir), "--mode", "audio", "--no-display"]
    assert main([*base, "--jsonl", str(raw)]) == 0
    assert main([*base, "--jsonl", str(smooth), "--enhanced", "--ema-alpha", "0.5"]) == 0
    r = np.array([x["laugh_prob"] for x in _rows(raw.read_text())])
    s_rows = _rows(smooth.read_text())
    s = np.array([x["laugh_prob"] for x in s_rows])
    expect = [r[0]]
    for v in r[1:]:
        expect.append(0.5 * v + 0.5 * expect[-1])
    assert s == pytest.approx(expect, abs=2e-6)
    # hysteresis: on at the threshold (0.5), off below 0.35
    active = False
    for x in s_rows:
        active = x["laugh_prob"] >= (0.35 if active else 0.5)
        assert x["laughing"] == active


def test_entry_scripts_map_to_live_modes() -> None:
    import importlib.util

    for name, flags in (("compatible_realtime_emotion", ["--mode", "av"]),
                        ("enhanced_compatible_realtime_emotion", ["--mode", "av", "--enhanced"]),
                        ("video_only_emotion", ["--mode", "video"])):
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        seen: list[list[str]] = []
        mod.main = lambda argv, seen=seen: seen.append(list(argv)) or 0  # type: ignore[attr-defined]
        assert mod.entry(["--source", "udp://127.0.0.1:5000"]) == 0
        assert seen[-1] == ["live", *flags, "--source", "udp://127.0.0.1:5000"]
        assert mod.entry([]) == 0
        assert seen[-1] == ["live", *flags, "--camera", "0"]


def _usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_bad_inputs(tmp_path: Path, bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = ["--model", str(bundle_dir), "--mode", "audio", "--no-display"]
    assert "unknown URL scheme 'foo'" in _usage(["live", "--source", "foo://x", *m], capsys)
    assert "no such file" in _usage(["live", "--source", str(tmp_path / "none.mp4"), *m], capsys)
    assert "--source URL or --camera N" in _usage(["live", *m], capsys)
    assert "--mic" in _usage(["live", "--source", "udp://127.0.0.1:9", "--mic", "x", *m], capsys)
    assert "--duration" in _usage(["live", "--source", "udp://127.0.0.1:9", "--duration", "0", *m], capsys)


def test_source_that_never_sends_fails_cleanly(bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_udp_port()
    rc = main(["live", "--source", f"udp://127.0.0.1:{port}", "--model", str(bundle_dir), "--mode", "audio",
               "--no-display", "--open-timeout", "1"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "cannot open udp://127.0.0.1" in cap.err
    assert "windows: 0 emitted" in cap.out


def test_list_devices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["live", "--list-devices"]) == 0
    out = capsys.readouterr().out
    assert "microphones" in out and "cameras" in out


def test_camera_without_sounddevice_is_a_clear_error(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    err = _usage(["live", "--camera", "0", "--mode", "audio", "--model", str(bundle_dir), "--no-display"], capsys)
    assert "sounddevice" in err and "--mode video" in err


@pytest.mark.video
def test_video_mode_on_a_file(tmp_path: Path, bundle_dir: Path, short_clip: Path) -> None:
    """--mode video (the original video-only script): faces only, audio never decoded into steps."""
    pytest.importorskip("facenet_pytorch")
    out, stats = tmp_path / "v.jsonl", tmp_path / "v.json"
    assert main(["live", "--source", str(short_clip), "--mode", "video", "--model", str(bundle_dir),
                 "--random-facenet", "--no-display", "--jsonl", str(out), "--stats-json", str(stats)]) == 0
    rows = _rows(out.read_text())
    assert rows and all(r["audio_missing"] and not r["video_missing"] for r in rows)
    assert all(r["face_present_share"] == 1.0 for r in rows)  # the face photo is on screen for 0-4 s
    rep = json.loads(stats.read_text())
    assert rep["audio_seconds_captured"] == 0.0 and rep["video_frames_captured"] == 4  # 4 s at 1 fps
    assert rep["windows_emitted"] == len(rows)


def test_percent_encoded_file_url_source(tmp_path: Path, bundle_dir: Path, speech_wav: Path) -> None:
    import shutil

    f = tmp_path / "my clip.wav"
    shutil.copy(speech_wav, f)
    out = tmp_path / "rows.jsonl"
    assert main(["live", "--source", f.as_uri(), "--model", str(bundle_dir), "--mode", "audio", "--no-display",
                 "--jsonl", str(out)]) == 0
    assert len(_rows(out.read_text())) == 7


@pytest.mark.parametrize("opt", ["--jsonl", "--stats-json"])
def test_unusable_output_paths_are_refused_before_any_work(opt: str, tmp_path: Path, speech_wav: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from avemotion.cli import live

    def no_model(*a: object) -> None:
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(live, "load_predictor", no_model)
    (tmp_path / "taken").write_text("x")
    for target in (tmp_path, tmp_path / "taken" / "x.json"):
        err = _usage(["live", "--source", str(speech_wav), "--mode", "audio", "--no-display", opt, str(target)],
                     capsys)
        assert err.startswith(f"avemotion live: error: {opt}: ") and ("is a file" in err or "not a regular" in err)
