"""LiveEngine with fake stages and a source that pushes arrays from the test's thread: no openSMILE,
no torch, no UDP, no sleeps, and no assertion on the wall clock (the engine's clock is injected)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from avemotion._contract import SAMPLE_RATE
from avemotion.pipeline import (
    LiveConfig,
    LiveEngine,
    SourceOpenError,
    WindowPredictor,
    last_window_end,
    make_sync,
)
from avemotion.pipeline.postprocess import Enhancer

from ..fakes import (
    SETTINGS,
    ArraySource,
    FakeAudioStepper,
    FakeEmbedder,
    FakePredictor,
    frames,
    tone,
)

SECONDS = 6.0


class Run:
    """One engine run: rows and infos in emission order, the report."""

    def __init__(self, mode: str = "av", *, blocking: bool = True, embedder: FakeEmbedder | None = None,
                 clock=None, **cfg) -> None:
        self.rows: list = []
        self.infos: list[dict] = []
        self.embedder = embedder if embedder is not None else FakeEmbedder()
        self.predictor = FakePredictor()
        kw = {"clock": clock} if clock is not None else {}
        self.engine = LiveEngine(
            self.predictor, LiveConfig(mode=mode, blocking=blocking, max_latency_s=30.0, **cfg),
            video_extractor=self.embedder if mode != "audio" else None, settings=SETTINGS,
            audio_stepper=FakeAudioStepper, on_result=self.collect, **kw)

    def collect(self, r, info) -> None:
        self.rows.append(r)
        self.infos.append(info)

    def __call__(self, source_kw: dict, *, start_first: bool = True):
        src = ArraySource(self.engine, **source_kw)
        if start_first:
            self.engine.start()
            src.run()
        else:  # everything queued before the workers run: what is dropped does not depend on timing
            src.run()
            self.engine.start()
        self.report = self.engine.wait(timeout=120)
        assert self.report is not None, "the engine did not finish"
        return self


def _reference(mode: str, audio: np.ndarray | None, video: list | None) -> list:
    """The same steps pushed into one AVSync at once and flushed: what the engine must give."""
    grid = 0.0 if mode == "av" else None
    sync = make_sync(SETTINGS, max_latency_s=30.0 if mode == "av" else 0.0, grid_start_s=grid)
    last = -np.inf
    if audio is not None:
        st = FakeAudioStepper(SETTINGS, 0.0)
        ts, x = st.push(audio)
        sync.push_audio(ts, x)
        last = ts[-1]
    if video:
        steps, face, _ = FakeEmbedder().process([f for _, f in video])
        ts = np.array([t for t, _ in video])
        sync.push_video(ts, steps, face)
        last = max(last, ts[-1])
    sync.flush(last_window_end(last, SETTINGS.hop_s))
    return WindowPredictor(FakePredictor(), SETTINGS, mode)(sync.pop_batch())


def _media(mode: str) -> dict:
    return {"audio": tone(SECONDS) if mode != "video" else None,
            "video": frames(SECONDS, SETTINGS.video_fps, black_from=4.0) if mode != "audio" else None}


@pytest.mark.parametrize("mode", ["av", "audio", "video"])
def test_rows_equal_one_synchronizer_fed_at_once(mode: str) -> None:
    media = _media(mode)
    run = Run(mode)(media)
    stepper = FakeAudioStepper.instances[-1] if mode != "video" else None
    expect = _reference(mode, media["audio"], media["video"])
    assert [r.to_row() for r in run.rows] == [r.to_row() for r in expect]
    ends = [r.end for r in run.rows]
    assert np.allclose(np.diff(ends), SETTINGS.hop_s) and ends[-1] == pytest.approx(SECONDS)
    assert not any(i["forced"] for i in run.infos)
    rep = run.report
    assert rep.end_reason == "end of stream" and rep.error is None and run.engine.failure is None
    assert rep.windows_emitted == len(run.rows) and rep.windows_dropped == 0
    assert rep.video_frames_dropped == 0 and rep.audio_seconds_dropped == 0.0
    if mode == "audio":
        assert all(r.video_missing and r.face_present_share == 0.0 for r in run.rows)
        assert rep.video_frames_captured == 0
    else:
        assert rep.video_frames_captured == len(media["video"])
        assert all(r.face_present_share == 0.0 for r in run.rows if r.start >= 4.0)  # black frames: no face
        assert all(r.face_present_share == 1.0 for r in run.rows if r.end < 4.0)
    if mode == "video":
        assert all(r.audio_missing for r in run.rows) and rep.audio_seconds_captured == 0.0
    else:
        assert rep.audio_seconds_captured == pytest.approx(SECONDS)
        assert stepper is not None and stepper.closed
        assert not any(r.audio_missing for r in run.rows if r.end >= SETTINGS.audio_window_s)


def test_timings_come_from_the_stages() -> None:
    run = Run("av")(_media("av"))
    n = len(run.embedder.seen)
    t = run.report.timings
    assert t["face_detection_s"] == pytest.approx(0.001 * n) and t["embedding_s"] == pytest.approx(0.002 * n)
    assert max(run.embedder.batches) <= LiveConfig().batch_frames


def test_latency_is_capture_to_prediction_on_the_engine_clock() -> None:
    """Capture time of media time t is 90 + t; the engine's clock reads 100 when it predicts: the
    latency of the window ending at e is 100 - (90 + e) (the audio chunk ending at e, the frame at or
    after e: the earlier of the two)."""
    run = Run("av", clock=lambda: 100.0)({**_media("av"), "wall": lambda t: 90.0 + t})
    lat = [i["latency_s"] for i in run.infos]
    assert lat == pytest.approx([10.0 - r.end for r in run.rows])
    rep = run.report
    assert rep.latencies_measured == len(lat) and rep.latency_max_s == pytest.approx(max(lat))
    assert rep.latency_p50_s == pytest.approx(float(np.percentile(lat, 50)))
    assert rep.wall_s == 0.0  # the clock never moved


def test_queued_frames_beyond_the_queue_are_dropped_oldest_first() -> None:
    video = frames(2.0, SETTINGS.video_fps)  # 10 frames, all queued before the worker starts
    run = Run("video", blocking=False, frame_queue=3)({"audio": None, "video": video}, start_first=False)
    assert run.report.video_frames_captured == 10 and run.report.video_frames_dropped == 7
    assert run.embedder.seen == [float(f.mean()) for _, f in video[-3:]]


def test_audio_beyond_the_queue_is_dropped_and_counted() -> None:
    run = Run("audio", blocking=False, audio_queue_s=0.55)({"audio": tone(3.0), "video": None}, start_first=False)
    rep = run.report
    assert rep.audio_seconds_captured == pytest.approx(3.0)
    # 0.1 s chunks are queued while no more than 0.55 s wait: 6 kept, the other 24 dropped
    assert rep.audio_seconds_dropped == pytest.approx(2.4)


def test_enhanced_mode_is_the_enhancer_over_the_raw_rows() -> None:
    raw = Run("audio")(_media("audio")).rows
    smooth = Run("audio", enhanced=True, ema_alpha=0.5)(_media("audio")).rows
    enh = Enhancer(SETTINGS.labels, 0.5, SETTINGS.laughter_threshold)
    assert [r.to_row() for r in smooth] == [enh.apply(r).to_row() for r in raw]


def test_worker_failure_ends_the_run_with_the_error() -> None:
    boom = ValueError("embedder exploded")
    run = Run("video", embedder=FakeEmbedder(fail=boom))({"audio": None, "video": frames(1.0, 5.0)})
    rep = run.report
    assert rep.end_reason == "error" and run.engine.failure is boom
    assert rep.error == "avemotion-video: ValueError: embedder exploded"


def test_source_error_is_kept_with_its_type() -> None:
    run = Run("audio")
    err = SourceOpenError("udp://x", "cannot open udp://x: nothing received within 1 s")
    run.engine.start()
    run.engine.on_end("error", err)
    rep = run.engine.wait(timeout=120)
    assert rep is not None and rep.end_reason == "error" and rep.windows_emitted == 0
    assert run.engine.failure is err and rep.error == str(err)


def test_stop_wakes_a_pacing_source_and_drains() -> None:
    run = Run("audio")
    eng = run.engine
    assert eng.wait_for_stop(0) is False and not eng.stopping
    eng.start()
    ArraySource(eng, tone(3.0), None).run(end=False)
    stopper = threading.Thread(target=eng.stop, args=("duration reached",))
    stopper.start()
    assert eng.wait_for_stop(1e6) is True  # returns once stop() ran, whatever the timeout
    stopper.join()
    eng.on_end("stopped")
    rep = eng.wait(timeout=120)
    assert rep is not None and rep.end_reason == "duration reached" and eng.stopping


def test_video_mode_needs_an_extractor() -> None:
    with pytest.raises(ValueError, match="video_extractor"):
        LiveEngine(FakePredictor(), LiveConfig(mode="video"), settings=SETTINGS)
    with pytest.raises(ValueError, match="mode: expected one of av, video, audio"):
        LiveEngine(FakePredictor(), LiveConfig(mode="both"), settings=SETTINGS)


def test_audio_clock_starts_at_the_first_chunk() -> None:
    """A source whose audio starts at t0 > 0: steps are on the source's media clock."""
    run = Run("audio")
    eng = run.engine
    eng.start()
    x = tone(3.0)
    for i in range(0, x.size, 1600):
        eng.on_audio(2.0 + i / SAMPLE_RATE, x[i:i + 1600], 0.0)
    eng.on_end("end of stream")
    assert eng.wait(timeout=120) is not None
    ends = [r.end for r in run.rows]
    # one modality: the grid starts at the first step (3.0: the first 1 s audio window ends there)
    assert ends[0] == pytest.approx(3.0) and ends[-1] == pytest.approx(5.0)
