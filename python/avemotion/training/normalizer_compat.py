"""The two normalization calls training makes, in one place.

``compute_stats`` and ``save_stats`` use :mod:`avemotion.feature_normalizer`
(``compute_normalization_stats`` / ``save_normalization_stats``, docs/contracts.md) when it is
installed. While that module is absent (it is developed on another branch) they fall back to the same
algorithm on :class:`avemotion.RunningStats` (the C++ Welford/Chan accumulator) and a plain pickle of
``{"name", "mean", "std", "dim", "count"}``; a warning says so. Callers must pass training-split
rows only: these functions do not see splits.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _normalizer():  # type: ignore[no-untyped-def]
    try:
        from avemotion import feature_normalizer
    except ImportError:
        return None
    return feature_normalizer


def compute_stats(features: np.ndarray, mask: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean/std (float32, (D,)) and count over the rows of ``features`` (N, D) where ``mask`` is True.

    With no real rows the statistics are the contract's fallbacks (mean 0, std 0.5 for audio and 1 for
    video) and a warning is logged.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    dim = features.shape[1]
    if n == 0:
        log.warning("no real %s steps in the training split: using fallback statistics", name)
        return np.zeros(dim, np.float32), np.full(dim, 0.5 if name == "audio" else 1.0, np.float32), 0
    fn = _normalizer()
    if fn is not None and hasattr(fn, "compute_normalization_stats"):
        st = fn.compute_normalization_stats(features, masks=mask, name=name)
        return (np.asarray(st.mean, np.float32), np.asarray(st.std, np.float32), int(st.count))
    from avemotion import RunningStats

    rs = RunningStats(dim)
    rs.update(features, mask=mask)
    return np.asarray(rs.mean, np.float32), np.asarray(rs.std, np.float32), int(rs.count)


def save_stats(mean: np.ndarray, std: np.ndarray, name: str, stats_dir: str | Path,
               count: int | None = None) -> Path:
    """Write ``{name}_normalization_stats.pkl`` into ``stats_dir`` (atomically) and return its path."""
    fn = _normalizer()
    if fn is not None and hasattr(fn, "save_normalization_stats"):
        return Path(fn.save_normalization_stats(mean, std, name=name, stats_dir=stats_dir, count=count))
    log.warning("avemotion.feature_normalizer not available: writing %s stats with the training fallback", name)
    out_dir = Path(stats_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}_normalization_stats.pkl"
    payload = {"name": name, "mean": np.asarray(mean, np.float32), "std": np.asarray(std, np.float32),
               "dim": int(np.asarray(mean).shape[0]), "count": count}
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(payload, fh, protocol=4)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
