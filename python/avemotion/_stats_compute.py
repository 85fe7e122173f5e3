"""The one compute path behind ``feature_normalizer.compute_normalization_stats``.

``Accumulator`` checks dims (``_contract.DIMS`` for audio/video), bool masks (True = real step) and
split labels (statistics come from the training split only: other labels are refused unless allowed),
counts steps per split, and feeds ``kernels.RunningStats`` (C++, float64 Welford/Chan). Both input
forms go through it: any iterable of (T, D) sequences, or one (N, D) / (B, T, D) array in one call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from avemotion._contract import DIMS
from avemotion.kernels import RunningStats

logger = logging.getLogger("avemotion.feature_normalizer")


def check_name(name: Any) -> str:
    """``name`` when it is a valid modality name (letters, digits, ``_``, ``-``), else ValueError."""
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name: expected a modality name such as 'audio' or 'video', got {name!r}")
    return name


_END = object()


def _refuse_split(index: int, label: str, split: str, unit: str, n_other: int | None = None, total: int | None = None) -> None:
    more = f" ({n_other} of {total} {unit}s)" if total is not None else ""
    raise ValueError(
        f"splits[{index}]: {unit} is from split {label!r}, not {split!r}{more}; normalization statistics "
        f"come from the {split!r} split only (no leakage): filter those rows out, or pass "
        "allow_other_splits=True to include them knowingly"
    )


class Accumulator:
    """The one compute path: dims, masks, split labels and counts, then ``RunningStats.update``."""

    def __init__(self, name: str | None, split: str, allow_other_splits: bool, running: RunningStats | None) -> None:
        if name is not None:
            check_name(name)
        if not isinstance(split, str):
            raise TypeError(f"split: expected a str, got {type(split).__name__}")
        if running is not None and not isinstance(running, RunningStats):
            raise TypeError(f"running: expected avemotion.RunningStats or None, got {type(running).__name__}")
        self.name, self.split, self.allow_other, self.rs = name, split, allow_other_splits, running
        self.expected = DIMS.get(name) if name is not None else None
        self.counts: dict[str, int] = {}
        self.sequences = 0

    def check_dim(self, dim: int, arg: str, shape: tuple[int, ...] | None = None) -> None:
        if self.expected is not None and dim != self.expected:
            where = f" (shape {shape})" if shape is not None else ""
            raise ValueError(f"{arg}: dimension is {dim}{where}, expected the {self.name} feature dimension {self.expected}")
        if self.rs is None:
            self.rs = RunningStats(int(dim))
        elif dim != self.rs.dim:
            raise ValueError(f"{arg}: dimension is {dim}, expected {self.rs.dim} (as the earlier sequences / running statistics)")

    def check_labels(self, labels: np.ndarray, unit: str) -> None:
        """Refuse labels other than ``split`` (unless allowed), naming the first and how many."""
        other = np.flatnonzero(labels != self.split)
        if len(other) and not self.allow_other:
            _refuse_split(int(other[0]), str(labels[other[0]]), self.split, unit, len(other), len(labels))

    def count(self, labels: np.ndarray, per_unit: np.ndarray) -> None:
        for label in np.unique(labels):
            self.counts[str(label)] = self.counts.get(str(label), 0) + int(per_unit[labels == label].sum())

    def update(self, x: np.ndarray, mask: np.ndarray | None, arg: str) -> None:
        assert self.rs is not None
        try:
            self.rs.update(x, mask)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{arg}: {exc}") from None

    def add_array(self, x: np.ndarray, masks: Any, splits: Any) -> None:
        """One (N, D) array of steps or (B, T, D) of sequences (one C++ call)."""
        unit = "step" if x.ndim == 2 else "sequence"
        n = x.shape[0]
        self.check_dim(int(x.shape[-1]), "features", x.shape)
        m = None
        if masks is not None:
            m = np.asarray(masks)
            if m.dtype != np.bool_:
                raise TypeError(f"masks: expected a bool array (True = real step), got dtype {m.dtype}")
            if m.shape != x.shape[:-1]:
                raise ValueError(f"masks: expected shape {x.shape[:-1]} (features' leading dims), got {m.shape}")
        if splits is not None:
            if isinstance(splits, str):
                raise TypeError(f"splits: expected one label per {unit}, got a single str")
            labels = np.asarray(splits).astype(str)
            if labels.shape != (n,):
                raise ValueError(f"splits: expected one label per {unit}, shape ({n},), got {labels.shape}")
            self.check_labels(labels, unit)
            steps_per = int(np.prod(x.shape[1:-1], dtype=np.int64))
            self.count(labels, m.reshape(n, -1).sum(axis=1) if m is not None else np.full(n, steps_per))
        self.update(x, m, "features")
        self.sequences += n if x.ndim == 3 else 1

    def add_sequences(self, features: Iterable[npt.ArrayLike], masks: Any, splits: Any) -> None:
        """Any iterable of (T, D) sequences, with per-sequence masks and split labels."""
        checked = False
        if splits is not None:
            if isinstance(splits, str):
                raise TypeError("splits: expected one label per sequence, got a single str")
            if isinstance(splits, (Sequence, np.ndarray)):  # known in advance: refuse before reading
                splits = [str(s) for s in splits]
                self.check_labels(np.asarray(splits, dtype=str), "sequence")
                checked = True
        mask_it = iter(masks) if masks is not None else None
        split_it = iter(splits) if splits is not None else None
        for i, seq in enumerate(features):
            mask = next(mask_it, _END) if mask_it is not None else None
            if mask is _END:
                raise ValueError(f"masks: has fewer entries than features (ran out at sequence {i})")
            label = next(split_it, _END) if split_it is not None else None
            if label is _END:
                raise ValueError(f"splits: has fewer entries than features (ran out at sequence {i})")
            if label is not None and not checked and str(label) != self.split and not self.allow_other:
                _refuse_split(i, str(label), self.split, "sequence")
            x = np.asarray(seq)
            if x.ndim != 2:
                raise ValueError(f"features[{i}]: expected shape (T, D), got {x.shape}")
            self.check_dim(int(x.shape[1]), f"features[{i}]")
            m = None
            if mask is not None:
                m = np.asarray(mask)
                if m.dtype != np.bool_:
                    raise TypeError(f"masks[{i}]: expected a bool array (True = real step), got dtype {m.dtype}")
                if m.shape != x.shape[:1]:
                    raise ValueError(f"masks[{i}]: expected shape ({x.shape[0]},), got {m.shape}")
            self.update(x, m, f"features[{i}]")
            if label is not None:
                self.counts[str(label)] = self.counts.get(str(label), 0) + (int(m.sum()) if m is not None else x.shape[0])
            self.sequences += 1
        for what, it in (("masks", mask_it), ("splits", split_it)):
            if it is not None and next(it, _END) is not _END:
                raise ValueError(f"{what}: has more entries than features ({self.sequences} sequences)")

    def result(self, split_checked: bool) -> tuple[RunningStats, dict[str, Any]]:
        """The accumulator and the provenance (``extra``) of the statistics."""
        if self.rs is None:
            raise ValueError("features: no sequences given")
        extra: dict[str, Any] = {"split": self.split, "sequences": self.sequences, "split_checked": split_checked}
        if self.counts:
            extra["split_counts"] = self.counts
            if set(self.counts) - {self.split}:
                logger.warning("statistics include steps from other splits than %r: %s", self.split, self.counts)
        elif not split_checked:
            logger.info("compute_normalization_stats: no split labels given; assuming every sequence is %r", self.split)
        return self.rs, extra
