"""Validating Python wrappers over the C++ kernels in ``avemotion._core``.

The ``_core`` functions are strict: C-contiguous float32 (or float64 for statistics) only, never a
silent copy. The wrappers here accept any array-like, convert it once, and turn every problem into a
``ValueError``/``TypeError`` that names the argument, the expected and the actual value.

NaN policy
----------
``normalize`` refuses NaN/+-Inf input by default (``nan_policy="raise"``): the ``ValueError`` names the
first bad row, and the input is left untouched even when normalizing in place. ``nan_policy="propagate"``
skips the check (NaN stays NaN); use it only when a later stage masks such steps. Statistics
(``RunningStats.update``) always refuse non-finite rows that are not masked out, and leave the
accumulator unchanged when they do.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from avemotion import _core

#: std values below this are clamped to it (a constant feature would otherwise divide by zero).
STD_EPS: float = 1e-6

NanPolicy = Literal["raise", "propagate"]


def as_real_array(name: str, value: Any, dtype: Any = np.float32, *, expected: str = "a numeric array-like") -> np.ndarray:
    """``value`` as a C-contiguous array of ``dtype``, converted once (no copy when it already is one).

    Raises ``TypeError`` naming ``name`` for anything that is not real numbers (strings, objects,
    complex, bool, ragged lists). Shapes are the caller's to check.
    """
    if type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous:
        return value  # the common case: nothing to convert or inspect
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__}: {exc}") from exc
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=dtype, order="C")  # (ascontiguousarray would make a scalar 1-D)


def _as_f32(name: str, value: Any, *, ndim: tuple[int, ...]) -> np.ndarray:
    arr = as_real_array(name, value, np.float32)
    if arr.ndim not in ndim:
        shapes = " or ".join(["(N, D)" if n == 2 else "(D,)" for n in ndim])
        raise ValueError(f"{name}: expected shape {shapes}, got {arr.shape}")
    return arr


def prepare_stats(mean: Any, std: Any, dim: int | None = None, eps: float = STD_EPS) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate ``mean``/``std`` and return ``(mean_f32, inv_std_f32, n_clamped)``.

    ``std`` values below ``eps`` are clamped to ``eps``; NaN/Inf or negative values raise ValueError.
    """
    m = _as_f32("mean", mean, ndim=(1,))
    s = _as_f32("std", std, ndim=(1,))
    if m.shape != s.shape:
        raise ValueError(f"std: expected shape {m.shape} (same as mean), got {s.shape}")
    if dim is not None and m.shape[0] != dim:
        raise ValueError(f"mean: expected shape ({dim},) to match x's last dimension {dim}, got {m.shape}")
    bad = _core.find_nonfinite(m)
    if bad >= 0:
        raise ValueError(f"mean: expected finite values, got {m[bad]} at index {bad}")
    inv, clamped = _core.prepare_inv_std(s, float(eps))
    return m, inv, int(clamped)


def normalize(
    x: npt.ArrayLike,
    mean: npt.ArrayLike,
    std: npt.ArrayLike,
    out: np.ndarray | None = None,
    *,
    eps: float = STD_EPS,
    nan_policy: NanPolicy = "raise",
) -> np.ndarray:
    """Return ``(x - mean) / std`` as float32, computed by the C++ SIMD kernel.

    ``x`` is (N, D) or (D,), any array-like (converted to float32 once). ``mean``/``std`` are (D,).
    ``out`` may be ``x`` itself (in place; it must then be a C-contiguous float32 array) or another
    float32 array of x's shape. ``std`` is clamped below by ``eps``. See the module docstring for
    ``nan_policy``.
    """
    if nan_policy not in ("raise", "propagate"):
        raise ValueError(f"nan_policy: expected 'raise' or 'propagate', got {nan_policy!r}")
    if out is not None and out is x:
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous):
            got = f"{x.dtype}, c_contiguous={x.flags.c_contiguous}" if isinstance(x, np.ndarray) else type(x).__name__
            raise TypeError(f"out: in-place normalization needs a C-contiguous float32 ndarray, got {got}")
        if x.ndim not in (1, 2):
            raise ValueError(f"x: expected shape (N, D) or (D,), got {x.shape}")
        xa = x
    else:
        xa = _as_f32("x", x, ndim=(1, 2))
    m, inv, _ = prepare_stats(mean, std, dim=xa.shape[-1], eps=eps)
    if out is None:
        out = np.empty_like(xa)
    elif out is not x:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise TypeError("out: expected a C-contiguous float32 ndarray")
        if out.shape != xa.shape:
            raise ValueError(f"out: expected shape {xa.shape}, got {out.shape}")
    bad = _core.normalize(xa, m, inv, out, nan_policy == "raise")
    if bad >= 0:
        row = xa[bad] if xa.ndim == 2 else xa
        col = int(np.flatnonzero(~np.isfinite(row))[0])
        where = f"row {bad}, column {col}" if xa.ndim == 2 else f"index {col}"
        raise ValueError(
            f"x: expected finite values, got {row[col]} at {where} "
            "(pass nan_policy='propagate' to let NaN/Inf through; the input was not modified)"
        )
    return out


class RunningStats:
    """Single-pass, mergeable per-dimension mean and variance (float64; Welford/Chan).

    ``update(x, mask=None)`` takes (N, dim) or (..., dim) rows; ``mask`` (x.shape[:-1], bool) is True
    where a row is real data (Keras' convention) and False rows are ignored. ``merge(other)`` adds a
    parallel worker's accumulator. ``std`` is the population std (``ddof=0``, numpy's default).
    Instances pickle.
    """

    __slots__ = ("_s",)

    def __init__(self, dim: int) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"dim: expected an int, got {type(dim).__name__}")
        self._s = _core.RunningStats(int(dim))

    @property
    def dim(self) -> int:
        return int(self._s.dim)

    @property
    def count(self) -> int:
        return int(self._s.count)

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self._s.mean)

    @property
    def var(self) -> np.ndarray:
        n = self.count
        return np.asarray(self._s.m2) / n if n else np.full(self.dim, np.nan)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)

    def update(self, x: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> RunningStats:
        arr = np.asarray(x)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"x: expected a numeric array, got dtype {arr.dtype}")
        if arr.ndim < 1 or arr.shape[-1] != self.dim:
            raise ValueError(f"x: expected shape (N, {self.dim}) or (..., {self.dim}), got {arr.shape}")
        lead = arr.shape[:-1]
        dtype = np.float64 if arr.dtype == np.float64 else np.float32
        rows = np.ascontiguousarray(arr.reshape(-1, self.dim), dtype=dtype)
        m = None
        if mask is not None:
            ma = np.asarray(mask)
            if ma.dtype != np.bool_:
                raise TypeError(f"mask: expected a bool array (True = real data), got dtype {ma.dtype}")
            if ma.shape != lead:
                raise ValueError(f"mask: expected shape {lead} (x's leading dims), got {ma.shape}")
            m = np.ascontiguousarray(ma.reshape(-1))
        self._s.update(rows, m)
        return self

    def merge(self, other: RunningStats) -> RunningStats:
        if not isinstance(other, RunningStats):
            raise TypeError(f"other: expected RunningStats, got {type(other).__name__}")
        self._s.merge(other._s)
        return self

    def __getstate__(self) -> dict[str, Any]:
        return {"dim": self.dim, "count": self.count, "mean": self.mean.tolist(), "m2": np.asarray(self._s.m2).tolist()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._s = _core.RunningStats.from_state(
            int(state["dim"]), int(state["count"]), list(state["mean"]), list(state["m2"])
        )

    def __repr__(self) -> str:
        return f"RunningStats(dim={self.dim}, count={self.count})"


def build_info() -> dict[str, Any]:
    """Compiler, flags, SIMD level detected/in use, and the ONNX Runtime backend available."""
    info: dict[str, Any] = dict(_core.build_info())
    try:
        from avemotion import inference

        info["ort_backend"] = inference.available_backend()
    except Exception as exc:  # inference module absent or ORT missing
        info["ort_backend"] = f"unavailable ({exc.__class__.__name__})"
    return info
