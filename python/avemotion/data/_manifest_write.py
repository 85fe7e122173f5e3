"""The one manifest writer (streaming, validating, atomic through ``avemotion._io``) and summaries.

Part of :mod:`avemotion.data.manifest` (which re-exports every public name here; import from there;
its docstring describes the columns).
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from avemotion._contract import SPLITS
from avemotion._io import atomic_open, atomic_write_text
from avemotion.data._manifest_schema import (
    COLUMNS,
    ManifestError,
    ManifestRow,
    _kind_of_label,
    labels_for,
)


@dataclass
class ManifestSummary:
    """Row counts per (corpus, label, split) and seconds per (corpus, label)."""

    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    n_rows: int = 0
    n_groups: int = 0

    @classmethod
    def of(cls, rows: Iterable[ManifestRow]) -> ManifestSummary:
        acc = _SummaryAcc()
        for r in rows:
            acc.add(r)
        return acc.result()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> list[tuple[str, str, int, int, int, int, float]]:
        """Rows of (corpus, label, train, val, test, total, hours)."""
        out = []
        for corpus in sorted(self.counts):
            for label in sorted(self.counts[corpus]):
                c = self.counts[corpus][label]
                tr, va, te = (c.get(s, 0) for s in SPLITS)
                out.append((corpus, label, tr, va, te, tr + va + te, self.seconds[corpus][label] / 3600))
        return out

    def render(self, title: str = "manifest summary") -> Any:
        """A ``rich.table.Table`` of :meth:`table` (rich imported here, only when rendering)."""
        from rich.table import Table

        t = Table(title=title)
        for col in ("corpus", "label", "train", "val", "test", "total", "hours"):
            t.add_column(col, justify="left" if col in ("corpus", "label") else "right")
        for corpus, label, tr, va, te, tot, h in self.table():
            t.add_row(corpus, label, str(tr), str(va), str(te), str(tot), f"{h:.2f}")
        t.caption = f"{self.n_rows} rows, {self.n_groups} groups"
        return t


class _SummaryAcc:
    def __init__(self) -> None:
        self.counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.groups: set[str] = set()
        self.n = 0

    def add(self, r: ManifestRow) -> None:
        self.counts[r.corpus][r.label][r.split] += 1
        self.seconds[r.corpus][r.label] += r.end - r.start
        self.groups.add(r.group)
        self.n += 1

    def result(self) -> ManifestSummary:
        return ManifestSummary(
            counts={c: {lab: dict(v) for lab, v in d.items()} for c, d in self.counts.items()},
            seconds={c: dict(d) for c, d in self.seconds.items()},
            n_rows=self.n,
            n_groups=len(self.groups),
        )


class ManifestWriter:
    """Streaming, validating, atomic manifest writer.

    ``with ManifestWriter(path) as w: w.write(row)``. Every row is validated (schema, label set of
    ``kind`` (inferred from the first row when None), unique ``clip_id``, a group never in two
    splits); a bad row raises :class:`ManifestError` naming the output file and the row's line, and
    the target file is left untouched. Memory: the set of clip ids and groups, not the rows.
    On success the file replaces ``path`` atomically and :attr:`summary` holds the counts.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        self._labels = labels_for(kind) if kind else None
        self._ids: set[str] = set()
        self._group_split: dict[str, str] = {}
        self._acc = _SummaryAcc()
        self._fh: TextIO | None = None
        self._file: Any = None
        self._writer: Any = None
        self.summary: ManifestSummary | None = None

    def __enter__(self) -> ManifestWriter:
        self._file = atomic_open(self.path, "w", newline="")
        self._fh = self._file.__enter__()
        self._writer = csv.writer(self._fh, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        return self

    def write(self, row: ManifestRow) -> None:
        if self._writer is None:
            raise RuntimeError("ManifestWriter.write called outside 'with'")
        line = self._acc.n + 2
        where = f"{self.path}:{line} (clip_id {row.clip_id!r})"
        if self._labels is None:
            k = _kind_of_label(row.label)
            if k is not None:
                self.kind, self._labels = k, labels_for(k)
        problems = row.problems(self._labels)
        if row.clip_id in self._ids:
            problems.append("duplicate clip_id")
        prev = self._group_split.get(row.group)
        if prev is not None and prev != row.split:
            problems.append(f"group {row.group!r} already in split {prev!r} (leakage), got {row.split!r}")
        if problems:
            raise ManifestError(f"{where}: " + "; ".join(problems))
        self._ids.add(row.clip_id)
        self._group_split[row.group] = row.split
        self._writer.writerow(row.to_csv())
        self._acc.add(row)

    def write_all(self, rows: Iterable[ManifestRow]) -> None:
        for r in rows:
            self.write(r)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._file is not None
        self._file.__exit__(exc_type, exc, tb)  # replaces the target on success, else removes the temp file
        if exc_type is None:
            self.summary = self._acc.result()


def write_manifest(
    path: str | os.PathLike[str],
    rows: Iterable[ManifestRow],
    *,
    kind: str | None = None,
    summary_json: str | os.PathLike[str] | None | bool = True,
    report: Callable[[], dict[str, Any]] | None = None,
) -> ManifestSummary:
    """Validate and write ``rows`` atomically; save the summary JSON beside it
    (``<name>.summary.json``, or the path given; ``False`` for none). Returns the summary.

    ``report``, when given, is called after the last row and its dict is saved in the summary
    JSON under ``"report"`` (a processor's counts: skipped items, point events, ...)."""
    with ManifestWriter(path, kind) as w:
        w.write_all(rows)
    assert w.summary is not None
    if summary_json:
        sp = summary_path(path) if summary_json is True else Path(summary_json)
        data = w.summary.to_json()
        if report is not None:
            data["report"] = report()
        atomic_write_text(sp, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return w.summary


def summary_path(manifest: str | os.PathLike[str]) -> Path:
    p = Path(manifest)
    return p.with_name(p.stem + ".summary.json")
