"""Manifest schema, atomic writing, splits, leakage, overlaps and the balance report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from avemotion.data.manifest import (
    COLUMNS,
    ManifestError,
    ManifestRow,
    ManifestWriter,
    assign_split,
    balance_report,
    check_leakage,
    find_overlaps,
    iter_manifest,
    read_manifest,
    save_class_weights,
    subtract_intervals,
    summary_path,
    unify,
    write_manifest,
)


def row(cid: str, label: str = "laughter", group: str = "g1", split: str | None = None, start: float = 0.0,
        end: float = 1.0, media: str = "a.wav") -> ManifestRow:
    return ManifestRow(cid, "ami", media, start, end, label, "event", "", group, split or assign_split(group))


def test_roundtrip_and_summary(tmp_path: Path) -> None:
    rows = [row("a"), row("b", "no_laughter", start=2.0, end=3.5), row("c", group="g2")]
    out = tmp_path / "m.csv"
    summary = write_manifest(out, rows)
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert read_manifest(out) == rows
    assert summary.n_rows == 3 and summary.n_groups == 2
    saved = json.loads(summary_path(out).read_text())
    assert sum(sum(v.values()) for v in saved["counts"]["ami"].values()) == 3
    assert saved["seconds"]["ami"]["no_laughter"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (row("x", start=2.0, end=1.0), "end must be > start"),
        (row("x", label="giggle"), "label must be one of"),
        (ManifestRow("x", "ami", "a.wav", 0.0, 1.0, "laughter", "weak", "", "g", "train"), "label_kind"),
        (ManifestRow("x", "ami", "a.wav", 0.0, 1.0, "laughter", "event", "", "g", "dev"), "split"),
        (ManifestRow("x", "ami", "", 0.0, 1.0, "laughter", "event", "", "g", "train"), "media_path is empty"),
        (row("x", start=-1.0), "start must be"),
        (row("x", end=math.inf), "end must be a finite"),
    ],
)
def test_writer_rejects_bad_rows_and_keeps_target(tmp_path: Path, bad: ManifestRow, message: str) -> None:
    out = tmp_path / "m.csv"
    out.write_text("previous content\n")
    with pytest.raises(ManifestError, match=message) as ei:
        write_manifest(out, [row("ok"), bad])
    assert f"{out}:3" in str(ei.value)  # file and line of the bad row
    assert out.read_text() == "previous content\n"  # atomic: the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]  # no temp file left


def test_writer_rejects_duplicates_leakage_and_mixed_label_sets(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="duplicate clip_id"):
        write_manifest(tmp_path / "a.csv", [row("a"), row("a")])
    with pytest.raises(ManifestError, match="leakage"):
        write_manifest(tmp_path / "b.csv", [row("a", split="train"), row("b", split="test")])
    emo = ManifestRow("e", "cremad", "x.wav", 0.0, 1.0, "anger", "clip", "", "g9", "train")
    with pytest.raises(ManifestError, match="label must be one of laughter, no_laughter"):
        write_manifest(tmp_path / "c.csv", [row("a"), emo])


def test_reader_reports_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    lines = [",".join(COLUMNS),
             "a,ami,a.wav,0,1,laughter,event,,g,train",
             "b,ami,a.wav,1,oops,laughter,event,,g,train",
             "c,ami,a.wav,0,1,laughter,event,,g",
             "d,ami,a.wav,3,2,laughter,event,,g,train"]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match=rf"{p}:3: start/end must be numbers"):
        read_manifest(p)
    errors: list[str] = []
    good = list(iter_manifest(p, errors=errors))
    assert [r.clip_id for r in good] == ["a"]
    assert errors[0].startswith(f"{p}:3:") and errors[1].startswith(f"{p}:4: expected 10 columns")
    assert errors[2].startswith(f"{p}:5:") and "end must be > start" in errors[2]
    bad_header = tmp_path / "h.csv"
    bad_header.write_text("clip,corpus\n")
    with pytest.raises(ManifestError, match=":1: header must be"):
        read_manifest(bad_header)
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "missing.csv")


def test_split_is_deterministic_grouped_and_proportional() -> None:
    groups = [f"spk{i}" for i in range(4000)]
    a = [assign_split(g, seed=3) for g in groups]
    assert a == [assign_split(g, seed=3) for g in groups]
    assert a != [assign_split(g, seed=4) for g in groups]  # the seed matters
    frac = {s: a.count(s) / len(a) for s in ("train", "val", "test")}
    assert frac["train"] == pytest.approx(0.8, abs=0.03) and frac["val"] == pytest.approx(0.1, abs=0.02)
    b = [assign_split(g, 0, (0.5, 0.0, 0.5)) for g in groups]
    assert "val" not in b and b.count("train") == pytest.approx(2000, abs=150)
    with pytest.raises(ValueError, match="summing to 1"):
        assign_split("g", 0, (0.5, 0.2, 0.2))


def test_leakage_and_overlap_checks() -> None:
    rows = [row("a", split="train"), row("b", split="val")]
    assert check_leakage(rows) == {"g1": {"train", "val"}}
    assert check_leakage([row("a"), row("b")]) == {}
    pos = row("p", start=1.0, end=2.0)
    touching = row("n1", "no_laughter", start=2.0, end=3.0)  # half-open: touching is fine
    inside = row("n2", "no_laughter", start=1.5, end=4.0)
    other_media = row("n3", "no_laughter", start=1.5, end=4.0, media="b.wav")
    found = find_overlaps([pos, touching, inside, other_media])
    assert [(n.clip_id, p.clip_id) for n, p in found] == [("n2", "p")]


def test_subtract_intervals() -> None:
    assert subtract_intervals((0, 10), [(2, 3), (5, 6)]) == [(0, 2), (3, 5), (6, 10)]
    assert subtract_intervals((0, 10), [(2, 3)], guard=0.5, min_len=2.0) == [(3.5, 10)]
    assert subtract_intervals((0, 5), [], max_len=2.0, min_len=1.0) == [(0, 2), (2, 4), (4, 5)]
    assert subtract_intervals((0, 5), [(-1, 9)]) == []


def test_balance_report_weights_match_sklearn_formula(tmp_path: Path) -> None:
    rows = [row(f"l{i}") for i in range(3)] + [row(f"n{i}", "no_laughter", start=5.0, end=6.0) for i in range(9)]
    rep = balance_report(rows)
    assert rep.counts == {"laughter": 3, "no_laughter": 9}
    assert rep.percent["laughter"] == pytest.approx(25.0)
    assert rep.weights == {"laughter": pytest.approx(12 / (2 * 3)), "no_laughter": pytest.approx(12 / (2 * 9))}
    # the weighted class totals are equal, which is what 'balanced' means
    assert rep.weights["laughter"] * 3 == pytest.approx(rep.weights["no_laughter"] * 9)
    path = save_class_weights(rep, tmp_path / "w.json")
    assert json.loads(path.read_text())["class_weights"]["laughter"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no rows in split"):
        balance_report([row("a", split="train")], split="val")


def test_unify_merges_validates_and_skips_missing(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_manifest(a, [row("a1", group="ga")])
    write_manifest(b, [row("b1", group="gb"), row("b2", "no_laughter", group="gb", start=3.0, end=4.0)])
    res = unify([a, b, tmp_path / "missing.csv"], tmp_path / "u.csv")
    assert res.summary.n_rows == 3 and res.missing == [tmp_path / "missing.csv"]
    assert [r.clip_id for r in read_manifest(tmp_path / "u.csv")] == ["a1", "b1", "b2"]
    # a negative overlapping a positive on the same media is refused
    c = tmp_path / "c.csv"
    write_manifest(c, [row("c1", "no_laughter", group="ga", start=0.5, end=2.0)])
    with pytest.raises(ManifestError, match="overlap"):
        unify([a, c], tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()
    # a group split differently in two inputs is leakage unless re-split
    d = tmp_path / "d.csv"
    other = "test" if assign_split("ga") != "test" else "train"
    write_manifest(d, [row("d1", group="ga", split=other, media="z.wav")])
    with pytest.raises(ManifestError, match="span several splits"):
        unify([a, d], tmp_path / "bad.csv")
    res = unify([a, d], tmp_path / "ok.csv", resplit=True, seed=1)
    assert check_leakage(read_manifest(tmp_path / "ok.csv")) == {}
    with pytest.raises(ManifestError, match="none of the input"):
        unify([tmp_path / "nope.csv"], tmp_path / "x.csv")


def test_writer_outside_with_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="outside"):
        ManifestWriter(tmp_path / "m.csv").write(row("a"))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_iv = st.tuples(st.floats(0, 100), st.floats(0.01, 10)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_iv, max_size=8), st.floats(0, 2), st.floats(0, 3), st.one_of(st.none(), st.floats(0.5, 5)))
def test_subtract_intervals_never_overlaps_blocked(blocked, guard, min_len, max_len) -> None:  # type: ignore[no-untyped-def]
    pieces = subtract_intervals((0.0, 120.0), blocked, guard=guard, min_len=min_len, max_len=max_len)
    for a, b in pieces:
        assert 0.0 <= a < b <= 120.0 and b - a >= min_len - 1e-9
        if max_len:
            assert b - a <= max_len + 1e-9
        for s, e in blocked:
            assert b <= s - guard + 1e-9 or a >= e + guard - 1e-9
    assert all(p[1] <= q[0] for p, q in zip(pieces, pieces[1:], strict=False))


def test_split_assigner_agrees_with_assign_split() -> None:
    from avemotion.data.manifest import SplitAssigner

    groups = [f"g{i}" for i in range(500)]
    for seed, props in ((0, (0.8, 0.1, 0.1)), (3, (0.5, 0.0, 0.5)), (7, (0.0, 0.0, 1.0))):
        assigner = SplitAssigner(seed, props)
        assert [assigner(g) for g in groups] == [assign_split(g, seed, props) for g in groups]
