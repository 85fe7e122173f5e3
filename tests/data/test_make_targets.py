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
