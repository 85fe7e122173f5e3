"""TED-LIUM: STM parsing, configurable laughter markers, ignored segments, talk groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from avemotion.data import tedlium
from avemotion.data.manifest import check_leakage, find_overlaps

STM = """\
AaronHuey_2010X 1 AaronHuey_2010X 17.82 28.81 <o,f0,male> i'm going to talk today about the lakota (Laughter)
AaronHuey_2010X 1 inter_segment_gap 28.81 29.40 <o,,unknown> ignore_time_segment_in_scoring
AaronHuey_2010X 1 AaronHuey_2010X 29.40 31.00 <o,f0,male> right after the joke
AaronHuey_2010X 1 AaronHuey_2010X 40.00 52.10 <o,f0,male> the pine ridge reservation is the subject
AaronHuey_2010X 1 AaronHuey_2010X 60.00 bad <o,f0,male> broken line
AaronHuey_2010X 1 AaronHuey_2010X 70.00 80.00 <o,f0,male> [laughter] they laughed
"""


def _corpus(root: Path, text: str = STM) -> Path:
    stm = root / "train" / "stm" / "AaronHuey_2010X.stm"
    stm.parent.mkdir(parents=True)
    stm.write_text(text)
    return stm


def test_markers_negatives_and_errors(tmp_path: Path) -> None:
    stm = _corpus(tmp_path)
    res = tedlium.process(tmp_path, negatives_per_positive=5.0)
    pos = sorted((r.start, r.end) for r in res.rows if r.label == "laughter")
    assert pos == [(17.82, 28.81), (70.0, 80.0)]
    neg = [(r.start, r.end) for r in res.rows if r.label == "no_laughter"]
    assert neg == [(40.0, 52.1)]  # 29.40-31.00 is within the 1 s guard of a laughter segment
    assert all(r.media_path == str(tmp_path / "train" / "sph" / "AaronHuey_2010X.sph") for r in res.rows)
    assert {r.group for r in res.rows} == {"tedlium:AaronHuey_2010X"}
    assert [(e.source, e.line) for e in res.errors] == [(str(stm), 5)]
    assert find_overlaps(res.rows) == [] and check_leakage(res.rows) == {}


def test_release3_text_has_no_markers_by_default_and_markers_are_configurable(tmp_path: Path) -> None:
    _corpus(tmp_path, "T1 1 T1 1.0 2.0 <o,f0,male> and the audience went ha ha\nT1 1 T1 5.0 6.0 <o,f0,male> more words\n")
    assert tedlium.process(tmp_path).rows == []
    rows = tedlium.process(tmp_path, markers=["ha ha"]).rows
    assert [(r.label, r.start) for r in rows] == [("laughter", 1.0), ("no_laughter", 5.0)]
    with pytest.raises(ValueError, match="markers"):
        tedlium.process(tmp_path, markers=[" "])
    with pytest.raises(FileNotFoundError, match="no .stm files"):
        tedlium.process(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    p = tmp_path / "empty"
    p.mkdir()
    return p


def test_release3_layout_reads_one_distribution(tmp_path: Path) -> None:
    # TEDLIUM_release-3: data/ has every talk; legacy/ and speaker-adaptation/ hold the same talks again
    root = tmp_path / "TEDLIUM_release-3"
    for sub in ("data", "legacy/train", "legacy/dev", "speaker-adaptation/train"):
        stm = root / sub / "stm" / "AaronHuey_2010X.stm"
        stm.parent.mkdir(parents=True)
        stm.write_text(STM)
    rows = tedlium.process(root, negatives_per_positive=5.0).rows
    assert rows and all(r.media_path == str(root / "data" / "sph" / "AaronHuey_2010X.sph") for r in rows)
    legacy = tedlium.process(root, distribution="legacy", negatives_per_positive=5.0)
    assert {r.clip_id for r in legacy.rows} == {r.clip_id for r in rows}  # the talk once, not twice
    assert any("already read from" in e.message for e in legacy.errors)
    with pytest.raises(ValueError, match="distribution must be one of"):
        tedlium.process(root, distribution="train")


def test_crlf_stm_and_a_talk_in_two_files(tmp_path: Path) -> None:
    stm = _corpus(tmp_path, STM.replace("\n", "\r\n"))
    dup = tmp_path / "dev" / "stm" / "copy.stm"
    dup.parent.mkdir(parents=True)
    dup.write_text(STM)
    res = tedlium.process(tmp_path, negatives_per_positive=5.0)
    assert sorted((r.start, r.end) for r in res.rows if r.label == "laughter") == [(17.82, 28.81), (70.0, 80.0)]
    # files are read in path order: dev/stm/copy.stm first owns the talk, the train file is reported
    assert [(e.source, e.line) for e in res.errors] == [(str(dup), 5), (str(stm), 5), (str(stm), 1)]
    assert "already read from" in res.errors[2].message
    assert {r.media_path for r in res.rows} == {str(tmp_path / "dev" / "sph" / "AaronHuey_2010X.sph")}
