"""EmoDB: labels from the file names, speaker groups, boredom left out (or opted in), laughter
negatives, the Latin-1 listening test; fixtures in the corpus's own format and the real files."""

from __future__ import annotations

import struct
import wave
from collections import Counter
from pathlib import Path

import pytest

from avemotion.cli import main
from avemotion.data import emodb
from avemotion.data.manifest import check_leakage, read_manifest

# erkennung.txt exactly as the corpus ships it: Latin-1, tabs, decimal commas, NBSP (0xA0) padding
ERKENNUNG = (b"Nr.\tSatz\terkannt\tnatuerlich\n"
             b"1\xa0\xa0\t03a01Wa.wav\t95,00\xa0\xa0\xa0\xa0\xa0\t90,00\xa0\xa0\xa0\xa0\xa0\n"
             b"2\xa0\xa0\t03a01Lb.wav\t70,00\xa0\xa0\xa0\xa0\xa0\t35,00\xa0\xa0\xa0\xa0\xa0\n"
             b"3\xa0\xa0\t08a02Fc.wav\t87,50\xa0\xa0\xa0\xa0\xa0\t62,50\xa0\xa0\xa0\xa0\xa0\n"
             b"4\xa0\xa0\tbroken line\n")


def _wav(path: Path, seconds: float, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))


def _corpus(root: Path, crlf: bool = False) -> Path:
    for name, secs in (("03a01Wa", 1.5), ("03a01Lb", 2.25), ("08a02Fc", 1.0), ("08b10Td", 3.0), ("10a04Ea", 2.0),
                       ("11b03Nc", 1.25), ("13a05Ab", 2.5)):
        _wav(root / "wav" / f"{name}.wav", secs)
    (root / "wav" / "99a01Wa.wav").write_bytes(b"")      # unknown speaker
    (root / "wav" / "03a01Xa.wav").write_bytes(b"")      # unknown emotion letter
    (root / "wav" / "notes.txt").write_text("not audio")  # ignored
    text = ERKENNUNG.replace(b"\n", b"\r\n") if crlf else ERKENNUNG
    (root / "erkennung.txt").write_bytes(text)
    return root


def test_emotion_rows_labels_groups_and_listening_test(tmp_path: Path) -> None:
    res = emodb.process(_corpus(tmp_path))
    by = {r.clip_id: r for r in res.rows}
    assert {k: r.label for k, r in by.items()} == {
        "emodb:03a01Wa": "anger", "emodb:08a02Fc": "happy", "emodb:08b10Td": "sad", "emodb:10a04Ea": "disgust",
        "emodb:11b03Nc": "neutral", "emodb:13a05Ab": "fear"}
    assert "emodb:03a01Lb" not in by and res.stats["boredom_skipped"] == 1  # boredom: no class, left out
    w = by["emodb:03a01Wa"]
    assert (w.start, w.end, w.label_kind, w.group) == (0.0, pytest.approx(1.5), "clip", "emodb:03")
    assert w.media_path == str(tmp_path / "wav" / "03a01Wa.wav")
    assert "sex=m" in w.source_detail and "recognised=95 natural=90" in w.source_detail
    assert "recognised=87.5 natural=62.5" in by["emodb:08a02Fc"].source_detail
    assert "recognised" not in by["emodb:13a05Ab"].source_detail  # not in the listening test
    assert check_leakage(res.rows) == {}
    assert len({r.split for r in res.rows if r.group == "emodb:08"}) == 1
    errs = sorted(str(e) for e in res.errors)
    assert len(errs) == 3
    assert any("99a01Wa.wav" in e and "speaker '99'" in e for e in errs)
    assert any("03a01Xa.wav" in e and "emotion letter 'X'" in e for e in errs)
    assert any("erkennung.txt:5" in e and "4 tab-separated fields" in e for e in errs)


def test_crlf_listening_test_and_wav_folder_as_root(tmp_path: Path) -> None:
    _corpus(tmp_path, crlf=True)
    a = emodb.process(tmp_path)
    b = emodb.process(tmp_path / "wav")  # the wav/ folder itself; erkennung.txt found beside it
    assert a.rows == b.rows
    assert "recognised=95" in next(r for r in a.rows if r.clip_id == "emodb:03a01Wa").source_detail


def test_boredom_opt_in_and_laughter_negatives(tmp_path: Path) -> None:
    _corpus(tmp_path)
    opt = emodb.process(tmp_path, boredom_as="neutral")
    lb = next(r for r in opt.rows if r.clip_id == "emodb:03a01Lb")
    assert lb.label == "neutral" and "boredom_as=neutral" in lb.source_detail
    neg = emodb.process(tmp_path, laughter_negatives=True)
    assert len(neg.rows) == 7 and {r.label for r in neg.rows} == {"no_laughter"}
    emo = emodb.process(tmp_path)
    # same clip ids and splits as the emotion rows: training joins both labels on one clip
    assert {r.clip_id: r.split for r in emo.rows}.items() <= {r.clip_id: r.split for r in neg.rows}.items()
    with pytest.raises(ValueError, match="boredom_as must be one of"):
        emodb.process(tmp_path, boredom_as="boredom")
    with pytest.raises(ValueError, match="not with laughter_negatives"):
        emodb.process(tmp_path, boredom_as="neutral", laughter_negatives=True)


def test_float_wav_durations_and_bad_inputs(tmp_path: Path) -> None:
    # a 32-bit float WAV (format 3), which the stdlib wave module cannot open
    frames, rate = 22050, 22050
    data = struct.pack(f"<{frames}f", *([0.0] * frames))
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (tmp_path / "wav").mkdir()
    (tmp_path / "wav" / "14a07Fa.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    (tmp_path / "wav" / "14a07Wb.wav").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n")
    res = emodb.process(tmp_path)
    assert [(r.clip_id, r.end) for r in res.rows] == [("emodb:14a07Fa", pytest.approx(1.0))]
    assert "Git LFS pointer" in res.errors[0].message
    with pytest.raises(FileNotFoundError, match="emodb: neither"):
        emodb.process(tmp_path / "wav" / ".." / "..")
    (tmp_path / "erkennung.txt").write_text("something else\n")
    with pytest.raises(ValueError, match="erkennung.txt:1: expected the header"):
        emodb.process(tmp_path)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _corpus(tmp_path)
    out = tmp_path / "emodb.csv"
    assert main(["data", "emodb", "--root", str(tmp_path), "--out", str(out)]) == 3  # the bad names: partial
    assert "boredom_skipped=1" in capsys.readouterr().out
    assert len(read_manifest(out, kind="emotion")) == 6
    neg = tmp_path / "neg.csv"
    assert main(["data", "emodb", "--root", str(tmp_path), "--out", str(neg), "--laughter-negatives"]) == 3
    assert len(read_manifest(neg, kind="laughter")) == 7
    assert main(["data", "emodb", "--root", str(tmp_path), "--out", str(out), "--boredom-as", "neutral"]) == 3
    assert len(read_manifest(out)) == 7


def test_real_emodb(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "emodb.csv"
    res = emodb.process(shared_data / "emodb", out=out)
    rows = read_manifest(out, kind="emotion")
    assert res.n_errors == 0 and len(rows) == 350 and res.stats["boredom_skipped"] == 58
    assert Counter(r.label for r in rows) == {"anger": 100, "neutral": 63, "happy": 54, "fear": 54, "sad": 49,
                                              "disgust": 30}
    assert {r.group for r in rows} == {f"emodb:{s}" for s in ("03", "08", "09", "10", "11", "12", "13", "14")}
    assert all(r.end == pytest.approx(2.0) for r in rows)
    assert all("recognised=" in r.source_detail for r in rows)  # every file is in erkennung.txt
    assert check_leakage(rows) == {}
    neg = emodb.process(shared_data / "emodb", laughter_negatives=True)
    assert len(neg.rows) == 408 and {r.label for r in neg.rows} == {"no_laughter"}
