"""The manifest schema: the columns, one validated row (:class:`ManifestRow`), the label sets.

Part of :mod:`avemotion.data.manifest` (which re-exports every public name here; import from there;
its docstring describes the columns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from avemotion._contract import EMOTION_LABELS, LABEL_KINDS, LAUGHTER_LABELS, SPLITS

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
