"""The normalization statistics file format (``{name}_normalization_stats.pkl``) and its safe reader.

The pickle holds one ``dict``: ``format_version`` (1), ``name``, ``dim``, ``count`` (number of feature
steps the statistics were computed from, or None), ``mean`` and ``std`` (float32 ndarrays of shape
(dim,); std as computed, >= 0), ``created`` (ISO 8601 UTC string), ``clamped`` (the constant dims:
std below ``STD_EPS``, normalized with scale 1) and ``extra`` (a dict of plain values: provenance).
Files written by avemotion <= 0.1 stored ``STD_EPS`` as the std of a constant dim; such dims are
listed under ``clamped`` and read back as std 0.

Reading never executes code from a file: a restricted unpickler accepts only plain containers,
numbers, strings, bytes and numpy arrays/dtypes/scalars; any other global is refused with
``UnsafePickleError`` naming the file and the global. A file that exists but is truncated, corrupt or
malformed raises ``StatsFileError``. Both are ``ValueError``.

This module knows the format only; ``avemotion.feature_normalizer`` adds directories, fallbacks, the
legacy ``.npy`` pair and the cache, and ``avemotion.bundle`` reads a bundle's two files through it.
"""

from __future__ import annotations

import datetime as _dt
import io
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import DIMS, STD_EPS

FORMAT_VERSION = 1


class StatsFileError(ValueError):
    """A statistics file exists but cannot be used (truncated, corrupt, wrong content or size)."""


class UnsafePickleError(StatsFileError, pickle.UnpicklingError):
    """A statistics pickle referenced a global outside the allow-list; nothing from it was run."""


# (module, name) pairs a statistics pickle may reference. numpy 2 pickles arrays through
# numpy._core.*, numpy 1 through numpy.core.*; protocol 5 uses _frombuffer, protocol <= 4
# _reconstruct; protocol 2 encodes bytes through _codecs.encode.
_SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [(mod, "_reconstruct") for mod in ("numpy._core.multiarray", "numpy.core.multiarray")]
    + [(mod, "scalar") for mod in ("numpy._core.multiarray", "numpy.core.multiarray")]
    + [(mod, "_frombuffer") for mod in ("numpy._core.numeric", "numpy.core.numeric")]
    + [
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("collections", "OrderedDict"),
        ("__builtin__", "set"),
        ("__builtin__", "frozenset"),
        ("__builtin__", "complex"),
    ]
)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, origin: Path | str) -> None:
        super().__init__(file)
        self._origin = origin

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self._origin}: refused to load global {module}.{name}: a statistics file may hold only "
            "plain containers, numbers, strings and numpy arrays (nothing from the file was run; "
            "regenerate it with save_normalization_stats or `avemotion stats`)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._origin}: refused persistent id {pid!r} in a statistics file")


def safe_load(path: Path) -> Any:
    """Unpickle ``path`` with the restricted unpickler (StatsFileError when unreadable)."""
    with open(path, "rb") as fh:
        try:
            return _RestrictedUnpickler(fh, path).load()  # type: ignore[arg-type]
        except UnsafePickleError:
            raise
        except Exception as exc:  # EOFError, UnpicklingError, ...: truncated or corrupt
            raise StatsFileError(
                f"{path}: not a readable statistics pickle ({exc.__class__.__name__}: {exc}); the file "
                "is truncated or corrupt: regenerate it or restore it from the model bundle"
            ) from exc


# ----------------------------------------------------------------------------- validation


def vector(label: str, value: Any, origin: Path | str) -> np.ndarray:
    """A finite float32 (D,) vector from an array-like (accepts (1, D)); StatsFileError otherwise."""
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise StatsFileError(f"{origin}: {label}: expected a numeric vector, got {type(value).__name__}") from exc
    if arr.dtype.kind not in "iuf":
        raise StatsFileError(f"{origin}: {label}: expected a real numeric vector, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise StatsFileError(f"{origin}: {label}: expected shape (D,), got {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise StatsFileError(f"{origin}: {label}: expected finite values, got {out[bad[0]]} at index {bad[0]}")
    return out


def check_stats(
    name: str, mean: np.ndarray, std: np.ndarray, origin: Path | str, constant_before: Iterable[int] = ()
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Check sizes (``_contract.DIMS`` for audio/video) and sign; return read-only copies of mean and
    std plus the constant dims (std < ``STD_EPS``, and ``constant_before``: dims an older file
    records as constant, whose std is set to 0)."""
    if mean.shape != std.shape:
        raise StatsFileError(f"{origin}: std has shape {std.shape} but mean has {mean.shape}; expected equal")
    dim = int(mean.shape[0])
    expected = DIMS.get(name)
    if expected is not None and dim != expected:
        raise StatsFileError(
            f"{origin}: {name} statistics have dimension {dim}, expected the {name} feature dimension {expected}"
        )
    if dim == 0:
        raise StatsFileError(f"{origin}: statistics have dimension 0, expected at least 1")
    neg = np.flatnonzero(std < 0)
    if len(neg):
        raise StatsFileError(f"{origin}: std: expected values >= 0, got {std[neg[0]]} at index {neg[0]}")
    std = std.copy()
    old = [int(i) for i in constant_before if 0 <= int(i) < dim]
    std[old] = 0.0
    constant = tuple(int(i) for i in np.flatnonzero(std < STD_EPS))
    mean = mean.copy()
    mean.flags.writeable = False
    std.flags.writeable = False
    return mean, std, constant


def as_count(value: Any, origin: Path | str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise StatsFileError(f"{origin}: count: expected a non-negative int or None, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True, eq=False)
class StatsRecord:
    """What one statistics file holds, validated (see the module docstring)."""

    name: str
    mean: np.ndarray
    std: np.ndarray
    count: int | None = None
    created: str | None = None
    constant: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def read(path: Path, name: str) -> StatsRecord:
    """Read and validate ``path``, a ``{name}_normalization_stats.pkl``."""
    obj = safe_load(path)
    if not isinstance(obj, Mapping):
        raise StatsFileError(f"{path}: expected a dict with 'mean' and 'std', got {type(obj).__name__}")
    missing = [k for k in ("mean", "std") if k not in obj]
    if missing:
        raise StatsFileError(f"{path}: expected keys 'mean' and 'std', missing {missing}; keys: {sorted(map(str, obj))}")
    version = obj.get("format_version", FORMAT_VERSION)
    if not isinstance(version, (int, np.integer)) or int(version) > FORMAT_VERSION:
        raise StatsFileError(
            f"{path}: format_version {version!r} is newer than this avemotion reads ({FORMAT_VERSION}); upgrade avemotion"
        )
    file_name = obj.get("name", name)
    if file_name != name:
        raise StatsFileError(f"{path}: holds statistics named {file_name!r}, expected {name!r}")
    mean, std = vector("mean", obj["mean"], path), vector("std", obj["std"], path)
    dim = obj.get("dim")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or int(dim) != mean.shape[0]):
        raise StatsFileError(f"{path}: 'dim' says {dim} but mean has {mean.shape[0]} values")
    before = obj.get("clamped", ())
    if not isinstance(before, (list, tuple)) or not all(isinstance(i, (int, np.integer)) for i in before):
        raise StatsFileError(f"{path}: clamped: expected a list of dimension indices, got {before!r}")
    mean, std, constant = check_stats(name, mean, std, path, before)
    created, extra = obj.get("created"), obj.get("extra")
    return StatsRecord(name, mean, std, as_count(obj.get("count"), path),
                       created if isinstance(created, str) else None, constant,
                       dict(extra) if isinstance(extra, Mapping) else {})  # fmt: skip


def encode(record: StatsRecord) -> bytes:
    """The pickle bytes of ``record`` (``created`` set to now when None). Refuses (TypeError) what
    ``read`` would refuse: objects inside ``extra``."""
    created = record.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    payload = {
        "format_version": FORMAT_VERSION,
        "name": record.name,
        "dim": int(record.mean.shape[0]),
        "count": record.count,
        "mean": np.array(record.mean, dtype=np.float32),
        "std": np.array(record.std, dtype=np.float32),
        "created": created,
        "clamped": list(record.constant),
        "extra": dict(record.extra),
    }
    data = pickle.dumps(payload, protocol=4)
    try:
        _RestrictedUnpickler(io.BytesIO(data), "extra").load()  # type: ignore[arg-type]
    except UnsafePickleError as exc:
        raise TypeError(f"extra: expected plain values only (str, numbers, lists, dicts, arrays): {exc}") from None
    return data
