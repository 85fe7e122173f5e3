"""datasets/scripts: fetch_audioset_laughter.sh refuses clearly without yt-dlp or network;
ingest_liris_accede.py unpacks once and writes the manifest."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from avemotion.data.manifest import ManifestRow, read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[2]
FETCH = REPO / "datasets" / "scripts" / "fetch_audioset_laughter.sh"


def _manifest(tmp_path: Path) -> Path:
    m = tmp_path / "audioset.csv"
    write_manifest(m, [ManifestRow("audioset:AAAAAAAAAAA_30000", "audioset", str(tmp_path / "clips" / "AAAAAAAAAAA_30000.wav"),
                                   0.0, 10.0, "laughter", "clip", "", "audioset:AAAAAAAAAAA", "train")])
    return m


def _fake_bin(tmp_path: Path, names: list[str]) -> Path:
    """A PATH folder with bash/python3/curl/dirname etc. and fake versions of ``names``."""
    b = tmp_path / "bin"
    b.mkdir()
    for tool in ("bash", "env", "python3", "curl", "dirname", "basename", "mktemp", "rm", "mkdir", "date", "sleep", "mv", "ls", "head", "cat"):
        src = shutil.which(tool)
        if src:
            (b / tool).symlink_to(src)
    for n in names:
        f = b / n
        f.write_text("#!/bin/sh\nexit 1\n")
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return b


def _run(args: list[str], path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("bash") or "bash", str(FETCH), *args], capture_output=True, text=True,
                          env={"PATH": str(path), **env}, check=False, timeout=60)


def test_fetch_without_ytdlp_exits_2_with_message(tmp_path: Path) -> None:
    proc = _run([str(_manifest(tmp_path))], _fake_bin(tmp_path, ["ffmpeg"]))
    assert proc.returncode == 2 and "yt-dlp not found" in proc.stderr


def test_fetch_offline_exits_4_with_message(tmp_path: Path) -> None:
    # 127.0.0.1:9 (discard port) refuses the connection at once: same as no network
    proc = _run([str(_manifest(tmp_path))], _fake_bin(tmp_path, ["yt-dlp", "ffmpeg"]), PROBE_URL="http://127.0.0.1:9/")
    assert proc.returncode == 4 and "offline" in proc.stderr
    assert not (tmp_path / "clips").exists()


def test_fetch_bad_arguments(tmp_path: Path) -> None:
    proc = _run([str(tmp_path / "nope.csv")], _fake_bin(tmp_path, ["yt-dlp", "ffmpeg"]))
    assert proc.returncode == 2 and "manifest not found" in proc.stderr


def test_ingest_liris_unpacks_zip_once(tmp_path: Path) -> None:
    root = tmp_path / "liris"
    root.mkdir()
    with zipfile.ZipFile(root / "LIRIS-ACCEDE-annotations.zip", "w") as z:
        z.writestr("annotations/ACCEDEranking.txt",
                   "id\tname\tvalenceRank\tarousalRank\tvalenceValue\tarousalValue\tvalenceVariance\tarousalVariance\n"
                   "0\tACCEDE00000.mp4\t1\t1\t3.5\t3.0\t0.1\t0.1\n1\tACCEDE00001.mp4\t2\t2\t1.9\t2.0\t0.1\t0.1\n")
        z.writestr("annotations/ACCEDEsets.txt", "id\tname\tset\n0\tACCEDE00000.mp4\t1\n1\tACCEDE00001.mp4\t0\n")
    with zipfile.ZipFile(root / "LIRIS-ACCEDE-data.zip", "w") as z:
        z.writestr("data/ACCEDEdescription.xml",
                   "<videos><media><id>0</id><name>ACCEDE00000.mp4</name><movie>A.mp4</movie><start>0</start><end>200</end></media>"
                   "<media><id>1</id><name>ACCEDE00001.mp4</name><movie>B.mp4</movie><start>0</start><end>300</end></media></videos>")
    out = tmp_path / "liris.csv"
    cmd = [sys.executable, str(REPO / "datasets" / "scripts" / "ingest_liris_accede.py"), "--root", str(root), "--out", str(out), "--official-sets"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    rows = read_manifest(out)
    assert [(r.label, r.split) for r in rows] == [("laughter", "train"), ("no_laughter", "test")]
    assert (root / "LIRIS-ACCEDE-annotations" / "annotations" / "ACCEDEranking.txt").is_file()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "not unpacking again" in proc.stderr


def test_ingest_refuses_zip_slip(tmp_path: Path) -> None:
    root = tmp_path / "liris"
    root.mkdir()
    with zipfile.ZipFile(root / "LIRIS-ACCEDE-data.zip", "w") as z:
        z.writestr("../evil.txt", "x")
    proc = subprocess.run([sys.executable, str(REPO / "datasets" / "scripts" / "ingest_liris_accede.py"), "--root", str(root)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "outside" in proc.stderr and not (tmp_path / "evil.txt").exists()


@pytest.mark.skipif(not FETCH.is_file(), reason="script missing")
def test_fetch_script_is_executable() -> None:
    assert os.access(FETCH, os.X_OK)


def test_build_laughter_manifest_skips_missing_corpora(shared_data: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(shared_data / "audioset", raw / "audioset")
    out = tmp_path / "manifests"
    proc = subprocess.run([sys.executable, str(REPO / "datasets" / "scripts" / "build_laughter_manifest.py"),
                           "--data-root", str(raw), "--manifests", str(out), "--seed", "3"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]  # written; the real annotations have unusable rows
    assert "skipping ami" in proc.stderr and "skipping cremad" in proc.stderr
    rows = read_manifest(out / "laughter_v1.csv")
    assert rows and {r.corpus for r in rows} == {"audioset"}
