"""``extract --backend ray`` on a real Ray runtime: a local one (``ray.init(num_cpus=2)``) and a head
node started on 127.0.0.1 with ``ray start --head``, joined with ``--ray-address``.

The same task function as the process pool: per-clip failures, resume and ``index.csv`` must come out
the same. Every Ray process a test starts is stopped at its end, also when it fails.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from avemotion.features import extract as E
from avemotion.features.clipfile import load_clip

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

AUDIO_ONLY = E.ExtractSettings(video=False, audio_hop_s=0.25)
# what differs between two runs of the same clip: timings (also recorded in the file's meta, so its
# size and hash differ too)
VOLATILE = {"decode_s", "audio_s", "video_s", "total_s", "bytes", "sha256"}


def _env() -> dict[str, str]:
    """The environment for Ray processes: the avemotion under test importable from any cwd, no
    usage report sent out."""
    import avemotion

    src = str(Path(avemotion.__file__).resolve().parents[1])
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        RAY_USAGE_STATS_ENABLED="0",
    )


def _tasks(media: dict[str, Path]) -> list[E.ClipTask]:
    return [
        E.ClipTask("tone", str(media["tone"])),
        E.ClipTask("speech", str(media["speech"])),
        E.ClipTask("stereo", str(media["stereo44k"])),
        E.ClipTask("bad", str(media["corrupt"])),
        E.ClipTask("missing", str(media["tone"].parent / "nope.wav")),
        E.ClipTask("past_end", str(media["tone"]), 5.0, 6.0),
    ]


def _index(out: Path) -> dict[str, dict[str, str]]:
    with (out / "index.csv").open(newline="") as fh:
        return {r["clip_id"]: r for r in csv.DictReader(fh)}


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.npz")}


def _short_tmp() -> str:
    # Ray's Unix sockets live under its temp dir: keep the path short (108-byte limit)
    return tempfile.mkdtemp(prefix="avr", dir="/tmp")


@pytest.fixture(scope="module")
def pool_run(media, tmp_path_factory) -> Path:
    """The reference: the same tasks through the local process pool."""
    out = tmp_path_factory.mktemp("pool")
    E.extract_corpus(_tasks(media), out, AUDIO_ONLY, workers=2)
    return out


def _same_as_pool(out: Path, pool: Path) -> None:
    got, want = _index(out), _index(pool)
    assert list(got) == list(want)
    for cid, row in want.items():
        g = {k: v for k, v in got[cid].items() if k not in VOLATILE}
        w = {k: v for k, v in row.items() if k not in VOLATILE}
        assert g == w, cid  # status, error kind and text, counts, warnings
    for f in pool.glob("*.npz"):
        a, b = load_clip(out / f.name), load_clip(f)
        np.testing.assert_array_equal(a.audio, b.audio)
        np.testing.assert_array_equal(a.audio_times, b.audio_times)


@pytest.fixture
def local_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k, v in _env().items():
        if os.environ.get(k) != v:
            monkeypatch.setenv(k, v)
    tmp = _short_tmp()
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 2**20,
        include_dashboard=False,
        _temp_dir=tmp,
        logging_level="warning",
    )
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def test_local_runtime_matches_the_pool(media, tmp_path: Path, pool_run: Path, local_ray) -> None:
    out = tmp_path / "ray"
    seen: list[str] = []
    res = E.extract_corpus(
        _tasks(media), out, AUDIO_ONLY, backend="ray", progress=lambda r: seen.append(r.clip_id)
    )
    assert sorted(seen) == sorted(t.clip_id for t in _tasks(media))
    assert [r.status for r in res] == ["ok", "ok", "ok", "error", "error", "error"]
    assert {r.clip_id: r.error_kind for r in res if r.status == "error"} == {
        "bad": "unreadable",
        "missing": "unreadable",
        "past_end": "empty",
    }
    assert all(r.total_s > 0 for r in res)
    _same_as_pool(out, pool_run)
    assert ray.is_initialized()  # a runtime the caller started is left running

    # resume: finished clips are skipped (their files untouched), failed ones tried again,
    # a damaged file is redone
    stamps = _stamps(out)
    (out / "tone.npz").write_bytes((out / "tone.npz").read_bytes()[:100])
    again = E.extract_corpus(_tasks(media), out, AUDIO_ONLY, backend="ray")
    assert [r.status for r in again] == [r.status for r in res]
    after = _stamps(out)
    assert (
        after["speech.npz"] == stamps["speech.npz"] and after["stereo.npz"] == stamps["stereo.npz"]
    )
    assert after["tone.npz"] != stamps["tone.npz"]
    _same_as_pool(out, pool_run)

    # a set-up error (not the clip's fault) stops the run, as with the pool
    from avemotion.features.video import FaceNetWeightsMissing

    bad = E.ExtractSettings(facenet_weights=str(tmp_path / "no-such-weights.pt"))
    with pytest.raises(FaceNetWeightsMissing, match="no-such-weights"):
        E.extract_corpus(_tasks(media)[:1], tmp_path / "w", bad, backend="ray")


def test_a_runtime_started_for_the_run_is_stopped(
    media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in _env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray.is_initialized()
    (r,) = E.extract_corpus(
        [E.ClipTask("tone", str(media["tone"]))], tmp_path, AUDIO_ONLY, backend="ray"
    )
    assert r.status == "ok" and not ray.is_initialized()


# --- a head node on 127.0.0.1 -----------------------------------------------------------------------
def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _descendants(root: int) -> dict[int, str]:
    """pid -> start time of every live descendant of ``root`` (Linux /proc)."""
    parent: dict[int, tuple[int, str]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            f = stat[stat.rindex(")") + 2 :].split()
            if f[0] != "Z":
                parent[int(d.name)] = (int(f[1]), f[19])
    out: dict[int, str] = {}
    frontier = [root]
    while frontier:
        p = frontier.pop()
        for pid, (ppid, start) in parent.items():
            if ppid == p and pid not in out:
                out[pid] = start
                frontier.append(pid)
    return out


def _alive(procs: dict[int, str]) -> list[int]:
    alive = []
    for pid, start in procs.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2 :].split()
        if f[19] == start and f[0] != "Z":
            alive.append(pid)
    return alive


@pytest.fixture
def head_node() -> Iterator[str]:
    """``ray start --head --block`` on 127.0.0.1 (2 CPUs, its own ports and temp dir); yields its
    address; stops it (SIGTERM, then SIGKILL of anything of it still running) afterwards."""
    exe = Path(sys.executable).parent / "ray"
    if not exe.exists():
        pytest.skip(f"no ray command beside {sys.executable}")
    gcs, client, node_mgr, obj_mgr, agent, agent_grpc, metrics, renv = _free_ports(8)
    tmp = _short_tmp()
    cmd = [
        str(exe), "start", "--head", "--block", "--disable-usage-stats",
        "--node-ip-address", "127.0.0.1", "--port", str(gcs), "--num-cpus", "2",
        "--object-store-memory", str(80 * 2**20), "--include-dashboard", "false",
        "--ray-client-server-port", str(client), "--node-manager-port", str(node_mgr),
        "--object-manager-port", str(obj_mgr), "--dashboard-agent-listen-port", str(agent),
        "--dashboard-agent-grpc-port", str(agent_grpc), "--metrics-export-port", str(metrics),
        "--runtime-env-agent-port", str(renv), "--temp-dir", tmp,
    ]  # fmt: skip
    log = open(Path(tmp) / "head.log", "wb")  # noqa: SIM115
    head = subprocess.Popen(
        cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    procs: dict[int, str] = {}
    address = f"127.0.0.1:{gcs}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert head.poll() is None, (Path(tmp) / "head.log").read_text()[-3000:]
            procs.update(_descendants(head.pid))
            if "--block" in (Path(tmp) / "head.log").read_text():
                break  # "... block forever until terminated by a signal"
            time.sleep(0.1)
        else:
            pytest.fail("ray head did not come up: " + (Path(tmp) / "head.log").read_text()[-3000:])
        yield address
    finally:
        procs.update(_descendants(head.pid))
        if head.poll() is None:
            head.send_signal(signal.SIGTERM)  # --block: stops every process of the node
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                head.kill()
                head.wait()
        deadline = time.monotonic() + 60
        while _alive(procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(procs)
        for pid in left:  # only processes of this head node
            os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"ray processes left after stopping the head node: {left}"


def test_cli_against_a_head_node(media, tmp_path: Path, pool_run: Path, head_node: str) -> None:
    assert not ray.is_initialized()
    m = tmp_path / "m.csv"
    with m.open("w", newline="") as fh:
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
        for t in _tasks(media):
            end = t.end if t.end is not None else 60.0  # manifests need an end; past it is fine
            w.writerow(
                [
                    t.clip_id,
                    "test",
                    t.media_path,
                    t.start,
                    end,
                    "laughter",
                    "event",
                    "",
                    "g",
                    "train",
                ]
            )
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "avemotion",
        "extract",
        str(m),
        "-o",
        str(out),
        "--backend",
        "ray",
        "--ray-address",
        head_node,
        "--modalities",
        "audio",
        "--hop",
        "0.25",
        "--no-progress",
    ]
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 3, p.stderr[-3000:]  # some clips failed: the run went on
    assert "3/6 clips ok" in p.stdout
    got = _index(out)
    assert {c: r["status"] for c, r in got.items()} == {
        "tone": "ok",
        "speech": "ok",
        "stereo": "ok",
        "bad": "error",
        "missing": "error",
        "past_end": "error",
    }
    for f in pool_run.glob("*.npz"):
        np.testing.assert_array_equal(load_clip(out / f.name).audio, load_clip(f).audio)
    # rerun: nothing finished is redone, the failures are tried again (and fail again)
    stamps = _stamps(out)
    p2 = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert p2.returncode == 3 and _stamps(out) == stamps, p2.stderr[-3000:]
