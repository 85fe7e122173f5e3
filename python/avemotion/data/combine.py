"""Operations over manifests: leakage and overlap checks, negative spans (interval subtraction), the
class balance report and :func:`unify` (per-corpus manifests -> one, validated).

Rows come from and go to ``avemotion.data.manifest`` (the schema, the one reader and writer); this
module only combines and checks them. The names are also importable from ``avemotion.data.manifest``.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from avemotion._contract import EMOTION_LABELS, LAUGHTER_LABELS, SPLITS
from avemotion._io import atomic_write_text
from avemotion.data.manifest import (
    DEFAULT_PROPORTIONS,
    ManifestError,
    ManifestRow,
    ManifestSummary,
    SplitAssigner,
    iter_manifest,
    write_manifest,
)

log = logging.getLogger(__name__)

__all__ = [
    "BalanceReport", "UnifyResult", "balance_report", "check_leakage", "find_overlaps", "save_class_weights",
    "subtract_intervals", "unify",
]

# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def check_leakage(rows: Iterable[ManifestRow]) -> dict[str, set[str]]:
    """Groups found in more than one split, as ``{group: {splits}}`` (empty = no leakage)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        seen[r.group].add(r.split)
    return {g: s for g, s in seen.items() if len(s) > 1}


def find_overlaps(rows: Iterable[ManifestRow]) -> list[tuple[ManifestRow, ManifestRow]]:
    """Pairs (negative, positive) on the same media whose time spans overlap.

    Positives are ``laughter`` rows, negatives ``no_laughter`` rows; spans are half-open [start, end).
    Emotion rows are ignored. Sort-and-sweep per media file: O(n log n).
    """
    by_media: dict[str, list[ManifestRow]] = defaultdict(list)
    for r in rows:
        if r.label in LAUGHTER_LABELS:
            by_media[r.media_path].append(r)
    out: list[tuple[ManifestRow, ManifestRow]] = []
    for items in by_media.values():
        pos = sorted((r for r in items if r.label == "laughter"), key=lambda r: r.start)
        if not pos:
            continue
        starts = [p.start for p in pos]


        for n in items:
            if n.label != "no_laughter":
                continue
            # positives starting before n.end; any of them ending after n.start overlaps
            hi = bisect.bisect_left(starts, n.end)
            for p in pos[:hi]:
                if p.end > n.start:
                    out.append((n, p))
    return out


def subtract_intervals(
    span: tuple[float, float],
    blocked: Sequence[tuple[float, float]],
    *,
    guard: float = 0.0,
    min_len: float = 0.0,
    max_len: float | None = None,
) -> list[tuple[float, float]]:
    """Parts of ``span`` outside every ``blocked`` interval widened by ``guard`` seconds each side,
    cut into pieces of at most ``max_len`` and dropping pieces shorter than ``min_len``.

    Used to draw negatives that never overlap a positive. Intervals are half-open [start, end).
    """
    lo, hi = span
    cuts = sorted((max(lo, a - guard), min(hi, b + guard)) for a, b in blocked if b + guard > lo and a - guard < hi)
    free: list[tuple[float, float]] = []
    cur = lo
    for a, b in cuts:
        if a > cur:
            free.append((cur, a))
        cur = max(cur, b)
    if cur < hi:
        free.append((cur, hi))
    out: list[tuple[float, float]] = []
    for a, b in free:
        if max_len is not None and max_len > 0:
            t = a
            while b - t >= max(min_len, 1e-9):
                e = min(b, t + max_len)
                if e - t >= min_len:
                    out.append((t, e))
                t = e
        elif b - a >= min_len and b > a:
            out.append((a, b))
    return out


# --------------------------------------------------------------------------------------------
# Balance
# --------------------------------------------------------------------------------------------


@dataclass
class BalanceReport:
    """Class distribution of a manifest and sklearn-style 'balanced' class weights.

    ``weights[c] = n_samples / (n_classes * count[c])`` over the classes present (the formula of
    ``sklearn.utils.class_weight.compute_class_weight('balanced')``).
    """

    labels: list[str]
    counts: dict[str, int]
    percent: dict[str, float]
    weights: dict[str, float]
    n_samples: int
    split: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def render(self, title: str = "class balance") -> Any:
        from rich.table import Table

        t = Table(title=title + (f" (split {self.split})" if self.split else ""))
        for col in ("label", "count", "percent", "weight"):
            t.add_column(col, justify="left" if col == "label" else "right")
        for lab in self.labels:
            t.add_row(lab, str(self.counts[lab]), f"{self.percent[lab]:.2f}%", f"{self.weights[lab]:.4f}")
        t.caption = f"{self.n_samples} rows"
        return t


def balance_report(
    rows: Iterable[ManifestRow], *, split: str | None = None, labels: Sequence[str] | None = None
) -> BalanceReport:
    """Count labels (optionally of one split) and compute 'balanced' class weights.

    Label order: ``labels`` if given, else the contract order of the manifest's label set, restricted
    to labels present. A class with zero rows gets no weight (it cannot be weighted).
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    counts: Counter[str] = Counter()
    for r in rows:
        if split is None or r.split == split:
            counts[r.label] += 1
    n = sum(counts.values())
    if n == 0:
        raise ValueError("balance report: no rows" + (f" in split {split!r}" if split else ""))
    if labels is None:
        order = [lab for lab in LAUGHTER_LABELS + EMOTION_LABELS if counts[lab]]
        order += sorted(set(counts) - set(order))
    else:
        order = list(labels)
    present = [lab for lab in order if counts[lab] > 0]
    k = len(present)
    return BalanceReport(
        labels=order,
        counts={lab: counts[lab] for lab in order},
        percent={lab: 100.0 * counts[lab] / n for lab in order},
        weights={lab: n / (k * counts[lab]) for lab in present},
        n_samples=n,
        split=split,
    )


def save_class_weights(report: BalanceReport, path: str | os.PathLike[str]) -> Path:
    """Save ``{"class_weights": ..., "labels": ..., "counts": ..., ...}`` as JSON, atomically."""
    data = {"method": "balanced: n_samples / (n_classes * count)", **report.to_json()}
    data["class_weights"] = data.pop("weights")
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# Unify
# --------------------------------------------------------------------------------------------


@dataclass
class UnifyResult:
    """What :func:`unify` wrote and what it skipped."""

    out: Path
    summary: ManifestSummary
    inputs: list[Path]
    missing: list[Path]


def unify(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    kind: str = "laughter",
    resplit: bool = False,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
) -> UnifyResult:
    """Concatenate per-corpus manifests into one, validated and written atomically.

    Missing inputs are skipped (listed in the result; at least one must exist). Every input is
    validated on read; the union must have unique clip ids, no group in two splits (with
    ``resplit`` every group is re-assigned by :func:`assign_split` first) and no negative
    overlapping a positive on the same media; each violation raises :class:`ManifestError` and the
    output is left untouched. Summary JSON is written beside ``out``.
    """
    present = [Path(p) for p in inputs if Path(p).is_file()]
    missing = [Path(p) for p in inputs if not Path(p).is_file()]
    if not present:
        raise ManifestError(f"unify: none of the input manifests exist: {', '.join(map(str, inputs))}")
    for m in missing:
        log.warning("unify: %s not found, skipped", m)
    rows: list[ManifestRow] = []
    for p in present:
        rows.extend(iter_manifest(p, kind=kind))
    if resplit:
        assigner = SplitAssigner(seed, proportions)
        rows = [ManifestRow(**{**asdict(r), "split": assigner(r.group)}) for r in rows]
    leaks = check_leakage(rows)
    if leaks:
        sample = ", ".join(f"{g} in {sorted(s)}" for g, s in list(leaks.items())[:5])
        raise ManifestError(f"unify: {len(leaks)} group(s) span several splits (use resplit): {sample}")
    overlaps = find_overlaps(rows)
    if overlaps:
        neg, pos = overlaps[0]
        raise ManifestError(
            f"unify: {len(overlaps)} negative(s) overlap a positive, e.g. {neg.clip_id} [{neg.start}, {neg.end}) "
            f"and {pos.clip_id} [{pos.start}, {pos.end}) on {neg.media_path}"
        )
    summary = write_manifest(out, rows, kind=kind)
    return UnifyResult(Path(out), summary, present, missing)
