"""AMI: NXT words.xml laughter events, negatives that never overlap a laugh, meeting groups."""

from __future__ import annotations

from pathlib import Path

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
    assert a_laugh.label_kind == "event" and a_laugh.group == "ami:ES2002a"
    negs = [r for r in rows if r.label == "no_laughter" and r.group == "ami:ES2002a"]
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
