"""AudioSet: ontology descendants, streamed segment CSVs, Gillick strong labels (real files)."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import pytest

from avemotion.data import _segment_csv, audioset
from avemotion.data.manifest import check_leakage, find_overlaps, read_manifest

LAUGH_CHILDREN = {"Baby laughter", "Giggle", "Snicker", "Belly laugh", "Chuckle, chortle"}


def test_laughter_descendants_from_real_ontology(shared_data: Path) -> None:
    onto = audioset.load_ontology(shared_data / "audioset" / "ontology.json")
    assert len(onto) == 632
    d = audioset.descendants(onto)
    assert d[audioset.LAUGHTER_MID] == "Laughter"
    assert set(d.values()) == {"Laughter"} | LAUGH_CHILDREN


def test_descendants_follow_the_tree_not_a_list() -> None:
    onto = {"/r": {"id": "/r", "name": "R", "child_ids": ["/a"]}, "/a": {"id": "/a", "name": "A", "child_ids": ["/b", "/r"]},
            "/b": {"id": "/b", "name": "B", "child_ids": []}, "/x": {"id": "/x", "name": "X", "child_ids": []}}
    assert audioset.descendants(onto, "/r") == {"/r": "R", "/a": "A", "/b": "B"}  # cycle-safe
    with pytest.raises(KeyError, match="/nope"):
        audioset.descendants(onto, "/nope")


def _segments(path: Path, rows: list[tuple[str, float, float, str]], bad: list[str] = ()) -> Path:
    lines = ["# Segments csv created Sun Mar  5 10:54:31 2017",
             "# num_ytids=5, num_segs=5, num_unique_labels=527, num_positive_labels=9",
             "# YTID, start_seconds, end_seconds, positive_labels"]
    lines += [f'{y}, {s:.3f}, {e:.3f}, "{labels}"' for y, s, e, labels in rows]
    lines += list(bad)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def weak_root(tmp_path: Path, shared_data: Path) -> Path:
    shutil.copy(shared_data / "audioset" / "ontology.json", tmp_path / "ontology.json")
    rows = [
        ("AAAAAAAAAAA", 30.0, 40.0, "/m/09x0r,/m/01j3sz"),      # speech + laughter
        ("BBBBBBBBBBB", 0.0, 10.0, "/m/07r660_"),             # giggle (a descendant)
        ("CCCCCCCCCCC", 10.0, 20.0, "/m/09x0r"),              # speech only
        ("DDDDDDDDDDD", 0.0, 10.0, "/m/04rlf"),               # music only
        ("AAAAAAAAAAA", 35.0, 45.0, "/m/09x0r"),              # overlaps A's laughter segment
        ("AAAAAAAAAAA", 100.0, 110.0, "/m/09x0r"),            # same video, no overlap
    ]
    _segments(tmp_path / "balanced_train_segments.csv", rows,
              bad=["EEEEEEEEEEE, 5.0", 'FFFFFFFFFFF, x, 10.0, "/m/09x0r"', 'not-an-id, 0.0, 10.0, "/m/09x0r"'])
    return tmp_path


def test_weak_labels_positives_negatives_and_errors(weak_root: Path) -> None:
    res = audioset.process(weak_root, negatives_per_positive=10.0)
    by_id = {r.clip_id: r for r in res.rows}
    assert by_id["audioset:AAAAAAAAAAA_30000"].label == "laughter"
    assert "Laughter" in by_id["audioset:AAAAAAAAAAA_30000"].source_detail
    assert by_id["audioset:BBBBBBBBBBB_0"].label == "laughter"
    assert "Giggle" in by_id["audioset:BBBBBBBBBBB_0"].source_detail
    assert {r.clip_id for r in res.rows if r.label == "no_laughter"} == {
        "audioset:CCCCCCCCCCC_10000", "audioset:DDDDDDDDDDD_0", "audioset:AAAAAAAAAAA_100000"}
    assert res.stats["negatives_dropped_overlap"] == 1  # A at 35-45 overlaps A's laughter at 30-40
    assert all(r.label_kind == "clip" and r.start == 0.0 and r.end == 10.0 for r in res.rows)
    assert by_id["audioset:CCCCCCCCCCC_10000"].media_path.endswith("clips/CCCCCCCCCCC_10000.wav")
    lines = sorted(e.line for e in res.errors)
    assert lines == [10, 11, 12] and res.n_errors == 3
    assert all(e.source.endswith("balanced_train_segments.csv") for e in res.errors)
    assert check_leakage(res.rows) == {}


def test_negative_subsampling_is_deterministic_and_bounded(tmp_path: Path, shared_data: Path) -> None:
    rows = [(f"P{i:010d}", 0.0, 10.0, "/m/01j3sz") for i in range(20)]
    rows += [(f"N{i:010d}", 0.0, 10.0, "/m/09x0r") for i in range(2000)]
    seg = _segments(tmp_path / "eval_segments.csv", rows)
    onto = shared_data / "audioset" / "ontology.json"
    a = audioset.process(segments=[seg], ontology=onto, negatives_per_positive=2.0, seed=7)
    b = audioset.process(segments=[seg], ontology=onto, negatives_per_positive=2.0, seed=7)
    assert a.rows == b.rows
    n_neg = sum(r.label == "no_laughter" for r in a.rows)
    assert 20 <= n_neg <= 70  # ~40 expected (binomial, 2000 x 0.02)
    c = audioset.process(segments=[seg], ontology=onto, negatives_per_positive=2.0, seed=8)
    assert {r.clip_id for r in c.rows} != {r.clip_id for r in a.rows}


def test_strong_labels_from_real_gillick_files(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "audioset"
    out = tmp_path / "audioset.csv"
    res = audioset.process(root, out=out)
    rows = read_manifest(out)
    with (root / "clean_laughter_annotations.csv").open() as f:
        recs = list(csv.DictReader(f))
    valid = [r for r in recs if audioset._YTID.match(r["FileID"])]
    n_intervals = sum(1 for r in valid for k in ("", ".1", ".2", ".3", ".4")
                      if r[f"Start{k}"] and float(r[f"End{k}"]) > float(r[f"Start{k}"]))
    pos = [r for r in rows if r.label == "laughter"]
    assert len(pos) == n_intervals and all(r.label_kind == "event" for r in pos)
    # Excel-mangled ids ('#NAME?') and empty intervals are reported with their line, not used
    name_errors = [e for e in res.errors if "#NAME?" in e.message]
    assert len(name_errors) == sum(r["FileID"] == "#NAME?" for r in recs) == 10
    first_bad = next(i for i, r in enumerate(recs, 2) if r["FileID"] == "#NAME?")
    assert name_errors[0].line == first_bad
    # the 1,000 distractors are whole-window negatives
    distr = [r for r in rows if r.clip_id.endswith(":distractor")]
    assert len(distr) == 1000 and all(r.label == "no_laughter" and r.label_kind == "clip" for r in distr)
    # gaps between laughs are negatives that never overlap a laugh (with the guard)
    gaps = [r for r in rows if ":gap" in r.clip_id]
    assert gaps and all(g.duration >= 0.5 for g in gaps)
    assert find_overlaps(rows) == []
    assert check_leakage(rows) == {}
    assert {r.split for r in rows} == {"train", "val", "test"}
    assert json.loads(out.with_name("audioset.summary.json").read_text())["n_rows"] == len(rows)


def test_strong_rows_take_the_segment_media_name_when_known(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "audioset"
    seg = _segments(tmp_path / "s.csv", [("ZoFZ1SEqVY0", 30.0, 40.0, "/m/01j3sz"), ("CCCCCCCCCCC", 0.0, 10.0, "/m/09x0r")])
    res = audioset.process(segments=[seg], ontology=root / "ontology.json", strong=root / "clean_laughter_annotations.csv")
    z = [r for r in res.rows if r.group == "audioset:ZoFZ1SEqVY0"]
    assert z and all(r.label_kind == "event" for r in z)  # strong supersedes the weak row
    assert all(r.media_path.endswith("ZoFZ1SEqVY0_30000.wav") for r in z)


def test_missing_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no segment CSVs"):
        audioset.process(tmp_path)
    seg = _segments(tmp_path / "eval_segments.csv", [("CCCCCCCCCCC", 0.0, 10.0, "/m/09x0r")])
    with pytest.raises(FileNotFoundError, match="ontology not found"):
        audioset.process(tmp_path)
    (tmp_path / "ontology.json").write_text("{not json")
    with pytest.raises(ValueError, match="ontology.json:1: not valid JSON"):
        audioset.process(tmp_path, segments=[seg])
    with pytest.raises(FileNotFoundError, match="segment CSV not found"):
        audioset.process(tmp_path, segments=[tmp_path / "nope.csv"])
    with pytest.raises(ValueError, match="negatives_per_positive"):
        audioset.process(tmp_path, negatives_per_positive=-1)


def test_quick_scan_counts_match_a_full_parse(tmp_path: Path) -> None:
    onto = {"/m/L": {"id": "/m/L", "name": "Laughter", "child_ids": ["/m/G"]},
            "/m/G": {"id": "/m/G", "name": "Giggle", "child_ids": []},
            "/m/LX": {"id": "/m/LX", "name": "Not laughter, same prefix", "child_ids": []}}
    rows = [("AAAAAAAAAAA", 0.0, 10.0, "/m/L,/m/G"),   # two laughter MIDs on one line: one row
            ("BBBBBBBBBBB", 0.0, 10.0, "/m/LX"),       # substring hit that is not a laughter class
            ("CCCCCCCCCCC", 0.0, 10.0, "/m/x,/m/G"),
            ("DDDDDDDDDDD", 0.0, 10.0, "/m/x")] * 50
    seg = _segments(tmp_path / "s.csv", rows)
    laugh = audioset.descendants(onto, "/m/L")
    n_rows, pos = _segment_csv.count_and_find(seg, laugh, audioset._laughter_test(laugh), block=64)  # tiny blocks: lines split across reads
    assert n_rows == 200 and len(pos) == 100
    assert {p[0] for p in pos} == {"AAAAAAAAAAA", "CCCCCCCCCCC"}


def test_small_read_blocks_give_the_same_rows_and_error_lines(weak_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = audioset.process(weak_root, negatives_per_positive=10.0)
    monkeypatch.setattr(_segment_csv, "BLOCK", 40)  # lines straddle reads
    small = audioset.process(weak_root, negatives_per_positive=10.0)
    assert small.rows == ref.rows
    assert [(e.line, e.message) for e in small.errors] == [(e.line, e.message) for e in ref.errors]


def test_clean_blocks_are_not_parsed_line_by_line(weak_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(f"N{i:010d}", 0.0, 10.0, "/m/09x0r") for i in range(300)] + [("P0000000000", 0.0, 10.0, "/m/01j3sz")]
    seg = _segments(tmp_path / "clean.csv", rows)
    calls = []
    real = _segment_csv.parse_segment_line
    monkeypatch.setattr(_segment_csv, "parse_segment_line", lambda line: calls.append(line) or real(line))
    res = audioset.process(segments=[seg], ontology=weak_root / "ontology.json")
    # only the selected rows (1 positive in each pass + ~1 sampled negative) are parsed, not all 301
    assert res.n_errors == 0 and len(calls) < 20


def test_substring_hits_are_not_extra_negatives(tmp_path: Path) -> None:
    onto = tmp_path / "ontology.json"
    onto.write_text(json.dumps([{"id": "/m/L", "name": "Laughter", "child_ids": []},
                                {"id": "/m/LX", "name": "Other", "child_ids": []}]))
    rows = [("P0000000000", 0.0, 10.0, "/m/L")] + [(f"X{i:010d}", 0.0, 10.0, "/m/LX") for i in range(500)]
    seg = _segments(tmp_path / "s.csv", rows)
    res = audioset.process(segments=[seg], ontology=onto, negatives_per_positive=1.0, laughter_root="/m/L")
    assert sum(r.label == "laughter" for r in res.rows) == 1
    assert sum(r.label == "no_laughter" for r in res.rows) <= 8  # ~1 expected, not all 500 substring hits


def test_iter_segments_streams_rows_and_reports_bad_lines(weak_root: Path) -> None:
    from avemotion.data._common import ProcessResult

    res = ProcessResult("audioset")
    segs = list(audioset.iter_segments(weak_root / "balanced_train_segments.csv", res))
    assert len(segs) == 6 and segs[0].mids() == ["/m/09x0r", "/m/01j3sz"] and segs[0].line == 4
    assert [e.line for e in res.errors] == [10, 11, 12]


def test_core_crc32_matches_zlib() -> None:
    import zlib

    from avemotion import _core

    rng = random.Random(0)
    for n in (0, 1, 7, 8, 9, 63, 1000):
        data = bytes(rng.randrange(256) for _ in range(n))
        for seed in (0, 1, 0xFFFFFFFF, zlib.crc32(b"avemotion-negatives:7")):
            assert _core.crc32(data, seed) == zlib.crc32(data, seed)


_GRAMMAR_LINES = [
    '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"', "AAAAAAAAAAA,0,1,\"\"", 'AAAAAAAAAAA,  0.,  1.5,   "x"  ',
    'AAAAAAAAAAA, 0, 1, "x"\r', 'AAAAAAAAAAA, 0, 1, "x"\r\r', 'AAAAAAAAAAA, 0, 1, "x" \r', "# comment", "#", "", "  \t\r",
    'AAAAAAAAAA, 0, 1, "x"', 'AAAAAAAAAAAA, 0, 1, "x"', 'AAAAAAAAAA!, 0, 1, "x"', 'AAAAAAAAAAA, .5, 1, "x"',
    'AAAAAAAAAAA, 0, 1, "x""', 'AAAAAAAAAAA, 0, 1, "x', 'AAAAAAAAAAA, 0, 1, x', 'AAAAAAAAAAA,\t0, 1, "x"',
    'AAAAAAAAAAA, 0, 1, "é,/m/01j3sz"', 'AAAAAAAAAAA, -1, 1, "x"', 'AAAAAAAAAAA, 1e3, 2e3, "x"', " #x",
    'AAAAAAAAAAA, 0, 1, "x" y', 'AAAAAAAAAAA, 0, 1', "AAAAAAAAAAA", 'AAAAAAAAAAA, 1.2.3, 4, "x"',
]


def test_scanner_row_grammar_matches_the_reference_regex() -> None:
    from avemotion import _core

    rng = random.Random(1)
    alphabet = 'A_-09., "#\r\t/mé'
    lines = list(_GRAMMAR_LINES)
    for _ in range(3000):  # random mutations of valid rows
        chars = list(rng.choice(_GRAMMAR_LINES[:6]))
        for _k in range(rng.randint(1, 3)):
            i = rng.randrange(len(chars) + 1)
            op = rng.random()
            if op < 0.4 and chars:
                del chars[min(i, len(chars) - 1)]
            elif op < 0.8:
                chars.insert(i, rng.choice(alphabet))
            elif chars:
                chars[min(i, len(chars) - 1)] = rng.choice(alphabet)
        lines.append("".join(chars))
    scanner = _core.SegmentScanner([], [], 0, 0, True)
    for line in lines:
        want_bad = audioset._INVALID_LINE.search(line) is not None
        got_bad = scanner.scan((line + "\n").encode())[2] == 0
        assert got_bad == want_bad, line


def test_scanner_picks_counts_and_flags() -> None:
    import zlib

    from avemotion import _core

    lines = ['# header', 'AAAAAAAAAAA, 0, 10, "/m/09x0r,/m/01j3sz"', 'BBBBBBBBBBB, 0, 10, "/m/09x0r"',
             'CCCCCCCCCCC, 0, 10, "/m/01j3sz_not"', "", 'not a row', 'DDDDDDDDDDD, 0, 10, "/m/x"']
    block = ("\n".join(lines) + "\n").encode()
    s0 = zlib.crc32(b"seed")
    crcs = [zlib.crc32(x.encode(), s0) for x in lines]
    limit = sorted(crcs)[3]  # exactly three lines sampled
    scanner = _core.SegmentScanner(["/m/01j3sz"], ["DDDDDDDDDDD"], s0, limit, True)
    n_lines, n_comments, first_bad, picks = scanner.scan(block)
    assert (n_lines, n_comments, first_bad) == (7, 1, 5)
    by_line = {i: (block[b:e].decode(), f) for i, b, e, f in picks}
    assert set(by_line) == {1, 3, 6} | {i for i, c in enumerate(crcs) if c < limit}
    assert all(text == lines[i] for i, (text, _f) in by_line.items())
    for i, (_text, f) in by_line.items():
        assert bool(f & _core.PICK_HIT) == (i in (1, 3))
        assert bool(f & _core.PICK_SAMPLED) == (crcs[i] < limit)
        assert bool(f & _core.PICK_ID) == (i == 6)
    assert scanner.scan(b"") == (0, 0, -1, [])
    with pytest.raises(ValueError, match="whole lines"):
        scanner.scan(b"AAAAAAAAAAA, 0, 1, \"x\"")
    with pytest.raises(ValueError, match="ids\\[0\\]: expected 11 bytes"):
        _core.SegmentScanner([], ["short"], 0, 0, True)
    with pytest.raises(ValueError, match="needles\\[0\\]"):
        _core.SegmentScanner([""], [], 0, 0, True)


def test_blocks_keep_long_lines_whole_and_end_every_line(tmp_path: Path) -> None:
    text = "short\n" + "x" * 200 + "\n\nlast without newline"
    p = tmp_path / "b.csv"
    p.write_bytes(text.encode())
    for block in (1, 7, 64, 1 << 20):
        got = [bytes(b) for b in _segment_csv.blocks(p, block)]
        assert all(b.endswith(b"\n") for b in got)
        assert b"".join(got) == text.encode() + b"\n"


def test_bad_utf8_row_is_reported_with_its_line(weak_root: Path, tmp_path: Path) -> None:
    rows = [("P0000000000", 0.0, 10.0, "/m/01j3sz"), ("N0000000000", 0.0, 10.0, "/m/09x0r")]
    seg = _segments(tmp_path / "s.csv", rows)
    seg.write_bytes(seg.read_bytes() + b'Q0000000000, 0.0, 10.0, "/m/01j3sz\xff"\n')
    res = audioset.process(segments=[seg], ontology=weak_root / "ontology.json", negatives_per_positive=10.0)
    assert [(e.line, "not UTF-8" in e.message) for e in res.errors] == [(6, True)]
    assert {r.clip_id for r in res.rows} == {"audioset:P0000000000_0", "audioset:N0000000000_0"}
