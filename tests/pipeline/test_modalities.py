"""Issue 14, modalities: a bundle trained on audio only (``bundle.json`` ``training.modalities``) is fed
no video in ``av`` mode. Faces are still detected and embedded (face presence reported in the rows), the
model's video input is its "no face" input (zeros, mask 0), and the notice is logged once per run."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from avemotion._contract import VIDEO_DIM
from avemotion.pipeline import (
    LiveConfig,
    LiveEngine,
    PipelineSettings,
    WindowPredictor,
    analyze_file,
)
from avemotion.pipeline.settings import fed_modalities, modality_notice

from .fakes import (
    SETTINGS,
    ArraySource,
    FakeAudioStepper,
    FakeEmbedder,
    FakePredictor,
    frames,
    tone,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = ROOT / "models" / "dynamic_padding_no_leakage"
DEMO = ROOT / "samples" / "demo_clip.mp4"
NOTICE = "the model was trained on audio only"


def _with_modalities(src: Path, dst: Path, modalities: list[str]) -> Path:
    """A copy of the bundle at ``src`` whose bundle.json says it was trained on ``modalities`` (as
    ``avemotion train`` records it: ``training.modalities``; the older ``features`` record dropped)."""
    shutil.copytree(src, dst)
    bj = dst / "bundle.json"
    meta = json.loads(bj.read_text())
    meta.setdefault("training", {})["modalities"] = modalities
    meta.get("features", {}).pop("trained_modalities", None)
    bj.write_text(json.dumps(meta, indent=2) + "\n")
    return dst


class RandomFaces:
    """A video extractor that finds a face in every frame and embeds it as seeded noise: two seeds are
    two very different video inputs for the same media."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.timings = {"detect_s": 0.0, "embed_s": 0.0}
        self.frames = 0

    def extract(self, pairs: Any) -> Any:
        ts = np.array([t for t, _ in pairs], np.float64)
        self.frames += ts.size
        steps = self.rng.normal(0, 3, (ts.size, VIDEO_DIM)).astype(np.float32)
        return SimpleNamespace(times=ts, steps=steps, mask=np.ones(ts.size, bool))


def _probs(res: Any) -> np.ndarray:
    return np.array([[*r.probabilities.values(), r.laugh_prob] for r in res.results])


def _notices(caplog: pytest.LogCaptureFixture) -> int:
    return sum(NOTICE in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("onnxruntime")
    from avemotion.testing import make_test_bundle

    tmp = tmp_path_factory.mktemp("bundles")
    tiny = make_test_bundle(tmp / "tiny_av", settings={"features": {"video_fps": 1.0}})
    return {"default_audio": _with_modalities(DEFAULT_BUNDLE, tmp / "default_audio", ["audio"]),
            "tiny_av": tiny, "tiny_audio": _with_modalities(tiny, tmp / "tiny_audio", ["audio"])}


@pytest.mark.parametrize("name", ["default_audio", "tiny_audio"])
def test_audio_only_bundle_ignores_the_video_in_av_mode(name: str, bundles: dict[str, Path],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("opensmile")
    from avemotion import load_model

    pred = load_model(bundles[name])
    assert PipelineSettings.from_bundle(pred.bundle).trained_modalities == ("audio",)
    caplog.set_level(logging.INFO, logger="avemotion.pipeline")
    faces = [RandomFaces(0), RandomFaces(1)]
    runs = [analyze_file(DEMO, pred, mode="av", video_extractor=f) for f in faces]
    assert _notices(caplog) == 2  # once per run, not once per window batch
    audio = analyze_file(DEMO, pred, mode="audio")
    assert _notices(caplog) == 2  # audio mode feeds everything it extracts: nothing to say
    assert all(f.frames > 0 for f in faces)  # the face stage ran
    assert runs[0].n_video_steps > 0
    np.testing.assert_array_equal(_probs(runs[0]), _probs(runs[1]))
    # av mode has a window more at the start (frames before the first audio step): compare by window
    by_end = {r.end: i for i, r in enumerate(runs[0].results)}
    assert all(r.end in by_end for r in audio.results)
    np.testing.assert_array_equal(_probs(runs[0])[[by_end[r.end] for r in audio.results]], _probs(audio))
    assert all(r.face_present_share == 1.0 and not r.video_missing for r in runs[0].results)  # reported
    assert all(r.face_present_share == 0.0 and r.video_missing for r in audio.results)


def test_a_bundle_trained_on_both_is_fed_the_video(bundles: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """The same check on the bundle before its copy was edited: the video does change the prediction
    (so the test above would catch video that still reached the model)."""
    pytest.importorskip("opensmile")
    from avemotion import load_model

    pred = load_model(bundles["tiny_av"])
    caplog.set_level(logging.INFO, logger="avemotion.pipeline")
    a, b = (analyze_file(DEMO, pred, mode="av", video_extractor=RandomFaces(s)) for s in (0, 1))
    assert not np.allclose(_probs(a), _probs(b))
    assert _notices(caplog) == 0


def test_video_mode_with_an_audio_only_bundle_fails_before_any_work(bundles: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    from avemotion import load_model

    pred = load_model(bundles["tiny_audio"])
    with pytest.raises(ValueError, match=r"trained on audio only.*training.modalities.*--mode audio"):
        analyze_file(tmp_path / "not_there.mp4", pred, mode="video", video_extractor=RandomFaces(0))


def test_fed_modalities_and_notice() -> None:
    assert fed_modalities("av") == ("audio", "video")
    assert fed_modalities("av", ("audio",)) == ("audio",)
    assert fed_modalities("audio", ("audio",)) == ("audio",)
    assert fed_modalities("av", ("video",)) == ("video",)
    with pytest.raises(ValueError, match="mode 'audio'"):
        fed_modalities("audio", ("video",))
    assert modality_notice("av") is None and modality_notice("audio", ("audio",)) is None
    note = modality_notice("av", ("audio",))
    assert note is not None and note.startswith(NOTICE) and "face presence is reported" in note


def test_window_predictor_feeds_zeros_and_mask_zero_for_an_untrained_modality() -> None:
    seen: list[tuple[np.ndarray, ...]] = []

    class Spy(FakePredictor):
        def predict(self, inputs, masks):  # type: ignore[no-untyped-def]
            seen.append((*inputs, *masks))
            return super().predict(inputs, masks)

    s = replace(SETTINGS, trained_modalities=("audio",))
    n, ta, tv = 2, 5, 3
    batch = SimpleNamespace(start=np.zeros(n), end=np.full(n, 2.0), audio=np.ones((n, ta, 4), np.float32),
                            video=np.ones((n, tv, 3), np.float32), audio_mask=np.ones((n, ta), bool),
                            video_mask=np.ones((n, tv), bool), n_audio=np.full(n, ta), n_video=np.full(n, tv),
                            face_missing_share=np.zeros(n))
    rows = WindowPredictor(Spy(s), s, "av")(batch)
    a, v, am, vm = seen[0]
    assert a.any() and am.all() and not v.any() and not vm.any()
    assert all(r.face_present_share == 1.0 and not r.video_missing for r in rows)


def test_live_engine_feeds_an_audio_only_model_no_video(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="avemotion.pipeline")
    rows: dict[tuple[str, ...], list] = {}
    for trained in (("audio",), ("audio", "video")):
        s = replace(SETTINGS, trained_modalities=trained)
        out: list = []
        eng = LiveEngine(FakePredictor(s), LiveConfig(mode="av", blocking=True, max_latency_s=30.0),
                         video_extractor=FakeEmbedder(), settings=s, audio_stepper=FakeAudioStepper,
                         on_result=lambda r, info, out=out: out.append(r))
        eng.start()
        ArraySource(eng, tone(4.0), frames(4.0, s.video_fps)).run()
        assert eng.wait(timeout=120) is not None
        rows[trained] = out
    assert _notices(caplog) == 1
    audio_only, both = rows[("audio",)], rows[("audio", "video")]
    assert [r.end for r in audio_only] == [r.end for r in both] and audio_only
    assert [r.face_present_share for r in audio_only] == [r.face_present_share for r in both]
    # FakePredictor's logits 1 and 3 are the masked video mean and the video step count: both 0 (so the
    # two probabilities equal the untouched labels 4 and 5) only when the model gets no video
    lab = SETTINGS.labels
    assert all(r.probabilities[lab[1]] == r.probabilities[lab[3]] == r.probabilities[lab[5]] for r in audio_only)
    assert not any(r.probabilities[lab[3]] == r.probabilities[lab[5]] for r in both if r.start > 0.5)


def test_trained_modalities_record(bundles: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from avemotion import bundle as B

    def with_meta(name: str, training: Any, features: Any) -> Any:
        d = tmp_path / name
        shutil.copytree(bundles["tiny_av"], d)
        meta = json.loads((d / "bundle.json").read_text())
        for sect, rec in (("training", training), ("features", features)):
            meta.setdefault(sect, {}).pop("modalities" if sect == "training" else B.TRAINED_MODALITIES_KEY, None)
            if rec is not None:
                meta[sect]["modalities" if sect == "training" else B.TRAINED_MODALITIES_KEY] = rec
        (d / "bundle.json").write_text(json.dumps(meta))
        return B.read_bundle(d)

    assert B.trained_modalities(with_meta("none", None, None)) == ("audio", "video")  # older bundles: both
    assert B.trained_modalities(with_meta("feat", None, ["audio"])) == ("audio",)
    assert B.trained_modalities(with_meta("order", ["video", "audio"], None)) == ("audio", "video")
    with caplog.at_level(logging.WARNING, logger="avemotion.bundle"):
        assert B.trained_modalities(with_meta("both", ["audio"], ["audio", "video"])) == ("audio",)
    assert "disagree" in caplog.text and "using training.modalities" in caplog.text
    for i, bad in enumerate(([], "audio", ["audio", "faces"], [1])):
        with pytest.raises(B.BundleError, match=r"training.modalities: expected a non-empty list"):
            B.trained_modalities(with_meta(f"bad{i}", bad, None))
