"""analyze_file / analyze_stream with a fake model and a fake face stage: coverage of media that decode
only in part, and typed failures of streams."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from avemotion._contract import SAMPLE_RATE
from avemotion.features.media import MediaError
from avemotion.pipeline import PipelineSettings, SourceOpenError, analyze_file, analyze_stream

from .fakes import FakeEmbedder, FakePredictor, tone

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "samples" / "demo_clip.mp4"
# real eGeMAPS audio steps (89-d), the fake embedder's 3-d video steps
SETTINGS = PipelineSettings(video_dim=3, video_fps=1.0)


@pytest.fixture(scope="module")
def truncated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo clip cut after 60 kB: its header says 12 s, its data holds ~3.5 s."""
    out = tmp_path_factory.mktemp("media") / "truncated.mp4"
    out.write_bytes(DEMO.read_bytes()[:60000])
    return out


def _wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((tone(seconds) * 32767).astype("<i2").tobytes())
    return path


def test_truncated_mp4_is_analysed_in_part_and_says_so(truncated: Path) -> None:
    pytest.importorskip("opensmile")
    res = analyze_file(truncated, FakePredictor(SETTINGS), mode="audio", settings=SETTINGS)
    cov = res.coverage
    assert res.results and not cov.complete
    assert cov.declared_s == pytest.approx(12.03, abs=0.01) and cov.audio_s is not None and cov.audio_s < 5.0
    assert any("audio decoding stopped early" in w for w in cov.warnings)
    assert cov.to_dict()["complete"] is False


def test_truncated_mp4_video_ends_early_without_a_decoder_warning(truncated: Path) -> None:
    pytest.importorskip("av")
    res = analyze_file(truncated, FakePredictor(SETTINGS), mode="video", video_extractor=FakeEmbedder(),
                       settings=SETTINGS)
    assert res.results and not res.coverage.complete
    assert res.coverage.video_s is not None and res.coverage.video_s < 5.0 and res.coverage.audio_s is None


def test_a_whole_file_is_complete(tmp_path: Path) -> None:
    pytest.importorskip("opensmile")
    res = analyze_file(_wav(tmp_path / "a.wav", 3.0), FakePredictor(SETTINGS), mode="audio", settings=SETTINGS)
    assert res.coverage.complete and res.coverage.warnings == []
    assert res.coverage.audio_s == pytest.approx(3.0) and res.coverage.declared_s == pytest.approx(3.0)
    assert [r.end for r in res.results] == pytest.approx(np.arange(1.0, 3.01, 0.5))


def test_stream_that_cannot_be_opened_raises_source_open_error(tmp_path: Path) -> None:
    pytest.importorskip("av")
    with pytest.raises(SourceOpenError, match="cannot open"):
        analyze_stream(str(tmp_path / "missing.ts"), FakePredictor(SETTINGS), mode="audio", settings=SETTINGS)


def test_stream_without_a_needed_stream_raises_media_error(tmp_path: Path) -> None:
    pytest.importorskip("av")
    with pytest.raises(MediaError, match="no video stream") as ei:
        analyze_stream(str(_wav(tmp_path / "a.wav", 1.0)), FakePredictor(SETTINGS), mode="av",
                       video_extractor=FakeEmbedder(), settings=SETTINGS)
    assert ei.value.kind == "no_video"
