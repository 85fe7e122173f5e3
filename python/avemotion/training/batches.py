"""Examples → cropped, normalized, padded ``tf.data`` batches for training and evaluation.

For each example (``avemotion.training.data.Example``) the clip file is read once (kept in a
:class:`ClipCache` across epochs with ``data.cache``), cut to its window (``offset``/``length``; when
training the window is shifted by a random amount of up to half a hop), cropped to ``max_*_steps``
(random offset when training, from the start otherwise; video steps follow the audio span), when
training optionally cropped again to a random length of at least ``data.min_crop_steps`` and given
Gaussian feature noise (``data.feature_noise``),
normalized (:class:`GlobalNorm`: the training statistics; :class:`GroupNorm`: per speaker), and
batched with per-batch padding to the longest member (training batches are bucketed by audio
length). Each element is ``(inputs, labels)``: inputs ``audio`` (B, Ta, 89) float32, ``audio_mask``
(B, Ta) float32, ``video`` (B, Tv, 512), ``video_mask`` (B, Tv); labels ``emotion`` (B,) int32
(-1 = none) and ``laughter`` (B,) float32 (-1 = none). A clip without audio or video steps gets one
masked zero step, so tensors never have a zero-length time axis. Masked steps are exactly zero.

Training order is a seeded permutation per epoch (``rng = [seed, epoch]``), not tf.data's
reshuffling state, so an epoch's batches depend only on the seed and the epoch number: a resumed
run and every worker of a multi-worker run see the same order. TensorFlow is imported only inside
:func:`make_dataset`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from avemotion._contract import STD_EPS
from avemotion.training.config import TrainConfig
from avemotion.training.data import ClipArrays, Example, ModalityStats, read_clip

log = logging.getLogger(__name__)


class ClipCache:
    """Clip arrays by file, read once (kept in memory when ``keep``)."""

    def __init__(self, cfg: TrainConfig, keep: bool | None = None) -> None:
        self.cfg = cfg
        self.keep = cfg.data.cache if keep is None else keep
        self._clips: dict[str, ClipArrays] = {}

    def get(self, ex: Example) -> ClipArrays:
        key = str(ex.path)
        clip = self._clips.get(key)
        if clip is None:
            clip = read_clip(ex.path, self.cfg.features.audio_dim, self.cfg.features.video_dim)
            if self.keep:
                self._clips[key] = clip
        return clip


def _span(clip: ClipArrays, start: int, n: int) -> ClipArrays:
    """Audio steps ``[start, start + n)`` and the video steps inside their time span."""
    a, a_t = clip.audio[start:start + n], clip.audio_times[start:start + n]
    video, v_t, vm = clip.video, clip.video_times, clip.video_mask
    if len(video) and len(a_t):
        hop = float(np.median(np.diff(clip.audio_times))) if len(clip.audio_times) > 1 else 0.0
        keep = (v_t > a_t[0] - hop) & (v_t <= a_t[-1])
        video, v_t, vm = video[keep], v_t[keep], vm[keep]
    return ClipArrays(a, a_t, video, v_t, vm)


def crop_clip(clip: ClipArrays, max_a: int, max_v: int, rng: np.random.Generator | None) -> ClipArrays:
    """Crop to at most ``max_a`` audio steps (random offset with ``rng``, else from the start); the video
    keeps the steps inside the kept audio span, at most ``max_v``. 0 = no limit."""
    if max_a and len(clip.audio) > max_a:
        start = int(rng.integers(0, len(clip.audio) - max_a + 1)) if rng is not None else 0
        clip = _span(clip, start, max_a)
    if max_v and len(clip.video) > max_v:
        clip = ClipArrays(clip.audio, clip.audio_times, clip.video[:max_v], clip.video_times[:max_v],
                          clip.video_mask[:max_v])
    return clip


def window_of(clip: ClipArrays, ex: Example, cfg: TrainConfig, rng: np.random.Generator | None) -> ClipArrays:
    """The example's window of its clip (the whole clip when ``ex.length`` is 0); with ``rng`` the
    window start moves by up to half a hop either way (inside the clip)."""
    if not ex.length:
        return clip
    start = ex.offset
    if rng is not None:
        half = max(0, (cfg.data.window_hop_steps or max(1, ex.length // 2)) // 2)
        start = int(np.clip(start + rng.integers(-half, half + 1), 0, max(0, len(clip.audio) - ex.length)))
    return _span(clip, start, ex.length)


# ----------------------------------------------------------------------------- normalization


class Normalization(Protocol):
    """Per-example statistics: ``(audio, video)`` for an example (``rng`` set when training)."""

    def __call__(self, ex: Example, rng: np.random.Generator | None) -> tuple[ModalityStats, ModalityStats]: ...


@dataclass
class GlobalNorm:
    """Every example with the same (training-split) statistics."""

    stats: Mapping[str, ModalityStats]

    def __call__(self, ex: Example, rng: np.random.Generator | None) -> tuple[ModalityStats, ModalityStats]:
        return self.stats["audio"], self.stats["video"]


@dataclass
class GroupNorm:
    """Audio normalized per speaker, as online adaptation will see it.

    An example of a group in ``groups`` (:attr:`Example.norm_group` -> its statistics, e.g. every EmoDB
    speaker and each of its speed-perturbed voices)
    gets the blend of the global and its group's statistics with the group's share drawn uniformly
    from ``mix`` when training (1.0 when evaluating): training covers every stage of an adapting
    stream, from the bundle's statistics (0) to the speaker's own (1). Any other example (laughter,
    noise) gets, when training, the blend toward a random group of ``groups`` (someone who laughs or is
    silent while the system has adapted to them) and the global statistics when evaluating.
    Video always uses the global statistics.
    """

    stats: Mapping[str, ModalityStats]
    groups: Mapping[str, ModalityStats]
    mix: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        self._keys = sorted(self.groups)
        self._cache: dict[tuple[str, float], ModalityStats] = {}

    def _blend(self, group: str, w: float) -> ModalityStats:
        from avemotion.adaptation import blend_stats

        key = (group, round(w, 2))
        st = self._cache.get(key)
        if st is None:
            g, a = self.groups[group], self.stats["audio"]
            mean, std = blend_stats(a.mean, a.std, g.mean, g.std, key[1])
            st = self._cache[key] = ModalityStats(mean, std, g.count)
        return st

    def __call__(self, ex: Example, rng: np.random.Generator | None) -> tuple[ModalityStats, ModalityStats]:
        video = self.stats["video"]
        if ex.norm_group in self.groups:
            w = float(rng.uniform(*self.mix)) if rng is not None else 1.0
            return self._blend(ex.norm_group, w), video
        if rng is not None and self._keys:
            return self._blend(self._keys[int(rng.integers(len(self._keys)))], float(rng.uniform(*self.mix))), video
        return self.stats["audio"], video


def make_norm(cfg: TrainConfig, stats: Mapping[str, ModalityStats], examples: Sequence[Example]) -> Normalization:
    """The normalization ``data.normalization`` asks for: :class:`GlobalNorm`, or :class:`GroupNorm`
    with the statistics of every speaker (group of a ``data.speaker_corpora`` corpus) among
    ``examples`` (pass the training and validation examples, never the test ones)."""
    if cfg.data.normalization == "global":
        return GlobalNorm(stats)
    from avemotion.training.data import group_stats

    corpora = {c.strip() for c in cfg.data.speaker_corpora.split(",") if c.strip()}
    speakers = [ex for ex in examples if ex.groups and ex.groups[0][0] in corpora]
    groups = group_stats(speakers, cfg)
    log.info("speaker normalization: %d speakers of %s", len(groups), sorted(corpora))
    return GroupNorm(stats, groups, (cfg.data.speaker_mix_min, cfg.data.speaker_mix_max))


def _normalized(x: np.ndarray, mask: np.ndarray, st: ModalityStats) -> np.ndarray:
    inv = 1.0 / np.maximum(st.std, STD_EPS)
    out = (x - st.mean) * inv
    out[~mask] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- tf.data


def _generator(examples: Sequence[Example], norm: Normalization, cfg: TrainConfig, training: bool, seed: int,
               epoch: int, cache: ClipCache) -> Any:
    da, dv = cfg.features.audio_dim, cfg.features.video_dim

    def gen() -> Iterator[tuple[dict[str, np.ndarray], dict[str, Any]]]:
        rng = np.random.default_rng([seed, epoch]) if training else None
        order = rng.permutation(len(examples)) if rng is not None else range(len(examples))
        for i in order:
            ex = examples[int(i)]
            clip = window_of(cache.get(ex), ex, cfg, rng)
            clip = crop_clip(clip, cfg.data.max_audio_steps, cfg.data.max_video_steps, rng)
            if rng is not None and cfg.data.min_crop_steps and len(clip.audio) > cfg.data.min_crop_steps:
                n = int(rng.integers(cfg.data.min_crop_steps, len(clip.audio) + 1))
                clip = _span(clip, int(rng.integers(0, len(clip.audio) - n + 1)), n)
            a_st, v_st = norm(ex, rng)
            a_mask = np.ones(len(clip.audio), bool)
            v_mask = np.asarray(clip.video_mask, bool)
            audio = _normalized(clip.audio, a_mask, a_st) if len(clip.audio) else np.zeros((1, da), np.float32)
            if rng is not None and cfg.data.feature_noise and len(clip.audio):
                audio = (audio + rng.normal(0.0, cfg.data.feature_noise, audio.shape)).astype(np.float32)
            video = _normalized(clip.video, v_mask, v_st) if len(clip.video) else np.zeros((1, dv), np.float32)
            if not len(clip.audio):
                a_mask = np.zeros(1, bool)
            if not len(clip.video):
                v_mask = np.zeros(1, bool)
            yield ({"audio": audio, "audio_mask": a_mask.astype(np.float32), "video": video,
                    "video_mask": v_mask.astype(np.float32)},
                   {"emotion": np.int32(ex.emotion), "laughter": np.float32(ex.laughter)})

    return gen


def make_dataset(examples: Sequence[Example], stats: Mapping[str, ModalityStats] | Normalization, cfg: TrainConfig,
                 *, training: bool, batch_size: int | None = None, seed: int | None = None, epoch: int = 0,
                 cache: ClipCache | None = None) -> Any:
    """The ``tf.data.Dataset`` described in the module docstring; ``stats`` is the training statistics
    (:class:`GlobalNorm`) or a :class:`Normalization`; ``epoch`` picks the training order."""
    import tensorflow as tf

    if not examples:
        raise ValueError("make_dataset: expected at least one example, got none")
    norm: Normalization = GlobalNorm(stats) if isinstance(stats, Mapping) else stats
    da, dv = cfg.features.audio_dim, cfg.features.video_dim
    bs = int(batch_size or cfg.training.batch_size)
    seed = cfg.seed if seed is None else seed
    spec = ({"audio": tf.TensorSpec((None, da), tf.float32), "audio_mask": tf.TensorSpec((None,), tf.float32),
             "video": tf.TensorSpec((None, dv), tf.float32), "video_mask": tf.TensorSpec((None,), tf.float32)},
            {"emotion": tf.TensorSpec((), tf.int32), "laughter": tf.TensorSpec((), tf.float32)})
    gen = _generator(list(examples), norm, cfg, training, seed, epoch, cache or ClipCache(cfg))
    ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
    if training and cfg.data.bucket_boundaries:
        bounds = list(cfg.data.bucket_boundaries)
        ds = ds.bucket_by_sequence_length(
            element_length_func=lambda x, y: tf.shape(x["audio"])[0],
            bucket_boundaries=bounds, bucket_batch_sizes=[bs] * (len(bounds) + 1))
    else:
        ds = ds.padded_batch(bs)
    return ds.prefetch(tf.data.AUTOTUNE)
