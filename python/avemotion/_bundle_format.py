"""The bundle record: file names, defaults, :class:`Bundle`, settings and audio-mode checks, file
hashing (part of :mod:`avemotion.bundle`; import from there)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion import _stats_pickle
from avemotion._contract import (
    AUDIO_MODES,
    DEFAULT_AUDIO_MODE,
    DIMS,
    EMOTION_LABELS,
    LEGACY_AUDIO_MODE,
    SAMPLE_RATE,
    WINDOWS,
)

BUNDLE_FORMAT = "avemotion-bundle"
BUNDLE_FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
BUNDLE_JSON = "bundle.json"
MODALITIES = tuple(DIMS)  # ("audio", "video")
STATS_FILES = {m: f"{m}_normalization_stats.pkl" for m in MODALITIES}
DEFAULT_LABELS = EMOTION_LABELS
DEFAULT_INPUTS = {"audio": "audio", "audio_mask": "audio_mask", "video": "video", "video_mask": "video_mask"}
DEFAULT_OUTPUTS = {"emotion": "emotion", "laughter": "laughter"}
DEFAULT_FEATURES = {
    "audio_window_s": WINDOWS.audio_window_s,
    "audio_hop_s": WINDOWS.audio_hop_s,
    "audio_mode": DEFAULT_AUDIO_MODE,  # how the audio steps were computed: see check_audio_mode
    "audio_features": "eGeMAPSv02 functionals (88) + window RMS dBFS",
    "sample_rate": SAMPLE_RATE,
    "video_fps": WINDOWS.video_fps,
    "video_features": "FaceNet InceptionResnetV1 512-d, MTCNN-aligned 160x160 (weights: video_embedder)",
}
SETTINGS_KEYS = {"labels", "laughter_threshold", "window_s", "hop_s", "features", "inputs", "outputs"}


class BundleError(ValueError):
    """A bundle is missing, incomplete, altered or inconsistent; the message says which file and why."""


@dataclass
class Bundle:
    """A read (and, unless ``verify=False``, verified) bundle; stats as float32 arrays."""

    path: Path
    labels: tuple[str, ...]
    laughter_threshold: float
    dims: dict[str, int]
    inputs: dict[str, str]
    outputs: dict[str, str]
    window_s: float
    hop_s: float
    features: dict[str, Any]
    training: dict[str, Any]
    audio_mean: np.ndarray
    audio_std: np.ndarray
    video_mean: np.ndarray
    video_std: np.ndarray
    meta: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def stats(self, modality: str) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of ``"audio"`` or ``"video"``."""
        if modality == "audio":
            return self.audio_mean, self.audio_std
        if modality == "video":
            return self.video_mean, self.video_std
        raise ValueError(f"modality: expected 'audio' or 'video', got {modality!r}")


# --------------------------------------------------------------------------- stats pickles
# The stats format belongs to avemotion._stats_pickle (restricted unpickler: loading never executes
# code from a file); this function is the only place the bundle touches it.


def _load_stats(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) as float32 1-D arrays from ``path`` (a ``{name}_normalization_stats.pkl``);
    BundleError naming the file otherwise. Never falls back to default statistics."""
    if not path.is_file():
        raise BundleError(f"{path}: missing")
    try:
        rec = _stats_pickle.read(path, name)
    except _stats_pickle.StatsFileError as exc:
        raise BundleError(f"{path}: cannot read {name} normalization stats: {exc}") from exc
    return rec.mean, rec.std


# --------------------------------------------------------------------------- helpers


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    s = dict(settings or {})
    unknown = sorted(set(s) - SETTINGS_KEYS)
    if unknown:
        raise ValueError(f"settings: unknown keys {unknown}; expected some of {sorted(SETTINGS_KEYS)}")
    labels = tuple(s.get("labels", DEFAULT_LABELS))
    if not labels or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise ValueError(f"settings['labels']: expected distinct non-empty strings, got {labels!r}")
    thr = float(s.get("laughter_threshold", WINDOWS.laughter_threshold))
    if not (0.0 <= thr <= 1.0):
        raise ValueError(f"settings['laughter_threshold']: expected a value in [0, 1], got {thr}")
    window_s, hop_s = float(s.get("window_s", WINDOWS.window_s)), float(s.get("hop_s", WINDOWS.hop_s))
    if not (window_s > 0 and hop_s > 0 and math.isfinite(window_s) and math.isfinite(hop_s)):
        raise ValueError(f"settings: expected window_s > 0 and hop_s > 0, got {window_s} and {hop_s}")
    inputs = {**DEFAULT_INPUTS, **dict(s.get("inputs", {}))}
    outputs = {**DEFAULT_OUTPUTS, **dict(s.get("outputs", {}))}
    for what, got, want in (("inputs", inputs, DEFAULT_INPUTS), ("outputs", outputs, DEFAULT_OUTPUTS)):
        if set(got) != set(want):
            raise ValueError(f"settings[{what!r}]: expected roles {sorted(want)}, got {sorted(got)}")
    features = {**DEFAULT_FEATURES, **dict(s.get("features", {}))}
    bundle_audio_mode(features, "settings")
    return {"labels": list(labels), "laughter_threshold": thr, "window_s": window_s, "hop_s": hop_s,
            "inputs": inputs, "outputs": outputs, "features": features}


# --------------------------------------------------------------------------- audio step mode


def bundle_audio_mode(features: Mapping[str, Any], where: object = BUNDLE_JSON) -> str:
    """The audio step mode (``"sliding"`` / ``"window"``, avemotion.features.audio) a bundle's
    ``features`` were computed with. A bundle without ``features.audio_mode`` predates the key and
    was made with per-window steps: ``LEGACY_AUDIO_MODE`` ("window")."""
    mode = features.get("audio_mode", LEGACY_AUDIO_MODE)
    if mode not in AUDIO_MODES:
        raise BundleError(f"{where}: features.audio_mode: expected one of {list(AUDIO_MODES)}, got {mode!r}")
    return str(mode)


def check_audio_mode(bundle: Bundle, mode: str) -> None:
    """Refuse (``BundleError``) to feed ``bundle`` audio steps computed in ``mode`` when its model
    was trained on steps of another mode (their values differ; see avemotion.features.audio)."""
    made = bundle_audio_mode(bundle.features, bundle.path / BUNDLE_JSON)
    if mode != made:
        how = "" if "audio_mode" in bundle.features else f" (no features.audio_mode: made before the key, so {made!r})"
        raise BundleError(
            f"{bundle.path}: the model was trained on audio steps in mode {made!r}{how}, but the audio "
            f"extractor runs in mode {mode!r}; run it in mode {made!r} or retrain on {mode!r} features"
        )


# --------------------------------------------------------------------------- write / read


def _require(meta: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: Path) -> Any:
    if key not in meta:
        raise BundleError(f"{where}: missing key {key!r}")
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, typ):
        raise BundleError(f"{where}: key {key!r}: expected {getattr(typ, '__name__', typ)}, got {type(v).__name__}")
    return v
