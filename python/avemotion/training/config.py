"""Training configuration: a TOML file (read with :mod:`tomllib`) mapped onto dataclasses.

Every hyper-parameter of a run is a field below; the shipped configuration is
``training/dynamic_padding_no_leakage.toml``. Overrides use dotted keys (``training.epochs=3``), parsed
as TOML values (``data.cache=false``, ``data.bucket_boundaries=[10, 20]``, strings need quotes or are
taken verbatim when they do not parse). Unknown sections or keys are errors, so a typo never silently
falls back to a default. :func:`config_to_dict` gives the resolved configuration saved with a run.

This module does not import TensorFlow.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avemotion._contract import (
    AUDIO_DIM,
    AUDIO_MODES,
    DEFAULT_AUDIO_MODE,
    EMOTION_LABELS,
    VIDEO_DIM,
    WINDOWS,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["EMOTION_LABELS", "TrainConfig", "config_from_dict", "config_to_dict", "load_config"]


@dataclass
class DataConfig:
    features_dir: str = "datasets/features"
    emotion_manifest: str = "datasets/manifests/emotion_v1.csv"
    laughter_manifest: str = "datasets/manifests/laughter_v1.csv"
    max_audio_steps: int = 200
    max_video_steps: int = 100
    #: Clips longer than this many audio steps become windows of it (0 = clips stay whole).
    window_steps: int = 0
    #: Steps between windows (0 = window_steps // 2).
    window_hop_steps: int = 0
    #: Training augmentation: a random crop of between min_crop_steps and all of a clip's (or
    #: window's) audio steps (0 = off): analysis windows at a stream's start hold few steps.
    min_crop_steps: int = 0
    #: Training augmentation: Gaussian noise of this std added to the normalized audio steps (0 = off).
    feature_noise: float = 0.0
    #: Audio steps that enter the statistics: "all", or "speech" (avemotion.adaptation.speech_mask:
    #: loud enough and voiced; silence and noise do not shift the statistics).
    audio_stats: str = "all"
    #: Audio normalization of training examples: "global" (the training statistics) or "speaker"
    #: (a blend of the global and the speaker's own statistics, the speaker's share drawn from
    #: [speaker_mix_min, speaker_mix_max]: what online adaptation feeds the model; see batches.GroupNorm).
    normalization: str = "global"
    #: Corpora whose groups are speakers for "speaker" normalization (comma-separated).
    speaker_corpora: str = "emodb"
    speaker_mix_min: float = 0.0
    speaker_mix_max: float = 1.0
    #: Speed perturbation (training augmentation, Ko et al. 2015): for each factor f a copy of every
    #: training EmoDB utterance resampled to play f times faster (tempo and pitch x f; e.g. [0.9, 1.1]).
    #: The copies keep their utterance's speaker (group) and labels, train only (never validate or
    #: test) and are made by avemotion.training.corpora.prepare ([] = off).
    speed_factors: list[float] = field(default_factory=list)
    #: The same for the laughter recordings (positives: few files, so a wider range is useful).
    laughter_speed_factors: list[float] = field(default_factory=list)
    bucket_boundaries: list[int] = field(default_factory=lambda: [20, 40, 80, 160])
    cache: bool = True
    check_leakage: bool = True
    balance_report: str = ""


@dataclass
class ModelConfig:
    d_model: int = 32
    num_heads: int = 2
    ff_dim: int = 64
    num_layers: int = 1
    fusion_dim: int = 32
    dropout: float = 0.1
    #: Members of a deep ensemble whose outputs the model averages (1 = a single network).
    ensemble: int = 1


@dataclass
class TrainingConfig:
    batch_size: int = 32
    epochs: int = 30
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    clipnorm: float = 1.0
    laughter_loss_weight: float = 0.3
    early_stopping_patience: int = 5
    early_stopping_min_delta: float = 5e-4
    laughter_threshold: float = WINDOWS.laughter_threshold
    #: Emotion class weights: "" / "none" (none, or data.balance_report when set) or "balanced"
    #: (N / (K * n_k) over the training split's emotion labels).
    class_weights: str = ""
    #: Online speaker adaptation the bundle asks analyze/live for (bundle.json
    #: training.online_adaptation.prior_weight, in speech steps) when online_adaptation is true.
    online_adaptation: bool = False
    online_adaptation_prior_weight: float = 300.0
    #: Stop after this many optimizer steps per epoch (0 = the whole training split); for smoke tests.
    max_steps_per_epoch: int = 0


@dataclass
class ExportConfig:
    opset: int = 17
    verify_batches: int = 4
    tolerance: float = 1e-5


@dataclass
class FeatureConfig:
    audio_dim: int = AUDIO_DIM
    video_dim: int = VIDEO_DIM
    audio_window_s: float = WINDOWS.audio_window_s
    audio_hop_s: float = WINDOWS.audio_hop_s
    #: How the clips' audio steps were computed ("sliding" or "window", avemotion.features.audio):
    #: training refuses clips extracted otherwise, and the bundle records it (features.audio_mode).
    audio_mode: str = DEFAULT_AUDIO_MODE
    video_fps: float = WINDOWS.video_fps
    window_s: float = WINDOWS.window_s
    hop_s: float = WINDOWS.hop_s


@dataclass
class TrainConfig:
    name: str = "dynamic_padding_no_leakage"
    seed: int = 1234
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field, its expected and its actual value."""
        checks: list[tuple[str, Any, bool, str]] = [
            ("model.d_model", self.model.d_model, self.model.d_model > 0, "> 0"),
            ("model.num_heads", self.model.num_heads, self.model.num_heads > 0, "> 0"),
            ("model.d_model", self.model.d_model, self.model.d_model % max(self.model.num_heads, 1) == 0,
             f"a multiple of model.num_heads={self.model.num_heads}"),
            ("model.ff_dim", self.model.ff_dim, self.model.ff_dim > 0, "> 0"),
            ("model.num_layers", self.model.num_layers, self.model.num_layers >= 0, ">= 0"),
            ("model.fusion_dim", self.model.fusion_dim, self.model.fusion_dim > 0, "> 0"),
            ("model.ensemble", self.model.ensemble, self.model.ensemble >= 1, ">= 1"),
            ("model.dropout", self.model.dropout, 0.0 <= self.model.dropout < 1.0, "in [0, 1)"),
            ("training.batch_size", self.training.batch_size, self.training.batch_size > 0, "> 0"),
            ("training.epochs", self.training.epochs, self.training.epochs > 0, "> 0"),
            ("training.learning_rate", self.training.learning_rate, self.training.learning_rate > 0, "> 0"),
            ("training.weight_decay", self.training.weight_decay, self.training.weight_decay >= 0, ">= 0"),
            ("training.laughter_loss_weight", self.training.laughter_loss_weight,
             self.training.laughter_loss_weight >= 0, ">= 0"),
            ("training.early_stopping_patience", self.training.early_stopping_patience,
             self.training.early_stopping_patience >= 0, ">= 0"),
            ("training.laughter_threshold", self.training.laughter_threshold,
             0.0 < self.training.laughter_threshold < 1.0, "in (0, 1)"),
            ("training.max_steps_per_epoch", self.training.max_steps_per_epoch,
             self.training.max_steps_per_epoch >= 0, ">= 0"),
            ("data.max_audio_steps", self.data.max_audio_steps, self.data.max_audio_steps >= 0, ">= 0"),
            ("data.max_video_steps", self.data.max_video_steps, self.data.max_video_steps >= 0, ">= 0"),
            ("data.bucket_boundaries", self.data.bucket_boundaries,
             all(b > 0 for b in self.data.bucket_boundaries)
             and list(self.data.bucket_boundaries) == sorted(set(self.data.bucket_boundaries)),
             "strictly increasing positive integers"),
            ("data.window_steps", self.data.window_steps, self.data.window_steps >= 0, ">= 0"),
            ("training.online_adaptation_prior_weight", self.training.online_adaptation_prior_weight,
             0 <= self.training.online_adaptation_prior_weight < float("inf"), ">= 0 and finite"),
            ("features.audio_mode", self.features.audio_mode, self.features.audio_mode in AUDIO_MODES,
             f"one of {list(AUDIO_MODES)}"),
            ("data.audio_stats", self.data.audio_stats, self.data.audio_stats in ("all", "speech"),
             "'all' or 'speech'"),
            ("data.min_crop_steps", self.data.min_crop_steps, self.data.min_crop_steps >= 0, ">= 0"),
            ("data.feature_noise", self.data.feature_noise, self.data.feature_noise >= 0, ">= 0"),
            ("data.normalization", self.data.normalization, self.data.normalization in ("global", "speaker"),
             "'global' or 'speaker'"),
            ("data.speaker_mix_min", self.data.speaker_mix_min,
             0.0 <= self.data.speaker_mix_min <= self.data.speaker_mix_max <= 1.0,
             "0 <= speaker_mix_min <= speaker_mix_max <= 1"),
            ("data.speed_factors", self.data.speed_factors,
             all(0.5 <= f <= 2.0 and f != 1.0 for f in self.data.speed_factors), "factors in [0.5, 2], not 1"),
            ("data.laughter_speed_factors", self.data.laughter_speed_factors,
             all(0.5 <= f <= 2.0 and f != 1.0 for f in self.data.laughter_speed_factors),
             "factors in [0.5, 2], not 1"),
            ("data.window_hop_steps", self.data.window_hop_steps, self.data.window_hop_steps >= 0, ">= 0"),
            ("export.verify_batches", self.export.verify_batches, self.export.verify_batches >= 1, ">= 1"),
            ("export.tolerance", self.export.tolerance, self.export.tolerance > 0, "> 0"),
            ("features.audio_dim", self.features.audio_dim, self.features.audio_dim == AUDIO_DIM,
             f"{AUDIO_DIM} (the feature files' audio step size, docs/contracts.md)"),
            ("features.video_dim", self.features.video_dim, self.features.video_dim == VIDEO_DIM,
             f"{VIDEO_DIM} (the feature files' video step size)"),
            ("training.class_weights", self.training.class_weights,
             self.training.class_weights in ("", "none", "balanced"), "'', 'none' or 'balanced'"),
        ]
        for name, value, ok, expected in checks:
            if not ok:
                raise ValueError(f"config {name}: expected {expected}, got {value!r}")
        if not self.data.emotion_manifest and not self.data.laughter_manifest:
            raise ValueError("config data.emotion_manifest / data.laughter_manifest: expected at least one "
                             "manifest path, got both empty")


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "training": TrainingConfig,
             "export": ExportConfig, "features": FeatureConfig}


def _coerce(where: str, value: Any, default: Any, kind: str = "") -> Any:
    """Check ``value`` against the type of the field's default (ints accepted for floats; ``kind``
    is the field's annotation, which tells a list of floats from a list of ints)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list) and "float" in kind:
        ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if ok:
            value = [float(v) for v in value]
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    else:  # pragma: no cover
        ok = True
    if not ok:
        raise ValueError(f"config {where}: expected {type(default).__name__}, got {value!r} "
                         f"({type(value).__name__})")
    return value


def config_from_dict(raw: Mapping[str, Any], source: str = "<dict>") -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested mapping (a parsed TOML document)."""
    cfg = TrainConfig()
    for key, value in raw.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ValueError(f"{source}: [{key}] expected a table, got {value!r}")
            section = getattr(cfg, key)
            kinds = {f.name: str(f.type) for f in dataclasses.fields(section)}
            for k, v in value.items():
                if k not in kinds:
                    raise ValueError(f"{source}: unknown key {key}.{k}; expected one of {sorted(kinds)}")
                setattr(section, k, _coerce(f"{key}.{k}", v, getattr(section, k), kinds[k]))
        elif key in ("name", "seed"):
            setattr(cfg, key, _coerce(key, value, getattr(cfg, key)))
        else:
            raise ValueError(f"{source}: unknown key {key!r}; expected name, seed or a section "
                             f"{sorted(_SECTIONS)}")
    cfg.validate()
    return cfg


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ValueError(f"override {text!r}: expected KEY=VALUE such as training.epochs=3")
    key, value = text.split("=", 1)
    key = key.strip()
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a parsed TOML document (in place; returned)."""
    for text in overrides:
        path, value = _parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {text!r}: {part} is not a section")
        node[path[-1]] = value
    return raw


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a TOML configuration (None: the defaults above) and apply ``overrides``.

    Raises FileNotFoundError naming the file, ValueError for a parse error or bad value.
    """
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {p}")
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p}: not valid TOML: {exc}") from exc
        source = str(p)
    apply_overrides(raw, overrides)
    return config_from_dict(raw, source)


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved configuration as plain JSON/TOML-able data."""
    return dataclasses.asdict(cfg)
