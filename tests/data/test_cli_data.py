"""``avemotion data``: per-corpus commands, unify, balance, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avemotion.cli import main
from avemotion.data.manifest import check_leakage, read_manifest


def test_cremad_then_balance(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "emotion_v1.csv"
    rc = main(["data", "cremad", "--root", str(tmp_path), "--names-file", str(shared_data / "cremad" / "AudioWAV_filenames.txt"),
               "--assume-duration", "2.5", "--out", str(out)])
    assert rc == 0 and len(read_manifest(out)) == 7442
    assert "cremad" in capsys.readouterr().out
    rc = main(["data", "balance", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "17.08%" in text and "14.61%" in text
    weights = json.loads((tmp_path / "emotion_v1.class_weights.json").read_text())["class_weights"]
    assert weights["neutral"] == pytest.approx(7442 / (6 * 1087))


def test_audioset_partial_exit_code_and_unify(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "audioset.csv"
    rc = main(["data", "audioset", "--root", str(shared_data / "audioset"), "--out", str(a), "--seed", "5"])
    assert rc == 3  # written, but the real annotations have unusable rows, listed on stderr
    assert "clean_laughter_annotations.csv:" in capsys.readouterr().err
    u = tmp_path / "laughter_v1.csv"
    rc = main(["data", "unify", "--inputs", str(a), str(tmp_path / "ami.csv"), "--out", str(u), "--resplit",
               "--proportions", "0.7,0.15,0.15"])
    assert rc == 0 and check_leakage(read_manifest(u)) == {}
    assert json.loads(u.with_name("laughter_v1.summary.json").read_text())["n_rows"] == len(read_manifest(a))
    assert main(["data", "balance", str(u), "--split", "train", "--weights-out", str(tmp_path / "w.json")]) == 0
    assert set(json.loads((tmp_path / "w.json").read_text())["class_weights"]) == {"laughter", "no_laughter"}


def test_usage_errors_and_skip_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "ami", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "a.csv")]) == 2
    assert "nope not found" in capsys.readouterr().err
    assert main(["data", "ami", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "a.csv"), "--skip-missing"]) == 0
    assert main(["data", "unify", "--inputs", str(tmp_path / "x.csv"), "--out", str(tmp_path / "u.csv"), "--skip-missing"]) == 0
    assert main(["data", "unify", "--inputs", str(tmp_path / "x.csv"), "--out", str(tmp_path / "u.csv")]) == 2
    assert main(["data", "balance", str(tmp_path / "missing.csv")]) == 2
    with pytest.raises(SystemExit):
        main(["data", "cremad", "--root", ".", "--out", "x.csv", "--proportions", "0.5,0.5,0.5"])
