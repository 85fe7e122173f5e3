"""CREMA-D: the real 7,442 clip names, durations from WAV headers, demographics, actor groups."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from avemotion.data import cremad
from avemotion.data.manifest import EMOTION_LABELS, balance_report, check_leakage, read_manifest


def test_real_names_balance_report(shared_data: Path, tmp_path: Path) -> None:
    names = shared_data / "cremad" / "AudioWAV_filenames.txt"
    out = tmp_path / "emotion_v1.csv"
    res = cremad.process(tmp_path, names_file=names, assume_duration=2.5, out=out)
    assert res.n_errors == 0
    rows = read_manifest(out, kind="emotion")
    assert len(rows) == 7442
    rep = balance_report(rows)
    assert rep.labels == list(EMOTION_LABELS)
    # CREMA-D: 1,271 clips of each emotion but neutral (1,087)
    for lab in ("anger", "disgust", "fear", "happy", "sad"):
        assert rep.percent[lab] == pytest.approx(17.08, abs=0.005)
    assert rep.percent["neutral"] == pytest.approx(14.61, abs=0.005)
    assert rep.weights["neutral"] == pytest.approx(7442 / (6 * 1087))
    # 91 actors, each entirely inside one split
    assert len({r.group for r in rows}) == 91 and check_leakage(rows) == {}
    assert all("duration=assumed" in r.source_detail for r in rows)


def _wav(path: Path, seconds: float, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(np.zeros(int(seconds * sr), np.int16).tobytes())


def test_audio_folder_durations_demographics_and_bad_names(tmp_path: Path) -> None:
    _wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav", 2.0)
    _wav(tmp_path / "AudioWAV" / "1002_IEO_NEU_HI.wav", 1.5, sr=8000)
    _wav(tmp_path / "AudioWAV" / "1002_IEO_XYZ_HI.wav", 1.0)  # unknown emotion code
    (tmp_path / "AudioWAV" / "1003_ITS_SAD_LO.wav").write_bytes(b"not a wav")
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n")
    res = cremad.process(tmp_path)
    by = {r.clip_id: r for r in res.rows}
    assert by["cremad:1001_DFA_ANG_XX"].end == pytest.approx(2.0)
    assert by["cremad:1001_DFA_ANG_XX"].label == "anger"
    assert "sex=Male age=51" in by["cremad:1001_DFA_ANG_XX"].source_detail
    assert by["cremad:1002_IEO_NEU_HI"].end == pytest.approx(1.5) and by["cremad:1002_IEO_NEU_HI"].label == "neutral"
    msgs = " | ".join(str(e) for e in res.errors)
    assert "XYZ" in msgs and "not a readable WAV" in msgs and res.n_errors == 2


def test_names_without_audio_need_assume_duration(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("1001_DFA_ANG_XX.wav\nbogus.wav\n")
    res = cremad.process(tmp_path, names_file=names)
    assert res.rows == [] and res.n_errors == 2
    assert res.errors[0].line == 1 and "assume_duration" in res.errors[0].message
    assert res.errors[1].line == 2 and "ActorID_SentenceID_Emotion_Level" in res.errors[1].message
    with pytest.raises(FileNotFoundError, match="nope nor a names_file"):
        cremad.process(tmp_path, audio_dir="nope")
    with pytest.raises(ValueError, match="assume_duration must be > 0"):
        cremad.process(tmp_path, names_file=names, assume_duration=0)


def test_git_lfs_pointers_are_named(tmp_path: Path) -> None:
    # a clone of the CREMA-D repository without `git lfs pull`: AudioWAV/ holds pointer files
    (tmp_path / "AudioWAV").mkdir()
    (tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 81000\n")
    res = cremad.process(tmp_path)
    assert res.rows == [] and "Git LFS pointer" in res.errors[0].message and "git lfs pull" in res.errors[0].message
