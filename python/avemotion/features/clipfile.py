"""Per-clip feature files (``{clip_id}.npz``): the one reader and writer; see ``docs/contracts.md``.

Keys: ``audio`` float32 (Ta, 89), ``audio_times`` float64 (Ta,), ``video`` float32 (Tv, 512),
``video_times`` float64 (Tv,), ``video_mask`` bool (Tv,), ``meta`` 0-d str (JSON object). Either
modality may have zero steps (stored as (0, D), or as (0,) by some writers: read as (0, D)).

Every key is required: a file without timestamps is an error naming the file and the key, never
given invented ones. ``load_clip`` checks keys, dtypes (the mask must be bool), shapes and that
times and mask match their features; it does not check finiteness (callers that need it, such as
training and ``avemotion stats``, do). An unreadable file (truncated, not a zip) raises ValueError
naming it. Loading never unpickles. Files are written through ``avemotion._io`` (temporary file,
fsync, ``os.replace``; usual permissions), so a reader never sees a partial file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import AUDIO_DIM, VIDEO_DIM
from avemotion._io import atomic_open

KEYS = ("audio", "audio_times", "video", "video_times", "video_mask", "meta")


@dataclasses.dataclass
class ClipFeatures:
    """The contents of one clip file (arrays as in the module docstring, ``meta`` a dict).

    ``dims`` (not stored): the (audio, video) feature sizes to check, the contract's by default.
    """

    audio: np.ndarray
    audio_times: np.ndarray
    video: np.ndarray
    video_times: np.ndarray
    video_mask: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    dims: dataclasses.InitVar[tuple[int, int]] = (AUDIO_DIM, VIDEO_DIM)

    def __post_init__(self, dims: tuple[int, int]) -> None:
        self.audio = _as(self.audio, np.float32, "audio", (None, dims[0]))
        self.audio_times = _as(self.audio_times, np.float64, "audio_times", (self.audio.shape[0],))
        self.video = _as(self.video, np.float32, "video", (None, dims[1]))
        self.video_times = _as(self.video_times, np.float64, "video_times", (self.video.shape[0],))
        self.video_mask = _as(self.video_mask, np.bool_, "video_mask", (self.video.shape[0],))
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta: expected a dict, got {type(self.meta).__name__}")


def _as(x: Any, dtype: Any, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    a = np.asarray(x)
    if a.size == 0 and a.ndim != len(shape):
        a = a.reshape(tuple(0 if s is None else s for s in shape))
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape, strict=True)):
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} expected shape {want}, got {a.shape}")
    if dtype is np.bool_ and a.dtype != np.bool_:
        raise ValueError(f"{name} expected dtype bool (True = face present), got {a.dtype}")
    if dtype is not np.bool_ and a.dtype.kind not in "iuf":
        raise ValueError(f"{name} expected real numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def empty_audio() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, AUDIO_DIM), np.float32), np.zeros(0, np.float64)


def empty_video() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros((0, VIDEO_DIM), np.float32), np.zeros(0, np.float64), np.zeros(0, bool)


def save_clip(path: str | os.PathLike[str], clip: ClipFeatures) -> Path:
    """Write ``clip`` to ``path`` (an ``.npz``) atomically; returns the path."""
    path = Path(path)
    meta = json.dumps(clip.meta, sort_keys=True, default=str)
    with atomic_open(path, "wb") as fh:
        np.savez(fh, audio=clip.audio, audio_times=clip.audio_times, video=clip.video,
                 video_times=clip.video_times, video_mask=clip.video_mask, meta=np.array(meta))  # fmt: skip
    return path


def load_clip(path: str | os.PathLike[str], *, audio_dim: int = AUDIO_DIM, video_dim: int = VIDEO_DIM) -> ClipFeatures:
    """Read and check a clip file (module docstring); ``ValueError`` naming the file otherwise.

    Arrays are checked in the order audio, audio_times, video, video_times, video_mask, meta; the
    first problem (a missing key, a wrong shape or dtype) is reported.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: clip feature file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if not files & set(KEYS):
                raise ValueError(f"{path}: not a clip feature file, missing keys {list(KEYS)} (has {sorted(files)})")
            arrays: dict[str, np.ndarray] = {}
            for key, dim in (("audio", audio_dim), ("video", video_dim)):
                for k in (key, f"{key}_times") + (("video_mask",) if key == "video" else ()):
                    if k not in files:
                        why = " (timestamps are required, never invented: re-extract the clip)" if k.endswith("_times") else ""
                        raise ValueError(f"{path}: not a clip feature file, missing keys ['{k}']{why} (has {sorted(files)})")
                    arrays[k] = _as(z[k], np.float32, k, (None, dim)) if k == key else z[k]
            if "meta" not in files:
                raise ValueError(f"{path}: not a clip feature file, missing keys ['meta'] (has {sorted(files)})")
            meta_text = str(z["meta"][()])
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from exc
    except Exception as exc:  # BadZipFile, EOFError, OSError: truncated or not an npz
        raise ValueError(f"{path}: unreadable clip feature file ({exc.__class__.__name__}: {exc})") from exc
    try:
        meta = json.loads(meta_text)
        return ClipFeatures(arrays["audio"], arrays["audio_times"], arrays["video"], arrays["video_times"],
                            arrays["video_mask"], meta, dims=(audio_dim, video_dim))  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
