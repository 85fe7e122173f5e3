"""``avemotion analyze``: outputs on the sample clip, audio mode, resume, and bad inputs (exit 2)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from avemotion.cli import main
from avemotion.pipeline.postprocess import detect_laughter_events

from .conftest import DEMO

LABELS = ("anger", "disgust", "fear", "happy", "neutral", "sad")
ROW_KEYS = ["start", "end", "emotion", *[f"p_{k}" for k in LABELS], "laugh_prob", "laughing",
            "face_present_share", "audio_missing", "video_missing"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_rows(rows: list[dict], hop: float = 0.5, threshold: float = 0.5) -> None:
    assert rows
    for r in rows:
        assert list(r) == ROW_KEYS
        assert 0 <= r["start"] < r["end"] and r["end"] - r["start"] <= 2.0 + 1e-6
        p = np.array([r[f"p_{k}"] for k in LABELS])
        assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-4
        assert r["emotion"] == LABELS[int(np.argmax(p))]
        assert 0 <= r["laugh_prob"] <= 1 and r["laughing"] == (r["laugh_prob"] >= threshold)
        assert 0 <= r["face_present_share"] <= 1
        assert isinstance(r["audio_missing"], bool) and isinstance(r["video_missing"], bool)
    ends = np.array([r["end"] for r in rows])
    assert np.allclose(np.diff(ends), hop)  # one row per hop, no gaps


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, bundle_dir: Path) -> tuple[Path, str]:
    pytest.importorskip("facenet_pytorch")
    out = tmp_path_factory.mktemp("demo") / "out"
    rc = main(["analyze", str(DEMO), "--model", str(bundle_dir), "--random-facenet", "--out", str(out),
               "--plot", str(out / "timeline.png"), "--no-progress"])
    assert rc == 0
    return out, str(bundle_dir)


@pytest.mark.slow
@pytest.mark.video
def test_demo_clip_outputs(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    rows = _rows(out / "windows.jsonl")
    _check_rows(rows)
    # the clip is 12 s: windows end every 0.5 s up to 12.0
    assert rows[-1]["end"] == pytest.approx(12.0)
    # 10-12 s has no face: the last window (10, 12] has face_present_share 0; 0-8 s has the face throughout
    assert rows[-1]["face_present_share"] == 0.0
    assert all(r["face_present_share"] == 1.0 for r in rows if 1.0 <= r["end"] <= 8.0)
    assert not any(r["audio_missing"] for r in rows if r["end"] >= 1.0)
    assert not any(r["video_missing"] for r in rows)

    ev = json.loads((out / "events.json").read_text())
    assert set(ev) == {"threshold_on", "threshold_off", "min_duration_s", "events"}
    # the events are exactly what the probabilities in the rows give
    expect = detect_laughter_events([r["start"] for r in rows], [r["end"] for r in rows],
                                    [r["laugh_prob"] for r in rows], on=ev["threshold_on"],
                                    off=ev["threshold_off"], min_duration_s=ev["min_duration_s"])
    got = [t for e in ev["events"] for t in (e["onset"], e["offset"], e["peak_time"])]
    assert got == pytest.approx([t for e in expect for t in (e.onset, e.offset, e.peak_time)], abs=1e-4)
    assert ev["events"], "the seeded tiny model crosses its threshold on this clip"
    for e in ev["events"]:
        assert set(e) == {"onset", "offset", "duration", "peak_time", "peak_prob"}
        assert e["offset"] - e["onset"] == pytest.approx(e["duration"]) and e["duration"] >= ev["min_duration_s"]
        inside = [r for r in rows if e["onset"] < r["end"] <= e["offset"]]
        assert inside and all(r["laugh_prob"] >= ev["threshold_off"] - 1e-6 for r in inside)
        assert e["peak_prob"] == pytest.approx(max(r["laugh_prob"] for r in inside), abs=1e-5)
        assert e["peak_prob"] >= ev["threshold_on"]

    s = json.loads((out / "summary.json").read_text())
    for key in ("windows", "duration_s", "emotion_shares", "mean_probabilities", "laughter_count",
                "laughter_total_s", "face_present_share", "input", "mode", "model", "settings", "timings",
                "real_time_factor", "sync", "outputs"):
        assert key in s, key
    assert s["windows"] == len(rows) and s["laughter_count"] == len(ev["events"])
    assert sum(s["emotion_shares"].values()) == pytest.approx(1.0)
    assert s["settings"]["video_fps"] == 1.0 and s["settings"]["hop_s"] == 0.5
    assert s["random_facenet"] is True
    assert all(v >= 0 for v in s["timings"].values()) and s["timings"]["face_detection_s"] > 0

    png = out / "timeline.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert float(np.std(img[..., :3])) > 0.01  # not a blank image


@pytest.mark.slow
@pytest.mark.video
def test_rerun_is_up_to_date(demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    out, model = demo_run
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    rc = main(["analyze", str(DEMO), "--model", model, "--random-facenet", "--out", str(out),
               "--plot", str(out / "timeline.png"), "--no-progress"])
    assert rc == 0
    assert "up to date" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_audio_mode_csv_and_resume(tmp_path: Path, bundle_dir: Path, speech_wav: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "rows.csv"
    assert main(["analyze", str(speech_wav), "--model", str(bundle_dir), "--mode", "audio", "--csv", str(f),
                 "--no-progress"]) == 0
    with f.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ROW_KEYS
    # 4 s of audio, 1 s audio windows: analysis windows end at 1.0, 1.5, ..., 4.0
    assert [float(r["end"]) for r in rows] == pytest.approx(np.arange(1.0, 4.01, 0.5))
    assert all(r["video_missing"] == "True" and r["audio_missing"] == "False" for r in rows)
    assert all(float(r["face_present_share"]) == 0.0 for r in rows)
    summary = json.loads((tmp_path / "rows.summary.json").read_text())
    assert summary["mode"] == "audio" and summary["timings"]["face_detection_s"] == 0.0
    assert (tmp_path / "rows.events.json").is_file()
    capsys.readouterr()
    assert main(["analyze", str(speech_wav), "--model", str(bundle_dir), "--mode", "audio", "--csv", str(f),
                 "--no-progress"]) == 0
    assert "up to date" in capsys.readouterr().out
    mtime = f.stat().st_mtime_ns
    assert main(["analyze", str(speech_wav), "--model", str(bundle_dir), "--mode", "audio", "--csv", str(f),
                 "--no-progress", "--force", "--quiet"]) == 0
    assert f.stat().st_mtime_ns != mtime


def test_several_inputs_report_failures_and_go_on(tmp_path: Path, bundle_dir: Path, speech_wav: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["analyze", str(speech_wav), str(tmp_path / "nope.wav"), "--model", str(bundle_dir),
               "--mode", "audio", "--out", str(tmp_path / "o"), "--no-progress", "--quiet"])
    assert rc == 3
    assert "nope.wav" in capsys.readouterr().err
    assert (tmp_path / "o" / "speech" / "summary.json").is_file()


def _usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_missing_file(tmp_path: Path, bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage(["analyze", str(tmp_path / "missing.mp4"), "--model", str(bundle_dir), "--mode", "audio"], capsys)
    assert "no such file" in err and "missing.mp4" in err


def test_non_media_file(tmp_path: Path, bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "notes.mp4"
    f.write_text("this is not a video\n" * 50)
    err = _usage(["analyze", str(f), "--model", str(bundle_dir), "--mode", "audio", "--no-progress"], capsys)
    assert "notes.mp4" in err and "not a media file" in err


def test_audio_only_file_in_av_mode(tmp_path: Path, bundle_dir: Path, speech_wav: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("facenet_pytorch")
    err = _usage(["analyze", str(speech_wav), "--model", str(bundle_dir), "--random-facenet", "--no-progress",
                  "--out", str(tmp_path)], capsys)
    assert "no video stream" in err and "--mode audio" in err
    assert not any(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("src", ["foo://host/x.mp4", "gopher://x"])
def test_unknown_url_scheme(src: str, bundle_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage(["analyze", src, "--model", str(bundle_dir), "--mode", "audio"], capsys)
    assert "unknown URL scheme" in err and "udp://" in err


def test_http_url_matches_file(tmp_path: Path, bundle_dir: Path, speech_wav: Path) -> None:
    """A stream URL (HTTP on loopback) is read to its end and gives the file's rows."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(speech_wav.parent))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{speech_wav.name}"
        common = ["--model", str(bundle_dir), "--mode", "audio", "--no-progress", "--quiet"]
        assert main(["analyze", url, "--out", str(tmp_path / "http"), *common]) == 0
        assert main(["analyze", str(speech_wav), "--out", str(tmp_path / "file"), *common]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert _rows(tmp_path / "http" / "windows.jsonl") == _rows(tmp_path / "file" / "windows.jsonl")
    assert json.loads((tmp_path / "http" / "summary.json").read_text())["input"] == {"url": url}


def test_missing_model(tmp_path: Path, speech_wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage(["analyze", str(speech_wav), "--model", str(tmp_path / "nomodel"), "--mode", "audio"], capsys)
    assert "--model" in err and "bundle.json" in err


def test_missing_facenet_weights(tmp_path: Path, bundle_dir: Path, speech_wav: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("facenet_pytorch")
    monkeypatch.delenv("AVEMOTION_FACENET_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("AVEMOTION_CACHE", str(tmp_path / "cache"))  # no converted default weights there
    err = _usage(["analyze", str(DEMO), "--model", str(bundle_dir), "--no-progress"], capsys)
    assert "FaceNet" in err and "weights" in err and "--random-facenet" in err


def test_laughter_threshold_option(tmp_path: Path, bundle_dir: Path, speech_wav: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--laughter-threshold replaces the bundle's: events.json and summary.json record it, rows'
    `laughing` follow it, and outputs made with another threshold are not up to date."""
    f = tmp_path / "rows.jsonl"
    base = ["analyze", str(speech_wav), "--model", str(bundle_dir), "--mode", "audio", "--jsonl", str(f), "--no-progress"]
    assert main([*base, "--laughter-threshold", "0.999"]) == 0
    ev = json.loads((tmp_path / "rows.events.json").read_text())
    assert ev["threshold_on"] == 0.999
    assert json.loads((tmp_path / "rows.summary.json").read_text())["settings"]["laughter_threshold"] == 0.999
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    assert all(r["laughing"] == (r["laugh_prob"] >= 0.999) for r in rows)
    capsys.readouterr()
    assert main([*base, "--laughter-threshold", "0.999"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main([*base, "--laughter-threshold", "0.001"]) == 0
    assert "up to date" not in capsys.readouterr().out
    assert all(json.loads(line)["laughing"] for line in f.read_text().splitlines())
    err = _usage([*base, "--laughter-threshold", "1.5"], capsys)
    assert "--laughter-threshold" in err and "1.5" in err


def test_bad_option_values(bundle_dir: Path, speech_wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage(["analyze", str(speech_wav), "--model", str(bundle_dir), "--mode", "audio", "--min-event-s", "-1"], capsys)
    assert "--min-event-s" in err and "-1" in err
    err = _usage(["analyze", str(speech_wav), "--model", str(bundle_dir), "--redetect-every", "0"], capsys)
    assert "--redetect-every" in err and "got 0" in err


def test_end_of_media_flush(bundle_dir: Path, speech_wav: Path) -> None:
    """At the end of the media the synchronizer is flushed: every window up to the hop holding the
    last step is reported, none after it; the final windows are not counted as forced (only those the
    max-latency rule cut while video never came); the counters hold only real steps."""
    from avemotion import pipeline
    from avemotion.features.audio import extract_audio
    from avemotion.features.media import decode_audio
    from avemotion.inference import load_model

    pred = load_model(bundle_dir)
    s = pipeline.PipelineSettings.from_bundle(pred.bundle)
    res = pipeline.analyze_file(speech_wav, pred, mode="audio", settings=s)
    a_ts = extract_audio(decode_audio(speech_wav).samples, window_s=s.audio_window_s, hop_s=s.audio_hop_s).times
    last_t = float(a_ts[-1])
    st = res.sync_stats
    ends = [r.end for r in res.results]
    assert ends[-1] == pipeline.last_window_end(last_t, s.hop_s) and ends[-1] - s.hop_s < last_t <= ends[-1]
    assert st["audio"]["accepted"] == res.n_audio_steps == a_ts.size and st["video"]["accepted"] == 0
    assert st["emitted"] == st["popped"] == len(ends) and st["pending"] == 0
    max_latency = max(1.0, 2 * s.hop_s)  # analyze_file's
    assert st["forced"] == sum(e + max_latency <= last_t for e in ends) < len(ends)


# -- issue 16: streams without data, file:// URLs, outputs checked first, partial decodes


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("timeouts", [["--read-timeout", "1"], ["--open-timeout", "1", "--read-timeout", "60"]])
def test_udp_without_data_gives_up_after_its_timeout_and_exits_1(tmp_path: Path, bundle_dir: Path,
                                                                 timeouts: list[str]) -> None:
    """Nothing is ever sent: the stream cannot be opened (exit 1, not 2), after the open timeout
    (default: the read timeout), not after a fixed 10 s. The subprocess timeout only bounds a hang."""
    import subprocess
    import sys

    from .conftest import ROOT

    url = f"udp://127.0.0.1:{_free_udp_port()}"
    cmd = [sys.executable, "-m", "avemotion", "analyze", url, "--model", str(bundle_dir), "--mode", "audio",
           "--no-progress", "--out", str(tmp_path / "o"), *timeouts]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert f"cannot open {url}: nothing received within 1 s" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()


def test_percent_encoded_file_url(tmp_path: Path, bundle_dir: Path, speech_wav: Path) -> None:
    import shutil

    f = tmp_path / "my clip #1.wav"
    shutil.copy(speech_wav, f)
    assert "%20" in f.as_uri() and "%23" in f.as_uri()
    out = tmp_path / "o"
    assert main(["analyze", f.as_uri(), "--model", str(bundle_dir), "--mode", "audio", "--out", str(out),
                 "--no-progress", "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["input"]["path"] == str(f)
    assert main(["analyze", "file://localhost" + str(f).replace(" ", "%20").replace("#", "%23"), "--model",
                 str(bundle_dir), "--mode", "audio", "--out", str(out), "--no-progress", "--quiet"]) == 0


@pytest.mark.parametrize("case", ["out_is_file", "out_under_file", "jsonl_is_dir", "csv_under_file", "plot_is_dir",
                                  "default_out_is_file"])
def test_unusable_output_paths_are_refused_before_any_work(case: str, tmp_path: Path, speech_wav: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from avemotion.cli import analyze

    def no_model(*a: object) -> None:
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(analyze, "load_predictor", no_model)
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    a_dir = tmp_path / "adir"
    a_dir.mkdir()
    opts, arg = {
        "out_is_file": (["--out", str(a_file)], "--out"),
        "out_under_file": (["--out", str(a_file / "sub")], "--out"),
        "jsonl_is_dir": (["--jsonl", str(a_dir)], "--jsonl"),
        "csv_under_file": (["--csv", str(a_file / "rows.csv")], "--csv"),
        "plot_is_dir": (["--out", str(tmp_path / "o"), "--plot", str(a_dir)], "--plot"),
        "default_out_is_file": ([], "--out"),
    }[case]
    if case == "default_out_is_file":
        monkeypatch.chdir(tmp_path)
        (tmp_path / "out").write_text("a file where the default output folder goes")
    err = _usage(["analyze", str(speech_wav), "--mode", "audio", "--no-progress", *opts], capsys)
    assert err.startswith(f"avemotion analyze: error: {arg}: ") and "Traceback" not in err
    assert ("is a file" in err) or ("not a regular file" in err)
    assert a_file.read_text() == "x" and not any(a_dir.iterdir())


def test_truncated_mp4_summary_says_it_was_analysed_in_part(tmp_path: Path, bundle_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "truncated.mp4"
    f.write_bytes(DEMO.read_bytes()[:60000])  # the header says 12 s; the data holds ~3.5 s
    out = tmp_path / "o"
    assert main(["analyze", str(f), "--model", str(bundle_dir), "--mode", "audio", "--out", str(out),
                 "--no-progress"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["complete"] is False
    d = s["decode"]
    assert d["complete"] is False and d["declared_s"] == pytest.approx(12.03, abs=0.01) and d["audio_s"] < 5.0
    assert any("audio decoding stopped early" in w for w in d["warnings"])
    assert "decoded only in part" in capsys.readouterr().out
    # a whole file says complete
    assert main(["analyze", str(DEMO), "--model", str(bundle_dir), "--mode", "audio", "--out", str(tmp_path / "w"),
                 "--no-progress", "--quiet"]) == 0
    s = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert s["complete"] is True and s["decode"]["warnings"] == []


def _audio_only_copy(bundle_dir: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(bundle_dir, dst)
    meta = json.loads((dst / "bundle.json").read_text())
    meta.setdefault("training", {})["modalities"] = ["audio"]
    meta.get("features", {}).pop("trained_modalities", None)
    (dst / "bundle.json").write_text(json.dumps(meta))
    return dst


@pytest.mark.slow
@pytest.mark.video
def test_audio_only_bundle_in_av_mode_says_so_once(tmp_path: Path, bundle_dir: Path, short_clip: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 14: faces are detected and reported, the model is fed audio only, the note is printed once
    for the run (two inputs); ``--mode video`` cannot run such a model (exit 2, before any work)."""
    pytest.importorskip("facenet_pytorch")
    model = _audio_only_copy(bundle_dir, tmp_path / "model")
    out = tmp_path / "o"
    rc = main(["analyze", str(DEMO), str(short_clip), "--model", str(model), "--random-facenet", "--out", str(out),
               "--no-progress", "--quiet"])
    assert rc == 0
    err = capsys.readouterr().err
    assert err.count("note: the model was trained on audio only") == 1 and "face presence is reported" in err
    summary = json.loads((out / "demo_clip" / "summary.json").read_text())
    assert summary["model_inputs"] == ["audio"] and summary["video_steps"] > 0
    rows = _rows(out / "demo_clip" / "windows.jsonl")
    assert any(r["face_present_share"] > 0 for r in rows)  # face presence still reported
    err = _usage(["analyze", str(DEMO), "--model", str(model), "--mode", "video", "--random-facenet",
                  "--out", str(tmp_path / "v"), "--no-progress"], capsys)
    assert "--mode video" in err and "trained on audio only" in err and not (tmp_path / "v").exists()
