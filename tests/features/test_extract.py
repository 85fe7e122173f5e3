from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avemotion.cli import main
from avemotion.features import extract as E
from avemotion.features.clipfile import load_clip

AUDIO_ONLY = E.ExtractSettings(video=False, audio_hop_s=0.25)
AV = E.ExtractSettings(audio_hop_s=0.25, video_fps=2.5, allow_random_weights=True)


def _index(out: Path) -> dict[str, dict[str, str]]:
    with (out / "index.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0].keys()) == list(E.INDEX_COLUMNS) if rows else True
    return {r["clip_id"]: r for r in rows}


def _manifest(path: Path, rows: list[tuple[str, Path, float, float]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "clip_id",
                "corpus",
                "media_path",
                "start",
                "end",
                "label",
                "label_kind",
                "source_detail",
                "group",
                "split",
            ]
        )
        for cid, media, s, e in rows:
            w.writerow([cid, "test", str(media), s, e, "laughter", "event", "", "g", "train"])
    return path


@pytest.fixture(scope="module")
def av_run(media, tmp_path_factory) -> tuple[Path, list[E.ClipResult]]:
    pytest.importorskip("facenet_pytorch")
    out = tmp_path_factory.mktemp("av")
    tasks = [
        E.ClipTask("face", str(media["face_av"])),
        E.ClipTask("noaudio", str(media["noaudio"])),
        E.ClipTask("noface", str(media["noface"])),
        E.ClipTask("speech_only", str(media["speech"])),
        E.ClipTask("corrupt", str(media["corrupt"])),
        E.ClipTask("empty", str(media["empty"])),
        E.ClipTask("lowrate", str(media["lowrate"])),
        E.ClipTask("missing", str(media["face_av"].parent / "nope.mp4")),
        E.ClipTask("past_end", str(media["tone"]), 5.0, 6.0),
        E.ClipTask("short", str(media["tone"]), 0.0, 0.5),
    ]
    return out, E.extract_corpus(tasks, out, AV, workers=1)


@pytest.mark.video
def test_every_bad_media_case_is_reported(av_run) -> None:
    out, results = av_run
    by = {r.clip_id: r for r in results}
    idx = _index(out)
    assert [r.clip_id for r in results] == list(idx)
    expect_error = {
        "corrupt": "unreadable",
        "empty": "empty",
        "lowrate": "bad_sample_rate",
        "missing": "unreadable",
        "past_end": "empty",
    }
    for cid, kind in expect_error.items():
        assert by[cid].status == "error" and by[cid].error_kind == kind, by[cid]
        assert (
            idx[cid]["status"] == "error"
            and idx[cid]["error"]
            and not (out / f"{cid}.npz").exists()
        )
    assert "nope.mp4" in by["missing"].error
    for cid in ("face", "noaudio", "noface", "speech_only", "short"):
        assert by[cid].status == "ok" and (out / f"{cid}.npz").is_file(), by[cid]
    assert (
        "no audio stream" in by["noaudio"].warning
        and by["noaudio"].n_audio == 0
        and by["noaudio"].n_video == 3
    )
    assert "no video stream" in by["speech_only"].warning and by["speech_only"].n_video == 0
    assert (
        "no face" in by["noface"].warning
        and by["noface"].n_faces == 0
        and by["noface"].n_video == 4
    )
    assert "shorter than one window" in by["short"].warning and by["short"].n_audio == 0
    assert all(float(idx[c]["total_s"]) > 0 for c in idx)


@pytest.mark.video
def test_clip_file_contents(av_run) -> None:
    out, results = av_run
    c = load_clip(out / "face.npz")
    assert c.audio.shape == (6, 89) and c.audio.dtype == np.float32  # 2.4 s, 1 s window, 0.25 s hop
    np.testing.assert_allclose(c.audio_times, 1.0 + 0.25 * np.arange(6))
    assert c.video.shape == (6, 512) and c.video_mask.all()
    np.testing.assert_allclose(c.video_times, np.arange(6) / 2.5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(c.video, axis=1), 1.0, atol=1e-5)
    assert c.meta["clip_id"] == "face" and c.meta["facenet_weights"] == "random"
    assert c.meta["source"]["audio_rate"] == 22050 and c.meta["settings"]["video_fps"] == 2.5
    n = load_clip(out / "noface.npz")
    assert not n.video_mask.any() and not n.video.any()


def test_resume_skips_done_and_redoes_missing(
    media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = [
        E.ClipTask("a", str(media["tone"])),
        E.ClipTask("b", str(media["speech"])),
        E.ClipTask("c", str(media["corrupt"])),
    ]
    calls: list[str] = []
    real = E.extract_clip

    def counting(task, out_dir, settings):
        calls.append(task.clip_id)
        return real(task, out_dir, settings)

    monkeypatch.setattr(E, "extract_clip", counting)

    def interrupt_after_first(r: E.ClipResult) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        E.extract_corpus(tasks, tmp_path, AUDIO_ONLY, progress=interrupt_after_first)
    assert calls == ["a"] and list(_index(tmp_path)) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "index.csv"]  # nothing partial
    (tmp_path / ".b.npz.abc.tmp").write_bytes(b"junk from a killed run")
    calls.clear()
    res = E.extract_corpus(tasks, tmp_path, AUDIO_ONLY)
    assert calls == ["b", "c"] and [r.status for r in res] == ["ok", "ok", "error"]
    calls.clear()
    (
        tmp_path / "index.csv"
    ).unlink()  # index lost: rows of finished clips are rebuilt from the files
    res2 = E.extract_corpus(tasks, tmp_path, AUDIO_ONLY)
    assert (
        calls == ["c"]
        and res2[0].n_audio == res[0].n_audio
        and res2[1].seconds == pytest.approx(res[1].seconds)
    )
    calls.clear()
    E.extract_corpus(tasks[:1], tmp_path, AUDIO_ONLY, resume=False)
    assert calls == ["a"] and list(_index(tmp_path)) == ["a", "b", "c"]  # other clips' rows kept


def test_process_pool(media, tmp_path: Path) -> None:
    tasks = [
        E.ClipTask("tone", str(media["tone"])),
        E.ClipTask("speech", str(media["speech"])),
        E.ClipTask("bad", str(media["corrupt"])),
    ]
    res = E.extract_corpus(tasks, tmp_path, AUDIO_ONLY, workers=2)
    assert [r.status for r in res] == ["ok", "ok", "error"]
    inproc = E.extract_clip(tasks[0], tmp_path / "inproc", AUDIO_ONLY)
    np.testing.assert_array_equal(
        load_clip(tmp_path / "tone.npz").audio, load_clip(tmp_path / "inproc" / "tone.npz").audio
    )
    assert inproc.n_audio == res[0].n_audio == 5


def test_ray_backend_missing(media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the real Ray runtime is tested in test_extract_ray.py; here: a clear error when it is absent
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeError, match=r"pip install 'avemotion\[cluster\]'"):
        E.extract_corpus([E.ClipTask("t", str(media["tone"]))], tmp_path, AUDIO_ONLY, backend="ray")
    assert not (tmp_path / "t.npz").exists()


def test_manifest_reading(media, tmp_path: Path) -> None:
    m = _manifest(tmp_path / "m.csv", [("a", Path(media["tone"].name), 0.0, 1.5)])
    (t,) = E.read_tasks(m, media_root=media["tone"].parent)
    assert t.media_path == str(media["tone"]) and (t.start, t.end) == (0.0, 1.5)
    bad = _manifest(
        tmp_path / "bad.csv", [("a", media["tone"], 0.0, 1.0), ("a", media["tone"], 0.0, 1.0)]
    )
    with pytest.raises(ValueError, match="bad.csv:3: duplicate"):
        E.read_tasks(bad)
    bad2 = _manifest(tmp_path / "bad2.csv", [("a", media["tone"], 2.0, 1.0)])
    with pytest.raises(ValueError, match="bad2.csv:2: need 0 <= start < end"):
        E.read_tasks(bad2)
    with pytest.raises(ValueError, match="clip_id"):
        E.ClipTask("../x", "y")


def test_cli(media, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = _manifest(
        tmp_path / "m.csv", [("tone", media["tone"], 0.0, 2.0), ("bad", media["corrupt"], 0.0, 1.0)]
    )
    out = tmp_path / "out"
    rc = main(
        [
            "extract",
            str(m),
            "-o",
            str(out),
            "--modalities",
            "audio",
            "--workers",
            "1",
            "--no-progress",
            "--hop",
            "0.5",
        ]
    )
    assert rc == 3
    captured = capsys.readouterr()
    assert "1/2 clips ok" in captured.out and "bad: unreadable" in captured.err
    assert load_clip(out / "tone.npz").audio.shape == (3, 89)
    assert (
        main(
            [
                "extract",
                str(media["tone"]),
                "-o",
                str(out),
                "--modalities",
                "audio",
                "--no-progress",
            ]
        )
        == 0
    )
    assert main(["extract", str(m), "-o", str(out), "--modalities", "sound"]) == 2
    assert main(["extract", str(tmp_path / "none.csv"), "-o", str(out)]) == 2
    assert "not found" in capsys.readouterr().err


def test_feature_modules_import_light() -> None:
    import subprocess

    code = (
        "import sys, avemotion.features.extract, avemotion.features.audio, avemotion.features.video, "
        "avemotion.features.media, avemotion.features.clipfile, avemotion.cli.extract; "
        "print(sorted(m for m in ('torch', 'opensmile', 'av', 'tensorflow', 'onnxruntime', 'pandas') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


# --- resume verifies what it skips (issue 16, item 11) -----------------------------------------------
def test_resume_redoes_damaged_outputs(media, tmp_path: Path) -> None:
    tasks = [E.ClipTask("a", str(media["tone"])), E.ClipTask("b", str(media["speech"]))]
    first = E.extract_corpus(tasks, tmp_path, AUDIO_ONLY)
    idx = _index(tmp_path)
    for r in first:
        size, digest = E.file_digest(tmp_path / f"{r.clip_id}.npz")
        assert (r.bytes, r.sha256) == (size, digest) and len(digest) == 64
        assert idx[r.clip_id]["bytes"] == str(size) and idx[r.clip_id]["sha256"] == digest
    good = (tmp_path / "a.npz").read_bytes()

    def stamp(cid: str) -> tuple[int, int]:
        st = (tmp_path / f"{cid}.npz").stat()
        return st.st_ino, st.st_mtime_ns

    # truncated to 100 bytes (what a full disk or a careless copy leaves): extracted again
    (tmp_path / "a.npz").write_bytes(good[:100])
    before_b = stamp("b")
    res = E.extract_corpus(tasks, tmp_path, AUDIO_ONLY)
    assert [r.status for r in res] == ["ok", "ok"]
    assert (tmp_path / "a.npz").read_bytes() != good[:100]
    assert load_clip(tmp_path / "a.npz").audio.shape == (5, 89)
    assert stamp("b") == before_b  # the intact file was skipped, not rewritten

    # same size, one byte changed: the recorded sha256 catches it
    data = bytearray((tmp_path / "a.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "a.npz").write_bytes(bytes(data))
    E.extract_corpus(tasks, tmp_path, AUDIO_ONLY)
    assert E.file_digest(tmp_path / "a.npz")[1] == _index(tmp_path)["a"]["sha256"]
    load_clip(tmp_path / "a.npz")

    # no index (lost, or an older version's without hashes): a load check decides
    (tmp_path / "index.csv").unlink()
    (tmp_path / "a.npz").write_bytes(good[:100])
    before_b = stamp("b")
    res = E.extract_corpus(tasks, tmp_path, AUDIO_ONLY)
    assert [r.status for r in res] == ["ok", "ok"] and stamp("b") == before_b
    load_clip(tmp_path / "a.npz")
    assert _index(tmp_path)["b"]["sha256"] == E.file_digest(tmp_path / "b.npz")[1]  # rebuilt


def test_damaged_output_of_a_clip_that_now_fails_is_removed(media, tmp_path: Path) -> None:
    # a damaged file must not stay behind looking like the clip's features when redoing it fails
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (res,) = E.extract_corpus([E.ClipTask("c", str(media["corrupt"]))], tmp_path, AUDIO_ONLY)
    assert res.status == "error" and not (tmp_path / "c.npz").exists()


# --- file modes (issue 16, item 12) ---------------------------------------------------------------
def test_outputs_get_0666_minus_umask(media, tmp_path: Path) -> None:
    code = (
        "import os, sys; os.umask(0o002); from avemotion.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    out = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "extract",
            str(media["tone"]),
            "-o",
            str(out),
            "--modalities",
            "audio",
            "--no-progress",
        ],
        check=True,
        env=_env(),
        timeout=600,
        capture_output=True,
    )
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes == {"tone.npz": 0o664, "index.csv": 0o664}, {k: oct(v) for k, v in modes.items()}
    # and in this process, whatever its umask is
    E.extract_corpus([E.ClipTask("t", str(media["tone"]))], tmp_path / "here", AUDIO_ONLY)
    mask = os.umask(0)
    os.umask(mask)
    for name in ("t.npz", "index.csv"):
        assert (tmp_path / "here" / name).stat().st_mode & 0o777 == 0o666 & ~mask


# --- workers die with their parent (issue 16, item 7) ----------------------------------------------
def _env() -> dict[str, str]:
    """This interpreter's environment, with the avemotion under test importable from any cwd."""
    import avemotion

    src = str(Path(avemotion.__file__).resolve().parents[1])
    return dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))


def _proc(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a live process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], fields[19]


def _children(pid: int) -> dict[int, str]:
    """pid -> start time of the direct children of ``pid``."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            p = _proc(int(d.name))
            if p is not None and p[0] == pid:
                out[int(d.name)] = p[2]
    return out


def _alive(procs: dict[int, str]) -> list[int]:
    """Those of ``procs`` still running (same pid and start time, not a zombie)."""
    return [
        pid
        for pid, start in procs.items()
        if (p := _proc(pid)) is not None and p[2] == start and p[1] != "Z"
    ]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_pool_workers_die_with_a_killed_extract(media, tmp_path: Path) -> None:
    rows = [(f"c{i}", media["speech"], 0.0, 3.0) for i in range(40)]
    m = _manifest(tmp_path / "m.csv", rows)
    out = tmp_path / "out"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "avemotion",
            "extract",
            str(m),
            "-o",
            str(out),
            "--workers",
            "2",
            "--modalities",
            "audio",
            "--no-progress",
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kids: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 300
        # the pool is running: its two workers and the resource tracker exist, a clip is written
        while time.monotonic() < deadline and p.poll() is None:
            kids = _children(p.pid)
            if len(kids) >= 3 and any(out.glob("*.npz")):
                break
            time.sleep(0.05)
        assert p.poll() is None, f"extract ended (rc {p.returncode}) before it could be killed"
        assert len(kids) >= 3, f"expected 2 workers + the resource tracker, saw {kids}"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
        deadline = time.monotonic() + 60
        while _alive(kids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(kids) == [], "pool processes outlived their killed parent"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for pid in _alive(kids):  # only the processes this test started
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("kwargs", [{"redetect_every": 0}, {"redetect_every": 2.5}, {"audio_mode": "bogus"}])
def test_settings_refuse_bad_tracking_and_audio_mode(kwargs: dict[str, object]) -> None:
    from avemotion.features.extract import ExtractSettings

    with pytest.raises(ValueError, match="redetect_every|mode"):
        ExtractSettings(**kwargs)  # type: ignore[arg-type]
