"""Manifest schema, validation, the one reader and writer (atomic), splits and summaries.

A manifest is a CSV with a header and these columns, in order (``docs/contracts.md``)::

    clip_id, corpus, media_path, start, end, label, label_kind, source_detail, group, split

- ``clip_id``: unique within the manifest (processors prefix the corpus: ``ami:ES2002a.A.laugh3``).
- ``start``/``end``: seconds (float) within ``media_path``; ``0 <= start < end``, both finite.
- ``label``: laughter manifests use ``laughter`` / ``no_laughter``; emotion manifests use
  ``anger, disgust, fear, happy, neutral, sad`` (the model's class order). A manifest never mixes them.
- ``label_kind``: ``event`` (a timed event inside longer media), ``clip`` (the whole clip/segment
  carries the label) or ``proxy`` (a humor proxy such as sarcasm or high valence).
- ``group``: the grouping key (speaker, video, meeting, talk, show, film), namespaced by corpus.
- ``split``: ``train``, ``val`` or ``test``, from :func:`assign_split` (hash of group and seed), so a
  group never spans two splits.

Reading and writing validate every row; a bad row is reported as ``file:line: message``. Every part
of avemotion that reads a manifest (``extract``, ``stats``, training, ``unify``, ``balance``) goes
through :func:`iter_numbered` / :func:`read_manifest`. Writing goes through ``avemotion._io`` (a
temporary file that replaces the target only when complete), so an interrupted run never leaves a
half-written manifest. Leakage/overlap checks, class balance and :func:`unify` are in
``avemotion.data.combine`` (also importable from here).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from avemotion._contract import EMOTION_LABELS, LABEL_KINDS, LAUGHTER_LABELS, SPLITS
from avemotion._io import atomic_open
from avemotion._io import atomic_write_text as atomic_write_text

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "clip_id",
    "corpus",
    "media_path",
    "start",
    "end",
    "label",
    "label_kind",
    "source_detail",
    "group",
    "split",
)
__all__ = [
    "COLUMNS", "DEFAULT_PROPORTIONS", "EMOTION_LABELS", "LABEL_KINDS", "LAUGHTER_LABELS", "SPLITS",
    "ManifestError", "ManifestRow", "ManifestSummary", "ManifestWriter", "SplitAssigner", "assign_split",
    "check_proportions", "group_fraction", "iter_manifest", "iter_numbered", "labels_for", "read_manifest",
    "summary_path", "write_manifest",
]

#: Default split proportions (train, val, test).
DEFAULT_PROPORTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)


class ManifestError(ValueError):
    """A malformed manifest file or row; the message names the file and line."""


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row (see the module docstring for each field's meaning)."""

    clip_id: str
    corpus: str
    media_path: str
    start: float
    end: float
    label: str
    label_kind: str
    source_detail: str
    group: str
    split: str

    def problems(self, labels: Sequence[str] | None = None) -> list[str]:
        """Every way this row breaks the schema (empty when valid)."""
        out: list[str] = []
        for name in ("clip_id", "corpus", "media_path", "group"):
            if not getattr(self, name):
                out.append(f"{name} is empty")
        if any(c in self.clip_id for c in "\n\r"):
            out.append("clip_id contains a line break")
        if not (isinstance(self.start, float) and math.isfinite(self.start) and self.start >= 0):
            out.append(f"start must be a finite number >= 0, got {self.start!r}")
        if not (isinstance(self.end, float) and math.isfinite(self.end)):
            out.append(f"end must be a finite number, got {self.end!r}")
        elif isinstance(self.start, float) and not self.end > self.start:
            out.append(f"need 0 <= start < end: end must be > start, got start={self.start} end={self.end}")
        allowed = tuple(labels) if labels is not None else LAUGHTER_LABELS + EMOTION_LABELS
        if self.label not in allowed:
            out.append(f"label must be one of {', '.join(allowed)}; got {self.label!r}")
        if self.label_kind not in LABEL_KINDS:
            out.append(f"label_kind must be one of {', '.join(LABEL_KINDS)}; got {self.label_kind!r}")
        if self.split not in SPLITS:
            out.append(f"split must be one of {', '.join(SPLITS)}; got {self.split!r}")
        return out

    def to_csv(self) -> list[str]:
        return [
            self.clip_id,
            self.corpus,
            self.media_path,
            _fmt_time(self.start),
            _fmt_time(self.end),
            self.label,
            self.label_kind,
            self.source_detail,
            self.group,
            self.split,
        ]

    @property
    def duration(self) -> float:
        return self.end - self.start


def _fmt_time(t: float) -> str:
    # Millisecond precision is plenty for every corpus here and keeps files diff-friendly.
    return f"{t:.3f}".rstrip("0").rstrip(".") if math.isfinite(t) else str(t)


def labels_for(kind: str) -> tuple[str, ...]:
    """The label set of a manifest kind: ``"laughter"`` or ``"emotion"``."""
    if kind == "laughter":
        return LAUGHTER_LABELS
    if kind == "emotion":
        return EMOTION_LABELS
    raise ValueError(f"kind must be 'laughter' or 'emotion', got {kind!r}")


def _kind_of_label(label: str) -> str | None:
    if label in LAUGHTER_LABELS:
        return "laughter"
    if label in EMOTION_LABELS:
        return "emotion"
    return None


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def check_proportions(proportions: Sequence[float]) -> tuple[float, float, float]:
    """Validate (train, val, test) proportions: three numbers >= 0 summing to 1 (within 1e-6)."""
    p = tuple(float(x) for x in proportions)
    if len(p) != 3 or any(not math.isfinite(x) or x < 0 for x in p) or abs(sum(p) - 1.0) > 1e-6:
        raise ValueError(
            f"proportions must be three numbers >= 0 (train, val, test) summing to 1, got {list(proportions)}"
        )
    return p  # type: ignore[return-value]


def group_fraction(group: str, seed: int = 0) -> float:
    """A uniform number in [0, 1) from SHA-1 of ``"{seed}:{group}"``: stable across runs/platforms."""
    digest = hashlib.sha1(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(
    group: str, seed: int = 0, proportions: Sequence[float] = DEFAULT_PROPORTIONS
) -> str:
    """The split of ``group``: ``train`` if its hash fraction < p_train, ``val`` if < p_train + p_val,
    else ``test``. Deterministic; every row of a group gets the same split."""
    p_train, p_val, _ = check_proportions(proportions)
    u = group_fraction(group, seed)
    if u < p_train:
        return "train"
    if u < p_train + p_val:
        return "val"
    return "test"


class SplitAssigner:
    """:func:`assign_split` with a per-group cache (groups repeat across many rows)."""

    def __init__(self, seed: int = 0, proportions: Sequence[float] = DEFAULT_PROPORTIONS) -> None:
        self.seed = int(seed)
        self.proportions = check_proportions(proportions)
        self._cache: dict[str, str] = {}

    def __call__(self, group: str) -> str:
        s = self._cache.get(group)
        if s is None:  # assign_split without re-validating the proportions for every group
            u = group_fraction(group, self.seed)
            p_train, p_val, _ = self.proportions
            s = "train" if u < p_train else "val" if u < p_train + p_val else "test"
            self._cache[group] = s
        return s


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def iter_numbered(
    path: str | os.PathLike[str], *, kind: str | None = None, errors: list[str] | None = None
) -> Iterator[tuple[int, ManifestRow]]:
    """Stream ``(line, row)`` pairs of a manifest, validating each (the one manifest reader).

    Strict: the header must be exactly :data:`COLUMNS` (a missing, extra or misspelled column is
    an error naming them); every row is checked by :meth:`ManifestRow.problems` (label in the label
    set of ``kind``, or of the first row when None, so a file never mixes laughter and emotion
    labels; ``label_kind``, ``split`` and times from the contract; non-empty ids, media and group)
    and clip ids must be unique. Nothing is normalized (``Train`` is not ``train``). ``line`` is the
    file line where the row starts. UTF-8, with or without a BOM; LF or CRLF line endings.

    With ``errors=None`` the first bad row raises :class:`ManifestError` (``file:line: problem``);
    with a list, bad rows are appended to it as such messages and skipped. A bad header or a file
    that is not UTF-8 always raises. Leakage (a group in two splits) is checked by the writer,
    :func:`unify` and training, not here.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    labels = labels_for(kind) if kind else None

    def bad(line: int, msg: str) -> None:
        text = f"{path}:{line}: {msg}"
        if errors is None:
            raise ManifestError(text)
        errors.append(text)

    ids: set[str] = set()
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            _check_header(path, header)
            first = reader.line_num + 1
            for cells in reader:
                line, first = first, reader.line_num + 1
                if not cells:
                    continue
                if len(cells) != len(COLUMNS):
                    bad(line, f"expected {len(COLUMNS)} columns ({','.join(COLUMNS)}), got {len(cells)}")
                    continue
                d = dict(zip(COLUMNS, cells, strict=True))
                try:
                    start, end = float(d["start"]), float(d["end"] or "nan")
                except ValueError:
                    bad(line, f"start/end must be numbers, got start={d['start']!r} end={d['end']!r}")
                    continue
                row = ManifestRow(**{**d, "start": start, "end": end})  # type: ignore[arg-type]
                if labels is None and (k := _kind_of_label(row.label)) is not None:
                    labels = labels_for(k)
                problems = row.problems(labels)
                if row.clip_id in ids:
                    problems.append(f"duplicate clip_id {row.clip_id!r}")
                if problems:
                    bad(line, "; ".join(problems))
                    continue
                ids.add(row.clip_id)
                yield line, row
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte offset {exc.start}); manifests are UTF-8 CSV") from None
    except csv.Error as exc:
        raise ManifestError(f"{path}: not a readable CSV ({exc})") from None


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None:
        raise ManifestError(f"{path}:1: empty file, expected the header {','.join(COLUMNS)}")
    got = tuple(h.strip() for h in header)
    if got == COLUMNS:
        return
    missing = [c for c in COLUMNS if c not in got]
    extra = [c for c in got if c not in COLUMNS]
    detail = []
    if missing:
        detail.append(f"missing column(s) {missing}")
    if extra:
        detail.append(f"unexpected column(s) {extra}")
    if not detail:
        detail.append("columns out of order")
    raise ManifestError(
        f"{path}:1: header must be {','.join(COLUMNS)}; got {','.join(header)} ({'; '.join(detail)})"
    )


def iter_manifest(
    path: str | os.PathLike[str], *, kind: str | None = None, errors: list[str] | None = None
) -> Iterator[ManifestRow]:
    """The rows of :func:`iter_numbered` without their line numbers."""
    for _line, row in iter_numbered(path, kind=kind, errors=errors):
        yield row


def read_manifest(path: str | os.PathLike[str], *, kind: str | None = None) -> list[ManifestRow]:
    """All rows of a manifest (validated; raises :class:`ManifestError` on the first bad row)."""
    return list(iter_manifest(path, kind=kind))


# Checks, balance and unify live in ``avemotion.data.combine``; importable from here as before.
_COMBINE = ("BalanceReport", "UnifyResult", "balance_report", "check_leakage", "find_overlaps",
            "save_class_weights", "subtract_intervals", "unify")


def __getattr__(name: str) -> Any:
    if name in _COMBINE:
        from avemotion.data import combine

        return getattr(combine, name)
    raise AttributeError(f"module 'avemotion.data.manifest' has no attribute {name!r}")
