"""Predictor: input forms, normalization, masking invariance, predict_window, errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import avemotion
from avemotion.inference import Prediction, PySession, load_model


@pytest.fixture(scope="module")
def model(bundle_dir: Path) -> avemotion.inference.Predictor:
    return load_model(bundle_dir)


def test_predict_applies_bundle_normalization(model, bundle_dir: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(3, 2, (2, 6, 89))
    v = rng.normal(0, 1, (2, 4, 512))
    e, lp = model.predict([a, v])
    b = model.bundle
    ref = PySession(bundle_dir / "model.onnx", provider="cpu", strict=False, intra_op_threads=0, inter_op_threads=0)
    outs = ref.run([((a - b.audio_mean) / b.audio_std).astype(np.float32), np.ones((2, 6), np.float32),
                    ((v - b.video_mean) / b.video_std).astype(np.float32), np.ones((2, 4), np.float32)])
    np.testing.assert_allclose(e, outs[0], atol=1e-5)
    np.testing.assert_allclose(lp, outs[1], atol=1e-5)
    np.testing.assert_allclose(e.sum(axis=1), 1.0, atol=1e-5)
    assert np.all((lp > 0) & (lp < 1))


def test_masking_invariance(model) -> None:
    """Padding length and garbage (NaN, huge values) in masked steps do not change the outputs."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 89))
    v = rng.normal(size=(3, 512))
    e0, l0 = model.predict([a, v])
    for pad_a, pad_v, junk in [(1, 0, 0.0), (20, 7, 1e30), (3, 3, np.nan), (0, 9, -np.inf)]:
        ap = np.concatenate([a, np.full((pad_a, 89), junk)])
        vp = np.concatenate([v, np.full((pad_v, 512), junk)])
        ma = np.arange(len(ap)) < 5
        mv = np.arange(len(vp)) < 3
        e, lp = model.predict([ap, vp], masks=[ma, mv])
        np.testing.assert_allclose(e, e0, atol=1e-6)
        np.testing.assert_allclose(lp, l0, atol=1e-6)
    # masked steps in the middle (frames without a face) count as absent too
    vi = np.insert(v, 1, rng.normal(size=(2, 512)) * 100, axis=0)
    mv = np.array([True, False, False, True, True])
    e, lp = model.predict([a, vi], masks=[None, mv])
    np.testing.assert_allclose(e, e0, atol=1e-6)


def test_batch_padding_matches_single_sequences(model) -> None:
    rng = np.random.default_rng(2)
    seqs = [(rng.normal(size=(ta, 89)), rng.normal(size=(tv, 512))) for ta, tv in [(3, 1), (9, 4), (1, 6)]]
    ta, tv = 9, 6
    A = np.full((3, ta, 89), 7.0)
    V = np.full((3, tv, 512), -7.0)
    for i, (a, v) in enumerate(seqs):
        A[i, : len(a)] = a
        V[i, : len(v)] = v
    e, lp = model.predict([A, V], lengths=[[3, 9, 1], np.array([1, 4, 6])])
    em, lm = model.predict([A, V], masks=[np.arange(ta) < np.array([[3], [9], [1]]),
                                          np.arange(tv) < np.array([[1], [4], [6]])])
    np.testing.assert_array_equal(e, em)
    for i, (a, v) in enumerate(seqs):
        es, ls = model.predict([a, v])
        assert es.shape == (6,) and ls.shape == (1,)
        np.testing.assert_allclose(e[i], es, atol=1e-6)
        np.testing.assert_allclose(lp[i], ls, atol=1e-6)


def test_missing_modality_is_masked_and_finite(model) -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 4, 89))
    e_none, l_none = model.predict([a, None])
    e_empty, l_empty = model.predict([a, np.zeros((2, 0, 512))])
    e_masked, l_masked = model.predict([a, rng.normal(size=(2, 3, 512))], masks=[None, np.zeros((2, 3), bool)])
    e_len0, _ = model.predict([a, rng.normal(size=(2, 3, 512))], lengths=[None, [0, 0]])
    for e in (e_empty, e_masked, e_len0):
        np.testing.assert_allclose(e, e_none, atol=1e-6)
    assert np.all(np.isfinite(e_none)) and np.all(np.isfinite(l_none))
    e_v, _ = model.predict([None, rng.normal(size=(5, 512))])
    assert e_v.shape == (6,) and np.all(np.isfinite(e_v))


def test_input_errors_name_the_argument(model) -> None:
    a, v = np.zeros((4, 89)), np.zeros((2, 512))
    with pytest.raises(ValueError, match=r"features\[0\] \(audio\): expected shape \(T, 89\) or \(B, T, 89\), got \(4, 88\)"):
        model.predict([np.zeros((4, 88)), v])
    with pytest.raises(TypeError, match=r"masks\[1\] \(video\): expected a bool array"):
        model.predict([a, v], masks=[None, np.ones(2)])
    with pytest.raises(ValueError, match=r"masks\[0\] \(audio\): expected shape \(4,\), got \(3,\)"):
        model.predict([a, v], masks=[np.ones(3, bool), None])
    with pytest.raises(ValueError, match="give one, not both"):
        model.predict([a, v], masks=[np.ones(4, bool), None], lengths=[4, None])
    with pytest.raises(ValueError, match=r"lengths\[0\] \(audio\): expected 1 int\(s\) in \[0, 4\], got 5"):
        model.predict([a, v], lengths=[5, None])
    with pytest.raises(ValueError, match="batch sizes differ: 2 vs 3"):
        model.predict([np.zeros((2, 4, 89)), np.zeros((3, 2, 512))])
    with pytest.raises(ValueError, match="same layout as features"):
        model.predict([a, np.zeros((1, 2, 512))])
    with pytest.raises(TypeError, match=r"features: expected \[audio_features, video_features\]"):
        model.predict(a)
    with pytest.raises(ValueError, match="both modalities are None"):
        model.predict([None, None])
    bad = a.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"features\[0\] \(audio\): expected finite values in real \(unmasked\) steps, got nan at step 2, column 5"):
        model.predict([bad, v])


@dataclass
class Window:
    audio: np.ndarray
    audio_mask: np.ndarray
    video: np.ndarray
    video_mask: np.ndarray
    t: float = 12.5


def test_predict_window(model) -> None:
    rng = np.random.default_rng(4)
    w = Window(rng.normal(size=(20, 89)), np.ones(20, bool), rng.normal(size=(10, 512)),
               np.array([True, False] * 5))
    p = model.predict_window(w)
    e, lp = model.predict([w.audio, w.video], masks=[w.audio_mask, w.video_mask])
    assert isinstance(p, Prediction)
    assert p.emotion == model.labels[int(np.argmax(e))] and p.time == 12.5
    np.testing.assert_array_equal(p.probabilities, e)
    assert p.laugh_prob == pytest.approx(float(lp[0]))
    assert p.laughing == (p.laugh_prob >= model.laughter_threshold)
    assert set(p.as_dict()["probabilities"]) == set(model.labels)
    with pytest.raises(TypeError, match=r"lacks \['video', 'video_mask'\]"):
        model.predict_window(type("W", (), {"audio": w.audio, "audio_mask": w.audio_mask})())


def test_labels_and_threshold_come_from_bundle_json(bundle_copy: Path) -> None:
    from avemotion.bundle import BUNDLE_JSON

    meta = json.loads((bundle_copy / BUNDLE_JSON).read_text())
    meta["labels"] = ["a", "b", "c", "d", "e", "f"]
    meta["laughter_threshold"] = 0.0
    (bundle_copy / BUNDLE_JSON).write_text(json.dumps(meta))
    m = load_model(bundle_copy)
    rng = np.random.default_rng(5)
    p = m.predict_window(Window(rng.normal(size=(4, 89)), np.ones(4, bool), rng.normal(size=(2, 512)), np.ones(2, bool)))
    assert p.emotion in "abcdef" and p.laughing is True


def test_load_model_default_dir_from_env(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVEMOTION_MODEL_DIR", str(bundle_dir))
    m = avemotion.load_model()
    assert m.bundle.path == bundle_dir


def test_renamed_inputs_mapped_through_bundle_json(renamed_bundle_dir: Path, bundle_dir: Path) -> None:
    """A model whose input names differ from the contract's works when bundle.json maps them."""
    m_ren = load_model(renamed_bundle_dir)
    m_std = load_model(bundle_dir)
    assert m_ren.bundle.inputs["audio"] == "x_audio"
    rng = np.random.default_rng(6)
    feats = [rng.normal(size=(2, 5, 89)), rng.normal(size=(2, 3, 512))]
    np.testing.assert_allclose(m_ren.predict(feats)[0], m_std.predict(feats)[0], atol=1e-6)


def test_predict_windows_batches_like_single_windows(model) -> None:
    rng = np.random.default_rng(7)
    ws = [Window(rng.normal(size=(ta, 89)), rng.random(ta) > 0.2, rng.normal(size=(tv, 512)), rng.random(tv) > 0.5,
                 t=float(i)) for i, (ta, tv) in enumerate([(20, 10), (3, 0), (11, 4), (1, 7), (0, 2)])]
    batched = model.predict_windows(ws, batch_size=3)
    assert [p.time for p in batched] == [0.0, 1.0, 2.0, 3.0, 4.0]
    for w, p in zip(ws, batched, strict=True):
        single = model.predict_window(w)
        np.testing.assert_allclose(p.probabilities, single.probabilities, atol=1e-6)
        assert p.laugh_prob == pytest.approx(single.laugh_prob, abs=1e-6) and p.emotion == single.emotion
    assert model.predict_windows([]) == []
    with pytest.raises(ValueError, match=r"windows\[1\].video: expected shape \(T, 512\), got \(2, 511\)"):
        model.predict_windows([ws[0], Window(ws[0].audio, ws[0].audio_mask, np.zeros((2, 511)), np.ones(2, bool))])


# ---- issue 16.10: extreme inputs and long inputs ---------------------------------------------------

REAL_BUNDLE = Path(__file__).resolve().parents[2] / "models" / "dynamic_padding_no_leakage"


class _Recording:
    """A session that forwards to a real one and records each call's batch size (or returns NaN)."""

    def __init__(self, inner, nan: bool = False) -> None:  # type: ignore[no-untyped-def]
        self._inner, self._nan = inner, nan
        self.backend, self.provider = inner.backend, inner.provider
        self.inputs, self.outputs = inner.inputs, inner.outputs
        self.batches: list[int] = []

    def run(self, arrays):  # type: ignore[no-untyped-def]
        self.batches.append(int(arrays[0].shape[0]))
        outs = self._inner.run(arrays)
        if self._nan:
            outs[0][-1, 0] = np.nan
        return outs


@pytest.mark.skipif(not (REAL_BUNDLE / "bundle.json").is_file(), reason="default bundle not in this checkout")
def test_huge_finite_inputs_are_refused_not_nan() -> None:
    m = load_model(REAL_BUNDLE)
    a, v = np.full((20, 89), 1e20), np.full((10, 512), 1e20)
    with pytest.raises(ValueError, match=r"NaN/Inf probabilities for sample\(s\) \[0\].*finite but too large"):
        m.predict([a, v])
    e, lp = m.predict([a[:, :] * 0 + 1.0, v * 0])  # ordinary values still work
    assert np.isfinite(e).all() and np.isfinite(lp).all()


def test_nonfinite_model_output_raises_naming_the_sample(model) -> None:
    m = avemotion.inference.Predictor(model.bundle, _Recording(model._session, nan=True))
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match=r"sample\(s\) \[2\]"):
        m.predict([rng.normal(size=(3, 4, 89)), rng.normal(size=(3, 2, 512))])


def test_long_inputs_are_capped_and_batches_chunked(model) -> None:
    with pytest.raises(ValueError, match=r"features\[1\] \(video\): 4097 steps, expected at most max_steps=4096"):
        model.predict([np.zeros((3, 89)), np.zeros((4097, 512))])
    rec = _Recording(model._session)
    small = avemotion.inference.Predictor(model.bundle, rec, max_steps=100)
    rng = np.random.default_rng(6)
    a, v = rng.normal(size=(10, 50, 89)), rng.normal(size=(10, 20, 512))
    e, lp = small.predict([a, v], lengths=[np.arange(10) + 40, np.full(10, 20)])
    assert rec.batches == [4, 4, 2]  # 100**2 // 50**2 = 4 samples per call
    e0, l0 = model.predict([a, v], lengths=[np.arange(10) + 40, np.full(10, 20)])
    np.testing.assert_allclose(e, e0, atol=1e-6)
    np.testing.assert_allclose(lp, l0, atol=1e-6)
    with pytest.raises(ValueError, match="max_steps"):
        avemotion.inference.Predictor(model.bundle, rec, max_steps=0)
