"""The two-head audio-visual model (Keras 3 on TensorFlow), built to export cleanly with tf2onnx.

Architecture (DESIGN.md "The model")::

    audio (B,Ta,89) ─ Dense(d) ─┐                          ┌─ masked mean ─┐
                                ├─ shared MaskedEncoder ───┤               ├─ concat(+presence flags)
    video (B,Tv,512) ─ Dense(d) ┘  (one set of weights,    └─ masked mean ─┘   ─ Dense(fusion, relu)
                                    applied per modality)                       ─ Dropout
                                                               ├─ Dense(6, softmax)  → "emotion"
                                                               └─ Dense(1, sigmoid)  → "laughter"

With ``model.ensemble = K > 1`` the model is K such networks (independent initializations, trained
together, each on its own loss) whose outputs are averaged: same inputs, outputs and export.

``MaskedEncoder``: sinusoidal positions, then ``num_layers`` post-norm transformer blocks whose
self-attention adds -1e9 to the scores of masked keys. Masking is explicit (no Keras implicit masks):
masked input steps are replaced by zeros with ``where`` (so NaN/Inf garbage there cannot leak), masked
keys get exactly zero attention weight (exp(-1e9) underflows to 0 in float32), and pooling is a masked
mean ``sum(h·m) / max(sum(m), 1)``. Hence padding length and the content of masked steps change the
outputs only by float rounding. A sample whose mask is all zero for one modality pools to a zero vector
and its presence flag is 0; the outputs stay finite (the fusion layer falls back to the other
modality).

Inputs are a dict ``{"audio", "audio_mask", "video", "video_mask"}`` (masks float32, 1.0 = real);
outputs a dict ``{"emotion": (B, 6) softmax, "laughter": (B, 1) sigmoid}``. TensorFlow/Keras are
imported inside the functions.
"""

from __future__ import annotations

from typing import Any

from avemotion.training.config import EMOTION_LABELS, TrainConfig

INPUT_NAMES = ("audio", "audio_mask", "video", "video_mask")
OUTPUT_NAMES = ("emotion", "laughter")

_LAYERS: dict[str, Any] = {}


def _layers() -> dict[str, Any]:
    """Define the custom layer classes once (they need keras, imported lazily)."""
    if _LAYERS:
        return _LAYERS
    import keras
    import tensorflow as tf

    class MaskedEncoder(keras.layers.Layer):
        """Mask-aware transformer encoder + masked mean pooling: (B,T,d), (B,T) → (B,d)."""

        def __init__(self, d_model: int, num_heads: int, ff_dim: int, num_layers: int,
                     dropout: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.d_model, self.num_heads, self.ff_dim = d_model, num_heads, ff_dim
            self.num_layers, self.dropout_rate = num_layers, dropout
            self.blocks: list[dict[str, Any]] = []
            for i in range(num_layers):
                blk = {
                    "qkv": keras.layers.Dense(3 * d_model, name=f"qkv_{i}"),
                    "out": keras.layers.Dense(d_model, name=f"attn_out_{i}"),
                    "ln1": keras.layers.LayerNormalization(epsilon=1e-5, name=f"ln1_{i}"),
                    "ff1": keras.layers.Dense(ff_dim, activation="relu", name=f"ff1_{i}"),
                    "ff2": keras.layers.Dense(d_model, name=f"ff2_{i}"),
                    "ln2": keras.layers.LayerNormalization(epsilon=1e-5, name=f"ln2_{i}"),
                    "drop": keras.layers.Dropout(dropout),
                }
                for key, layer in blk.items():  # attributes, so Keras tracks their weights
                    setattr(self, f"block{i}_{key}", layer)
                self.blocks.append(blk)

        def build(self, input_shape: Any) -> None:
            d = self.d_model
            for blk in self.blocks:
                blk["qkv"].build((None, None, d))
                blk["out"].build((None, None, d))
                blk["ln1"].build((None, None, d))
                blk["ff1"].build((None, None, d))
                blk["ff2"].build((None, None, self.ff_dim))
                blk["ln2"].build((None, None, d))
            super().build(input_shape)

        def call(self, x: Any, mask: Any, training: bool = False) -> Any:
            d, h = self.d_model, self.num_heads
            dh = d // h
            t = tf.shape(x)[1]
            b = tf.shape(x)[0]
            m3 = mask[:, :, None]
            # Sinusoidal positions (step index; right padding never shifts real steps).
            pos = tf.cast(tf.range(t), tf.float32)[:, None]
            i = tf.cast(tf.range(d // 2), tf.float32)[None, :]
            ang = pos / tf.pow(10000.0, 2.0 * i / float(d))
            pe = tf.concat([tf.sin(ang), tf.cos(ang)], axis=-1)
            x = (x + pe[None, :, :]) * m3 if self.blocks else x * m3  # 0 layers: masked mean pooling only
            key_bias = (1.0 - mask)[:, None, None, :] * -1e9  # (B,1,1,T)
            for blk in self.blocks:
                qkv = blk["qkv"](x)
                qkv = tf.reshape(qkv, tf.stack([b, t, 3, h, dh]))
                qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])  # (3,B,H,T,dh)
                q, k, v = qkv[0], qkv[1], qkv[2]
                scores = tf.matmul(q, k, transpose_b=True) * (1.0 / float(dh) ** 0.5) + key_bias
                att = tf.nn.softmax(scores, axis=-1)
                ctx = tf.matmul(att, v)  # (B,H,T,dh)
                ctx = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), tf.stack([b, t, d]))
                x = blk["ln1"](x + blk["drop"](blk["out"](ctx), training=training))
                x = blk["ln2"](x + blk["drop"](blk["ff2"](blk["ff1"](x)), training=training))
                x = x * m3
            total = tf.reduce_sum(mask, axis=1, keepdims=True)
            return tf.reduce_sum(x, axis=1) / tf.maximum(total, 1.0)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads,
                    "ff_dim": self.ff_dim, "num_layers": self.num_layers, "dropout": self.dropout_rate}

    class MaskSteps(keras.layers.Layer):
        """Zero the steps whose mask is 0 (``where``, so NaN/Inf garbage there is removed too)."""

        def call(self, x: Any, mask: Any) -> Any:
            return tf.where(mask[:, :, None] > 0.5, x, tf.zeros_like(x))

    class Presence(keras.layers.Layer):
        """1.0 where a sample has at least one real step in the modality, else 0.0: (B,T) → (B,1)."""

        def call(self, mask: Any) -> Any:
            return tf.minimum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)

    _LAYERS.update(MaskedEncoder=MaskedEncoder, MaskSteps=MaskSteps, Presence=Presence)
    return _LAYERS


def _member(cfg: TrainConfig, inputs: dict[str, Any], suffix: str) -> tuple[Any, Any]:
    """One two-head network on the shared inputs: (emotion (B, 6), laughter (B, 1))."""
    import keras

    L = _layers()
    mc = cfg.model
    audio, audio_mask, video, video_mask = (inputs[k] for k in INPUT_NAMES)
    mask_steps = L["MaskSteps"](name=f"mask_steps{suffix}")
    a = keras.layers.Dense(mc.d_model, name=f"audio_proj{suffix}")(mask_steps(audio, audio_mask))
    v = keras.layers.Dense(mc.d_model, name=f"video_proj{suffix}")(mask_steps(video, video_mask))
    encoder = L["MaskedEncoder"](mc.d_model, mc.num_heads, mc.ff_dim, mc.num_layers, mc.dropout,
                                 name=f"shared_encoder{suffix}")
    pa = encoder(a, audio_mask)
    pv = encoder(v, video_mask)
    presence = L["Presence"](name=f"presence{suffix}")
    fused = keras.layers.Concatenate(name=f"fuse{suffix}")([pa, pv, presence(audio_mask), presence(video_mask)])
    fused = keras.layers.Dense(mc.fusion_dim, activation="relu", name=f"fusion{suffix}")(fused)
    fused = keras.layers.Dropout(mc.dropout, name=f"fusion_dropout{suffix}")(fused)
    emotion = keras.layers.Dense(len(EMOTION_LABELS), activation="softmax", name=f"emotion{suffix}")(fused)
    laughter = keras.layers.Dense(1, activation="sigmoid", name=f"laughter{suffix}")(fused)
    return emotion, laughter


def build_models(cfg: TrainConfig) -> tuple[Any, Any]:
    """``(model, train_model)`` sharing every weight. ``model`` has the dict outputs of the module
    docstring (with ``model.ensemble = K > 1`` the mean of K independently initialized members);
    ``train_model`` outputs every member: ``emotion`` (B, K, 6), ``laughter`` (B, K, 1), so the loss
    trains each member on its own (a deep ensemble trained in one loop). K = 1: both are one model."""
    import keras

    fc = cfg.features
    inputs = {"audio": keras.Input((None, fc.audio_dim), name="audio", dtype="float32"),
              "audio_mask": keras.Input((None,), name="audio_mask", dtype="float32"),
              "video": keras.Input((None, fc.video_dim), name="video", dtype="float32"),
              "video_mask": keras.Input((None,), name="video_mask", dtype="float32")}
    k = cfg.model.ensemble
    if k <= 1:
        emotion, laughter = _member(cfg, inputs, "")
        model = keras.Model(inputs=inputs, outputs={"emotion": emotion, "laughter": laughter}, name=cfg.name)
        return model, model
    heads = [_member(cfg, inputs, f"_m{i}") for i in range(k)]
    emotions = [keras.layers.Reshape((1, len(EMOTION_LABELS)), name=f"stack_e{i}")(e) for i, (e, _) in enumerate(heads)]
    laughs = [keras.layers.Reshape((1, 1), name=f"stack_l{i}")(lp) for i, (_, lp) in enumerate(heads)]
    members_e = keras.layers.Concatenate(axis=1, name="members_emotion")(emotions)
    members_l = keras.layers.Concatenate(axis=1, name="members_laughter")(laughs)
    emotion = keras.layers.Average(name="emotion")([e for e, _ in heads])
    laughter = keras.layers.Average(name="laughter")([lp for _, lp in heads])
    model = keras.Model(inputs=inputs, outputs={"emotion": emotion, "laughter": laughter}, name=cfg.name)
    train_model = keras.Model(inputs=inputs, outputs={"emotion": members_e, "laughter": members_l},
                              name=f"{cfg.name}_members")
    return model, train_model


def build_model(cfg: TrainConfig) -> Any:
    """A ``keras.Model`` with dict inputs/outputs as described in the module docstring."""
    return build_models(cfg)[0]
