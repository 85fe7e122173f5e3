"""The work of one offline analysis: each modality's steps (audio whole or on its own thread,
video through the extractor) and the windows predicted from both (part of
:mod:`avemotion.pipeline.offline`; import from there)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from avemotion.pipeline.postprocess import WindowResult
from avemotion.pipeline.settings import PipelineSettings, StageTimer
from avemotion.pipeline.stages import WindowPredictor, last_window_end, make_sync, sync_stats_dict

Progress = Callable[[str, float, float], None]


@dataclass
class _Steps:
    """One modality's steps: times (N,) s, steps (N, D) float32, mask (N,) bool (True = real data)."""

    times: np.ndarray
    x: np.ndarray
    mask: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> _Steps:
        return cls(np.zeros(0, np.float64), np.zeros((0, dim), np.float32), np.zeros(0, bool))


def _audio_steps(dmx: Any, s: PipelineSettings, timer: StageTimer) -> tuple[_Steps, float]:
    """The whole audio track's steps and its decoded duration (s)."""
    from avemotion.features.audio import extract_audio

    with timer("decode_s"):
        audio = dmx.audio  # complete after the frames; in audio mode this is the whole pass
    with timer("audio_features_s"):
        feats = extract_audio(audio.samples, window_s=s.audio_window_s, hop_s=s.audio_hop_s, mode=s.audio_mode)
    return _Steps(feats.times, feats.steps, np.ones(feats.times.size, bool)), float(audio.duration)


class _AudioFeeder:
    """The audio thread of an overlapped ``av`` analysis: chunks from the demux pass (``put``, on the
    decoding thread) into a streaming audio extractor on a thread of its own; :meth:`finish` returns
    all the steps (re-raising the thread's error). The queue is unbounded: the audio of the whole
    media is small (64 kB per second) beside the frames the pass would otherwise hold."""

    _END = None

    def __init__(self, s: PipelineSettings, timer: StageTimer) -> None:
        import queue

        self.s, self.timer = s, timer
        self.q: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self.times: list[np.ndarray] = []
        self.steps: list[np.ndarray] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="avemotion-audio", daemon=True)
        self.ended = False

    def put(self, chunk: np.ndarray) -> None:
        self.q.put(chunk)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        from avemotion.features.audio import AudioStreamExtractor

        try:
            with self.timer("audio_features_s"):
                st = AudioStreamExtractor(self.s.audio_window_s, self.s.audio_hop_s, mode=self.s.audio_mode,
                                          max_wait_s=0.0)
            try:
                while (chunk := self.q.get()) is not self._END:
                    with self.timer("audio_features_s"):
                        ts, x = st.push(chunk)
                    self._keep(ts, x)
                if not self.ended:
                    return
                with self.timer("audio_features_s"):
                    ts, x = st.finish()
                self._keep(ts, x)
            finally:
                st.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread by finish()
            self.error = exc

    def _keep(self, ts: np.ndarray, x: np.ndarray) -> None:
        if ts.size:
            self.times.append(ts)
            self.steps.append(x)

    def finish(self) -> _Steps:
        self.ended = True
        self.q.put(self._END)
        self.thread.join()
        if self.error is not None:
            raise self.error
        if not self.times:
            return _Steps.empty(self.s.audio_dim)
        times = np.concatenate(self.times)
        return _Steps(times, np.concatenate(self.steps), np.ones(times.size, bool))

    def stop(self) -> None:
        """End the thread (after an error elsewhere: the steps are dropped)."""
        if self.thread.is_alive():
            self.q.put(self._END)
            self.thread.join()


def _video_steps(dmx: Any, ex: Any, timer: StageTimer, progress: Progress | None, total: float,
                 overlap: bool = False) -> _Steps:
    """Frames sampled at the bundle's fps, faces detected and embedded in the extractor's batches
    (``overlap``: FaceNet one batch behind the detector, when the extractor supports it)."""
    mark = timer.extractor_mark(ex)
    frames = timer.iterate(dmx, "decode_s")
    if progress:
        frames = _report(frames, progress, total)
    vf = ex.extract(frames, overlap=True) if overlap and getattr(ex, "supports_overlap", False) else ex.extract(frames)
    timer.extractor_delta(ex, mark)
    return _Steps(vf.times, vf.steps, vf.mask)


def _predict_windows(a: _Steps, v: _Steps, wp: WindowPredictor, s: PipelineSettings, timer: StageTimer,
                     batch_windows: int) -> tuple[list[WindowResult], dict[str, Any]]:
    """Both step streams into one AVSync in hop-sized slices, in time order; windows predicted in
    batches of ``batch_windows``; flushed at the end of the media."""
    last_t = max(a.times[-1] if a.times.size else -math.inf, v.times[-1] if v.times.size else -math.inf)
    if not math.isfinite(last_t):
        return [], {}
    sync = make_sync(s, max_latency_s=max(1.0, 2 * s.hop_s), clock_sync="none",
                     max_pending_windows=max(64, 2 * batch_windows))
    results: list[WindowResult] = []

    def drain(final: bool = False) -> None:
        while sync.pending >= (1 if final else batch_windows):
            with timer("sync_s"):
                batch = sync.pop_batch(batch_windows)
            with timer("model_s"):
                results.extend(wp(batch))

    t0 = min(a.times[0] if a.times.size else math.inf, v.times[0] if v.times.size else math.inf)
    ai = vi = 0
    for edge in np.arange(math.floor(t0 / s.hop_s), math.ceil(last_t / s.hop_s) + 1) * s.hop_s:
        with timer("sync_s"):
            aj = int(np.searchsorted(a.times, edge, side="right"))
            vj = int(np.searchsorted(v.times, edge, side="right"))
            if aj > ai:
                sync.push_audio(a.times[ai:aj], a.x[ai:aj])
            if vj > vi:
                sync.push_video(v.times[vi:vj], v.x[vi:vj], v.mask[vi:vj])
            ai, vi = aj, vj
        drain()
    with timer("sync_s"):
        sync.flush(last_window_end(last_t, s.hop_s))  # end of media: both streams complete
    drain(final=True)
    return results, sync_stats_dict(sync.stats())


def _report(frames: Iterable[tuple[float, np.ndarray]], progress: Progress,
            total: float) -> Iterator[tuple[float, np.ndarray]]:
    for t, rgb in frames:
        progress("video", t, total)
        yield t, rgb
    progress("video", total, total)
