"""Capture sources: frame sampling, the audio clock, and StreamSource on local files (PyAV, no
network) with its typed failures."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from avemotion._contract import SAMPLE_RATE
from avemotion.features.media import MediaError
from avemotion.pipeline import LiveConfig, LiveEngine, SourceOpenError, StreamSource, stream_options
from avemotion.pipeline.live.sources import AudioFeed, FrameSampler

from ..fakes import SETTINGS, FakeAudioStepper, FakeEmbedder, FakePredictor, tone


def test_frame_sampler_keeps_the_frame_at_each_sampling_instant() -> None:
    s = FrameSampler(5.0)
    kept = [k for k in range(50) if s.take(k / 25.0)]  # 25 fps sampled at 5 fps: every 5th frame
    assert kept == list(range(0, 50, 5))
    s = FrameSampler(1.0)
    assert [t for t in (0.0, 0.3, 2.5, 2.9, 3.0, 3.2) if s.take(t)] == [0.0, 2.5, 3.0]  # a jump skips instants
    with pytest.raises(ValueError, match="fps"):
        FrameSampler(0)


class _Recorder:
    def __init__(self) -> None:
        self.chunks: list[tuple[float, np.ndarray]] = []

    def on_audio(self, t0: float, x: np.ndarray, wall: float) -> None:
        self.chunks.append((t0, x))


class _Frame:
    def __init__(self, n: int) -> None:
        self.n = n


class _Resampler:  # one output frame of n samples per input frame
    def resample(self, frame: _Frame) -> list:
        return [type("Out", (), {"to_ndarray": lambda self, n=frame.n: np.ones((1, n), np.float32)})()]


def test_audio_feed_keeps_the_media_clock_across_holes() -> None:
    rec = _Recorder()
    feed = AudioFeed(rec, _Resampler())  # type: ignore[arg-type]
    feed.feed(_Frame(1600), 0.5, 0.0)  # the first frame sets the start of the audio clock
    feed.feed(_Frame(1600), 0.6, 0.0)
    feed.feed(_Frame(1600), 1.0, 0.0)  # 0.3 s missing: filled with silence
    feed.feed(_Frame(1600), 1.15, 0.0)  # 0.05 s early/late jitter: not a hole
    t0s = [t for t, _ in rec.chunks]
    sizes = [x.size for _, x in rec.chunks]
    assert t0s == pytest.approx([0.5, 0.6, 0.7, 1.0, 1.1])
    assert sizes == [1600, 1600, 4800, 1600, 1600]
    assert not rec.chunks[2][1].any()  # the hole is silence
    assert feed.emitted == sum(sizes)


def test_stream_options() -> None:
    assert stream_options("udp://127.0.0.1:5000") == {"fifo_size": "1000000", "overrun_nonfatal": "1"}
    assert stream_options("udp://127.0.0.1:5000?fifo_size=10") == {}
    assert stream_options("http://x/y.mp4") == {}


def _wav(path: Path, seconds: float) -> Path:
    x = (tone(seconds) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(x.tobytes())
    return path


def _run_source(url: str, mode: str) -> LiveEngine:
    pytest.importorskip("av")
    rows: list = []
    eng = LiveEngine(FakePredictor(), LiveConfig(mode=mode, blocking=True, max_latency_s=30.0),
                     video_extractor=FakeEmbedder() if mode != "audio" else None, settings=SETTINGS,
                     audio_stepper=FakeAudioStepper, on_result=lambda r, i: rows.append(r))
    src = StreamSource(url, eng, fps=SETTINGS.video_fps, open_timeout_s=10.0, read_timeout_s=10.0)
    eng.start()
    src.start()
    src.thread.join(120)
    assert not src.thread.is_alive()
    assert eng.wait(timeout=120) is not None
    eng.rows = rows  # type: ignore[attr-defined]
    return eng


def test_stream_source_decodes_a_file_on_the_audio_clock(tmp_path: Path) -> None:
    eng = _run_source(str(_wav(tmp_path / "a.wav", 3.0)), "audio")
    rep = eng.report()
    assert rep.end_reason == "end of stream" and rep.error is None
    assert rep.audio_seconds_captured == pytest.approx(3.0)
    ends = [r.end for r in eng.rows]  # type: ignore[attr-defined]
    assert ends == pytest.approx(np.arange(1.0, 3.01, 0.5))


def test_stream_source_without_a_needed_stream_is_a_media_error(tmp_path: Path) -> None:
    eng = _run_source(str(_wav(tmp_path / "a.wav", 1.0)), "av")
    assert isinstance(eng.failure, MediaError) and eng.failure.kind == "no_video"
    assert "no video stream" in str(eng.failure) and "--mode audio" in str(eng.failure)
    assert eng.report().end_reason == "error" and eng.report().windows_emitted == 0


@pytest.mark.parametrize("content", [None, b"this is not media\n" * 100])
def test_stream_source_that_cannot_be_opened_is_a_source_open_error(tmp_path: Path, content: bytes | None) -> None:
    f = tmp_path / "x.mp4"
    if content is not None:
        f.write_bytes(content)
    eng = _run_source(str(f), "audio")
    assert isinstance(eng.failure, SourceOpenError) and eng.failure.source == str(f)
    assert str(eng.failure).startswith(f"cannot open {f}")
    assert isinstance(eng.failure, RuntimeError)  # callers that only know RuntimeError still see a failure


def test_an_unexpected_capture_failure_ends_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from avemotion.pipeline import SourceReadError

    def broken(self, container):
        raise KeyError("demuxer bug")

    monkeypatch.setattr(StreamSource, "_read", broken)
    eng = _run_source(str(_wav(tmp_path / "a.wav", 1.0)), "audio")  # returns: the engine did not wait forever
    assert isinstance(eng.failure, SourceReadError) and "KeyError" in str(eng.failure)
    assert eng.report().end_reason == "error"
