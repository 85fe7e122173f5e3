"""Training throughput and export time (pytest-benchmark).

Groups:
- ``train-step-T30`` / ``train-step-T100``: one optimizer step on a batch of 32 padded sequences
  (audio T steps, video T/2 steps, 20 % padding, half the rows emotion-labelled, half laughter-
  labelled). ``avemotion`` = the project's traced masked two-head step (``build_train_step``);
  baseline = Keras ``train_on_batch`` with per-head losses and ``sample_weight`` label masks (what a
  user would otherwise write; it averages over the batch, not the labelled rows). Samples/s = 32 /
  median.
- ``export``: ``export_onnx`` (tf2onnx conversion + ONNX Runtime verification on 4 random batches)
  vs the bare ``tf2onnx.convert.from_function`` conversion.

Run: ``python -m pytest benchmarks/bench_training.py --benchmark-only``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

from avemotion.training.config import TrainConfig  # noqa: E402
from avemotion.training.model import build_model  # noqa: E402

B = 32


def _batch(t: int, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    tv = max(1, t // 2)
    am = np.ones((B, t), np.float32)
    vm = np.ones((B, tv), np.float32)
    for i in range(B):
        am[i, int(t * rng.uniform(0.8, 1.0)):] = 0
        vm[i, int(tv * rng.uniform(0.8, 1.0)):] = 0
    x = {"audio": rng.normal(size=(B, t, 89)).astype(np.float32) * am[..., None], "audio_mask": am,
         "video": rng.normal(size=(B, tv, 512)).astype(np.float32) * vm[..., None], "video_mask": vm}
    emo = np.where(np.arange(B) % 2 == 0, rng.integers(0, 6, B), -1).astype(np.int32)
    laugh = np.where(np.arange(B) % 2 == 1, rng.integers(0, 2, B), -1).astype(np.float32)
    return x, {"emotion": emo, "laughter": laugh}


@pytest.mark.parametrize("t", [30, 100])
def test_train_step_avemotion(benchmark, t: int) -> None:  # type: ignore[no-untyped-def]
    import keras

    from avemotion.training.loop import build_train_step

    benchmark.group = f"train-step-T{t}"
    cfg = TrainConfig()
    model = build_model(cfg)
    opt = keras.optimizers.AdamW(learning_rate=1e-3)
    x, y = _batch(t)
    ds = tf.data.Dataset.from_tensors((x, y))
    step = build_train_step(model, opt, tf.distribute.get_strategy(), ds.element_spec)
    batch = next(iter(ds))
    step(batch)  # trace
    out = benchmark.pedantic(lambda: float(step(batch)[0]), rounds=20, warmup_rounds=2)
    benchmark.extra_info["samples_per_s"] = B / benchmark.stats.stats.median
    assert np.isfinite(out)


@pytest.mark.parametrize("t", [30, 100])
def test_train_step_keras_baseline(benchmark, t: int) -> None:  # type: ignore[no-untyped-def]
    import keras

    benchmark.group = f"train-step-T{t}"
    cfg = TrainConfig()
    model = build_model(cfg)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-3),
                  loss={"emotion": keras.losses.SparseCategoricalCrossentropy(),
                        "laughter": keras.losses.BinaryCrossentropy()},
                  loss_weights={"emotion": 1.0, "laughter": 0.3})
    x, y = _batch(t)
    yk = {"emotion": np.maximum(y["emotion"], 0), "laughter": np.maximum(y["laughter"], 0)[:, None]}
    sw = {"emotion": (y["emotion"] >= 0).astype(np.float32), "laughter": (y["laughter"] >= 0).astype(np.float32)}
    model.train_on_batch(x, yk, sample_weight=sw)  # trace
    out = benchmark.pedantic(lambda: model.train_on_batch(x, yk, sample_weight=sw), rounds=20, warmup_rounds=2)
    benchmark.extra_info["samples_per_s"] = B / benchmark.stats.stats.median
    assert out is not None


def test_export_avemotion(benchmark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from avemotion.training.export import export_onnx

    benchmark.group = "export"
    cfg = TrainConfig()
    model = build_model(cfg)
    res = benchmark.pedantic(lambda: export_onnx(model, cfg, tmp_path / "m.onnx"), rounds=3)
    assert res.max_abs_diff <= 1e-5


def test_export_tf2onnx_baseline(benchmark) -> None:  # type: ignore[no-untyped-def]
    import tf2onnx

    benchmark.group = "export"
    cfg = TrainConfig()
    model = build_model(cfg)
    sig = [tf.TensorSpec((None, None, 89), tf.float32, name="audio"),
           tf.TensorSpec((None, None), tf.float32, name="audio_mask"),
           tf.TensorSpec((None, None, 512), tf.float32, name="video"),
           tf.TensorSpec((None, None), tf.float32, name="video_mask")]

    @tf.function(input_signature=sig)
    def serve(audio, audio_mask, video, video_mask):  # type: ignore[no-untyped-def]
        return model({"audio": audio, "audio_mask": audio_mask, "video": video, "video_mask": video_mask},
                      training=False)

    proto = benchmark.pedantic(lambda: tf2onnx.convert.from_function(serve, input_signature=sig, opset=17)[0],
                               rounds=3)
    assert len(proto.graph.output) == 2
