"""A synthetic dataset in the project's real on-disk formats, for demos and tests.

:func:`generate_synthetic_dataset` writes, under ``out_dir``::

    features/{clip_id}.npz     per-clip features (docs/contracts.md "Per-clip feature file")
    features/index.csv         clip_id,status,path,error,n_audio,n_video,seconds
    manifests/emotion_synthetic.csv    emotion manifest (labels anger ... sad), corpus "synthetic_emotion"
    manifests/laughter_synthetic.csv   laughter manifest (laughter / no_laughter), corpus "synthetic_laughter"

Learnable structure: every emotion class shifts the mean of its own 4 audio dimensions (+0.5 per-step
noise sigma, ``AUDIO_SHIFT``) and 4 video dimensions (``VIDEO_SHIFT``); laughter shifts 3 audio
dimensions (and the RMS level column) and 4 video dimensions. 8 % of the labels are then replaced by a
random label (``LABEL_NOISE``), so no model reaches 100 %. Every feature dimension also has its own
random offset and scale (so normalization matters). Lengths are random (audio ``audio_steps`` range
at 10 steps/s, video at 5 frames/s), about 15 % of video frames have no face (zero vector,
``video_mask`` False), and about 3 % of clips have no video at all. Clips belong to groups (synthetic
speakers / videos); whole groups are assigned to splits (ordered by a seeded hash: 15 % test, 15 % val,
the rest train; see :func:`assign_group_splits`), so no group spans two splits. Half the clips (rounded up) are emotion clips, the rest
laughter clips.

Generation is deterministic for a seed; files that already exist are kept (a rerun resumes), and each
file is written atomically by the project's writers (``save_clip``, ``write_index``, ``write_manifest``). No TensorFlow import.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avemotion._contract import AUDIO_DIM, EMOTION_LABELS, VIDEO_DIM
from avemotion.data.manifest import ManifestRow, write_manifest
from avemotion.features.clipfile import ClipFeatures, save_clip
from avemotion.features.extract import ClipResult, write_index

log = logging.getLogger(__name__)

#: Class signal: mean shift of a class's dimensions, in units of the per-step noise (audio) and of the
#: per-frame noise 0.3 (video). Weak per step; evident over a clip's steps.
AUDIO_SHIFT = 0.5
VIDEO_SHIFT = 0.2
#: Share of clips whose label is replaced by a random one (a realistic ceiling on accuracy).
LABEL_NOISE = 0.08


@dataclass
class SyntheticDataset:
    """Where :func:`generate_synthetic_dataset` put things."""

    root: Path
    features_dir: Path
    emotion_manifest: Path
    laughter_manifest: Path
    n_clips: int


def assign_group_splits(groups: list[str], seed: int, val: float = 0.15, test: float = 0.15) -> dict[str, str]:
    """Split whole groups: order them by a seeded SHA-256 hash, the first ``test`` share goes to
    test, the next ``val`` share to val, the rest to train (at least one group each when there are
    three or more groups)."""
    ranked = sorted(set(groups), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    n = len(ranked)
    n_test = max(1, round(n * test)) if n >= 3 else 0
    n_val = max(1, round(n * val)) if n >= 3 else 0
    out = {}
    for j, g in enumerate(ranked):
        out[g] = "test" if j < n_test else "val" if j < n_test + n_val else "train"
    return out




def generate_synthetic_dataset(
    out_dir: str | Path,
    n_clips: int,
    *,
    seed: int = 0,
    n_groups: int | None = None,
    audio_steps: tuple[int, int] = (10, 40),
    audio_dim: int = AUDIO_DIM,
    video_dim: int = VIDEO_DIM,
) -> SyntheticDataset:
    """Write ``n_clips`` synthetic clips (see the module docstring) and return their locations.

    ``n_groups`` defaults to ``max(4, n_clips // 12)`` per corpus. ``audio_steps`` is the inclusive
    range of audio steps per clip (video steps are about half). Raises ValueError for n_clips < 2 or a
    bad range.
    """
    if n_clips < 2:
        raise ValueError(f"n_clips: expected >= 2 (one emotion and one laughter clip), got {n_clips}")
    lo, hi = audio_steps
    if not (1 <= lo <= hi):
        raise ValueError(f"audio_steps: expected 1 <= low <= high, got {audio_steps}")
    root = Path(out_dir)
    feat_dir = root / "features"
    man_dir = root / "manifests"
    rng = np.random.default_rng(seed)
    n_groups = n_groups or max(4, n_clips // 12)

    # Per-dimension offsets/scales (shared by all clips) and class signatures.
    a_off = rng.normal(0.0, 3.0, audio_dim).astype(np.float32)
    a_scale = rng.uniform(0.5, 4.0, audio_dim).astype(np.float32)
    v_off = rng.normal(0.0, 0.5, video_dim).astype(np.float32)
    emo_a_dims = [list(range(4 * k, 4 * k + 4)) for k in range(len(EMOTION_LABELS))]
    emo_v_dims = [list(range(4 * k, 4 * k + 4)) for k in range(len(EMOTION_LABELS))]
    laugh_a_dims = [30, 31, 32, audio_dim - 1]
    laugh_v_dims = [40, 41, 42, 43]

    n_emotion = (n_clips + 1) // 2
    splits = {**assign_group_splits([f"spk{g:03d}" for g in range(n_groups)], seed),
              **assign_group_splits([f"vid{g:03d}" for g in range(n_groups)], seed + 1)}
    emotion_rows: list[ManifestRow] = []
    laughter_rows: list[ManifestRow] = []
    index_rows: list[ClipResult] = []
    for i in range(n_clips):
        is_emotion = i < n_emotion
        corpus = "synthetic_emotion" if is_emotion else "synthetic_laughter"
        j = i if is_emotion else i - n_emotion  # index within the corpus: every group gets a clip first
        g = j if j < n_groups else int(rng.integers(n_groups))
        group = f"{'spk' if is_emotion else 'vid'}{g:03d}"
        clip_id = f"{'emo' if is_emotion else 'laugh'}_{i:05d}"
        if is_emotion:
            k = int(rng.integers(len(EMOTION_LABELS)))
            label = EMOTION_LABELS[k]
            a_dims, v_dims = emo_a_dims[k], emo_v_dims[k]
        else:
            positive = bool(rng.random() < 0.4)
            label = "laughter" if positive else "no_laughter"
            a_dims, v_dims = (laugh_a_dims, laugh_v_dims) if positive else ([], [])
        ta = int(rng.integers(lo, hi + 1))
        tv = 0 if rng.random() < 0.03 else max(1, ta // 2 + int(rng.integers(-2, 3)))
        clip_rng = np.random.default_rng([seed, i])
        audio = clip_rng.normal(0.0, 1.0, (ta, audio_dim)).astype(np.float32)
        if a_dims:
            audio[:, a_dims] += AUDIO_SHIFT
        audio = audio * a_scale + a_off
        video = clip_rng.normal(0.0, 1.0, (tv, video_dim)).astype(np.float32) * 0.3 + v_off
        if v_dims and tv:
            video[:, v_dims] += VIDEO_SHIFT
        if tv:
            video /= np.linalg.norm(video, axis=1, keepdims=True)
        face = clip_rng.random(tv) >= 0.15
        video[~face] = 0.0
        if rng.random() < LABEL_NOISE:  # label noise: the written label ignores the signal
            label = (EMOTION_LABELS[int(rng.integers(len(EMOTION_LABELS)))] if is_emotion
                     else ("laughter" if rng.random() < 0.5 else "no_laughter"))
        seconds = ta * 0.1
        split = splits[group]
        path = feat_dir / f"{clip_id}.npz"
        if not path.exists():
            meta = {"clip_id": clip_id, "source": "synthetic", "seed": seed, "start": 0.0, "end": seconds,
                    "generator": "avemotion.training.synthetic"}
            save_clip(path, ClipFeatures(audio, np.arange(1, ta + 1, dtype=np.float64) * 0.1, video,
                                         np.arange(tv, dtype=np.float64) * 0.2, face, meta))
        index_rows.append(ClipResult(clip_id, "ok", path.name, n_audio=ta, n_video=tv, seconds=round(seconds, 3)))
        row = ManifestRow(clip_id, corpus, f"synthetic/{clip_id}.mp4", 0.0, round(seconds, 3), label, "clip",
                          "synthetic", group, split)
        (emotion_rows if is_emotion else laughter_rows).append(row)
    write_index(feat_dir, index_rows)
    emo_path = man_dir / "emotion_synthetic.csv"
    laugh_path = man_dir / "laughter_synthetic.csv"
    write_manifest(emo_path, emotion_rows, kind="emotion", summary_json=False)
    write_manifest(laugh_path, laughter_rows, kind="laughter", summary_json=False)
    log.info("synthetic dataset: %d clips (%d emotion, %d laughter) in %s",
             n_clips, n_emotion, n_clips - n_emotion, root)
    return SyntheticDataset(root, feat_dir, emo_path, laugh_path, n_clips)
