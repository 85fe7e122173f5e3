"""Per-clip feature files (``{clip_id}.npz``), written atomically; see ``docs/contracts.md``.

Keys: ``audio`` float32 (Ta, 89), ``audio_times`` float64 (Ta,), ``video`` float32 (Tv, 512),
``video_times`` float64 (Tv,), ``video_mask`` bool (Tv,), ``meta`` 0-d str (JSON object). Either
modality may have zero steps. Files are written to a temporary name in the same directory and moved
into place with ``os.replace``, so a reader never sees a partial file. Loading never unpickles.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._io import atomic_open

AUDIO_DIM = 89
VIDEO_DIM = 512
KEYS = ("audio", "audio_times", "video", "video_times", "video_mask", "meta")


@dataclasses.dataclass
class ClipFeatures:
    """The contents of one clip file (arrays as in the module docstring, ``meta`` a dict)."""

    audio: np.ndarray
    audio_times: np.ndarray
    video: np.ndarray
    video_times: np.ndarray
    video_mask: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.audio = _as(self.audio, np.float32, "audio", (None, AUDIO_DIM))
        self.audio_times = _as(self.audio_times, np.float64, "audio_times", (self.audio.shape[0],))
        self.video = _as(self.video, np.float32, "video", (None, VIDEO_DIM))
        self.video_times = _as(self.video_times, np.float64, "video_times", (self.video.shape[0],))
        self.video_mask = _as(self.video_mask, np.bool_, "video_mask", (self.video.shape[0],))
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta must be a dict, got {type(self.meta).__name__}")


def _as(x: Any, dtype: Any, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    a = np.asarray(x)
    if a.size == 0 and a.ndim != len(shape):
        a = a.reshape(tuple(0 if s is None else s for s in shape))
    if a.ndim != len(shape) or any(
        s is not None and s != d for s, d in zip(shape, a.shape, strict=True)
    ):
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if dtype is np.bool_ and a.dtype != np.bool_:
        raise ValueError(f"{name} must be bool, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def empty_audio() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, AUDIO_DIM), np.float32), np.zeros(0, np.float64)


def empty_video() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros((0, VIDEO_DIM), np.float32), np.zeros(0, np.float64), np.zeros(0, bool)


def save_clip(path: str | os.PathLike[str], clip: ClipFeatures) -> Path:
    """Write ``clip`` to ``path`` (an ``.npz``) atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps(clip.meta, sort_keys=True, default=str)
    with atomic_open(path, "wb") as fh:  # temp file + fsync + os.replace, 0666 minus the umask
        np.savez(
            fh,
            audio=clip.audio,
            audio_times=clip.audio_times,
            video=clip.video,
            video_times=clip.video_times,
            video_mask=clip.video_mask,
            meta=np.array(meta),
        )
    return path


def load_clip(path: str | os.PathLike[str]) -> ClipFeatures:
    """Read a clip file; raises ``ValueError`` naming the file for a missing key or bad shape."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in KEYS if k not in z.files]
        if missing:
            raise ValueError(
                f"{path}: not a clip feature file, missing keys {missing} (has {z.files})"
            )
        try:
            meta = json.loads(str(z["meta"][()]))
            return ClipFeatures(
                z["audio"], z["audio_times"], z["video"], z["video_times"], z["video_mask"], meta
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: {exc}") from exc
