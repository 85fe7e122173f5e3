"""Splits: a group's split from a hash of the group and a seed, so a group never spans two splits.

Part of :mod:`avemotion.data.manifest` (which re-exports every public name here; import from there;
its docstring describes the columns).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from avemotion.data._manifest_schema import DEFAULT_PROPORTIONS


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
