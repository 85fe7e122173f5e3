"""Training data: manifests + per-clip feature files → examples, splits, statistics.

Steps (see :func:`avemotion.training.train.train`):

1. :func:`load_examples` reads the emotion and laughter manifests (docs/contracts.md) and joins them
   with the feature directory's ``index.csv``; a clip listed in both manifests carries both labels, a
   clip in one manifest has the other head's label missing (``emotion = -1`` / ``laughter = -1``).
   Rows whose features are missing or failed extraction are skipped and counted (``LoadReport``).
2. :func:`check_group_leakage` fails the run (:class:`LeakageError`) when a group — keyed by
   ``(corpus, group)`` — or a clip appears in two splits.
3. :func:`compute_train_stats` computes the audio/video normalization statistics from the **training
   split only** (real steps only: masked / no-face steps never enter the statistics).

With ``data.window_steps > 0`` a clip longer than that many audio steps becomes several examples,
windows of ``window_steps`` steps every ``window_hop_steps`` (the last one ends at the clip's end),
cut like the analysis windows of ``analyze``/``live`` (``docs/contracts.md``); shorter clips stay
whole. Batches are built by :mod:`avemotion.training.batches`. No TensorFlow import here.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import DIMS, FALLBACK_STATS, SPLITS
from avemotion.training.config import EMOTION_LABELS, TrainConfig
from avemotion.training.corpora import speed_tag_of

log = logging.getLogger(__name__)


class LeakageError(ValueError):
    """A group (speaker, video, meeting, ...) or clip appears in more than one split."""


@dataclass
class Example:
    """One clip: its feature file and its labels (-1 where the head has no label)."""

    clip_id: str
    path: Path
    split: str
    groups: list[tuple[str, str]] = field(default_factory=list)  # (corpus, group) per manifest row
    emotion: int = -1
    laughter: float = -1.0
    offset: int = 0   # first audio step of the window (with length > 0)
    length: int = 0   # audio steps of the window; 0 = the whole clip

    @property
    def key(self) -> str:
        """Unique per example: the clip id, ``@offset`` for a window of a longer clip."""
        return f"{self.clip_id}@{self.offset}" if self.length else self.clip_id

    @property
    def group(self) -> str:
        """``corpus:group`` of the first manifest row (the speaker of an EmoDB utterance)."""
        return f"{self.groups[0][0]}:{self.groups[0][1]}" if self.groups else ""

    @property
    def norm_group(self) -> str:
        """The statistics group of speaker-normalized training: :attr:`group`, and for a
        speed-perturbed copy ``group~spNNN`` (a speaker played faster is another voice: the
        Kaldi convention of a new speaker id per perturbed copy); its split group stays :attr:`group`."""
        tag = speed_tag_of(self.clip_id)
        return f"{self.group}~{tag}" if tag else self.group


@dataclass
class LoadReport:
    n_rows: int = 0
    n_examples: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # clip_id -> reason


@dataclass
class ClipArrays:
    audio: np.ndarray       # (Ta, Da) float32
    audio_times: np.ndarray  # (Ta,) float64
    video: np.ndarray       # (Tv, Dv) float32
    video_times: np.ndarray  # (Tv,) float64
    video_mask: np.ndarray  # (Tv,) bool


def _read_index(features_dir: Path) -> dict[str, tuple[str, str, str, int | None]]:
    """clip_id -> (status, path, error, n_audio) from index.csv, or {} when there is none."""
    index = features_dir / "index.csv"
    if not index.is_file():
        return {}
    out: dict[str, tuple[str, str, str, int | None]] = {}
    with index.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"clip_id", "status", "path"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{index}: expected columns clip_id,status,path,..., missing {sorted(missing)}")
        for row in reader:
            n = row.get("n_audio") or ""
            out[row["clip_id"]] = (row["status"], row["path"], row.get("error") or "",
                                   int(n) if n.isdigit() else None)
    return out


def load_examples(cfg: TrainConfig) -> tuple[list[Example], LoadReport]:
    """Join the configured manifests with the feature directory (see the module docstring).

    Manifests are read (and validated) by :func:`avemotion.data.manifest.read_manifest`."""
    from avemotion.data.manifest import read_manifest

    feat_dir = Path(cfg.data.features_dir)
    if not feat_dir.is_dir():
        raise FileNotFoundError(f"data.features_dir not found: {feat_dir}")
    index = _read_index(feat_dir)
    report = LoadReport()
    by_clip: dict[str, Example] = {}
    split_of_clip: dict[str, set[str]] = defaultdict(set)
    for kind, manifest in (("emotion", cfg.data.emotion_manifest), ("laughter", cfg.data.laughter_manifest)):
        if not manifest:
            continue
        for row in read_manifest(manifest, kind=kind):
            report.n_rows += 1
            cid = row.clip_id
            if cid in index:
                status, rel, err, _ = index[cid]
                if status != "ok":
                    report.skipped[cid] = f"feature extraction status {status!r}: {err}"
                    continue
                path = Path(rel) if Path(rel).is_absolute() else feat_dir / rel
            else:
                path = feat_dir / f"{cid}.npz"
            if not path.is_file():
                report.skipped[cid] = f"feature file not found: {path}"
                continue
            ex = by_clip.get(cid)
            if ex is None:
                ex = by_clip[cid] = Example(cid, path, row.split)
            split_of_clip[cid].add(row.split)
            ex.groups.append((row.corpus, row.group))
            if kind == "emotion":
                ex.emotion = EMOTION_LABELS.index(row.label)
            else:
                ex.laughter = 1.0 if row.label == "laughter" else 0.0
    bad_clips = {c: sorted(s) for c, s in split_of_clip.items() if len(s) > 1}
    if bad_clips:
        raise LeakageError(f"clips listed in two splits by the manifests: {dict(list(bad_clips.items())[:10])}")
    for cid, why in list(report.skipped.items())[:20]:
        log.warning("skipping clip %s: %s", cid, why)
    if len(report.skipped) > 20:
        log.warning("... and %d more skipped clips", len(report.skipped) - 20)
    examples = sorted(by_clip.values(), key=lambda e: e.clip_id)
    if cfg.data.window_steps:
        n_steps = {cid: v[3] for cid, v in index.items()}
        examples = expand_windows(examples, cfg, n_steps)
    report.n_examples = len(examples)
    if not examples:
        raise ValueError(f"no usable clips: {report.n_rows} manifest rows, {len(report.skipped)} skipped "
                         f"(features_dir={feat_dir})")
    return examples, report


def window_offsets(n_steps: int, window: int, hop: int) -> list[int]:
    """Start steps of the windows of a clip of ``n_steps`` audio steps: every ``hop`` steps, the last
    window ending at the clip's end; ``[0]`` (the whole clip) when it is not longer than ``window``."""
    if n_steps <= window:
        return [0]
    starts = list(range(0, n_steps - window + 1, hop))
    if starts[-1] != n_steps - window:
        starts.append(n_steps - window)
    return starts


def expand_windows(examples: Sequence[Example], cfg: TrainConfig,
                   n_steps: Mapping[str, int | None] | None = None) -> list[Example]:
    """Each example longer than ``data.window_steps`` audio steps becomes one example per window
    (:func:`window_offsets`); ``n_steps`` (clip id -> audio steps, e.g. from index.csv) saves opening
    the files."""
    from dataclasses import replace

    w, hop = cfg.data.window_steps, cfg.data.window_hop_steps or max(1, cfg.data.window_steps // 2)
    out: list[Example] = []
    for ex in examples:
        n = (n_steps or {}).get(ex.clip_id)
        if n is None:
            n = len(read_clip(ex.path, cfg.features.audio_dim, cfg.features.video_dim).audio)
        if n <= w:
            out.append(ex)
            continue
        out.extend(replace(ex, groups=list(ex.groups), offset=o, length=w) for o in window_offsets(n, w, hop))
    return out


def unique_clips(examples: Sequence[Example]) -> list[Example]:
    """One example per clip file (the windows of a clip share it), in first-seen order."""
    seen: set[Path] = set()
    out = []
    for ex in examples:
        if ex.path not in seen:
            seen.add(ex.path)
            out.append(ex)
    return out


def check_group_leakage(examples: Sequence[Example]) -> None:
    """Raise :class:`LeakageError` if a ``(corpus, group)`` has examples in more than one split."""
    splits: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ex in examples:
        for g in ex.groups:
            splits[g].add(ex.split)
    bad = {f"{c}:{g}": sorted(s) for (c, g), s in splits.items() if len(s) > 1}
    if bad:
        shown = dict(sorted(bad.items())[:10])
        raise LeakageError(f"{len(bad)} group(s) appear in more than one split (data leakage): {shown}; "
                           "assign splits by group (docs/contracts.md)")


def split_examples(examples: Sequence[Example]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for ex in examples:
        out[ex.split].append(ex)
    return out


def read_clip(path: Path, audio_dim: int, video_dim: int, audio_mode: str | None = None) -> ClipArrays:
    """Read one per-clip .npz through ``avemotion.features.clipfile`` (the one reader: keys, shapes,
    timestamps required), then check finiteness (audio, and video in face-present steps). With
    ``audio_mode`` a clip written by ``avemotion extract`` (``meta["settings"]``) must have been
    extracted in that audio mode (``settings["audio_mode"]``; absent = the legacy mode): ValueError
    naming the file otherwise. Clips without extractor settings (synthetic ones) are not checked."""
    from avemotion._contract import LEGACY_AUDIO_MODE
    from avemotion.features.clipfile import load_clip

    c = load_clip(path, audio_dim=audio_dim, video_dim=video_dim)
    if audio_mode is not None and isinstance(c.meta.get("settings"), dict):
        made = c.meta["settings"].get("audio_mode", LEGACY_AUDIO_MODE)
        if made != audio_mode:
            raise ValueError(f"{path}: audio features extracted in audio mode {made!r}, expected "
                             f"features.audio_mode={audio_mode!r}; re-extract (avemotion extract --audio-mode "
                             f"{audio_mode}) or set features.audio_mode")
    if not np.isfinite(c.audio).all():
        raise ValueError(f"{path}: audio contains NaN/Inf")
    if not np.isfinite(c.video[c.video_mask]).all():
        raise ValueError(f"{path}: video contains NaN/Inf in face-present steps")
    return ClipArrays(c.audio, c.audio_times, c.video, c.video_times, c.video_mask)


@dataclass
class ModalityStats:
    mean: np.ndarray  # (D,) float32
    std: np.ndarray   # (D,) float32
    count: int


def audio_stats_mask(audio: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """The audio steps that enter normalization statistics: all, or with ``data.audio_stats =
    "speech"`` those passing :func:`avemotion.adaptation.speech_mask` (the steps online adaptation
    accumulates, so the bundle's statistics are its prior in the same units)."""
    if cfg.data.audio_stats == "speech" and len(audio):
        from avemotion.adaptation import speech_mask

        return speech_mask(audio)
    return np.ones(len(audio), bool)


def compute_train_stats(examples: Sequence[Example], cfg: TrainConfig) -> dict[str, ModalityStats]:
    """Audio and video statistics over the real steps of **train-split** examples only.

    Streams the clip files through ``avemotion.feature_normalizer.compute_normalization_stats`` (one
    pass, C++ Welford/Chan) with each sequence's split label, so a non-train sequence would be
    refused there too; no-face video steps are masked out, and with ``data.audio_stats = "speech"``
    non-speech audio steps (:func:`audio_stats_mask`). Raises ValueError when there are no
    training examples. A modality with no real training step gets the normalizer's fallback
    statistics (audio mean 0 / std 0.5, video mean 0 / std 1) and a warning.
    """
    from avemotion import RunningStats
    from avemotion.feature_normalizer import compute_normalization_stats

    train = unique_clips([ex for ex in examples if ex.split == "train"])
    if not train:
        raise ValueError("no training examples: normalization statistics need split == 'train' rows")
    dims = {"audio": cfg.features.audio_dim, "video": cfg.features.video_dim}
    out: dict[str, ModalityStats] = {}
    for name in ("audio", "video"):
        pending: deque[np.ndarray] = deque()

        def feats(name: str = name, pending: deque[np.ndarray] = pending) -> Iterator[np.ndarray]:
            for ex in train:  # one file read per clip and modality; nothing is held in memory
                clip = read_clip(ex.path, dims["audio"], dims["video"], cfg.features.audio_mode)
                x, m = (clip.audio, audio_stats_mask(clip.audio, cfg)) if name == "audio" else \
                    (clip.video, clip.video_mask)
                pending.append(m)
                yield x

        def masks(pending: deque[np.ndarray] = pending) -> Iterator[np.ndarray]:
            while pending:  # the normalizer takes sequence i's mask right after sequence i
                yield pending.popleft()

        running = RunningStats(dims[name])
        try:
            st = compute_normalization_stats(feats(), masks(), [ex.split for ex in train], running=running,
                                             name=name if dims[name] == DIMS[name] else None)
        except ValueError:
            if running.count:  # a real error, not "no real steps"
                raise
            st = None
        if st is None:
            log.warning("no real %s steps in the training split: using fallback statistics", name)
            f_mean, f_std = FALLBACK_STATS[name]
            out[name] = ModalityStats(np.full(dims[name], f_mean, np.float32),
                                      np.full(dims[name], f_std, np.float32), 0)
        else:
            out[name] = ModalityStats(np.asarray(st.mean, np.float32), np.asarray(st.std, np.float32),
                                      int(st.count or 0))
    return out


def group_stats(examples: Sequence[Example], cfg: TrainConfig) -> dict[str, ModalityStats]:
    """Audio statistics per group (:attr:`Example.norm_group`: ``corpus:group``, e.g. one EmoDB
    speaker, and ``corpus:group~spNNN`` for its speed-perturbed copies) over the clips of
    ``examples`` (each clip once), with the C++ RunningStats; the per-speaker statistics of
    speaker-normalized training and of the per-speaker reference."""
    from avemotion import RunningStats

    acc: dict[str, Any] = {}
    for ex in unique_clips(examples):
        clip = read_clip(ex.path, cfg.features.audio_dim, cfg.features.video_dim)
        if len(clip.audio):
            acc.setdefault(ex.norm_group, RunningStats(cfg.features.audio_dim)).update(
                clip.audio, mask=audio_stats_mask(clip.audio, cfg))
    return {g: ModalityStats(np.asarray(r.mean, np.float32), np.asarray(r.std, np.float32), int(r.count))
            for g, r in acc.items()}


def save_train_stats(stats: dict[str, ModalityStats], stats_dir: str | Path) -> dict[str, Path]:
    """Write ``{audio,video}_normalization_stats.pkl`` into ``stats_dir`` (feature_normalizer format)."""
    from avemotion.feature_normalizer import save_normalization_stats

    return {name: Path(save_normalization_stats(st.mean, st.std, name=name, stats_dir=stats_dir, count=st.count,
                                                extra={"split": "train", "computed_by": "avemotion.training"}))
            for name, st in stats.items()}


def load_class_weights(path: str | Path) -> np.ndarray:
    """Emotion class weights (6,) from a balance report JSON.

    Accepted shapes: ``{"emotion": {"class_weights": {label: w}}}``, ``{"emotion": {"counts":
    {label: n}}}`` or ``{"emotion": {label: n}}`` (counts → ``N / (K * n_k)``). Missing classes get 1.0.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data.balance_report not found: {p}")
    report = json.loads(p.read_text(encoding="utf-8"))
    emo = report.get("emotion") if isinstance(report, dict) else None
    if not isinstance(emo, dict):
        raise ValueError(f"{p}: expected an object with an 'emotion' entry, got keys "
                         f"{sorted(report) if isinstance(report, dict) else type(report).__name__}")
    if "class_weights" in emo:
        w = {k: float(v) for k, v in emo["class_weights"].items()}
    else:
        counts = emo.get("counts", emo)
        counts = {k: float(v) for k, v in counts.items() if k in EMOTION_LABELS}
        total = sum(counts.values())
        w = {k: total / (len(EMOTION_LABELS) * n) for k, n in counts.items() if n > 0}
    unknown = set(w) - set(EMOTION_LABELS)
    if unknown:
        raise ValueError(f"{p}: class weights for unknown labels {sorted(unknown)}; expected {list(EMOTION_LABELS)}")
    arr = np.array([w.get(lbl, 1.0) for lbl in EMOTION_LABELS], dtype=np.float32)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError(f"{p}: class weights must be finite and > 0, got {arr.tolist()}")
    return arr


def balanced_class_weights(examples: Sequence[Example]) -> np.ndarray:
    """Emotion class weights ``N / (K * n_k)`` over the emotion-labelled ``examples`` (1.0 for a class
    without examples)."""
    counts = np.bincount([e.emotion for e in examples if e.emotion >= 0], minlength=len(EMOTION_LABELS))
    n, k = counts.sum(), int((counts > 0).sum())
    return np.array([n / (k * c) if c else 1.0 for c in counts], np.float32)


def class_weights_for(cfg: TrainConfig, train: Sequence[Example]) -> np.ndarray | None:
    """The emotion class weights a run uses: ``training.class_weights = "balanced"`` computes them
    from the training examples, else ``data.balance_report`` (a file) when set, else none."""
    if cfg.training.class_weights == "balanced":
        w = balanced_class_weights(train)
        log.info("balanced emotion class weights: %s", dict(zip(EMOTION_LABELS, np.round(w, 3).tolist(),
                                                                  strict=True)))
        return w
    return load_class_weights(cfg.data.balance_report) if cfg.data.balance_report else None
