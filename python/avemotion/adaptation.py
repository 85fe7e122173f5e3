"""Online speaker adaptation: per-stream normalization statistics that start from the bundle's and
move toward the stream's own as speech accumulates.

A model bundle normalizes audio steps with statistics of its training speakers. A new speaker's voice
(pitch, loudness, timbre) shifts every feature, so per-speaker standardization helps a lot, but it
needs all of a speaker's data in advance. :class:`OnlineNormalizer` adapts while it listens::

    from avemotion.adaptation import OnlineNormalizer
    norm = OnlineNormalizer(mean, std, prior_weight=300)      # e.g. bundle.stats("audio")
    for steps in stream:                                     # (N, 89) raw audio steps
        norm.update(steps)                                   # speech steps only (see speech_mask)
        x = norm.normalize(steps)                            # float32, ready for the model

The stream's own statistics are accumulated by the C++ :class:`avemotion.RunningStats` (Chan's
mergeable mean/variance, float64), masked to speech. They are blended with the prior as if the prior
were ``prior_weight`` steps of data (a conjugate-style pseudo-count): with ``n`` speech steps seen and
``w = n / (n + prior_weight)``::

    mean = (1 - w) * mean_prior + w * mean_stream
    var  = (1 - w) * var_prior  + w * var_stream + w * (1 - w) * (mean_stream - mean_prior) ** 2

which is exactly the pooled mean and variance of the prior's pseudo-samples and the stream's steps.
``prior_weight = 0`` uses the stream's statistics as soon as it has any (none yet: the prior);
``float("inf")`` never adapts. At 10 steps per second, ``prior_weight = 300`` weighs the prior like
30 s of speech: after 30 s of speech the stream's own statistics have half the say.

Speech mask: an audio step counts as speech when its window's RMS level (the last column of an
audio step, dBFS) is at least ``min_dbfs`` (default -50 dBFS) and, unless ``voiced=False``, its mean
F0 (column 0, semitones, 0 when unvoiced) is positive: silence, hum and noise never pull the
statistics. Causality: :meth:`update` only ever sees steps the stream has produced; the caller
decides whether a window is normalized before or after its own steps are added (``avemotion
evaluate`` updates first: at the time a window is predicted, its steps are past data).

Numpy + the C++ core only (no TensorFlow, no onnxruntime).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from avemotion._contract import AUDIO_DIM, STD_EPS

#: Column of an audio step holding the window's RMS level in dBFS (docs/contracts.md).
RMS_COLUMN = AUDIO_DIM - 1
#: Column of an audio step holding eGeMAPS' mean F0 in semitones (0 for unvoiced windows).
F0_COLUMN = 0
DEFAULT_PRIOR_WEIGHT = 300.0
DEFAULT_MIN_DBFS = -50.0


def speech_mask(steps: npt.ArrayLike, *, min_dbfs: float = DEFAULT_MIN_DBFS, voiced: bool = True) -> np.ndarray:
    """(N,) bool: the audio steps (N, 89) that count as speech (see the module docstring)."""
    x = np.asarray(steps)
    if x.ndim != 2 or x.shape[1] != AUDIO_DIM:
        raise ValueError(f"steps: expected shape (N, {AUDIO_DIM}) audio steps, got {x.shape}")
    m = np.asarray(x[:, RMS_COLUMN] >= min_dbfs)
    if voiced:
        m &= x[:, F0_COLUMN] > 0
    return m


def blend_stats(prior_mean: npt.ArrayLike, prior_std: npt.ArrayLike, mean: npt.ArrayLike, std: npt.ArrayLike,
                weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Pooled (mean, std) of a prior and observed statistics, ``weight`` = the observed share in
    [0, 1] (float64 in, float32 out)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight: expected a value in [0, 1], got {weight}")
    m0, s0 = np.asarray(prior_mean, np.float64), np.asarray(prior_std, np.float64)
    m1, s1 = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    if not (m0.shape == s0.shape == m1.shape == s1.shape and m0.ndim == 1):
        raise ValueError(f"stats: expected four (D,) arrays, got {m0.shape}, {s0.shape}, {m1.shape}, {s1.shape}")
    w = float(weight)
    m = (1 - w) * m0 + w * m1
    var = (1 - w) * s0 ** 2 + w * s1 ** 2 + w * (1 - w) * (m1 - m0) ** 2
    return m.astype(np.float32), np.sqrt(var).astype(np.float32)


class OnlineNormalizer:
    """Normalization statistics of one stream, adapting from a prior (see the module docstring).

    Args:
        mean, std: the prior (D,), e.g. a bundle's audio statistics.
        prior_weight: pseudo-count of the prior in steps (>= 0, ``inf`` = never adapt).
        min_dbfs, voiced: the speech mask of :func:`speech_mask` (audio steps only); ``min_dbfs=None``
            counts every unmasked step (any modality).
        eps: std clamp used by :meth:`normalize`.
    """

    def __init__(self, mean: npt.ArrayLike, std: npt.ArrayLike, *, prior_weight: float = DEFAULT_PRIOR_WEIGHT,
                 min_dbfs: float | None = DEFAULT_MIN_DBFS, voiced: bool = True, eps: float = STD_EPS) -> None:
        from avemotion.kernels import RunningStats

        m = np.asarray(mean, np.float64)
        s = np.asarray(std, np.float64)
        if m.ndim != 1 or s.shape != m.shape:
            raise ValueError(f"mean/std: expected two (D,) arrays, got {m.shape} and {s.shape}")
        if not (np.isfinite(m).all() and np.isfinite(s).all() and (s >= 0).all()):
            raise ValueError("mean/std: expected finite values and std >= 0")
        if not (prior_weight >= 0 and not math.isnan(prior_weight)):
            raise ValueError(f"prior_weight: expected a number >= 0 (inf = never adapt), got {prior_weight}")
        if min_dbfs is not None and m.shape[0] != AUDIO_DIM:
            raise ValueError(f"min_dbfs: the speech mask needs {AUDIO_DIM}-d audio steps, the prior has "
                             f"{m.shape[0]} dims; pass min_dbfs=None for other features")
        self.prior_mean, self.prior_std = m, s
        self.prior_weight = float(prior_weight)
        self.min_dbfs, self.voiced, self.eps = min_dbfs, voiced, float(eps)
        self.dim = int(m.shape[0])
        self._running = RunningStats(self.dim)
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_bundle(cls, bundle: Any, modality: str = "audio", **kwargs: Any) -> OnlineNormalizer:
        """Start from a bundle's statistics (``avemotion.bundle.Bundle`` or anything with ``.stats``)."""
        mean, std = bundle.stats(modality)
        if modality != "audio":
            kwargs.setdefault("min_dbfs", None)
        return cls(mean, std, **kwargs)

    # ------------------------------------------------------------------ state

    @property
    def count(self) -> int:
        """Speech steps of the stream accumulated so far."""
        return int(self._running.count)

    @property
    def weight(self) -> float:
        """The stream's share of the statistics, ``n / (n + prior_weight)`` in [0, 1]."""
        n = self.count
        if n == 0 or math.isinf(self.prior_weight):
            return 0.0
        return n / (n + self.prior_weight)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """The current (mean, std), float32 (D,)."""
        n = self.count
        if self._cache is not None and self._cache[0] == n:
            return self._cache[1], self._cache[2]
        if self.weight == 0.0:
            mean, std = self.prior_mean.astype(np.float32), self.prior_std.astype(np.float32)
        else:
            mean, std = blend_stats(self.prior_mean, self.prior_std, self._running.mean, self._running.std,
                                    self.weight)
        self._cache = (n, mean, std)
        return mean, std

    @property
    def mean(self) -> np.ndarray:
        return self.stats()[0]

    @property
    def std(self) -> np.ndarray:
        return self.stats()[1]

    def reset(self) -> None:
        """Forget the stream (a new speaker): back to the prior."""
        from avemotion.kernels import RunningStats

        self._running = RunningStats(self.dim)
        self._cache = None

    # ------------------------------------------------------------------ use

    def update(self, steps: npt.ArrayLike, mask: npt.ArrayLike | Sequence[bool] | None = None) -> int:
        """Add a stream's steps (N, D) (``mask`` True where a step is real data); only real steps that
        pass the speech mask count. Returns how many were added."""
        x = np.asarray(steps, np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"steps: expected shape (N, {self.dim}), got {x.shape}")
        keep = np.ones(len(x), bool) if mask is None else np.asarray(mask, bool).copy()
        if keep.shape != (len(x),):
            raise ValueError(f"mask: expected shape ({len(x)},), got {keep.shape}")
        if self.min_dbfs is not None:
            keep &= speech_mask(np.where(keep[:, None], x, -np.inf), min_dbfs=self.min_dbfs, voiced=self.voiced)
        n = int(keep.sum())
        if n:
            self._running.update(np.ascontiguousarray(x), mask=keep)
        return n

    def normalize(self, steps: npt.ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
        """``(steps - mean) / std`` with the current statistics (the C++ kernel; (N, D) or (D,))."""
        from avemotion.kernels import normalize

        mean, std = self.stats()
        return normalize(steps, mean, std, out=out, eps=self.eps)

    def __repr__(self) -> str:
        return (f"OnlineNormalizer(dim={self.dim}, prior_weight={self.prior_weight:g}, count={self.count}, "
                f"weight={self.weight:.3f})")
