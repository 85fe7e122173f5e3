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

Layout: this module holds the reader (:func:`iter_numbered`, :func:`iter_manifest`,
:func:`read_manifest`) and re-exports the schema (``_manifest_schema``: :data:`COLUMNS`,
:class:`ManifestRow`, :class:`ManifestError`), the splits (``_splits``) and the writer
(``_manifest_write``: :class:`ManifestWriter`, :func:`write_manifest`, summaries). Import every name
from here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from avemotion._contract import EMOTION_LABELS, LABEL_KINDS, LAUGHTER_LABELS, SPLITS
from avemotion._io import atomic_write_text as atomic_write_text
from avemotion.data._manifest_schema import (
    COLUMNS,
    DEFAULT_PROPORTIONS,
    ManifestError,
    ManifestRow,
    _kind_of_label,
    labels_for,
)
from avemotion.data._manifest_write import (
    ManifestSummary,
    ManifestWriter,
    summary_path,
    write_manifest,
)
from avemotion.data._splits import SplitAssigner, assign_split, check_proportions, group_fraction

__all__ = [
    "COLUMNS", "DEFAULT_PROPORTIONS", "EMOTION_LABELS", "LABEL_KINDS", "LAUGHTER_LABELS", "SPLITS",
    "ManifestError", "ManifestRow", "ManifestSummary", "ManifestWriter", "SplitAssigner", "assign_split",
    "check_proportions", "group_fraction", "iter_manifest", "iter_numbered", "labels_for", "read_manifest",
    "summary_path", "write_manifest",
]


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
