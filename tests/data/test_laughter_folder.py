"""A folder of laughter recordings: one clip row per file, each file its own group, any WAV format."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest

from avemotion.cli import main
from avemotion.data import laughter_folder
from avemotion.data.manifest import read_manifest, unify


def _wav(path: Path, seconds: float, rate: int = 44100, channels: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(b"\0\0" * channels * int(seconds * rate))


def _extensible_float_wav(path: Path, seconds: float, rate: int = 48000) -> None:
    """WAVE_FORMAT_EXTENSIBLE, 32-bit float, stereo, with a LIST chunk before the data (as editors write)."""
    frames = int(seconds * rate)
    data = b"\0" * (frames * 8)
    ext = struct.pack("<HHIIHHHHI", 0xFFFE, 2, rate, rate * 8, 8, 32, 22, 32, 3) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    lst = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"  # odd size: padded
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(ext)) + ext + lst + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_one_row_per_file_groups_and_formats(tmp_path: Path) -> None:
    root = tmp_path / "laughter"
    _wav(root / "wav" / "female-a laugh.wav", 3.1)
    _wav(root / "wav" / "male-b.wav", 2.5, rate=16000, channels=1)
    _extensible_float_wav(root / "wav" / "male-c.wav", 1.5)
    (root / "wav" / "README.txt").write_text("not audio")
    (root / "wav" / ".hidden.wav").write_bytes(b"junk")
    (root / "wav" / "broken.wav").write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    res = laughter_folder.process(root)
    by = {r.clip_id: r for r in res.rows}
    assert set(by) == {"laughter_folder:female-a laugh", "laughter_folder:male-b", "laughter_folder:male-c"}
    assert by["laughter_folder:male-c"].end == pytest.approx(1.5)
    assert by["laughter_folder:female-a laugh"].end == pytest.approx(3.1, abs=1e-4)
    assert all(r.label == "laughter" and r.label_kind == "clip" and r.group == r.clip_id for r in res.rows)
    assert by["laughter_folder:male-b"].media_path == str(root / "wav" / "male-b.wav")
    assert by["laughter_folder:male-b"].source_detail == "file=wav/male-b.wav"
    assert [(Path(e.source).name, "no fmt/data chunk" in e.message) for e in res.errors] == [("broken.wav", True)]
    # the wav/ folder as root gives the same clip ids
    assert {r.clip_id for r in laughter_folder.process(root / "wav").rows} == set(by)


def test_negatives_folder_name_and_unify(tmp_path: Path) -> None:
    _wav(tmp_path / "laughs" / "a.wav", 2.0)
    _wav(tmp_path / "noise" / "a.wav", 2.0)
    laughter_folder.process(tmp_path / "laughs", out=tmp_path / "l.csv")
    neg = laughter_folder.process(tmp_path / "noise", out=tmp_path / "n.csv", label="no_laughter", corpus="noise")
    assert neg.summary is not None and neg.summary.n_rows == 1
    u = unify([tmp_path / "l.csv", tmp_path / "n.csv"], tmp_path / "u.csv")
    assert u.summary.n_rows == 2
    assert {r.clip_id: r.label for r in read_manifest(tmp_path / "u.csv")} == {
        "laughter_folder:a": "laughter", "noise:a": "no_laughter"}
    with pytest.raises(ValueError, match="label must be one of"):
        laughter_folder.process(tmp_path / "laughs", label="giggle")
    with pytest.raises(ValueError, match="corpus must be"):
        laughter_folder.process(tmp_path / "laughs", corpus="Bad Name")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files"):
        laughter_folder.process(tmp_path / "empty")


def test_nested_folders_and_clashing_names(tmp_path: Path) -> None:
    _wav(tmp_path / "female" / "x.wav", 1.0)
    _wav(tmp_path / "male" / "x.wav", 1.0)
    _wav(tmp_path / "male" / "y.wav", 1.0)
    _wav(tmp_path / "male" / "y.WAV", 1.0)  # same clip id as y.wav
    res = laughter_folder.process(tmp_path)
    assert {r.clip_id for r in res.rows} == {"laughter_folder:female.x", "laughter_folder:male.x", "laughter_folder:male.y"}
    assert res.n_errors == 1 and "already gives the clip id" in res.errors[0].message


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _wav(tmp_path / "l" / "a.wav", 1.0)
    out = tmp_path / "m.csv"
    assert main(["data", "laughter_folder", "--root", str(tmp_path / "l"), "--out", str(out),
                 "--label", "no_laughter", "--corpus-name", "silence"]) == 0
    assert [(r.clip_id, r.label) for r in read_manifest(out)] == [("silence:a", "no_laughter")]


def test_real_laughter_recordings(shared_data: Path) -> None:
    res = laughter_folder.process(shared_data / "laughter")
    assert res.n_errors == 0 and len(res.rows) == 12
    durations = sorted(r.end for r in res.rows)
    assert durations[0] == pytest.approx(2.686, abs=1e-3) and durations[-1] == pytest.approx(30.172, abs=1e-3)
    assert len({r.group for r in res.rows}) == 12
