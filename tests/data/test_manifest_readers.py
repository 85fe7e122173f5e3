"""Issue 16, item 2: every manifest reader validates (one reader, ``avemotion.data.manifest``).

Each bad manifest the issue found (label ``giggle``, split ``training``, a missing ``group`` column,
split ``Train``) and a few more must be refused with ``file:line: problem`` by the reader itself, by
``features.extract.read_tasks`` / ``avemotion extract``, by ``avemotion stats`` (which used to drop
the ``Train`` row silently) and by training's manifest loading.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from avemotion.cli import main
from avemotion.data.manifest import COLUMNS, ManifestError, iter_numbered, read_manifest

GOOD = ["cremad:1001_DFA_ANG_XX", "cremad", "a.wav", "0", "2.5", "anger", "clip", "", "cremad:1001", "train"]


def _with(**changes: str) -> list[str]:
    row = list(GOOD)
    for k, v in changes.items():
        row[COLUMNS.index(k)] = v
    return row


# (name, header, rows, expected line, message fragment)
CASES = [
    ("label_giggle", list(COLUMNS), [GOOD, _with(clip_id="b", label="giggle")], 3, "label must be one of"),
    ("split_training", list(COLUMNS), [GOOD, _with(clip_id="b", split="training")], 3, "split must be one of"),
    ("split_Train", list(COLUMNS), [GOOD, _with(clip_id="b", split="Train")], 3, "got 'Train'"),
    ("no_group_column", [c for c in COLUMNS if c != "group"], [[c for i, c in enumerate(GOOD) if i != 8]], 1,
     "missing column(s) ['group']"),
    ("empty_group", list(COLUMNS), [_with(group="")], 2, "group is empty"),
    ("kind_weak", list(COLUMNS), [_with(label_kind="weak")], 2, "label_kind must be one of"),
    ("empty_end", list(COLUMNS), [_with(end="")], 2, "end must be a finite number"),
    ("mixed_labels", list(COLUMNS), [GOOD, _with(clip_id="b", label="laughter")], 3, "label must be one of anger"),
    ("duplicate_id", list(COLUMNS), [GOOD, GOOD], 3, "duplicate clip_id"),
    ("extra_column", [*COLUMNS, "note"], [[*GOOD, "x"]], 1, "unexpected column(s) ['note']"),
    ("reordered", [COLUMNS[1], COLUMNS[0], *COLUMNS[2:]], [GOOD], 1, "columns out of order"),
]
IDS = [c[0] for c in CASES]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize(("name", "header", "rows", "line", "fragment"), CASES, ids=IDS)
def test_reader_refuses(tmp_path: Path, name: str, header: list[str], rows: list[list[str]], line: int,
                        fragment: str) -> None:
    p = _write(tmp_path / f"{name}.csv", header, rows)
    with pytest.raises(ManifestError) as ei:
        read_manifest(p)
    assert str(ei.value).startswith(f"{p}:{line}: ") and fragment in str(ei.value)


def test_reader_line_numbers_count_quoted_newlines_blank_lines_bom_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    body = ",".join(COLUMNS) + "\r\n" + ",".join(GOOD) + "\r\n\r\n"
    body += 'b,cremad,a.wav,0,1,anger,clip,"two\r\nlines",cremad:1001,train\r\n'
    body += "c,cremad,a.wav,0,1,joy,clip,,cremad:1001,train\r\n"
    p.write_bytes(b"\xef\xbb\xbf" + body.encode())
    errors: list[str] = []
    good = list(iter_numbered(p, errors=errors))
    assert [(line, r.clip_id) for line, r in good] == [(2, "cremad:1001_DFA_ANG_XX"), (4, "b")]
    assert good[1][1].source_detail == "two\r\nlines"
    assert len(errors) == 1 and errors[0].startswith(f"{p}:6: label must be one of")
    p.write_bytes(b"\xff\xfe" + body.encode("utf-16-le"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(p)


@pytest.mark.parametrize(("name", "header", "rows", "line", "fragment"), CASES, ids=IDS)
def test_extract_read_tasks_refuses(tmp_path: Path, name: str, header: list[str], rows: list[list[str]], line: int,
                                    fragment: str) -> None:
    from avemotion.features.extract import read_tasks

    p = _write(tmp_path / f"{name}.csv", header, rows)
    with pytest.raises(ValueError, match=rf"{name}\.csv:{line}: ") as ei:
        read_tasks(p)
    assert fragment in str(ei.value)


def test_extract_cli_exits_2_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path / "m.csv", list(COLUMNS), [GOOD, _with(clip_id="b", label="giggle")])
    out = tmp_path / "features"
    assert main(["extract", str(p), "-o", str(out), "--modalities", "audio"]) == 2
    assert "m.csv:3: label must be one of" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_extract_read_tasks_resolves_relative_media(tmp_path: Path) -> None:
    from avemotion.features.extract import read_tasks

    p = _write(tmp_path / "m.csv", list(COLUMNS), [GOOD, _with(clip_id="b", media_path="/abs/b.wav")])
    tasks = read_tasks(p, media_root=tmp_path / "media")
    assert [(t.clip_id, t.media_path, t.start, t.end) for t in tasks] == [
        ("cremad:1001_DFA_ANG_XX", str(tmp_path / "media" / "a.wav"), 0.0, 2.5), ("b", "/abs/b.wav", 0.0, 2.5)]
    bad = _write(tmp_path / "bad.csv", list(COLUMNS), [_with(clip_id="../escape")])
    with pytest.raises(ValueError, match=r"bad\.csv:2: clip_id must be"):
        read_tasks(bad)


@pytest.mark.parametrize(("name", "header", "rows", "line", "fragment"), CASES, ids=IDS)
def test_stats_cli_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, header: list[str],
                           rows: list[list[str]], line: int, fragment: str) -> None:
    p = _write(tmp_path / f"{name}.csv", header, rows)
    (tmp_path / "features").mkdir()
    rc = main(["stats", "audio", "--features", str(tmp_path / "features"), "--manifest", str(p),
               "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{name}.csv:{line}: " in err and fragment in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "header", "rows", "line", "fragment"), CASES, ids=IDS)
def test_training_manifest_loading_refuses(tmp_path: Path, name: str, header: list[str], rows: list[list[str]],
                                           line: int, fragment: str) -> None:
    from avemotion.training import data as tdata
    from avemotion.training.config import TrainConfig

    def load(emotion: Path | str, laughter: Path | str) -> None:
        cfg = TrainConfig()
        cfg.data.features_dir = str(tmp_path)  # no feature files: rows are read, then skipped
        cfg.data.emotion_manifest, cfg.data.laughter_manifest = str(emotion), str(laughter)
        tdata.load_examples(cfg)

    p = _write(tmp_path / f"{name}.csv", header, rows)
    with pytest.raises(ValueError, match=rf"{name}\.csv:{line}: ") as ei:
        load(p, "")  # what avemotion train reads
    assert fragment in str(ei.value)
    good = _write(tmp_path / "good.csv", list(COLUMNS), [GOOD])
    with pytest.raises(ValueError, match="no usable clips: 1 manifest rows, 1 skipped"):
        load(good, "")  # valid: read, then refused only for its missing feature file
    with pytest.raises(ValueError, match="good.csv:2: label must be one of laughter, no_laughter"):
        load("", good)  # the head's label set, not just any known label
