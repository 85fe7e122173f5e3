"""The statistics record of one modality (:class:`NormalizationStats`), its warnings and the checked
constructor the loaders share (part of :mod:`avemotion.feature_normalizer`; import from there)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from avemotion import _stats_pickle as _fmt
from avemotion._contract import STD_EPS
from avemotion.kernels import PreparedStats


class FallbackStatsWarning(UserWarning):
    """No statistics file was found; the documented estimates are used instead."""


class ConstantFeatureWarning(UserWarning):
    """Statistics were made with dims whose std is below ``STD_EPS`` (normalized with scale 1)."""


@dataclass(frozen=True, eq=False)
class NormalizationStats:
    """Per-dimension statistics of one modality.

    ``mean``/``std`` are read-only float32 arrays of shape (dim,), std as computed (>= 0).
    ``clamped`` lists the constant dims (std < ``STD_EPS``), which are normalized with scale 1.
    ``count`` is the number of feature steps they were computed from (None when unknown: legacy
    files, fallback). ``source`` is ``"pickle"``, ``"legacy_npy"``, ``"fallback"`` or ``"computed"``;
    ``path`` the file read (the missing pickle for a fallback, None when computed).
    """

    name: str
    mean: np.ndarray
    std: np.ndarray
    dim: int
    count: int | None
    source: str
    path: Path | None
    clamped: tuple[int, ...] = ()
    created: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def prepared(self) -> PreparedStats:
        """``mean`` and ``1/std`` for the C++ kernel (validated once)."""
        return PreparedStats(self.mean, self.std, dim=self.dim, eps=STD_EPS)

    @cached_property
    def _label(self) -> str:
        where = self.path if self.path is not None else self.source
        return f"the {self.name} statistics ({self.source}: {where})"

    def normalize(self, features: npt.ArrayLike) -> np.ndarray:
        """``(features - mean) / std`` as float32, same shape; see ``normalize_features``."""
        return self.prepared.apply(features, name="features", where=_step, note=" (input not modified)",
                                   stats_label=self._label)  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """Plain-value summary: count, dim, source, path, std range, constant (clamped) dims."""
        return {
            "name": self.name,
            "dim": self.dim,
            "count": self.count,
            "source": self.source,
            "path": None if self.path is None else str(self.path),
            "std_min": float(self.std.min()),
            "std_max": float(self.std.max()),
            "mean_abs_max": float(np.abs(self.mean).max()),
            "clamped": list(self.clamped),
            "created": self.created,
        }


def _step(index: tuple[int, ...], column: int) -> str:
    return f"step {index}, dim {column}" if index else f"dim {column}"


def _stats(name: str, mean: np.ndarray, std: np.ndarray, source: str, path: Path | None, origin: Path | str,
           count: int | None = None, extra: dict[str, Any] | None = None) -> NormalizationStats:  # fmt: skip
    m, s, constant = _fmt.check_stats(name, mean, std, origin)
    return NormalizationStats(name, m, s, int(m.shape[0]), count, source, path, constant, extra=dict(extra or {}))


def _warn_constant(name: str, constant: tuple[int, ...], origin: Path | str) -> None:
    warnings.warn(
        f"{origin}: {name} std below {STD_EPS:g} (a constant feature) in {len(constant)} dim(s) "
        f"{list(constant[:10])}; they are normalized with scale 1 (x - mean), as scikit-learn does",
        ConstantFeatureWarning,
        stacklevel=3,
    )
