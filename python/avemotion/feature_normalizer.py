"""Per-modality feature normalization with saved training-split statistics (the seed's module).

Usage (the original system's call forms, kept)::

    from avemotion.feature_normalizer import normalize_features, save_normalization_stats
    normalized_audio = normalize_features(audio_features, name="audio")   # (..., 89) -> float32
    normalized_video = normalize_features(video_features, name="video")   # (..., 512) -> float32
    save_normalization_stats(mean, std, name="audio")

Files
-----
``{name}_normalization_stats.pkl`` in the statistics directory: the ``stats_dir`` argument, else
``$AVEMOTION_MODEL_DIR``, else the installed default bundle (``avemotion._contract.default_model_dir``,
the one resolver every part uses). The format and its restricted unpickler (loading never executes
code from a file) are in ``avemotion._stats_pickle``. Files are written atomically (``avemotion._io``);
``save_normalization_stats(..., overwrite=False)`` refuses, atomically, to replace an existing file.

Fallbacks
---------
``load_normalization_stats`` tries the pickle, then the legacy pair ``{name}_mean.npy`` /
``{name}_std.npy`` (read with ``allow_pickle=False``), then the documented estimates (audio: mean 0,
std 0.5; video: mean 0, std 1) with exactly one ``FallbackStatsWarning`` naming the missing file.
``strict=True`` or ``AVEMOTION_STRICT=1`` turns that last step into ``FileNotFoundError``. A file that
exists but is unsafe, truncated or malformed raises ``UnsafePickleError``/``StatsFileError`` (both
``ValueError``) in every mode. ``NormalizationStats.source`` says which was used: ``"pickle"``,
``"legacy_npy"``, ``"fallback"`` (or ``"computed"`` for ``compute_normalization_stats``' result).

Edges
-----
- Dimensions: audio 89, video 512 (``avemotion._contract.DIMS``); a file or input of another size
  raises ValueError naming both sizes.
- A constant feature (std < ``STD_EPS`` = 1e-6) is normalized with scale 1, i.e. to ``x - mean``
  (scikit-learn's rule; dividing by the tiny std would turn a deviation of 1 into 1e6). Such dims are
  listed in ``NormalizationStats.clamped``; computing or saving such statistics warns
  (``ConstantFeatureWarning``): a feature that never varied in training carries no information.
- NaN/Inf in the features raise ValueError naming the first bad step (the input is never modified).
- ``normalize_features`` caches loaded statistics per (name, directory, strictness) and re-reads only
  when the file's mtime/size/inode change, so a repeated call costs a ``stat`` and the C++ kernel.

Layout: the record (:class:`NormalizationStats`) and the warnings live in ``_stats_record``, the file
format in ``_stats_pickle``, the compute path in ``_stats_compute``; import every name from here.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from avemotion import _stats_pickle as _fmt
from avemotion._contract import (
    DIMS,
    ENV_MODEL_DIR,
    ENV_STRICT,
    FALLBACK_STATS,
    STD_EPS,
    installed_model_dir,
    resolve_model_dir,
    strict_from_env,
)
from avemotion._io import atomic_write_bytes
from avemotion._stats_compute import Accumulator
from avemotion._stats_compute import check_name as _check_name
from avemotion._stats_pickle import StatsFileError, UnsafePickleError
from avemotion._stats_record import (
    ConstantFeatureWarning,
    FallbackStatsWarning,
    NormalizationStats,
    _stats,
    _warn_constant,
)
from avemotion.kernels import RunningStats

__all__ = [
    "STD_EPS",
    "ConstantFeatureWarning",
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

# ----------------------------------------------------------------------------- paths


def default_stats_dir() -> Path:
    """The statistics directory used when ``stats_dir`` is None: ``avemotion._contract.default_model_dir()``."""
    return resolve_model_dir(None)


def _resolve_dir(stats_dir: str | os.PathLike[str] | None) -> Path:
    if stats_dir is not None and not isinstance(stats_dir, (str, os.PathLike)):
        raise TypeError(f"stats_dir: expected a path or None, got {type(stats_dir).__name__}")
    return resolve_model_dir(stats_dir)


def stats_path(name: str = "audio", stats_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``{name}_normalization_stats.pkl`` in ``stats_dir`` (or the default directory)."""
    return _resolve_dir(stats_dir) / f"{_check_name(name)}_normalization_stats.pkl"


# ----------------------------------------------------------------------------- save / load


def save_normalization_stats(
    mean: npt.ArrayLike,
    std: npt.ArrayLike,
    name: str = "audio",
    stats_dir: str | os.PathLike[str] | None = None,
    *,
    count: int | None = None,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``{name}_normalization_stats.pkl`` atomically and return its path.

    ``mean``/``std`` are (D,) array-likes (D = 89 for audio, 512 for video), finite, std >= 0, stored
    as float32; dims with std < ``STD_EPS`` are recorded as constant (``ConstantFeatureWarning``).
    ``count`` is the number of feature steps behind the statistics. ``extra`` holds plain values (str,
    numbers, lists, dicts; checked through the restricted unpickler before anything is written).
    The directory is created if needed; an existing file is replaced only once the new one is
    complete on disk. ``overwrite=False``: ``FileExistsError`` when the file exists, decided
    atomically with the write (two concurrent writers: one wins, the other gets the error).
    """
    name = _check_name(name)
    path = stats_path(name, stats_dir)
    origin = "save_normalization_stats"
    m, s = _fmt.vector("mean", mean, origin), _fmt.vector("std", std, origin)
    n = _fmt.as_count(count, "count")
    if extra is not None and not isinstance(extra, Mapping):
        raise TypeError(f"extra: expected a mapping or None, got {type(extra).__name__}")
    m, s, constant = _fmt.check_stats(name, m, s, origin)
    data = _fmt.encode(_fmt.StatsRecord(name, m, s, n, None, constant, dict(extra or {})))
    if constant:
        _warn_constant(name, constant, path)
    atomic_write_bytes(path, data, exclusive=not overwrite)
    logger.info("wrote %s (%s, dim %d, count %s)", path, name, m.shape[0], n)
    return path


def _from_legacy(name: str, mean_path: Path, std_path: Path) -> NormalizationStats:
    arrays = []
    for p in (mean_path, std_path):
        try:
            arrays.append(np.load(p, allow_pickle=False))
        except ValueError as exc:  # object arrays need pickle: refused
            raise StatsFileError(f"{p}: not a plain numeric .npy file ({exc})") from exc
        except Exception as exc:
            raise StatsFileError(f"{p}: unreadable .npy file ({exc.__class__.__name__}: {exc})") from exc
    mean, std = _fmt.vector("mean", arrays[0], mean_path), _fmt.vector("std", arrays[1], std_path)
    return _stats(name, mean, std, "legacy_npy", mean_path, f"{mean_path} + {std_path.name}")


def _load(name: str, directory: Path, strict: bool) -> NormalizationStats:
    pkl = directory / f"{name}_normalization_stats.pkl"
    if pkl.is_file():
        r = _fmt.read(pkl, name)
        return NormalizationStats(name, r.mean, r.std, int(r.mean.shape[0]), r.count, "pickle", pkl,
                                  r.constant, r.created, r.extra)  # fmt: skip
    mean_path, std_path = directory / f"{name}_mean.npy", directory / f"{name}_std.npy"
    have_mean, have_std = mean_path.is_file(), std_path.is_file()
    if have_mean and have_std:
        logger.info("%s not found; using legacy %s and %s", pkl, mean_path.name, std_path.name)
        return _from_legacy(name, mean_path, std_path)
    if have_mean != have_std:
        present, absent = (mean_path, std_path) if have_mean else (std_path, mean_path)
        raise StatsFileError(f"{present} exists but {absent} is missing: a legacy pair needs both files")
    if strict or strict_from_env():
        why = "strict=True" if strict else f"{ENV_STRICT}=1"
        raise FileNotFoundError(
            f"{pkl} not found (nor legacy {mean_path.name}/{std_path.name}) and fallback estimates are "
            f"disabled ({why}); compute the statistics with `avemotion stats {name} ...`, or pass "
            f"stats_dir / set {ENV_MODEL_DIR} to the model directory"
        )
    if name not in FALLBACK_STATS:
        raise FileNotFoundError(f"{pkl} not found and there are no fallback estimates for {name!r}")
    mu, sigma = FALLBACK_STATS[name]
    warnings.warn(
        f"{pkl} not found (nor legacy {mean_path.name}/{std_path.name}); using the documented "
        f"{name} estimates mean {mu}, std {sigma}: predictions will be less accurate "
        f"(set {ENV_STRICT}=1 to make this an error)",
        FallbackStatsWarning,
        stacklevel=3,
    )
    dim = DIMS[name]
    return _stats(name, np.full(dim, mu, np.float32), np.full(dim, sigma, np.float32), "fallback", pkl, pkl)


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
    return _load(_check_name(name), _resolve_dir(stats_dir), bool(strict))


# ----------------------------------------------------------------------------- normalize (cached)


@dataclass(frozen=True)
class _CacheEntry:
    directory: Path
    pkl: str  # the pickle's path (stat-ed on every call)
    sig: tuple[Any, ...]  # _signature() when loaded
    stats: NormalizationStats
    cwd: str | None  # the working directory the default directory was resolved against, if it mattered


_cache: dict[tuple[Any, ...], _CacheEntry] = {}
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


def _signature(directory: Path, name: str) -> tuple[Any, ...]:
    """What identifies the files on disk: (mtime_ns, size, inode) of the pickle, else of the legacy pair."""
    pkl = _stat_sig(os.path.join(directory, f"{name}_normalization_stats.pkl"))
    if pkl is not None:  # the pickle exists: the legacy files do not matter
        return (pkl,)
    return (None, _stat_sig(os.path.join(directory, f"{name}_mean.npy")),
            _stat_sig(os.path.join(directory, f"{name}_std.npy")))  # fmt: skip


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
    try:  # cheap (no Path, no resolution): the directory is resolved on a miss only
        key = (name, None, os.environ.get(ENV_MODEL_DIR), strict) if stats_dir is None else (name, os.fspath(stats_dir), None, strict)
        entry = _cache.get(key)
    except TypeError:  # an unhashable name or a non-path stats_dir: the checks below say which
        entry = None
    if entry is not None and (entry.cwd is None or entry.cwd == os.getcwd()):
        sig = _stat_sig(entry.pkl)
        if sig is not None and entry.sig == (sig,):  # fast path: the same pickle file
            return entry.stats.normalize(features)
        fresh = entry.sig == _signature(entry.directory, name)
        if fresh and not (entry.stats.source == "fallback" and strict_from_env()):
            return entry.stats.normalize(features)
    name = _check_name(name)
    directory = _resolve_dir(stats_dir)
    key = (name, None, os.environ.get(ENV_MODEL_DIR), strict) if stats_dir is None else (name, os.fspath(stats_dir), None, strict)
    sig_all = _signature(directory, name)  # taken before loading: a file changed meanwhile is re-read next call
    stats = _load(name, directory, bool(strict))
    cwd_matters = stats_dir is None and not os.environ.get(ENV_MODEL_DIR) and installed_model_dir() is None
    pkl = os.path.join(directory, f"{name}_normalization_stats.pkl")
    with _cache_lock:
        _cache[key] = _CacheEntry(directory, pkl, sig_all, stats, os.getcwd() if cwd_matters else None)
    return stats.normalize(features)


# ----------------------------------------------------------------------------- compute


def stats_from_running(
    running: RunningStats,
    name: str | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> NormalizationStats:
    """Turn a (possibly merged) ``avemotion.RunningStats`` into ``NormalizationStats`` (source "computed").

    Population std (ddof 0). Constant dims (std < ``STD_EPS``) warn (``ConstantFeatureWarning``).
    Raises ValueError when it saw no step.
    """
    if not isinstance(running, RunningStats):
        raise TypeError(f"running: expected avemotion.RunningStats, got {type(running).__name__}")
    if running.count == 0:
        raise ValueError("features: no unmasked steps to compute statistics from (all sequences empty or masked)")
    label = _check_name(name) if name is not None else "features"
    origin = f"computed {label} statistics"
    try:
        st = _stats(label, running.mean.astype(np.float32), running.std.astype(np.float32), "computed", None,
                    origin, count=running.count, extra=dict(extra or {}))  # fmt: skip
    except StatsFileError as exc:
        raise ValueError(str(exc)) from None
    if st.clamped:
        _warn_constant(label, st.clamped, origin)
    return st


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
    the sequence. Returns ``NormalizationStats`` with ``source="computed"``, ``count`` = steps used;
    constant dims warn (``ConstantFeatureWarning``).
    """
    acc = Accumulator(name, split, allow_other_splits, running)
    if isinstance(features, np.ndarray) and features.ndim in (2, 3):
        acc.add_array(features, masks, splits)
    else:
        acc.add_sequences(features, masks, splits)
    rs, extra = acc.result(split_checked=splits is not None)
    return stats_from_running(rs, name, extra=extra)
