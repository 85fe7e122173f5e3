"""The contract between avemotion's parts, written once (see ``docs/contracts.md``).

Every module that needs a feature size, the sample rate, the label order, a window default, an
environment variable or the default model directory imports it from here. Nothing in this module
imports another avemotion module, so anything may import it without an import circle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# ----------------------------------------------------------------------------- features

#: Audio step size: the 88 eGeMAPSv02 functionals (openSMILE's column order) + the window's RMS dBFS.
AUDIO_DIM: int = 89
#: Video step size: one L2-normalized FaceNet (InceptionResnetV1) embedding.
VIDEO_DIM: int = 512
#: Feature size per modality name (the statistics files and the model inputs use these names).
DIMS: dict[str, int] = {"audio": AUDIO_DIM, "video": VIDEO_DIM}
#: Audio is resampled to this rate (Hz), mono float32 in [-1, 1], before feature extraction.
SAMPLE_RATE: int = 16000
#: How audio steps are computed (a bundle records it as ``features.audio_mode``): ``"sliding"``
#: computes openSMILE's low-level descriptors once per stream and slides its functionals over them;
#: ``"window"`` analyses every window from scratch (bit-identical to per-window ``process_signal``).
AUDIO_MODES: tuple[str, ...] = ("sliding", "window")
DEFAULT_AUDIO_MODE: str = "sliding"
#: The mode of a bundle whose ``features`` has no ``audio_mode`` (all bundles made before the key).
LEGACY_AUDIO_MODE: str = "window"

# ----------------------------------------------------------------------------- labels

#: The emotion head's classes, in the model's output order (CREMA-D's set).
EMOTION_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "neutral", "sad")
#: Labels of a laughter manifest row.
LAUGHTER_LABELS: tuple[str, ...] = ("laughter", "no_laughter")
#: Manifest ``label_kind`` values: a timed event, a whole clip, a humor proxy (sarcasm, ...).
LABEL_KINDS: tuple[str, ...] = ("event", "clip", "proxy")
#: Manifest splits.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Modes of ``analyze``/``live``: both modalities, or one (the other fed to the model fully masked).
MODES: tuple[str, ...] = ("av", "video", "audio")

# ----------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class WindowDefaults:
    """Default timing (seconds, Hz) used where a model bundle does not say otherwise."""

    window_s: float = 2.0  # analysis window the model sees
    hop_s: float = 0.5  # one prediction every hop
    audio_window_s: float = 1.0  # eGeMAPS functionals window of one audio step
    audio_hop_s: float = 0.1  # one audio step every audio hop
    video_fps: float = 5.0  # sampled video frames per second
    laughter_threshold: float = 0.5


WINDOWS = WindowDefaults()

# ----------------------------------------------------------------------------- normalization

#: std values below this are treated as a constant feature (see ``avemotion.kernels``).
STD_EPS: float = 1e-6
#: Documented estimates used when no statistics file exists: ``name -> (mean, std)``.
FALLBACK_STATS: dict[str, tuple[float, float]] = {"audio": (0.0, 0.5), "video": (0.0, 1.0)}

# ----------------------------------------------------------------------------- environment

#: The default model/statistics directory (overrides the installed default bundle).
ENV_MODEL_DIR = "AVEMOTION_MODEL_DIR"
#: ``1``/``true``/``yes``/``on``: no fallbacks (missing stats, CUDA requested but absent, ...) but errors.
ENV_STRICT = "AVEMOTION_STRICT"
#: FaceNet weights file (a facenet-pytorch state dict), overriding the converted default.
ENV_FACENET_WEIGHTS = "AVEMOTION_FACENET_WEIGHTS"
#: Cache directory for converted weights (default ``~/.cache/avemotion``, or ``$XDG_CACHE_HOME/avemotion``).
ENV_CACHE = "AVEMOTION_CACHE"

_TRUE = ("1", "true", "yes", "on")


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to 1/true/yes/on (any case)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def strict_from_env() -> bool:
    """``$AVEMOTION_STRICT`` as a bool (the default of every ``strict=None`` argument)."""
    return env_flag(ENV_STRICT)


def cache_dir() -> Path:
    """Where converted weights live: ``$AVEMOTION_CACHE``, else ``$XDG_CACHE_HOME/avemotion``, else
    ``~/.cache/avemotion``. Not created here."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "avemotion"


# ----------------------------------------------------------------------------- model directory

#: Name of the default model bundle directory.
DEFAULT_BUNDLE_NAME = "dynamic_padding_no_leakage"

_PACKAGE_DIR = Path(__file__).resolve().parent


def installed_model_dir() -> Path | None:
    """The default bundle that ships with the package: ``avemotion/models/<name>`` inside an installed
    wheel, else ``<checkout>/models/<name>`` when running from a source checkout (editable install or
    ``PYTHONPATH``). None when neither exists."""
    packaged = _PACKAGE_DIR / "models" / DEFAULT_BUNDLE_NAME
    if packaged.is_dir():
        return packaged
    root = _PACKAGE_DIR.parent.parent
    if _PACKAGE_DIR.parent.name == "python" and (root / "pyproject.toml").is_file():
        checkout = root / "models" / DEFAULT_BUNDLE_NAME
        if checkout.is_dir():
            return checkout
    return None


def default_model_dir() -> Path:
    """The model directory every caller uses when none is given: ``$AVEMOTION_MODEL_DIR`` > the
    installed default bundle (:func:`installed_model_dir`). When neither exists, the path a user
    would expect (``./models/<name>``) is returned so that the caller's "not found" error names it."""
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        return Path(env).expanduser()
    found = installed_model_dir()
    if found is not None:
        return found
    return Path.cwd() / "models" / DEFAULT_BUNDLE_NAME


def resolve_model_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """``path`` (an explicit ``--model``/argument) when given, else :func:`default_model_dir`."""
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"model dir: expected a path or None, got {type(path).__name__}")
        return Path(path).expanduser()
    return default_model_dir()
