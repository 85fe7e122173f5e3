"""Per-modality feature normalization with saved training-split statistics (the seed's module).

Usage (the original system's call forms, kept)::

    from avemotion.feature_normalizer import normalize_features, save_normalization_stats
    normalized_audio = normalize_features(audio_features, name="audio")   # (..., 89) -> float32
    normalized_video = normalize_features(video_features, name="video")   # (..., 512) -> float32
    save_normalization_stats(mean, std, name="audio")

Files
-----
``{name}_normalization_stats.pkl`` in the statistics directory, which is, in order:

1. the ``stats_dir`` argument;
2. ``$AVEMOTION_MODEL_DIR``;
3. ``models/dynamic_padding_no_leakage/`` of the repository checkout this package runs from (found
   beside ``python/avemotion``; an absolute path, so the current directory does not matter);
4. ``models/dynamic_padding_no_leakage/`` under the current working directory (installed package).

The pickle holds one ``dict``: ``format_version`` (1), ``name``, ``dim``, ``count`` (number of feature
steps the statistics were computed from, or None), ``mean`` and ``std`` (float32 ndarrays of shape
(dim,)), ``created`` (ISO 8601 UTC string), ``clamped`` (list of dims whose std was raised to
``STD_EPS``) and ``extra`` (a dict of plain values: provenance). It is written atomically: a temporary
file in the same directory, flushed and fsynced, then ``os.replace``.

Loading never executes code from a file: a restricted unpickler accepts only plain containers,
numbers, strings, bytes and numpy arrays/dtypes/scalars; any other global is refused with
``UnsafePickleError`` naming the file and the global. A file that exists but is truncated, corrupt or
malformed raises ``StatsFileError`` (never a silent fallback).

Fallbacks
---------
``load_normalization_stats`` tries the pickle, then the legacy pair ``{name}_mean.npy`` /
``{name}_std.npy`` (read with ``allow_pickle=False``), then the documented estimates (audio: mean 0,
std 0.5; video: mean 0, std 1) with exactly one ``FallbackStatsWarning`` naming the missing file.
``strict=True`` or ``AVEMOTION_STRICT=1`` turns that last step into ``FileNotFoundError``.
``NormalizationStats.source`` says which was used: ``"pickle"``, ``"legacy_npy"``, ``"fallback"``
(or ``"computed"`` for ``compute_normalization_stats``' result).

Edges
-----
- Dimensions: audio 89, video 512 (``EXPECTED_DIMS``); a file or input of another size raises
  ValueError naming both sizes.
- std below ``avemotion.kernels.STD_EPS`` (1e-6) is clamped to it (a constant feature would divide by
  zero); the clamped dims are listed in ``NormalizationStats.clamped`` and logged.
- NaN/Inf in the features raise ValueError naming the first bad step (the input is never modified).
- ``normalize_features`` caches loaded statistics per (name, directory, strictness) and re-reads only
  when the file's mtime/size change, so a repeated call costs a ``stat`` and the C++ kernel.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import os
import pickle
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from avemotion import _core
from avemotion._io import atomic_write_bytes as _atomic_write
from avemotion.kernels import STD_EPS, RunningStats, as_real_array, prepare_stats

__all__ = [
    "DEFAULT_SUBDIR",
    "EXPECTED_DIMS",
    "FALLBACK_ESTIMATES",
    "FORMAT_VERSION",
    "FallbackStatsWarning",
    "NormalizationStats",
    "StatsFileError",
    "UnsafePickleError",
    "clear_cache",
    "compute_normalization_stats",
    "default_stats_dir",
    "load_normalization_stats",
    "normalize_features",
    "save_normalization_stats",
    "stats_from_running",
    "stats_path",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Model directory used when neither ``stats_dir`` nor ``$AVEMOTION_MODEL_DIR`` is given.
DEFAULT_SUBDIR = Path("models") / "dynamic_padding_no_leakage"
#: Feature size per modality (docs/contracts.md). Names not listed here are not size-checked.
EXPECTED_DIMS: dict[str, int] = {"audio": 89, "video": 512}
#: Documented estimates used when no statistics file exists: ``name -> (mean, std)``.
FALLBACK_ESTIMATES: dict[str, tuple[float, float]] = {"audio": (0.0, 0.5), "video": (0.0, 1.0)}

ENV_MODEL_DIR = "AVEMOTION_MODEL_DIR"
ENV_STRICT = "AVEMOTION_STRICT"


class StatsFileError(ValueError):
    """A statistics file exists but cannot be used (truncated, corrupt, wrong content or size)."""


class UnsafePickleError(StatsFileError, pickle.UnpicklingError):
    """A statistics pickle referenced a global outside the allow-list; nothing from it was run."""


class FallbackStatsWarning(UserWarning):
    """No statistics file was found; the documented estimates are used instead."""


@dataclass(frozen=True, eq=False)
class NormalizationStats:
    """Per-dimension statistics of one modality.

    ``mean``/``std`` are float32 arrays of shape (dim,), std already clamped below by ``STD_EPS``
    (``clamped`` lists the dims that were). ``count`` is the number of feature steps they were
    computed from (None when unknown: legacy files, fallback). ``source`` is ``"pickle"``,
    ``"legacy_npy"``, ``"fallback"`` or ``"computed"``; ``path`` the file read (the missing pickle
    for a fallback, None when computed).
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

    def normalize(self, features: npt.ArrayLike) -> np.ndarray:
        """``(features - mean) / std`` as float32, same shape; see ``normalize_features``."""
        return _apply(features, self, *_prepared(self))

    def summary(self) -> dict[str, Any]:
        """Plain-value summary: count, dim, source, path, std range, clamped dims."""
        return {
            "name": self.name,
            "dim": self.dim,
            "count": self.count,
            "source": self.source,
            "path": None if self.path is None else str(self.path),
            "std_min": float(self.std.min()) if self.dim else None,
            "std_max": float(self.std.max()) if self.dim else None,
            "mean_abs_max": float(np.abs(self.mean).max()) if self.dim else None,
            "clamped": list(self.clamped),
            "created": self.created,
        }


# ----------------------------------------------------------------------------- paths


def _checkout_model_dir() -> Path | None:
    """``<checkout>/models/dynamic_padding_no_leakage`` when this file lives in a source checkout."""
    here = Path(__file__).resolve().parent  # .../python/avemotion
    root = here.parent.parent
    if here.parent.name == "python" and (root / "pyproject.toml").is_file():
        return root / DEFAULT_SUBDIR
    return None


_CHECKOUT_DIR = _checkout_model_dir()
_CHECKOUT_DIR_STR = os.fspath(_CHECKOUT_DIR) if _CHECKOUT_DIR is not None else ""


def default_stats_dir() -> Path:
    """The statistics directory used when ``stats_dir`` is None (see the module docstring)."""
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        return Path(env).expanduser()
    if _CHECKOUT_DIR is not None:
        return _CHECKOUT_DIR
    return Path.cwd() / DEFAULT_SUBDIR


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name: expected a modality name such as 'audio' or 'video', got {name!r}")
    return name


def _resolve_dir(stats_dir: str | os.PathLike[str] | None) -> Path:
    if stats_dir is None:
        return default_stats_dir()
    if not isinstance(stats_dir, (str, os.PathLike)):
        raise TypeError(f"stats_dir: expected a path or None, got {type(stats_dir).__name__}")
    return Path(stats_dir).expanduser()


def stats_path(name: str = "audio", stats_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``{name}_normalization_stats.pkl`` in ``stats_dir`` (or the default directory)."""
    return _resolve_dir(stats_dir) / f"{_check_name(name)}_normalization_stats.pkl"


def _strict_from_env() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in ("1", "true", "yes", "on")


# ----------------------------------------------------------------------------- safe unpickling

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
    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self._path}: refused to load global {module}.{name}: a statistics file may hold only "
            "plain containers, numbers, strings and numpy arrays (nothing from the file was run; "
            "regenerate it with save_normalization_stats or `avemotion stats`)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._path}: refused persistent id {pid!r} in a statistics file")


def _safe_unpickle(path: Path) -> Any:
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


def _vector(label: str, value: Any, source: Path | str) -> np.ndarray:
    """A finite float32 (D,) vector from an array-like (accepts (1, D))."""
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise StatsFileError(
            f"{source}: {label}: expected a numeric vector, got {type(value).__name__}"
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise StatsFileError(
            f"{source}: {label}: expected a real numeric vector, got dtype {arr.dtype}"
        )
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise StatsFileError(f"{source}: {label}: expected shape (D,), got {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        i = int(np.flatnonzero(~np.isfinite(out))[0])
        raise StatsFileError(
            f"{source}: {label}: expected finite values, got {out[i]} at index {i}"
        )
    return out


def _finish(
    name: str,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    source: str,
    path: Path | None,
    origin: Path | str,
    count: int | None = None,
    created: str | None = None,
    extra: dict[str, Any] | None = None,
    clamped_before: Iterable[int] = (),
) -> NormalizationStats:
    """Check sizes and sign, clamp tiny std, freeze arrays, and build the dataclass.

    ``clamped_before``: dims a saved file records as already clamped (reported again).
    """
    if mean.shape != std.shape:
        raise StatsFileError(
            f"{origin}: std has shape {std.shape} but mean has {mean.shape}; expected equal"
        )
    dim = int(mean.shape[0])
    expected = EXPECTED_DIMS.get(name)
    if expected is not None and dim != expected:
        raise StatsFileError(
            f"{origin}: {name} statistics have dimension {dim}, expected the {name} feature "
            f"dimension {expected}"
        )
    if dim == 0:
        raise StatsFileError(f"{origin}: statistics have dimension 0, expected at least 1")
    if (std < 0).any():
        i = int(np.flatnonzero(std < 0)[0])
        raise StatsFileError(f"{origin}: std: expected values >= 0, got {std[i]} at index {i}")
    low = np.flatnonzero(std < STD_EPS)
    clamped = tuple(
        sorted({int(i) for i in low} | {int(i) for i in clamped_before if 0 <= int(i) < dim})
    )
    if len(low):
        std = np.maximum(std, np.float32(STD_EPS))
        logger.warning(
            "%s: %s std below %g in %d dim(s) %s; clamped to %g",
            origin,
            name,
            STD_EPS,
            len(low),
            [int(i) for i in low[:10]],
            STD_EPS,
        )
    mean = mean.copy()
    std = std.copy()
    mean.flags.writeable = False
    std.flags.writeable = False
    return NormalizationStats(
        name=name,
        mean=mean,
        std=std,
        dim=dim,
        count=count,
        source=source,
        path=path,
        clamped=clamped,
        created=created,
        extra=dict(extra or {}),
    )


def _as_count(value: Any, origin: Path | str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise StatsFileError(f"{origin}: count: expected a non-negative int or None, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- save


def save_normalization_stats(
    mean: npt.ArrayLike,
    std: npt.ArrayLike,
    name: str = "audio",
    stats_dir: str | os.PathLike[str] | None = None,
    *,
    count: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``{name}_normalization_stats.pkl`` atomically and return its path.

    ``mean``/``std`` are (D,) array-likes (D = 89 for audio, 512 for video), stored as float32; std
    below ``STD_EPS`` is clamped (the dims are recorded under ``clamped``). ``count`` is the number
    of feature steps behind the statistics. ``extra`` holds plain values (str, numbers, lists,
    dicts; checked by reloading the bytes through the restricted unpickler before anything is
    written). The directory is created if needed; an existing file is replaced only once the new
    one is complete on disk.
    """
    name = _check_name(name)
    path = stats_path(name, stats_dir)
    m = _vector("mean", mean, "mean")
    s = _vector("std", std, "std")
    n = _as_count(count, "count")
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"extra: expected a mapping or None, got {type(extra).__name__}")
    st = _finish(name, m, s, source="pickle", path=path, origin="save_normalization_stats", count=n)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    payload = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "dim": st.dim,
        "count": n,
        "mean": np.array(st.mean, dtype=np.float32),
        "std": np.array(st.std, dtype=np.float32),
        "created": created,
        "clamped": list(st.clamped),
        "extra": dict(extra or {}),
    }
    data = pickle.dumps(payload, protocol=4)
    try:  # refuse to write what we would refuse to read (objects inside ``extra``)
        _RestrictedUnpickler(io.BytesIO(data), path).load()  # type: ignore[arg-type]
    except UnsafePickleError as exc:
        raise TypeError(
            f"extra: expected plain values only (str, numbers, lists, dicts, arrays): {exc}"
        ) from None
    _atomic_write(path, data)
    logger.info("wrote %s (%s, dim %d, count %s)", path, name, st.dim, n)
    return path




# ----------------------------------------------------------------------------- load


def _from_pickle(name: str, path: Path) -> NormalizationStats:
    obj = _safe_unpickle(path)
    if not isinstance(obj, Mapping):
        raise StatsFileError(
            f"{path}: expected a dict with 'mean' and 'std', got {type(obj).__name__}"
        )
    missing = [k for k in ("mean", "std") if k not in obj]
    if missing:
        raise StatsFileError(
            f"{path}: expected keys 'mean' and 'std', missing {missing}; keys: {sorted(map(str, obj))}"
        )
    version = obj.get("format_version", FORMAT_VERSION)
    if not isinstance(version, (int, np.integer)) or int(version) > FORMAT_VERSION:
        raise StatsFileError(
            f"{path}: format_version {version!r} is newer than this avemotion reads ({FORMAT_VERSION}); upgrade avemotion"
        )
    file_name = obj.get("name", name)
    if file_name != name:
        raise StatsFileError(f"{path}: holds statistics named {file_name!r}, expected {name!r}")
    mean = _vector("mean", obj["mean"], path)
    std = _vector("std", obj["std"], path)
    dim = obj.get("dim")
    if dim is not None and (
        isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or int(dim) != mean.shape[0]
    ):
        raise StatsFileError(f"{path}: 'dim' says {dim} but mean has {mean.shape[0]} values")
    extra = obj.get("extra")
    created = obj.get("created")
    before = obj.get("clamped", ())
    if not isinstance(before, (list, tuple)) or not all(
        isinstance(i, (int, np.integer)) for i in before
    ):
        raise StatsFileError(
            f"{path}: clamped: expected a list of dimension indices, got {before!r}"
        )
    return _finish(
        name,
        mean,
        std,
        source="pickle",
        path=path,
        origin=path,
        count=_as_count(obj.get("count"), path),
        created=created if isinstance(created, str) else None,
        extra=dict(extra) if isinstance(extra, Mapping) else {},
        clamped_before=before,
    )


def _from_legacy(name: str, mean_path: Path, std_path: Path) -> NormalizationStats:
    arrays = []
    for p in (mean_path, std_path):
        try:
            arrays.append(np.load(p, allow_pickle=False))
        except ValueError as exc:  # object arrays need pickle: refused
            raise StatsFileError(f"{p}: not a plain numeric .npy file ({exc})") from exc
        except Exception as exc:
            raise StatsFileError(
                f"{p}: unreadable .npy file ({exc.__class__.__name__}: {exc})"
            ) from exc
    mean = _vector("mean", arrays[0], mean_path)
    std = _vector("std", arrays[1], std_path)
    return _finish(
        name,
        mean,
        std,
        source="legacy_npy",
        path=mean_path,
        origin=f"{mean_path} + {std_path.name}",
    )


def load_normalization_stats(
    name: str,
    stats_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> NormalizationStats:
    """Load the statistics for ``name`` (``"audio"`` or ``"video"``).

    Order: ``{name}_normalization_stats.pkl``; the legacy ``{name}_mean.npy`` + ``{name}_std.npy``;
    the documented estimates (audio 0/0.5, video 0/1) with one ``FallbackStatsWarning`` naming the
    missing file. ``strict`` (or ``AVEMOTION_STRICT=1``) raises ``FileNotFoundError`` instead of
    falling back. A file that exists but is unsafe, corrupt or of the wrong size raises
    ``UnsafePickleError``/``StatsFileError`` (both ValueError) in every mode.
    """
    name = _check_name(name)
    directory = _resolve_dir(stats_dir)
    pkl = directory / f"{name}_normalization_stats.pkl"
    if pkl.is_file():
        return _from_pickle(name, pkl)
    mean_path, std_path = directory / f"{name}_mean.npy", directory / f"{name}_std.npy"
    have_mean, have_std = mean_path.is_file(), std_path.is_file()
    if have_mean and have_std:
        logger.info("%s not found; using legacy %s and %s", pkl, mean_path.name, std_path.name)
        return _from_legacy(name, mean_path, std_path)
    if have_mean != have_std:
        present, absent = (mean_path, std_path) if have_mean else (std_path, mean_path)
        raise StatsFileError(
            f"{present} exists but {absent} is missing: a legacy pair needs both files"
        )
    if strict or _strict_from_env():
        why = "strict=True" if strict else f"{ENV_STRICT}=1"
        raise FileNotFoundError(
            f"{pkl} not found (nor legacy {mean_path.name}/{std_path.name}) and fallback estimates are "
            f"disabled ({why}); compute the statistics with `avemotion stats {name} ...`, or pass "
            f"stats_dir / set {ENV_MODEL_DIR} to the model directory"
        )
    if name not in FALLBACK_ESTIMATES:
        raise FileNotFoundError(f"{pkl} not found and there are no fallback estimates for {name!r}")
    mu, sigma = FALLBACK_ESTIMATES[name]
    dim = EXPECTED_DIMS[name]
    warnings.warn(
        f"{pkl} not found (nor legacy {mean_path.name}/{std_path.name}); using the documented "
        f"{name} estimates mean {mu}, std {sigma}: predictions will be less accurate "
        f"(set {ENV_STRICT}=1 to make this an error)",
        FallbackStatsWarning,
        stacklevel=2,
    )
    return _finish(
        name,
        np.full(dim, mu, np.float32),
        np.full(dim, sigma, np.float32),
        source="fallback",
        path=pkl,
        origin=pkl,
    )


# ----------------------------------------------------------------------------- normalize


@dataclass(frozen=True)
class _CacheEntry:
    pkl: str  # the pickle's path (stat-ed on every call)
    sig: tuple[Any, ...]  # _signature() when loaded
    stats: NormalizationStats
    mean: np.ndarray  # prepared for the kernel
    inv: np.ndarray


# (name, directory string, strict argument) -> entry
_cache: dict[tuple[str, str, bool], _CacheEntry] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached statistics file (``normalize_features`` re-reads on the next call)."""
    with _cache_lock:
        _cache.clear()


def _stat_sig(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _signature(directory: str, name: str) -> tuple[Any, ...]:
    """What identifies the files on disk: (mtime_ns, size, inode) of the pickle, else of the legacy pair."""
    pkl = _stat_sig(os.path.join(directory, f"{name}_normalization_stats.pkl"))
    if pkl is not None:  # the pickle exists: the legacy files do not matter
        return (pkl,)
    return (
        None,
        _stat_sig(os.path.join(directory, f"{name}_mean.npy")),
        _stat_sig(os.path.join(directory, f"{name}_std.npy")),
    )


def _dir_key(stats_dir: str | os.PathLike[str] | None) -> str:
    """``_resolve_dir`` as a string, cheaply (the per-call path of ``normalize_features``)."""
    if stats_dir is None:
        env = os.environ.get(ENV_MODEL_DIR)
        if env:
            return os.path.expanduser(env)
        if _CHECKOUT_DIR is not None:
            return _CHECKOUT_DIR_STR
        return os.path.join(os.getcwd(), DEFAULT_SUBDIR)
    if isinstance(stats_dir, (str, os.PathLike)):
        d = os.fspath(stats_dir)
        if isinstance(d, str):
            return os.path.expanduser(d) if d.startswith("~") else d
    raise TypeError(f"stats_dir: expected a path or None, got {type(stats_dir).__name__}")


def _prepared(stats: NormalizationStats) -> tuple[np.ndarray, np.ndarray]:
    mean, inv, _ = prepare_stats(stats.mean, stats.std, dim=stats.dim, eps=STD_EPS)
    return mean, inv


def _apply(
    features: Any, stats: NormalizationStats, mean: np.ndarray, inv: np.ndarray
) -> np.ndarray:
    x = as_real_array("features", features, np.float32)
    if x.ndim == 0:
        raise ValueError(
            f"features: expected shape (D,), (T, D) or (B, T, D) with D = {stats.dim}, got a scalar"
        )
    if x.shape[-1] != stats.dim:
        where = stats.path if stats.path is not None else stats.source
        raise ValueError(
            f"features: last dimension is {x.shape[-1]} (shape {x.shape}) but the {stats.name} "
            f"statistics have dimension {stats.dim} ({stats.source}: {where})"
        )
    rows = x if x.ndim == 2 else x.reshape(-1, stats.dim)
    out = np.empty(rows.shape, dtype=np.float32)
    bad = _core.normalize(rows, mean, inv, out, True)
    if bad >= 0:
        row = rows[bad]
        col = int(np.flatnonzero(~np.isfinite(row))[0])
        step = np.unravel_index(int(bad), x.shape[:-1]) if x.ndim > 1 else ()
        where = f"step {tuple(int(i) for i in step)}, " if x.ndim > 1 else ""
        raise ValueError(
            f"features: expected finite values, got {row[col]} at {where}dim {col} (input not modified)"
        )
    return out if x.ndim == 2 else out.reshape(x.shape)


def normalize_features(
    features: npt.ArrayLike,
    name: str = "audio",
    stats_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> np.ndarray:
    """Return ``(features - mean) / std`` with the saved ``name`` statistics, as float32.

    ``features``: (D,), (T, D), (B, T, D) (any leading dims) array or nested list, any real dtype;
    the result has the same shape. D must equal the statistics' dimension (89 audio, 512 video).
    Statistics come from ``load_normalization_stats(name, stats_dir, strict)`` (fallbacks and
    warnings there) and are cached until the file changes. NaN/Inf raise ValueError. Masked steps
    (e.g. frames without a face) are normalized like any other; callers keep their masks.
    """
    if not isinstance(name, str):
        _check_name(name)
    directory = _dir_key(stats_dir)
    key = (name, directory, bool(strict))
    entry = _cache.get(key)
    if entry is not None:
        sig = _stat_sig(entry.pkl)
        if sig is not None and entry.sig == (sig,):  # fast path: the same pickle file
            return _apply(features, entry.stats, entry.mean, entry.inv)
        fresh = entry.sig == _signature(directory, name)
        if fresh and not (entry.stats.source == "fallback" and _strict_from_env()):
            return _apply(features, entry.stats, entry.mean, entry.inv)
    # taken before loading: a file changed during the load is re-read on the next call
    sig_all = _signature(directory, name)
    stats = load_normalization_stats(name, directory, strict=bool(strict))
    mean, inv = _prepared(stats)
    pkl = os.path.join(directory, f"{name}_normalization_stats.pkl")
    entry = _CacheEntry(pkl, sig_all, stats, mean, inv)
    with _cache_lock:
        _cache[key] = entry
    return _apply(features, entry.stats, entry.mean, entry.inv)


# ----------------------------------------------------------------------------- compute


def stats_from_running(
    running: RunningStats,
    name: str | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> NormalizationStats:
    """Turn a (possibly merged) ``avemotion.RunningStats`` into ``NormalizationStats`` (source "computed").

    Population std (ddof 0); std below ``STD_EPS`` clamped. Raises ValueError when it saw no step.
    """
    if not isinstance(running, RunningStats):
        raise TypeError(f"running: expected avemotion.RunningStats, got {type(running).__name__}")
    if running.count == 0:
        raise ValueError(
            "features: no unmasked steps to compute statistics from (all sequences empty or masked)"
        )
    label = name if name is not None else "features"
    if name is not None:
        _check_name(name)
    mean = running.mean.astype(np.float32)
    std = running.std.astype(np.float32)
    try:
        return _finish(
            label,
            mean,
            std,
            source="computed",
            path=None,
            origin=f"computed {label} statistics",
            count=running.count,
            extra=dict(extra or {}),
        )
    except StatsFileError as exc:
        raise ValueError(str(exc)) from None


_SENTINEL = object()


def compute_normalization_stats(
    features: Iterable[npt.ArrayLike],
    masks: Iterable[npt.ArrayLike | None] | None = None,
    splits: Iterable[str] | None = None,
    *,
    name: str | None = None,
    split: str = "train",
    allow_other_splits: bool = False,
    running: RunningStats | None = None,
) -> NormalizationStats:
    """Per-dimension mean/std over the unmasked steps of feature sequences, in one pass.

    ``features``: a sequence or any iterable (e.g. a generator reading files) of (T, D) arrays
    (T may be 0; D the same for all; D checked against 89/512 when ``name`` is audio/video).
    Two array forms are taken whole (one C++ call): a (B, T, D) ndarray with ``masks`` (B, T) and
    ``splits`` one label per sequence (B,); and a (N, D) ndarray of N steps with ``masks`` (N,) and
    ``splits`` one label per step (N,).
    ``masks``: None, or one entry per sequence: a bool (T,) array, True = real step (masked steps
    never enter the statistics), or None for "all real". ``splits``: None, or one label per
    sequence; a sequence whose label is not ``split`` raises ValueError (training-split-only
    statistics) unless ``allow_other_splits`` is True, in which case it is included and counted
    under ``extra["split_counts"]``. With ``splits=None`` the caller vouches for the split
    (recorded as ``extra["split_checked"] = False``).

    Uses ``avemotion.RunningStats`` (C++, float64 Welford/Chan); pass ``running`` to continue an
    accumulator (e.g. merged from workers). NaN/Inf in an unmasked step raises ValueError naming
    the sequence. Returns ``NormalizationStats`` with ``source="computed"``, ``count`` = steps used.
    """
    if isinstance(features, np.ndarray) and features.ndim in (2, 3):
        return _compute_from_array(
            features, masks, splits, name=name, split=split,
            allow_other_splits=allow_other_splits, running=running,
        )  # fmt: skip
    if name is not None:
        _check_name(name)
    if not isinstance(split, str):
        raise TypeError(f"split: expected a str, got {type(split).__name__}")
    split_list: list[Any] | None = None
    if splits is not None:
        if isinstance(splits, str):
            raise TypeError("splits: expected one label per sequence, got a single str")
        if isinstance(splits, (Sequence, np.ndarray)):
            split_list = [str(s) for s in splits]
            if not allow_other_splits:
                other = [(i, s) for i, s in enumerate(split_list) if s != split]
                if other:
                    _refuse_split(
                        other[0][0], other[0][1], split, n_other=len(other), total=len(split_list)
                    )
    expected = EXPECTED_DIMS.get(name) if name is not None else None
    rs = running
    if rs is not None and not isinstance(rs, RunningStats):
        raise TypeError(
            f"running: expected avemotion.RunningStats or None, got {type(rs).__name__}"
        )
    mask_it = iter(masks) if masks is not None else None
    split_it = (
        iter(split_list)
        if split_list is not None
        else (iter(splits) if splits is not None else None)
    )
    counts: dict[str, int] = {}
    n_seq = 0
    for i, seq in enumerate(features):
        n_seq += 1
        mask = next(mask_it, _SENTINEL) if mask_it is not None else None
        if mask is _SENTINEL:
            raise ValueError(f"masks: has fewer entries than features (ran out at sequence {i})")
        label = next(split_it, _SENTINEL) if split_it is not None else None
        if label is _SENTINEL:
            raise ValueError(f"splits: has fewer entries than features (ran out at sequence {i})")
        if label is not None:
            label = str(label)
            if label != split and not allow_other_splits:
                _refuse_split(i, label, split)
        x = np.asarray(seq)
        if x.ndim != 2:
            raise ValueError(f"features[{i}]: expected shape (T, D), got {x.shape}")
        if expected is not None and x.shape[1] != expected:
            raise ValueError(
                f"features[{i}]: dimension is {x.shape[1]}, expected the {name} feature dimension {expected}"
            )
        if rs is None:
            rs = RunningStats(int(x.shape[1]))
        elif x.shape[1] != rs.dim:
            raise ValueError(
                f"features[{i}]: dimension is {x.shape[1]}, expected {rs.dim} (as the earlier sequences)"
            )
        m = None
        if mask is not None:
            m = np.asarray(mask)
            if m.dtype != np.bool_:
                raise TypeError(
                    f"masks[{i}]: expected a bool array (True = real step), got dtype {m.dtype}"
                )
            if m.shape != x.shape[:1]:
                raise ValueError(f"masks[{i}]: expected shape ({x.shape[0]},), got {m.shape}")
        try:
            rs.update(x, m)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"features[{i}]: {exc}") from None
        if label is not None:
            counts[label] = counts.get(label, 0) + (
                int(m.sum()) if m is not None else int(x.shape[0])
            )
    if mask_it is not None and next(mask_it, _SENTINEL) is not _SENTINEL:
        raise ValueError(f"masks: has more entries than features ({n_seq} sequences)")
    if split_it is not None and next(split_it, _SENTINEL) is not _SENTINEL:
        raise ValueError(f"splits: has more entries than features ({n_seq} sequences)")
    if rs is None:
        raise ValueError("features: no sequences given")
    extra: dict[str, Any] = {
        "split": split,
        "sequences": n_seq,
        "split_checked": splits is not None,
    }
    if counts:
        extra["split_counts"] = counts
        if set(counts) - {split}:
            logger.warning("statistics include steps from other splits than %r: %s", split, counts)
    else:
        logger.info(
            "compute_normalization_stats: no split labels given; assuming every sequence is %r",
            split,
        )
    return stats_from_running(rs, name, extra=extra)


def _compute_from_array(
    x: np.ndarray,
    masks: Any,
    splits: Any,
    *,
    name: str | None,
    split: str,
    allow_other_splits: bool,
    running: RunningStats | None,
) -> NormalizationStats:
    """``compute_normalization_stats`` for one (N, D) or (B, T, D) ndarray."""
    if name is not None:
        _check_name(name)
    unit = "step" if x.ndim == 2 else "sequence"
    n, dim = x.shape[0], x.shape[-1]
    expected = EXPECTED_DIMS.get(name) if name is not None else None
    if expected is not None and dim != expected:
        raise ValueError(
            f"features: dimension is {dim} (shape {x.shape}), expected the {name} feature dimension {expected}"
        )
    rs = running if running is not None else RunningStats(int(dim))
    if not isinstance(rs, RunningStats):
        raise TypeError(
            f"running: expected avemotion.RunningStats or None, got {type(rs).__name__}"
        )
    if rs.dim != dim:
        raise ValueError(
            f"features: dimension is {dim}, expected {rs.dim} (the running statistics')"
        )
    m = None
    if masks is not None:
        m = np.asarray(masks)
        if m.dtype != np.bool_:
            raise TypeError(f"masks: expected a bool array (True = real step), got dtype {m.dtype}")
        if m.shape != x.shape[:-1]:
            raise ValueError(
                f"masks: expected shape {x.shape[:-1]} (features' leading dims), got {m.shape}"
            )
    counts: dict[str, int] = {}
    if splits is not None:
        if isinstance(splits, str):
            raise TypeError(f"splits: expected one label per {unit}, got a single str")
        labels = np.asarray(splits).astype(str)
        if labels.shape != (n,):
            raise ValueError(
                f"splits: expected one label per {unit}, shape ({n},), got {labels.shape}"
            )
        other = np.flatnonzero(labels != split)
        if len(other) and not allow_other_splits:
            i = int(other[0])
            more = f" ({len(other)} of {n} {unit}s)"
            raise ValueError(
                f"splits[{i}]: {unit} is from split {str(labels[i])!r}, not {split!r}{more}; normalization "
                f"statistics come from the {split!r} split only (no leakage): filter those rows out, "
                "or pass allow_other_splits=True to include them knowingly"
            )
        per = (
            m.reshape(n, -1).sum(axis=1)
            if m is not None
            else np.full(n, int(np.prod(x.shape[1:-1], dtype=np.int64)))
        )
        for label in np.unique(labels):
            counts[str(label)] = int(per[labels == label].sum())
    try:
        rs.update(x, m)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"features: {exc}") from None
    extra: dict[str, Any] = {
        "split": split,
        "sequences": n if x.ndim == 3 else 1,
        "split_checked": splits is not None,
    }
    if counts:
        extra["split_counts"] = counts
        if set(counts) - {split}:
            logger.warning("statistics include steps from other splits than %r: %s", split, counts)
    return stats_from_running(rs, name, extra=extra)


def _refuse_split(
    index: int, label: str, split: str, *, n_other: int = 1, total: int | None = None
) -> None:
    more = f" ({n_other} of {total} sequences)" if total is not None else ""
    raise ValueError(
        f"splits[{index}]: sequence is from split {label!r}, not {split!r}{more}; normalization "
        f"statistics come from the {split!r} split only (no leakage): filter those rows out, or pass "
        "allow_other_splits=True to include them knowingly"
    )
