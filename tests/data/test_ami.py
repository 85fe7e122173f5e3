"""AMI: NXT words.xml laughter events, point laughs, negatives that never overlap a laugh, series
groups, channels from meetings.xml, the release's folder layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from avemotion.data import ami
from avemotion.data.manifest import check_leakage, find_overlaps, read_manifest

HEAD = '<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>\n<nite:root nite:id="{id}" xmlns:nite="http://nite.sourceforge.net/">\n'


def _words(path: Path, items: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEAD.format(id=path.name[:-4]) + "\n".join("   " + i for i in items) + "\n</nite:root>\n", encoding="iso-8859-1")


def _w(m: str, s: str, i: int, a: float, b: float, text: str = "okay") -> str:
    return f'<w nite:id="{m}.{s}.words{i}" starttime="{a}" endtime="{b}">{text}</w>'


def _laugh(m: str, s: str, i: int, a: float | None, b: float | None) -> str:
    t = f' starttime="{a}" endtime="{b}"' if a is not None else ""
    return f'<vocalsound nite:id="{m}.{s}.words{i}"{t} type="laugh"/>'


def _corpus(root: Path) -> None:
    # speaker A talks 0-20 s with a laugh at 10-11; speaker B talks 0-20 s, B laughs at 15-16
    a = [_w("ES2002a", "A", i, i * 0.5, i * 0.5 + 0.4) for i in range(40)]
    a.insert(20, _laugh("ES2002a", "A", 100, 10.0, 11.0))
    a.append('<vocalsound nite:id="ES2002a.A.words101" starttime="30" endtime="31" type="cough"/>')
    a.append(_laugh("ES2002a", "A", 102, None, None))  # no times: reported
    _words(root / "words" / "ES2002a.A.words.xml", a)
    b = [_w("ES2002a", "B", i, i * 0.5, i * 0.5 + 0.4) for i in range(40)] + [_laugh("ES2002a", "B", 100, 15.0, 16.0)]
    _words(root / "words" / "ES2002a.B.words.xml", b)
    _words(root / "words" / "IS1009b.A.words.xml", [_w("IS1009b", "A", 0, 1.0, 2.0), _laugh("IS1009b", "A", 1, 2.0, 3.5)])
    (root / "words" / "TS3003c.C.words.xml").write_text("<nite:root><w></nite:root>")  # malformed


def test_laughs_negatives_groups_and_errors(tmp_path: Path) -> None:
    _corpus(tmp_path)
    out = tmp_path / "ami.csv"
    res = ami.process(tmp_path, out=out, negatives_per_positive=5.0)
    rows = read_manifest(out)
    pos = [r for r in rows if r.label == "laughter"]
    assert sorted((r.clip_id, r.start, r.end) for r in pos) == [
        ("ami:ES2002a.A.words100", 10.0, 11.0), ("ami:ES2002a.B.words100", 15.0, 16.0), ("ami:IS1009b.A.words1", 2.0, 3.5)]
    a_laugh = next(r for r in pos if r.clip_id == "ami:ES2002a.A.words100")
    assert a_laugh.media_path == str(tmp_path / "ES2002a" / "audio" / "ES2002a.Headset-0.wav")
    assert a_laugh.label_kind == "event" and a_laugh.group == "ami:ES2002"  # the series: same four people
    negs = [r for r in rows if r.label == "no_laughter" and r.group == "ami:ES2002"]
    assert negs
    # no negative on any channel of the meeting comes within the guard of any laugh (bleed)
    for n in negs:
        for a, b in ((10.0, 11.0), (15.0, 16.0)):
            assert n.end <= a - 0.5 + 1e-9 or n.start >= b + 0.5 - 1e-9, n
        assert 0.5 <= n.duration <= 2.0
    assert find_overlaps(rows) == [] and check_leakage(rows) == {}
    errs = [str(e) for e in res.errors]
    assert any("TS3003c.C.words.xml:1" in e and "not well-formed" in e for e in errs)
    assert any("ES2002a.A.words.xml" in e and "words102" in e for e in errs)


def test_deterministic(tmp_path: Path) -> None:
    _corpus(tmp_path)
    assert ami.process(tmp_path, seed=3).rows == ami.process(tmp_path, seed=3).rows


def _meetings_xml(root: Path) -> None:
    # corpusResources/meetings.xml as the AMI release has it: agents are not always channels in order
    (root / "corpusResources").mkdir(parents=True, exist_ok=True)
    (root / "corpusResources" / "meetings.xml").write_text(
        '<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>\n'
        '<nite:root nite:id="meetings" xmlns:nite="http://nite.sourceforge.net/">\n'
        '  <meeting duration="1272.48" meeting_id="ES2002a" observation="ES2002a" type="scenario" visibility="visible">\n'
        '    <speaker camera="" channel="1" global_name="FEE005" nxt_agent="A" role="PM"/>\n'
        '    <speaker camera="" channel="0" global_name="MEE006" nxt_agent="B" role="ME"/>\n'
        '  </meeting>\n</nite:root>\n', encoding="iso-8859-1")


def test_point_laughs_get_an_extent_are_counted_and_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avemotion.cli import main

    words = [_w("ES2011a", "A", i, i * 0.5, i * 0.5 + 0.4) for i in range(60)]
    words += ['<vocalsound nite:id="ES2011a.A.words100" starttime="12.3" endtime="12.3" type="laugh"/>',
              '<vocalsound nite:id="ES2011a.A.words101" starttime="0.2" endtime="0.2" type="laugh"/>',
              _laugh("ES2011a", "A", 102, 20.0, 21.5)]
    _words(tmp_path / "words" / "ES2011a.A.words.xml", words)
    out = tmp_path / "ami.csv"
    res = ami.process(tmp_path, out=out, point_laugh_s=1.0)
    assert res.n_errors == 0 and res.stats["point_laughs"] == 2 and res.stats["laughs"] == 3
    by = {r.clip_id: r for r in read_manifest(out)}
    p = by["ami:ES2011a.A.words100"]
    assert (p.start, p.end) == pytest.approx((11.8, 12.8)) and "point laugh" in p.source_detail
    assert (by["ami:ES2011a.A.words101"].start, by["ami:ES2011a.A.words101"].end) == pytest.approx((0.0, 0.7))
    assert "point laugh" not in by["ami:ES2011a.A.words102"].source_detail
    assert find_overlaps(list(by.values())) == []  # negatives avoid the extents too
    import json

    report = json.loads(out.with_name("ami.summary.json").read_text())["report"]
    assert report["point_laughs"] == 2 and report["skipped_items"] == 0
    # configurable, and the CLI exits 0 and prints the count
    res2 = ami.process(tmp_path, point_laugh_s=0.4)
    p2 = next(r for r in res2.rows if r.clip_id == "ami:ES2011a.A.words100")
    assert (p2.start, p2.end) == pytest.approx((12.1, 12.5))
    assert main(["data", "ami", "--root", str(tmp_path), "--out", str(tmp_path / "b.csv"), "--point-laugh-s", "2"]) == 0
    assert "point_laughs=2" in capsys.readouterr().out
    with pytest.raises(ValueError, match="point_laugh_s"):
        ami.process(tmp_path, point_laugh_s=0)


def test_reversed_laugh_is_an_error(tmp_path: Path) -> None:
    _words(tmp_path / "words" / "ES2011a.A.words.xml",
           [_w("ES2011a", "A", 0, 1.0, 2.0), _laugh("ES2011a", "A", 1, 5.0, 4.0)])
    res = ami.process(tmp_path)
    assert res.n_errors == 1 and "endtime 4.0 < starttime 5.0" in res.errors[0].message
    assert res.errors[0].line == 4


def test_channels_from_meetings_xml_and_group_by_meeting(tmp_path: Path) -> None:
    _corpus(tmp_path)
    _meetings_xml(tmp_path)
    rows = ami.process(tmp_path).rows
    a = next(r for r in rows if r.clip_id == "ami:ES2002a.A.words100")
    b = next(r for r in rows if r.clip_id == "ami:ES2002a.B.words100")
    assert a.media_path.endswith("ES2002a.Headset-1.wav") and b.media_path.endswith("ES2002a.Headset-0.wav")
    is1009 = next(r for r in rows if r.clip_id == "ami:IS1009b.A.words1")
    assert is1009.media_path.endswith("IS1009b.Headset-0.wav")  # not in meetings.xml: default map
    by_meeting = ami.process(tmp_path, group_by="meeting").rows
    assert {r.group for r in by_meeting} == {"ami:ES2002a", "ami:IS1009b"}
    assert check_leakage(by_meeting) == {}


def test_series_keep_their_meetings_in_one_split(tmp_path: Path) -> None:
    for m in ("ES2002a", "ES2002b", "ES2002c", "ES2002d", "IS1009a", "IS1009b"):
        _words(tmp_path / "words" / f"{m}.A.words.xml",
               [_w(m, "A", i, i * 0.5, i * 0.5 + 0.4) for i in range(20)] + [_laugh(m, "A", 100, 3.0, 4.0)])
    rows = ami.process(tmp_path).rows
    assert {r.group for r in rows} == {"ami:ES2002", "ami:IS1009"}
    splits = {g: {r.split for r in rows if r.group == g} for g in ("ami:ES2002", "ami:IS1009")}
    assert all(len(s) == 1 for s in splits.values())
    assert sum(r.label == "no_laughter" for r in rows) > 0  # speech without laughter, from every meeting


@pytest.mark.parametrize("layout", ["annotations", "zip_folder", "words_itself"])
def test_release_layouts(tmp_path: Path, layout: str) -> None:
    ann = tmp_path / "ami_public_manual_1.6.2"
    _corpus(ann)
    _meetings_xml(ann)
    root = {"annotations": ann, "zip_folder": tmp_path, "words_itself": ann / "words"}[layout]
    rows = ami.process(root).rows
    a = next(r for r in rows if r.clip_id == "ami:ES2002a.A.words100")
    assert a.media_path.endswith("Headset-1.wav")  # meetings.xml found beside words/ in every layout
    shutil.copytree(ann, tmp_path / "second")
    if layout == "zip_folder":
        with pytest.raises(FileNotFoundError, match="several annotation folders"):
            ami.process(tmp_path)
    with pytest.raises(FileNotFoundError, match="words"):
        ami.process(tmp_path / "second" / "corpusResources")
