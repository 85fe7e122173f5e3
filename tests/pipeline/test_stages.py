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
