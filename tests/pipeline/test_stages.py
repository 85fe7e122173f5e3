"""The shared stages: WindowPredictor (masks per mode, rows), synchronizer stats as plain dicts,
the end of the window grid."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from avemotion.pipeline import WindowPredictor, last_window_end, make_sync, sync_stats_dict

from .fakes import SETTINGS, FakeEmbedder, FakePredictor, frames


class _MaskRecorder(FakePredictor):
    def predict(self, inputs, masks):
        self.masks = [np.asarray(m).copy() for m in masks]
        return super().predict(inputs, masks)


def _batch(mode: str):
    sync = make_sync(SETTINGS, max_latency_s=30.0, grid_start_s=0.0)
    ts = np.arange(1, 31) * 0.1
    sync.push_audio(ts, np.tile(ts[:, None], (1, 4)).astype(np.float32))
    fr = frames(3.0, 5.0, black_from=2.0)
    steps, face, _ = FakeEmbedder().process([f for _, f in fr])
    sync.push_video(np.array([t for t, _ in fr]), steps, face)
    sync.flush(3.0)
    return sync.pop_batch()


@pytest.mark.parametrize("mode", ["av", "audio", "video"])
def test_window_predictor_masks_the_unused_modality(mode: str) -> None:
    pred = _MaskRecorder()
    rows = WindowPredictor(pred, SETTINGS, mode)(_batch(mode))
    a_mask, v_mask = pred.masks
    assert a_mask.any() == (mode != "video") and v_mask.any() == (mode != "audio")
    assert [r.end for r in rows] == pytest.approx(np.arange(0.5, 3.01, 0.5))
    for r in rows:
        assert r.emotion == max(r.probabilities, key=r.probabilities.get)
        assert r.laughing == (r.laugh_prob >= SETTINGS.laughter_threshold)
        assert r.audio_missing == (mode == "video")
        assert r.video_missing == (mode == "audio")
    if mode != "audio":
        # frames every 0.2 s, black (no face) from 2.0 on: (0, 0.5] all faces; (0, 2.0] 9 of 10; (1, 3] 4 of 9
        assert [rows[i].face_present_share for i in (0, 3, 5)] == pytest.approx([1.0, 0.9, 4 / 9])
    else:
        assert all(r.face_present_share == 0.0 for r in rows)


def test_window_predictor_skips_windows_ending_at_the_media_start() -> None:
    sync = make_sync(SETTINGS, max_latency_s=0.0)
    sync.push_video(np.array([0.0, 0.2]), np.ones((2, 3), np.float32), np.ones(2, bool))
    sync.flush(0.5)
    rows = WindowPredictor(FakePredictor(), SETTINGS, "video")(sync.pop_batch())
    assert [(r.start, r.end) for r in rows] == [(0.0, 0.5)]  # (-2, 0] skipped; start clamped to 0
    assert WindowPredictor(FakePredictor(), SETTINGS)(sync.pop_batch()) == []  # an empty batch


def test_sync_stats_dict_handles_every_stats_shape() -> None:
    from dataclasses import dataclass

    @dataclass
    class Inner:
        accepted: int = 3

    @dataclass
    class Stats:
        audio: Inner
        lag_s: float = math.nan
        drift: float = 1.5

    class Bound:  # a C++ class bound with def_readwrite fields
        emitted = 4
        watermark = -math.inf
        audio = SimpleNamespace(accepted=np.int32(7))

        def reset(self) -> None: ...

    expect = {"audio": {"accepted": 3}, "lag_s": None, "drift": 1.5}
    assert sync_stats_dict(Stats(Inner())) == expect
    assert sync_stats_dict(SimpleNamespace(audio=SimpleNamespace(accepted=3), lag_s=math.nan, drift=1.5)) == expect
    assert sync_stats_dict(Bound()) == {"audio": {"accepted": 7}, "emitted": 4, "watermark": None}
    real = sync_stats_dict(make_sync(SETTINGS, max_latency_s=1.0).stats())
    assert real["audio"]["accepted"] == 0 and real["lag_audio_s"] is None


def test_last_window_end() -> None:
    assert last_window_end(3.9, 0.5) == 4.0
    assert last_window_end(4.0, 0.5) == 4.0
    assert last_window_end(4.0 + 1e-12, 0.5) == 4.0  # within 1e-9 hop of a window end: on it
    assert last_window_end(4.01, 0.5) == 4.5


class _InputRecorder(FakePredictor):
    """Records the audio each call gets; carries a bundle's audio statistics (the adaptation prior)."""

    def __init__(self, settings, mean: np.ndarray, std: np.ndarray) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.bundle = SimpleNamespace(stats=lambda m: (mean, std))
        self.audio: list[np.ndarray] = []
        self.a_masks: list[np.ndarray] = []

    def predict(self, inputs, masks):  # type: ignore[no-untyped-def]
        self.audio.extend(np.asarray(inputs[0]).copy())
        self.a_masks.extend(np.asarray(masks[0]).copy())
        return super().predict(inputs, masks)


def test_online_adaptation_normalizes_each_window_with_the_stream_so_far() -> None:
    """Per stream, the statistics start from the bundle's and take each audio step once, in time
    order (overlapping windows share steps); what the Predictor then normalizes with the bundle's
    statistics equals the OnlineNormalizer's normalization at that window. Off: the audio is untouched."""
    import dataclasses

    from avemotion.adaptation import OnlineNormalizer

    rng = np.random.default_rng(3)
    n, d = 60, 89
    ts = np.arange(1, n + 1) * 0.1
    steps = rng.normal(2.0, 3.0, (n, d)).astype(np.float32)
    steps[:, 0] = np.abs(steps[:, 0]) + 1.0  # voiced
    steps[:, -1] = np.where(np.arange(n) % 7 == 0, -80.0, -20.0)  # some silent steps: not speech
    mean0, std0 = np.zeros(d, np.float32), np.ones(d, np.float32)
    base = dataclasses.replace(SETTINGS, audio_dim=d)

    def run(settings):  # type: ignore[no-untyped-def]
        sync = make_sync(settings, max_latency_s=30.0, grid_start_s=0.0)
        sync.push_audio(ts, steps)
        sync.flush(6.0)
        pred = _InputRecorder(settings, mean0, std0)
        wp = WindowPredictor(pred, settings, "audio")
        while sync.pending:
            wp(sync.pop_batch(3))  # several calls: the stream's state carries over
        return pred, wp

    pred, wp = run(dataclasses.replace(base, adaptation_prior_weight=40.0))
    assert wp.adapter is not None and wp.adapter.count == int((steps[:, -1] > -50).sum())  # each step once
    ref = OnlineNormalizer(mean0, std0, prior_weight=40.0)
    seen = -math.inf
    sync = make_sync(base, max_latency_s=30.0, grid_start_s=0.0)
    sync.push_audio(ts, steps)
    sync.flush(6.0)
    b = sync.pop_batch()
    assert len(pred.audio) == len(b.start) > 4
    for i in range(len(b.start)):
        m = np.asarray(b.audio_mask[i], bool)
        new = m & (b.audio_times[i] > seen)
        if new.any():
            ref.update(b.audio[i], new)
            seen = float(b.audio_times[i][new].max())
        want = ref.normalize(np.asarray(b.audio[i], np.float32))[m]
        got = ((pred.audio[i] - mean0) / std0)[m]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert not np.allclose(pred.audio[-1][m], b.audio[-1][m])  # it did adapt

    off, wp_off = run(base)  # the default: no adaptation
    assert wp_off.adapter is None and not base.adapts
    np.testing.assert_array_equal(np.asarray(off.audio[-1]), np.asarray(b.audio[-1]))


def test_a_window_without_any_fed_input_has_no_laughter() -> None:
    """An audio-only bundle in av mode: the first window (0, 0.5] holds frames but no audio step
    (audio steps start at 1.0 s); the model's answer to no input (here sigmoid(0) = 0.5, at the
    threshold) is not laughter: laugh_prob 0, not laughing. Windows with audio keep the model's."""
    import dataclasses

    settings = dataclasses.replace(SETTINGS, trained_modalities=("audio",), laughter_threshold=0.5)
    sync = make_sync(settings, max_latency_s=30.0, grid_start_s=0.0)
    ts = np.arange(10, 31) * 0.1
    sync.push_audio(ts, np.full((len(ts), 4), 0.3, np.float32))
    fr = frames(3.0, 5.0)
    steps, face, _ = FakeEmbedder().process([f for _, f in fr])
    sync.push_video(np.array([t for t, _ in fr]), steps, face)
    sync.flush(3.0)
    rows = WindowPredictor(FakePredictor(settings), settings, "av")(sync.pop_batch())
    first = rows[0]
    assert (first.start, first.end) == (0.0, 0.5) and first.audio_missing and first.face_present_share == 1.0
    assert first.laugh_prob == 0.0 and not first.laughing
    with_audio = [r for r in rows if not r.audio_missing]
    assert with_audio and all(r.laugh_prob > 0.99 and r.laughing for r in with_audio)
