"""LIRIS-ACCEDE: valence/arousal humor proxy, film groups, official sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from avemotion.data import liris_accede
from avemotion.data.manifest import check_leakage

RANKING = [  # name, valence, arousal
    ("ACCEDE00000.mp4", 3.40, 3.10),  # pleasant, engaged -> laughter proxy
    ("ACCEDE00001.mp4", 2.10, 3.90),  # unpleasant -> no_laughter
    ("ACCEDE00002.mp4", 2.80, 2.80),  # ambiguous -> left out
    ("ACCEDE00003.mp4", 3.20, 2.00),  # pleasant but calm -> left out
    ("ACCEDE00004.mp4", 1.50, 1.40),  # no_laughter
]
MOVIES = ["After_The_Rain.mp4", "After_The_Rain.mp4", "Chatter.mp4", "Chatter.mp4", "Islands.mp4"]
SETS = ["1", "1", "2", "2", "0"]


def _corpus(root: Path, ranking: list[tuple[str, float, float]] = RANKING, extra: str = "") -> None:
    ann = root / "annotations"
    data = root / "data"
    ann.mkdir(parents=True)
    data.mkdir(parents=True)
    lines = ["id\tname\tvalenceRank\tarousalRank\tvalenceValue\tarousalValue\tvalenceVariance\tarousalVariance"]
    lines += [f"{i}\t{n}\t{100 + i}\t{200 + i}\t{v}\t{a}\t0.1\t0.12" for i, (n, v, a) in enumerate(ranking)]
    (ann / "ACCEDEranking.txt").write_text("\n".join(lines) + "\n" + extra)
    (ann / "ACCEDEsets.txt").write_text("id\tname\tset\n" + "".join(f"{i}\t{n}\t{s}\n" for i, ((n, _, _), s) in enumerate(zip(ranking, SETS, strict=False))))
    media = "".join(f"<media><id>{i}</id><name>{n}</name><movie>{m}</movie><start>{100 * i}</start><end>{100 * i + 250}</end></media>"
                    for i, ((n, _, _), m) in enumerate(zip(ranking, MOVIES, strict=False)))
    (data / "ACCEDEdescription.xml").write_text(f'<?xml version="1.0"?>\n<videos>{media}</videos>\n')


def test_proxy_rule_groups_and_durations(tmp_path: Path) -> None:
    _corpus(tmp_path)
    res = liris_accede.process(tmp_path)
    by = {r.clip_id: r for r in res.rows}
    assert {k: r.label for k, r in by.items()} == {
        "liris_accede:ACCEDE00000": "laughter", "liris_accede:ACCEDE00001": "no_laughter",
        "liris_accede:ACCEDE00004": "no_laughter"}
    r0 = by["liris_accede:ACCEDE00000"]
    assert r0.label_kind == "proxy" and r0.group == "liris_accede:After_The_Rain.mp4"
    assert r0.end == pytest.approx(250 / 25) and "duration=from_frames" in r0.source_detail
    assert r0.media_path == str(tmp_path / "data" / "ACCEDE00000.mp4")
    assert check_leakage(res.rows) == {} and res.n_errors == 0


def test_official_sets_and_custom_rule(tmp_path: Path) -> None:
    _corpus(tmp_path)
    res = liris_accede.process(tmp_path, official_sets=True)
    assert {r.clip_id: r.split for r in res.rows} == {
        "liris_accede:ACCEDE00000": "train", "liris_accede:ACCEDE00001": "train", "liris_accede:ACCEDE00004": "test"}
    loose = liris_accede.process(tmp_path, rule=liris_accede.ProxyRule(valence_min=2.7, arousal_min=1.0, negative_valence_max=2.0))
    assert sorted(r.clip_id[-2:] + r.label[0] for r in loose.rows) == ["00l", "02l", "03l", "04n"]  # 2.10 > 2.0: ambiguous now
    with pytest.raises(ValueError, match="negative_valence_max"):
        liris_accede.ProxyRule(valence_min=2.0, negative_valence_max=2.5)


def test_bad_rows_and_missing_files(tmp_path: Path) -> None:
    _corpus(tmp_path, extra="9\tACCEDE09999.mp4\t1\t1\tnan-ish\t3.0\t0.1\t0.1\n10\tACCEDE10000.mp4\t1\t1\t3.5\t3.5\t0.1\t0.1\n")
    res = liris_accede.process(tmp_path)
    assert [(Path(e.source).name, e.line) for e in res.errors] == [("ACCEDEranking.txt", 7), ("ACCEDEranking.txt", 8)]
    assert "not in ACCEDEdescription.xml" in res.errors[1].message
    with pytest.raises(FileNotFoundError, match="ACCEDEranking.txt not found"):
        liris_accede.process(tmp_path / "data")


def test_release_files_with_crlf_bom_and_latin1(tmp_path: Path) -> None:
    # the annotation files as a Windows tool writes them: CRLF, a UTF-8 BOM (ranking), Latin-1 (sets)
    root = tmp_path / "LIRIS-ACCEDE-annotations"
    _corpus(root)
    ranking = root / "annotations" / "ACCEDEranking.txt"
    ranking.write_bytes(b"\xef\xbb\xbf" + ranking.read_bytes().replace(b"\n", b"\r\n"))
    sets = root / "annotations" / "ACCEDEsets.txt"
    sets.write_bytes(sets.read_bytes().replace(b"\n", b"\r\n") + "99\tFilm_é.mp4\t1\r\n".encode("latin-1"))
    res = liris_accede.process(tmp_path, official_sets=True)
    assert {r.clip_id for r in res.rows} == {"liris_accede:ACCEDE00000", "liris_accede:ACCEDE00001",
                                              "liris_accede:ACCEDE00004"}
    assert res.n_errors == 0 and all(not r.source_detail.endswith("\r") for r in res.rows)
