"""PipelineSettings from a bundle, the stage timer, the mode check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from avemotion._contract import AUDIO_DIM, EMOTION_LABELS, VIDEO_DIM, WINDOWS
from avemotion.pipeline import PipelineSettings, StageTimer, StageTimings, check_mode
from avemotion.pipeline.settings import uses_audio, uses_video


def _bundle(**features: float) -> SimpleNamespace:
    return SimpleNamespace(window_s=3.0, hop_s=0.25, laughter_threshold=0.7, labels=list(EMOTION_LABELS),
                           dims={"audio": 12}, features=features)


def test_settings_come_from_the_bundle_with_the_contract_defaults() -> None:
    s = PipelineSettings.from_bundle(_bundle(video_fps=2.0))
    assert (s.window_s, s.hop_s, s.laughter_threshold, s.video_fps) == (3.0, 0.25, 0.7, 2.0)
    assert (s.audio_window_s, s.audio_hop_s) == (WINDOWS.audio_window_s, WINDOWS.audio_hop_s)
    assert (s.audio_dim, s.video_dim) == (12, VIDEO_DIM) and s.labels == EMOTION_LABELS
    d = PipelineSettings()
    assert (d.window_s, d.hop_s, d.video_fps, d.audio_dim) == (WINDOWS.window_s, WINDOWS.hop_s, WINDOWS.video_fps,
                                                               AUDIO_DIM)


def test_stage_timer() -> None:
    timer = StageTimer()
    timer.add("model_s", 0.5)
    with timer("sync_s"):
        pass
    assert list(timer.iterate(iter([1, 2, 3]), "decode_s")) == [1, 2, 3]
    ex = SimpleNamespace(timings={"detect_s": 1.0, "embed_s": 2.0})
    mark = timer.extractor_mark(ex)
    ex.timings = {"detect_s": 1.25, "embed_s": 2.5}
    timer.extractor_delta(ex, mark)
    t = timer.timings
    assert isinstance(t, StageTimings)
    assert (t.model_s, t.face_detection_s, t.embedding_s) == (0.5, 0.25, 0.5)
    assert t.sync_s >= 0 and t.decode_s >= 0
    d = t.to_dict()
    assert set(d) == {"decode_s", "audio_features_s", "face_detection_s", "embedding_s", "sync_s", "model_s", "total_s"}
    assert d["total_s"] == pytest.approx(t.total_s, abs=1e-6)
    assert timer.extractor_mark(object()) == (0.0, 0.0)  # an extractor without counters


def test_modes() -> None:
    assert [check_mode(m) for m in ("av", "video", "audio")] == ["av", "video", "audio"]
    assert [uses_audio(m) for m in ("av", "video", "audio")] == [True, False, True]
    assert [uses_video(m) for m in ("av", "video", "audio")] == [True, True, False]
    with pytest.raises(ValueError, match="mode: expected one of av, video, audio, got 'both'"):
        check_mode("both")


def test_audio_mode_is_the_one_the_bundle_was_trained_on() -> None:
    from avemotion.bundle import BundleError

    assert PipelineSettings.from_bundle(_bundle(audio_mode="sliding")).audio_mode == "sliding"
    assert PipelineSettings.from_bundle(_bundle(audio_mode="window")).audio_mode == "window"
    assert PipelineSettings.from_bundle(_bundle()).audio_mode == "window"  # made before the key existed
    with pytest.raises(BundleError, match="audio_mode"):
        PipelineSettings.from_bundle(_bundle(audio_mode="continuous"))
    assert PipelineSettings().audio_mode == "sliding"


def test_the_pipeline_extracts_audio_in_the_bundles_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from avemotion.pipeline import stages

    seen: dict[str, object] = {}

    class Recorder:
        def __init__(self, window_s: float, hop_s: float, *, t0: float, mode: str) -> None:
            seen.update(window_s=window_s, hop_s=hop_s, t0=t0, mode=mode)

    import avemotion.features.audio as audio

    monkeypatch.setattr(audio, "AudioStreamExtractor", Recorder)
    stages.default_audio_stepper(PipelineSettings.from_bundle(_bundle(audio_mode="window")), 1.5)
    assert seen == {"window_s": WINDOWS.audio_window_s, "hop_s": WINDOWS.audio_hop_s, "t0": 1.5, "mode": "window"}
