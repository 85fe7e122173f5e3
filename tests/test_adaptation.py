"""Online speaker adaptation (avemotion.adaptation): the blend is the pooled statistics of the prior's
pseudo-samples and the stream's speech steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avemotion.adaptation import F0_COLUMN, RMS_COLUMN, OnlineNormalizer, blend_stats, speech_mask


def _speech(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    x = rng.normal(shift, 1.0 + 0.1 * shift, (n, 89))
    x[:, RMS_COLUMN] = rng.uniform(-40, -10, n)  # loud enough
    x[:, F0_COLUMN] = rng.uniform(20, 40, n)  # voiced
    return x.astype(np.float32)


def test_blend_is_the_pooled_mean_and_std_of_prior_and_stream() -> None:
    rng = np.random.default_rng(0)
    prior_data = _speech(rng, 300)
    stream = _speech(rng, 120, shift=2.0)
    norm = OnlineNormalizer(prior_data.mean(0), prior_data.std(0), prior_weight=300)
    assert norm.update(stream[:50]) == 50 and norm.update(stream[50:]) == 70
    pooled = np.concatenate([prior_data, stream]).astype(np.float64)
    np.testing.assert_allclose(norm.mean, pooled.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.std, pooled.std(0), rtol=1e-5, atol=1e-5)
    assert norm.count == 120 and norm.weight == pytest.approx(120 / 420)
    y = norm.normalize(stream)
    np.testing.assert_allclose(y, (stream - norm.mean) / norm.std, rtol=1e-5, atol=1e-5)


def test_starts_at_the_prior_and_limits() -> None:
    rng = np.random.default_rng(1)
    mean, std = rng.normal(size=89), rng.uniform(0.5, 2, 89)
    stream = _speech(rng, 40, shift=3.0)
    norm = OnlineNormalizer(mean, std)
    np.testing.assert_allclose(norm.mean, mean, rtol=1e-6)
    assert norm.weight == 0.0
    never = OnlineNormalizer(mean, std, prior_weight=math.inf)
    never.update(stream)
    np.testing.assert_allclose(never.std, std, rtol=1e-6)
    own = OnlineNormalizer(mean, std, prior_weight=0)
    own.update(stream)
    np.testing.assert_allclose(own.mean, stream.astype(np.float64).mean(0), rtol=1e-5, atol=1e-5)
    own.reset()
    assert own.count == 0
    np.testing.assert_allclose(own.mean, mean, rtol=1e-6)


def test_only_real_speech_steps_count() -> None:
    rng = np.random.default_rng(2)
    x = _speech(rng, 6)
    x[0, RMS_COLUMN] = -120.0  # digital silence
    x[1, F0_COLUMN] = 0.0  # unvoiced
    x[2] = np.nan  # masked out below: garbage allowed
    norm = OnlineNormalizer(np.zeros(89), np.ones(89), prior_weight=0)
    mask = np.array([True, True, False, True, True, True])
    assert norm.update(x, mask) == 3
    np.testing.assert_allclose(norm.mean, x[3:].astype(np.float64).mean(0), rtol=1e-5, atol=1e-5)
    everything = OnlineNormalizer(np.zeros(89), np.ones(89), prior_weight=0, min_dbfs=None)
    assert everything.update(x, mask) == 5


def test_speech_mask_rule() -> None:
    x = np.zeros((4, 89), np.float32)
    x[:, RMS_COLUMN] = [-60, -30, -30, -49.9]
    x[:, F0_COLUMN] = [30, 30, 0, 25]
    assert speech_mask(x).tolist() == [False, True, False, True]
    assert speech_mask(x, voiced=False).tolist() == [False, True, True, True]
    with pytest.raises(ValueError, match=r"steps: expected shape \(N, 89\)"):
        speech_mask(np.zeros((3, 10)))


def test_blend_stats_edges_and_errors() -> None:
    m0, s0, m1, s1 = np.zeros(3), np.ones(3), np.full(3, 2.0), np.full(3, 3.0)
    m, s = blend_stats(m0, s0, m1, s1, 0.0)
    np.testing.assert_allclose(s, s0)
    m, s = blend_stats(m0, s0, m1, s1, 1.0)
    np.testing.assert_allclose(m, m1)
    m, s = blend_stats(m0, s0, m1, s1, 0.5)
    np.testing.assert_allclose(m, 1.0)
    np.testing.assert_allclose(s ** 2, 0.5 * 1 + 0.5 * 9 + 0.25 * 4, rtol=1e-6)
    with pytest.raises(ValueError, match="weight"):
        blend_stats(m0, s0, m1, s1, 1.5)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="prior_weight"):
        OnlineNormalizer(np.zeros(89), np.ones(89), prior_weight=-1)
    with pytest.raises(ValueError, match="mean/std"):
        OnlineNormalizer(np.zeros(89), np.ones(88))
    with pytest.raises(ValueError, match="min_dbfs"):
        OnlineNormalizer(np.zeros(512), np.ones(512))
    norm = OnlineNormalizer(np.zeros(89), np.ones(89))
    with pytest.raises(ValueError, match=r"steps: expected shape \(N, 89\)"):
        norm.update(np.zeros((2, 88)))
    with pytest.raises(ValueError, match=r"mask: expected shape \(2,\)"):
        norm.update(np.zeros((2, 89)), [True])


def test_from_bundle_uses_the_bundle_statistics() -> None:
    class FakeBundle:
        def stats(self, modality: str) -> tuple[np.ndarray, np.ndarray]:
            d = 89 if modality == "audio" else 512
            return np.full(d, 1.0, np.float32), np.full(d, 2.0, np.float32)

    a = OnlineNormalizer.from_bundle(FakeBundle(), prior_weight=50)
    assert a.dim == 89 and a.prior_weight == 50 and float(a.std[0]) == 2.0
    v = OnlineNormalizer.from_bundle(FakeBundle(), "video")
    assert v.dim == 512 and v.min_dbfs is None
