"""Validating Python wrappers over the C++ kernels in ``avemotion._core``.

The ``_core`` functions are strict: C-contiguous float32 (or float64 for statistics) only, never a
silent copy. The wrappers here accept any array-like, convert it once, and turn every problem into a
``ValueError``/``TypeError`` that names the argument, the expected and the actual value.

Prepared statistics
-------------------
``PreparedStats(mean, std)`` validates the statistics once and keeps ``mean`` and ``1/std`` for the
kernel; ``.apply(x)`` normalizes any (..., D) array with them. It is the one path to the kernel:
``normalize`` (per call), ``feature_normalizer.normalize_features`` (cached per statistics file) and
``inference.Predictor`` (per bundle) all use it.

Constant features
-----------------
A dimension whose std is below ``eps`` (default ``STD_EPS`` = 1e-6) is a constant feature. As in
scikit-learn's ``StandardScaler`` its scale is 1, not ``eps``: the output is ``x - mean`` there (a
deviation of 1 stays 1 instead of becoming 1e6). ``PreparedStats.constant`` lists such dims.

NaN policy
----------
``normalize`` refuses NaN/+-Inf input by default (``nan_policy="raise"``): the ``ValueError`` names the
first bad row, and the input is left untouched even when normalizing in place. ``nan_policy="propagate"``
skips the check (NaN stays NaN); use it only when a later stage masks such steps. Statistics
(``RunningStats.update``) always refuse non-finite rows that are not masked out, and leave the
accumulator unchanged when they do.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from avemotion import _core
from avemotion._contract import STD_EPS

__all__ = ["STD_EPS", "PreparedStats", "RunningStats", "as_real_array", "build_info", "normalize", "prepare_stats"]

NanPolicy = Literal["raise", "propagate"]
#: ``where(index, column)`` -> text locating a bad value (``index``: x's leading indices).
Locator = Callable[[tuple[int, ...], int], str]


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


def _check_eps(eps: Any) -> float:
    if type(eps) is float and 0.0 < eps < math.inf:  # the common case (NaN fails the comparison)
        return eps
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"eps: expected a float, got {type(eps).__name__}")
    e = float(eps)
    if not (math.isfinite(e) and e > 0.0):
        raise ValueError(f"eps: expected a finite number > 0, got {eps!r}")
    return e


def _default_where(index: tuple[int, ...], column: int) -> str:
    if not index:
        return f"index {column}"
    if len(index) == 1:
        return f"row {index[0]}, column {column}"
    return f"index {index}, column {column}"


def _prepare(mean: Any, std: Any, dim: int | None, eps: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """Validated ``(mean, std, inv_std, eps, n_constant)`` (float32 vectors) for the kernel."""
    e = eps if type(eps) is float and 0.0 < eps < math.inf else _check_eps(eps)
    m = as_real_array("mean", mean, np.float32)
    s = as_real_array("std", std, np.float32)
    if m.ndim != 1 or s.ndim != 1:
        raise ValueError(f"{'mean' if m.ndim != 1 else 'std'}: expected shape (D,), got {(m if m.ndim != 1 else s).shape}")
    if dim is not None:  # blame the argument that disagrees with x, not the other one
        if m.shape[0] != dim:
            raise ValueError(f"mean: expected shape ({dim},) to match x's last dimension {dim}, got {m.shape}")
        if s.shape[0] != dim:
            raise ValueError(f"std: expected shape ({dim},) to match x's last dimension {dim}, got {s.shape}")
    elif m.shape != s.shape:
        raise ValueError(f"std: expected shape {m.shape} (same as mean), got {s.shape}")
    bad = _core.find_nonfinite(m)
    if bad >= 0:
        raise ValueError(f"mean: expected finite values, got {m[bad]} at index {bad}")
    inv, n_constant = _core.prepare_inv_std(s, e)
    return m, s, inv, e, n_constant


def _kernel(xa: np.ndarray, out: np.ndarray, mean: np.ndarray, inv: np.ndarray, check_finite: bool, name: str = "x",
            expected: str = "finite values", where: Locator | None = None, note: str = "") -> np.ndarray:  # fmt: skip
    """The one C++ call, on arrays already checked (float32, C-contiguous, last dim = len(mean),
    ``out`` of x's shape); a NaN/Inf is reported with ``where(index, column)``."""
    if xa.ndim <= 2:
        bad = _core.normalize(xa, mean, inv, out, check_finite)
    else:
        d = mean.shape[0]
        bad = _core.normalize(xa.reshape(-1, d), mean, inv, out.reshape(-1, d), check_finite)
    if bad >= 0:
        row = xa if xa.ndim == 1 else xa.reshape(-1, xa.shape[-1])[bad]
        col = int(np.flatnonzero(~np.isfinite(row))[0])
        index = tuple(int(i) for i in np.unravel_index(int(bad), xa.shape[:-1])) if xa.ndim > 1 else ()
        raise ValueError(f"{name}: expected {expected}, got {row[col]} at {(where or _default_where)(index, col)}{note}")
    return out


class PreparedStats:
    """``mean`` and ``1/std`` validated once, for many ``apply`` calls (see the module docstring).

    ``mean``/``std``: (D,) array-likes, finite, std >= 0; ``dim``: the D they must have (named in the
    error when they do not); ``eps``: finite > 0. Attributes ``mean``, ``inv_std`` (float32, (D,)),
    ``dim`` and ``constant`` (the dims with std < eps, whose scale is 1).
    """

    __slots__ = ("constant", "dim", "inv_std", "mean")

    def __init__(self, mean: npt.ArrayLike, std: npt.ArrayLike, *, dim: int | None = None, eps: float = STD_EPS) -> None:
        m, s, inv, e, n_constant = _prepare(mean, std, dim, eps)
        self.mean: np.ndarray = m
        self.inv_std: np.ndarray = inv
        self.dim: int = m.shape[0]
        self.constant: tuple[int, ...] = tuple(np.flatnonzero(s < e).tolist()) if n_constant else ()

    def apply(
        self,
        x: npt.ArrayLike,
        out: np.ndarray | None = None,
        *,
        name: str = "x",
        check_finite: bool = True,
        where: Locator | None = None,
        note: str = "",
        stats_label: str = "the statistics",
        expected: str = "finite values",
    ) -> np.ndarray:
        """``(x - mean) * inv_std`` as float32 of x's shape; ``x`` is (..., D), any array-like.

        ``out``: None (a new array), ``x`` itself (in place: x must be a C-contiguous float32
        ndarray) or a C-contiguous float32 array of x's shape. With ``check_finite`` a NaN/Inf in
        ``x`` raises ``ValueError`` ("``{name}``: expected ``{expected}``, got ... at ``where(index,
        column)``" + ``note``) and x is untouched. ``stats_label`` names the statistics in the
        dimension-mismatch error.
        """
        if out is not None and out is x:
            if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous):
                got = f"{x.dtype}, c_contiguous={x.flags.c_contiguous}" if isinstance(x, np.ndarray) else type(x).__name__
                raise TypeError(f"out: in-place normalization needs a C-contiguous float32 ndarray, got {got}")
            xa = x
        else:
            xa = as_real_array(name, x, np.float32)
        if xa.ndim == 0:
            raise ValueError(f"{name}: expected shape (..., {self.dim}), got a scalar")
        if xa.shape[-1] != self.dim:
            raise ValueError(
                f"{name}: last dimension is {xa.shape[-1]} (shape {xa.shape}) but {stats_label} have dimension {self.dim}"
            )
        if out is None:
            out = np.empty(xa.shape, np.float32)
        elif out is not x:
            if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous:
                raise TypeError("out: expected a C-contiguous float32 ndarray")
            if out.shape != xa.shape:
                raise ValueError(f"out: expected shape {xa.shape}, got {out.shape}")
        return _kernel(xa, out, self.mean, self.inv_std, check_finite, name, expected, where, note)


def prepare_stats(mean: Any, std: Any, dim: int | None = None, eps: float = STD_EPS) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mean_f32, inv_std_f32, n_constant)`` of :class:`PreparedStats` (kept for callers of the tuple form)."""
    m, _, inv, _, n_constant = _prepare(mean, std, dim, eps)
    return m, inv, int(n_constant)


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
    float32 array of x's shape. Where ``std < eps`` (a constant feature) the scale is 1: the output is
    ``x - mean``. ``eps`` must be finite and > 0. See the module docstring for ``nan_policy``.
    """
    if nan_policy not in ("raise", "propagate"):
        raise ValueError(f"nan_policy: expected 'raise' or 'propagate', got {nan_policy!r}")
    if out is not None and out is x:
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous):
            got = f"{x.dtype}, c_contiguous={x.flags.c_contiguous}" if isinstance(x, np.ndarray) else type(x).__name__
            raise TypeError(f"out: in-place normalization needs a C-contiguous float32 ndarray, got {got}")
        xa = x
    else:
        xa = as_real_array("x", x, np.float32)
    if xa.ndim not in (1, 2):
        raise ValueError(f"x: expected shape (N, D) or (D,), got {xa.shape}")
    m, _, inv, _, _ = _prepare(mean, std, xa.shape[-1], eps)
    if out is None:
        out = np.empty_like(xa)
    elif out is not x:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise TypeError("out: expected a C-contiguous float32 ndarray")
        if out.shape != xa.shape:
            raise ValueError(f"out: expected shape {xa.shape}, got {out.shape}")
    return _kernel(xa, out, m, inv, nan_policy == "raise", note=_PROPAGATE_NOTE)


_PROPAGATE_NOTE = " (pass nan_policy='propagate' to let NaN/Inf through; the input was not modified)"


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


# ----------------------------------------------------------------------------- ONNX Runtime library
# The C++ core's OrtModel dlopens the installed onnxruntime package's library; finding it is a fact
# of the core (kept here so that build_info needs nothing above this module, see docs/layout.md).


def ort_library_path() -> Path:
    """Path of ``libonnxruntime.so.1.*`` inside the installed onnxruntime (or -gpu) package."""
    import onnxruntime

    capi = Path(onnxruntime.__file__).parent / "capi"
    found = sorted(glob.glob(str(capi / "libonnxruntime.so.1*")))
    if not found:
        raise RuntimeError(
            f"onnxruntime {onnxruntime.__version__}: no libonnxruntime.so.1.* in {capi}; "
            "reinstall onnxruntime (or use backend='python')"
        )
    return Path(found[-1])


def c_backend_error() -> str | None:
    """None when the C API backend can run here, else why not."""
    if not getattr(_core, "HAVE_ORT", False):
        return "built without ONNX Runtime headers (run scripts/fetch_ort_headers.sh and rebuild)"
    try:
        _core.ort_library_version(str(ort_library_path()))
    except Exception as exc:
        return str(exc)
    return None


def available_backend() -> str:
    """``"c"`` when the C API backend works here, else ``"python"`` (what ``backend="auto"`` uses)."""
    return "c" if c_backend_error() is None else "python"


def build_info() -> dict[str, Any]:
    """Compiler, flags, SIMD level detected/in use, and the ONNX Runtime backend available."""
    info: dict[str, Any] = dict(_core.build_info())
    try:
        info["ort_backend"] = available_backend()
    except Exception as exc:  # onnxruntime missing or broken
        info["ort_backend"] = f"unavailable ({exc.__class__.__name__})"
    return info
