"""Model, loss and tf.data pipeline (TensorFlow; tiny shapes)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if importlib.util.find_spec("tensorflow") is None:
    pytest.skip("needs tensorflow (the [train] extra)", allow_module_level=True)


class _LazyTF:
    """``tf`` imported at first use, not at collection (see tests/conftest.py on import order)."""

    def __getattr__(self, name: str):
        import tensorflow

        return getattr(tensorflow, name)


tf = _LazyTF()

from avemotion.training.config import TrainConfig  # noqa: E402
from avemotion.training.losses import two_head_loss  # noqa: E402
from avemotion.training.model import build_model  # noqa: E402


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    import keras

    keras.utils.set_random_seed(0)
    cfg = TrainConfig()
    cfg.model.d_model, cfg.model.ff_dim, cfg.model.fusion_dim = 16, 16, 16
    return build_model(cfg)


def _batch(rng: np.random.Generator, b: int, ta: int, tv: int) -> dict[str, np.ndarray]:
    return {"audio": rng.normal(size=(b, ta, 89)).astype(np.float32), "audio_mask": np.ones((b, ta), np.float32),
            "video": rng.normal(size=(b, tv, 512)).astype(np.float32), "video_mask": np.ones((b, tv), np.float32)}


def _run(model, x):  # type: ignore[no-untyped-def]
    y = model(x, training=False)
    return np.asarray(y["emotion"]), np.asarray(y["laughter"])


def test_outputs_shapes_and_ranges(model) -> None:  # type: ignore[no-untyped-def]
    e, lp = _run(model, _batch(np.random.default_rng(0), 3, 7, 4))
    assert e.shape == (3, 6) and lp.shape == (3, 1)
    np.testing.assert_allclose(e.sum(1), 1.0, rtol=1e-5)
    assert ((lp > 0) & (lp < 1)).all()


def test_masking_invariance_padding_and_garbage(model) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    x = _batch(rng, 4, 9, 6)
    x["audio_mask"][0, 6:] = 0
    x["video_mask"][1, ::2] = 0  # missing faces in the middle
    x["video_mask"][2, :] = 0    # no face at all
    x["audio_mask"][3, :] = 0    # no audio at all
    ref = _run(model, x)
    y = {k: v.copy() for k, v in x.items()}
    for k in ("audio", "video"):
        y[k][y[f"{k}_mask"] == 0] = rng.choice([np.nan, np.inf, 1e30, -7.0])
    pad_a, pad_v = 13, 5
    y["audio"] = np.concatenate([y["audio"], np.full((4, pad_a, 89), 3.3, np.float32)], 1)
    y["audio_mask"] = np.concatenate([y["audio_mask"], np.zeros((4, pad_a), np.float32)], 1)
    y["video"] = np.concatenate([y["video"], np.full((4, pad_v, 512), np.nan, np.float32)], 1)
    y["video_mask"] = np.concatenate([y["video_mask"], np.zeros((4, pad_v), np.float32)], 1)
    got = _run(model, y)
    for r, g in zip(ref, got, strict=False):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, r, atol=1e-5)
    # a sample alone gives the same output as in the batch (batch padding does not leak across rows)
    alone = _run(model, {k: v[:1, :6] for k, v in x.items()})
    np.testing.assert_allclose(alone[0], ref[0][:1], atol=1e-5)


def test_all_masked_sample_is_finite(model) -> None:  # type: ignore[no-untyped-def]
    x = _batch(np.random.default_rng(2), 2, 3, 3)
    x["audio_mask"][:] = 0
    x["video_mask"][:] = 0
    e, lp = _run(model, x)
    assert np.isfinite(e).all() and np.isfinite(lp).all()


def test_loss_is_the_mean_over_labelled_samples() -> None:
    probs = tf.constant(np.full((4, 6), 1 / 6, np.float32))
    lp = tf.constant([[0.9], [0.2], [0.5], [0.5]])
    total, e, lt = two_head_loss(probs, lp, [2, -1, 0, -1], [-1, 1.0, -1, 0.0])
    assert float(e) == pytest.approx(np.log(6), rel=1e-5)  # mean over the two labelled rows, not /4
    bce = -(np.log(0.2) + np.log(0.5)) / 2
    assert float(lt) == pytest.approx(bce, rel=1e-5)
    assert float(total) == pytest.approx(np.log(6) + 0.3 * bce, rel=1e-5)
    w = np.array([1, 1, 3, 1, 1, 1], np.float32)
    p2 = tf.constant(np.eye(6, dtype=np.float32)[[2, 0]] * 0.5 + 0.25)
    _, e_w, _ = two_head_loss(p2, tf.constant([[0.5], [0.5]]), [2, 0], [-1, -1], class_weights=w)
    assert float(e_w) == pytest.approx(-np.log(0.75), rel=1e-5)  # weighted mean of equal terms


def test_head_without_labels_gives_zero_loss_and_zero_gradient(model) -> None:  # type: ignore[no-untyped-def]
    x = _batch(np.random.default_rng(3), 3, 5, 4)
    head = model.get_layer("laughter").trainable_variables
    def grads(which: int, variables):  # type: ignore[no-untyped-def]
        with tf.GradientTape() as tape:
            y = model(x, training=False)
            terms = two_head_loss(y["emotion"], y["laughter"], [1, 4, 0], [-1, -1, -1])
        g = tape.gradient(terms[which], variables)  # None = not connected (zero)
        return terms, [np.zeros(v.shape, np.float32) if gi is None else np.asarray(gi) for v, gi in zip(variables, g, strict=False)]

    (total, e, lt), g_head = grads(2, head)
    assert float(lt) == 0.0 and float(total) == pytest.approx(float(e))
    assert all(np.all(g == 0) for g in g_head)
    _, g_total = grads(0, model.trainable_variables)
    _, g_e = grads(1, model.trainable_variables)
    for a, b in zip(g_total, g_e, strict=False):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert all(np.all(g == 0) for g in g_total[-2:])  # laughter kernel, bias
    # and the emotion head with no labels at all: zero loss, zero gradient, finite
    with tf.GradientTape() as tape2:
        y = model(x, training=False)
        total2, e2, _ = two_head_loss(y["emotion"], y["laughter"], [-1, -1, -1], [-1, -1, -1])
    g2 = tape2.gradient(total2, model.trainable_variables)
    assert float(total2) == 0.0 and float(e2) == 0.0
    assert all(g is None or np.all(np.asarray(g) == 0) for g in g2)


def test_pipeline_pads_per_batch_and_normalizes(tmp_path: Path) -> None:
    from avemotion.training.batches import make_dataset
    from avemotion.training.data import compute_train_stats, load_examples
    from avemotion.training.synthetic import generate_synthetic_dataset

    ds_ = generate_synthetic_dataset(tmp_path, 24, seed=4, audio_steps=(3, 30))
    cfg = TrainConfig()
    cfg.data.features_dir, cfg.data.emotion_manifest = str(ds_.features_dir), str(ds_.emotion_manifest)
    cfg.data.laughter_manifest = str(ds_.laughter_manifest)
    cfg.data.bucket_boundaries = [8, 16]
    examples, _ = load_examples(cfg)
    stats = compute_train_stats(examples, cfg)
    train = [e for e in examples if e.split == "train"]
    seen = 0
    for x, y in make_dataset(train, stats, cfg, training=True, batch_size=4):
        am, vm = x["audio_mask"].numpy(), x["video_mask"].numpy()
        lengths = am.sum(1)
        assert am.shape[1] == lengths.max()  # padded to the longest member, not a global maximum
        assert np.all(x["audio"].numpy()[am == 0] == 0) and np.all(x["video"].numpy()[vm == 0] == 0)
        assert y["emotion"].dtype == tf.int32 and x["audio"].shape[-1] == 89
        seen += len(lengths)
    assert seen == len(train)
    # evaluation batches: the first clip normalized with the train statistics
    from avemotion.training.data import read_clip

    x, _ = next(iter(make_dataset(train[:1], stats, cfg, training=False)))
    clip = read_clip(train[0].path, 89, 512)
    ref = (clip.audio - stats["audio"].mean) / stats["audio"].std
    np.testing.assert_allclose(x["audio"].numpy()[0, : len(ref)], ref, rtol=1e-4, atol=1e-4)


def test_ensemble_averages_its_members_and_trains_each() -> None:
    import keras

    from avemotion.training.loop import build_train_step
    from avemotion.training.model import build_models

    keras.utils.set_random_seed(1)
    cfg = TrainConfig()
    cfg.model.d_model, cfg.model.ff_dim, cfg.model.fusion_dim, cfg.model.ensemble = 8, 8, 8, 3
    cfg.model.dropout = 0.0  # the step runs training=True: no dropout, so it sees what we compare with
    model, members = build_models(cfg)
    x = _batch(np.random.default_rng(2), 4, 6, 3)
    out, per = model(x, training=False), members(x, training=False)
    assert np.asarray(per["emotion"]).shape == (4, 3, 6) and np.asarray(per["laughter"]).shape == (4, 3, 1)
    np.testing.assert_allclose(np.asarray(out["emotion"]), np.asarray(per["emotion"]).mean(1), atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["laughter"]), np.asarray(per["laughter"]).mean(1), atol=1e-6)
    assert len(model.weights) == len(members.weights)  # one set of weights
    y = {"emotion": np.array([0, 1, -1, 2], np.int32), "laughter": np.array([-1, -1, 1.0, 0.0], np.float32)}
    ds = tf.data.Dataset.from_tensors((x, y))
    opt = keras.optimizers.AdamW(learning_rate=1e-2)
    step = build_train_step(members, opt, tf.distribute.get_strategy(), ds.element_spec, clipnorm=1.0)
    batch = next(iter(ds))
    total, e, l_ = (float(v) for v in step(batch))
    # the loss is the mean of the members' own two-head losses
    from avemotion.training.losses import two_head_loss

    pe = np.asarray(per["emotion"])
    pl = np.asarray(per["laughter"])
    terms = [two_head_loss(pe[:, k], pl[:, k], y["emotion"], y["laughter"]) for k in range(3)]
    assert e == pytest.approx(np.mean([float(t[1]) for t in terms]), rel=1e-4)
    assert l_ == pytest.approx(np.mean([float(t[2]) for t in terms]), rel=1e-4)
    after = np.asarray(members(x, training=False)["emotion"])
    assert all(not np.allclose(after[:, k], pe[:, k]) for k in range(3))  # every member moved
