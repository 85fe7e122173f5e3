"""The two-head loss with per-head label masks.

``loss = CE(emotion) + laughter_loss_weight · BCE(laughter)`` where each head's term is averaged over
the samples that carry a label for that head (emotion label ``-1`` / laughter label ``-1`` = no label),
not over the batch (STACK.md: Keras' per-head losses divide by the batch size). A head with no labelled
sample in the batch contributes exactly zero loss and zero gradient. Optional emotion class weights
``w`` make the emotion term ``sum(w[y_i]·ce_i) / sum(w[y_i])`` over labelled samples.

Under a ``tf.distribute`` strategy, pass ``global_counts`` (the labelled counts summed over replicas)
so each replica's term is its sum divided by the global count; the replicas' terms then add up to the
global mean (see ``train.py``). TensorFlow is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROB_EPS = 1e-7


@dataclass
class LossParts:
    """Per-head sums and counts (tensors) for one batch or one replica's share of it."""

    emotion_sum: Any     # sum of (weighted) CE over labelled samples
    emotion_count: Any   # number (or summed weights) of emotion-labelled samples
    laughter_sum: Any    # sum of BCE over labelled samples
    laughter_count: Any  # number of laughter-labelled samples


def loss_parts(emotion_probs: Any, laughter_probs: Any, emotion_labels: Any, laughter_labels: Any,
               class_weights: Any = None) -> LossParts:
    """Masked sums: ``emotion_probs`` (B, 6), ``laughter_probs`` (B, 1) or (B,), ``emotion_labels`` (B,)
    int (-1 = none), ``laughter_labels`` (B,) float (0/1, -1 = none), ``class_weights`` (6,) or None."""
    import tensorflow as tf

    emotion_labels = tf.cast(tf.reshape(emotion_labels, [-1]), tf.int32)
    laughter_labels = tf.cast(tf.reshape(laughter_labels, [-1]), tf.float32)
    e_mask = tf.cast(emotion_labels >= 0, tf.float32)
    l_mask = tf.cast(laughter_labels >= 0, tf.float32)
    safe_e = tf.maximum(emotion_labels, 0)
    p_true = tf.gather(emotion_probs, safe_e, axis=1, batch_dims=1)
    ce = -tf.math.log(tf.clip_by_value(p_true, PROB_EPS, 1.0))
    w = e_mask if class_weights is None else e_mask * tf.gather(tf.cast(class_weights, tf.float32), safe_e)
    p = tf.clip_by_value(tf.reshape(laughter_probs, [-1]), PROB_EPS, 1.0 - PROB_EPS)
    y = tf.maximum(laughter_labels, 0.0)
    bce = -(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
    # where(), not multiplication alone: an unlabelled row can never bring NaN/Inf into the sum.
    e_sum = tf.reduce_sum(tf.where(e_mask > 0, ce * w, tf.zeros_like(ce)))
    l_sum = tf.reduce_sum(tf.where(l_mask > 0, bce, tf.zeros_like(bce)))
    return LossParts(e_sum, tf.reduce_sum(w), l_sum, tf.reduce_sum(l_mask))


def combine(parts: LossParts, laughter_loss_weight: float,
            global_counts: tuple[Any, Any] | None = None) -> tuple[Any, Any, Any]:
    """``(total, emotion_term, laughter_term)``; each term is ``sum / max(count, tiny)`` and exactly 0
    when the head has no labels. ``global_counts`` replaces the local counts (distributed training)."""
    import tensorflow as tf

    e_count, l_count = global_counts if global_counts is not None else (parts.emotion_count,
                                                                        parts.laughter_count)
    e_term = tf.math.divide_no_nan(parts.emotion_sum, tf.cast(e_count, tf.float32))
    l_term = tf.math.divide_no_nan(parts.laughter_sum, tf.cast(l_count, tf.float32))
    return e_term + laughter_loss_weight * l_term, e_term, l_term


def two_head_loss(emotion_probs: Any, laughter_probs: Any, emotion_labels: Any, laughter_labels: Any,
                  *, laughter_loss_weight: float = 0.3, class_weights: Any = None) -> tuple[Any, Any, Any]:
    """Single-replica convenience: ``(total, emotion_term, laughter_term)`` for one batch."""
    parts = loss_parts(emotion_probs, laughter_probs, emotion_labels, laughter_labels, class_weights)
    return combine(parts, laughter_loss_weight)
