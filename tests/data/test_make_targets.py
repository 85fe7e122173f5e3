"""The Makefile's dataset targets: all processors, missing corpora skipped, unified manifest."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from avemotion.data.manifest import check_leakage, find_overlaps, read_manifest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_laughter_data_with_some_corpora_missing(shared_data: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(shared_data / "audioset", raw / "audioset")
    stm = raw / "tedlium" / "train" / "stm" / "T1.stm"
    stm.parent.mkdir(parents=True)
    stm.write_text("T1 1 T1 1.0 2.0 <o,f0,male> so funny (Laughter)\nT1 1 T1 5.0 6.0 <o,f0,male> words\n")
    manifests = tmp_path / "manifests"
    proc = subprocess.run(
        ["make", "-C", str(REPO), "laughter_data", f"PYTHON={sys.executable}", f"DATA_ROOT={raw}",
         f"MANIFEST_DIR={manifests}"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for corpus in ("ami", "mustard", "liris_accede", "cremad"):
        assert f"skipping {corpus}" in proc.stderr
    rows = read_manifest(manifests / "laughter_v1.csv")
    assert {r.corpus for r in rows} == {"audioset", "tedlium"}
    assert check_leakage(rows) == {} and find_overlaps(rows) == []
    assert (manifests / "laughter_v1.summary.json").is_file()
    assert not (manifests / "emotion_v1.csv").exists()


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(REPO), *args, f"PYTHON={sys.executable}"],
                          capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_real_manifests_from_shared_data(shared_data: Path, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    proc = _make("real_manifests", f"REAL_DATA={shared_data}", f"MANIFEST_DIR={manifests}",
                 f"DATA_ROOT={tmp_path / 'raw'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    emotion = read_manifest(manifests / "emodb.csv", kind="emotion")
    assert len(emotion) == 350 and {r.corpus for r in emotion} == {"emodb"}
    laughs = read_manifest(manifests / "laughter_folder.csv", kind="laughter")
    assert len(laughs) == 12 and {r.label for r in laughs} == {"laughter"}
    real = read_manifest(manifests / "laughter_real.csv", kind="laughter")
    assert sum(r.label == "laughter" for r in real) == 12 and sum(r.label == "no_laughter" for r in real) == 408
    assert check_leakage(real) == {} and find_overlaps(real) == []
    assert all(Path(r.media_path).is_absolute() and Path(r.media_path).is_file() for r in real)
    # EmoDB clips carry the same id and split in both manifests (one example, both labels)
    split_of = {r.clip_id: r.split for r in real}
    assert all(split_of[r.clip_id] == r.split for r in emotion)
    missing = _make("real_manifests", f"REAL_DATA={tmp_path / 'nope'}", f"MANIFEST_DIR={manifests}")
    assert missing.returncode != 0 and "not found (set REAL_DATA" in missing.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_rules_come_from_the_registry(tmp_path: Path) -> None:
    from avemotion.data import registry

    proc = _make("-n", "laughter_data", f"MANIFEST_DIR={tmp_path}", f"DATA_ROOT={tmp_path / 'raw'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for c in registry.CORPORA:
        for o in c.outputs:
            assert f"{tmp_path}/{o.manifest}" in proc.stdout, (c.name, o.manifest)
    assert "--laughter-negatives" in proc.stdout and "ingest_liris_accede.py" in proc.stdout
    listing = _make("-s", "corpora")
    assert listing.returncode == 0 and all(c.name in listing.stdout for c in registry.CORPORA)
    generated = (REPO / "datasets" / ".corpora.mk").read_text()
    assert generated == registry.makefile()  # remade from the registry, not edited by hand
