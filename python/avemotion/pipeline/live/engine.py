"""The real-time engine: sources push media from their threads, results come out per window.

Threads (each never blocks the one before it; the queues between them are bounded)::

    source thread(s)  ──audio chunks──► audio worker: AudioStepper ──────► FrameRing(89)  ─┐
      PyAV demux /    ──video frames──► video worker: FrameEmbedder ─────► FrameRing(512) ─┤
      camera + mic       (deque, oldest dropped when the worker is busy)                    ▼
                                        inference: rings ─► AVSync ─► WindowPredictor ─► on_result

A source calls :meth:`LiveEngine.on_audio` ``(t0, samples, wall)`` / :meth:`LiveEngine.on_video`
``(t, rgb, wall)`` / :meth:`LiveEngine.on_end` ``(reason, error)`` from its own thread. Media times
are seconds on the source's clock (0 = its first timestamp); ``wall`` is the engine's clock
(``time.monotonic`` unless another ``clock`` is given) when the data was captured, used for the
capture-to-prediction latency. A source paces itself with :meth:`LiveEngine.wait_for_stop`, which
returns early when the engine is stopped.

The stages are swappable (see :mod:`avemotion.pipeline.stages`): ``audio_stepper`` builds the audio
front end, ``video_extractor`` embeds frames, ``predictor`` runs the model. Tests drive the engine
with fakes of all three and a source that pushes arrays from the test's own thread.
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from avemotion._contract import SAMPLE_RATE
from avemotion.pipeline.live._live_config import LiveConfig
from avemotion.pipeline.live.metrics import CaptureClock, LiveReport, media_vs_wall_ppm, percentile
from avemotion.pipeline.postprocess import Enhancer, WindowResult
from avemotion.pipeline.settings import (
    PipelineSettings,
    StageTimer,
    check_mode,
    uses_audio,
    uses_video,
)
from avemotion.pipeline.stages import (
    AudioStepper,
    AudioStepperFactory,
    WindowPredictor,
    check_embedder,
    default_audio_stepper,
    last_window_end,
    make_sync,
    sync_stats_dict,
)

log = logging.getLogger(__name__)

__all__ = ["LiveConfig", "LiveEngine", "LiveReport"]

#: How long an idle worker waits before it looks at the stop flag again (seconds).
_POLL_S = 0.1


class LiveEngine:
    """Real-time pipeline (see the module docstring).

    ``on_result(result, info)`` is called on the inference thread for each window in order;
    ``info`` holds ``latency_s`` (None when unknown), ``raw_laugh_prob`` and ``forced``.
    Call :meth:`start`, let a source push data and end, then :meth:`wait` (a :class:`LiveReport`).
    :meth:`stop` asks everything to finish (sources stop pushing; pending data is drained).
    ``failure`` holds the exception that ended the run (a source's or a worker's), if any.
    """

    def __init__(self, predictor: Any, config: LiveConfig, *, video_extractor: Any = None,
                 settings: PipelineSettings | None = None,
                 on_result: Callable[[WindowResult, dict[str, Any]], None] | None = None,
                 audio_stepper: AudioStepperFactory | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = config
        self.settings = s = settings or PipelineSettings.from_bundle(predictor.bundle)
        self.use_audio, self.use_video = uses_audio(config.mode), uses_video(config.mode)
        if self.use_video and video_extractor is None:
            raise ValueError("video_extractor: required in mode 'av' and 'video'")
        check_embedder(predictor, video_extractor, config.mode)
        self.extractor = video_extractor
        self.audio_stepper = audio_stepper or default_audio_stepper
        self.predict = WindowPredictor(predictor, s, check_mode(config.mode))
        self.on_result = on_result
        self.clock = clock
        self._timer = StageTimer()
        self.timings = self._timer.timings
        # one modality: nothing to wait for, a window is cut as soon as its stream passes its end
        self.max_latency_s = config.max_latency_s if config.mode == "av" else 0.0
        # av: the grid starts at media time 0, as offline (not at whichever worker delivers first)
        self.sync = make_sync(s, max_latency_s=self.max_latency_s, clock_sync=config.clock_sync,
                              grid_start_s=0.0 if config.mode == "av" else None)
        self.audio_ring = _make_ring(s.audio_dim, int(64 / s.audio_hop_s) + 64)
        self.video_ring = _make_ring(s.video_dim, int(64 * s.video_fps) + 64)
        self._init_queues()
        self.clock_a, self.clock_v = CaptureClock(), CaptureClock()
        self.latencies: list[float] = []
        self.windows_emitted = 0
        self.frames_captured = self.frames_dropped = 0
        self.audio_captured_s = self.audio_dropped_s = 0.0
        self.last_audio_t = self.last_video_t = -math.inf
        self.end_reason = "running"
        self.error: str | None = None
        self.failure: BaseException | None = None
        self.enhancer = Enhancer(s.labels, config.ema_alpha, s.laughter_threshold) if config.enhanced else None
        self._threads: list[threading.Thread] = []
        self._t_start = clock()

    def _init_queues(self) -> None:
        self.audio_q: queue.Queue[tuple[float, np.ndarray, float] | None] = queue.Queue()
        self._frames: collections.deque[tuple[float, np.ndarray, float]] = collections.deque()
        self._frames_cv = threading.Condition()
        self._audio_cv = threading.Condition()
        self._audio_pending_s = 0.0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._capture_done = threading.Event()
        self._workers_done = {"audio": not self.use_audio, "video": not self.use_video}

    # -- source side (any thread)

    def on_audio(self, t0: float, samples: np.ndarray, wall: float) -> None:
        """Contiguous mono float32 samples at the contract's ``SAMPLE_RATE``, starting at media time ``t0``."""
        if not self.use_audio or samples.size == 0:
            return
        dur = samples.size / SAMPLE_RATE
        with self._audio_cv:
            self.audio_captured_s += dur
            if self.cfg.blocking:
                while self._audio_pending_s > self.cfg.audio_queue_s and not self._stop.is_set():
                    self._audio_cv.wait(_POLL_S)
            elif self._audio_pending_s > self.cfg.audio_queue_s:
                self.audio_dropped_s += dur  # the worker fell behind: drop (the extractor sees a gap as contiguous)
                return
            self._audio_pending_s += dur
        self.audio_q.put((t0, np.ascontiguousarray(samples, np.float32), wall))

    def on_video(self, t: float, rgb: np.ndarray, wall: float) -> None:
        """One sampled RGB uint8 (H, W, 3) frame at media time ``t``."""
        if not self.use_video:
            return
        with self._frames_cv:
            self.frames_captured += 1
            if self.cfg.blocking:
                while len(self._frames) >= self.cfg.frame_queue and not self._stop.is_set():
                    self._frames_cv.wait(_POLL_S)
            elif len(self._frames) >= self.cfg.frame_queue:
                self._frames.popleft()
                self.frames_dropped += 1
            self._frames.append((t, rgb, wall))
            self._frames_cv.notify_all()

    def on_end(self, reason: str, error: BaseException | str | None = None) -> None:
        """The source has no more data (end of stream, timeout, error or stop). ``error``: the
        exception (kept in :attr:`failure`) or a message."""
        if self.end_reason == "running":
            self.end_reason = reason
        self._set_error(error)
        self._capture_done.set()
        self.audio_q.put(None)
        with self._frames_cv:
            self._frames_cv.notify_all()

    def _set_error(self, error: BaseException | str | None, where: str = "") -> None:
        if error is None or self.error:
            return
        if isinstance(error, BaseException):
            self.failure = error
            text = f"{type(error).__name__}: {error}" if where else str(error)
        else:
            text = error
        self.error = f"{where}: {text}" if where else text

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, reason: str = "stopped") -> None:
        """Ask the source and the workers to finish (data already captured is still drained)."""
        if self.end_reason == "running":
            self.end_reason = reason
        self._stop.set()
        with self._frames_cv:
            self._frames_cv.notify_all()
        with self._audio_cv:
            self._audio_cv.notify_all()

    def wait_for_stop(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds (a source pacing itself); True as soon as :meth:`stop` was called."""
        return self._stop.wait(max(0.0, timeout))

    # -- lifecycle

    def start(self) -> None:
        """Start the workers (a source may push before: data waits in the queues)."""
        workers = [("audio", self._audio_worker)] if self.use_audio else []
        workers += [("video", self._video_worker)] if self.use_video else []
        workers.append(("inference", self._inference))
        for name, fn in workers:
            self._threads.append(threading.Thread(target=self._guard(fn), name=f"avemotion-{name}", daemon=True))
        for th in self._threads:
            th.start()

    def wait(self, timeout: float | None = None) -> LiveReport | None:
        """Wait for the engine to finish (after the source ended or :meth:`stop`); None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for th in self._threads:
            th.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if th.is_alive():
                return None
        return self.report()

    @property
    def finished(self) -> bool:
        return bool(self._threads) and not any(th.is_alive() for th in self._threads)

    def report(self) -> LiveReport:
        st = sync_stats_dict(self.sync.stats())
        lat = self.latencies
        return LiveReport(
            windows_emitted=self.windows_emitted, windows_dropped=int(st.get("windows_overflowed") or 0),
            video_frames_captured=self.frames_captured, video_frames_dropped=self.frames_dropped,
            audio_seconds_captured=round(self.audio_captured_s, 3), audio_seconds_dropped=round(self.audio_dropped_s, 3),
            latency_p50_s=percentile(lat, 50), latency_p95_s=percentile(lat, 95),
            latency_p99_s=percentile(lat, 99), latency_max_s=max(lat) if lat else None, latencies_measured=len(lat),
            av_drift_ppm=None if self.cfg.clock_sync == "none" else float(st.get("drift_ppm") or 0.0),
            media_vs_wall_ppm=media_vs_wall_ppm((self.clock_a if self.use_audio else self.clock_v).fit_pairs),
            wall_s=self.clock() - self._t_start, end_reason=self.end_reason,
            sync=st, timings=self.timings.to_dict(), error=self.error,
        )

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # report, and let the rest finish
                log.exception("%s failed", threading.current_thread().name)
                self._set_error(exc, where=threading.current_thread().name)
                self.end_reason = "error"  # whatever the source said: the run did not finish its work
                self._stop.set()
                self._capture_done.set()
                self._workers_done = {"audio": True, "video": True}
                self._ready.set()
        return run

    # -- audio worker

    def _audio_worker(self) -> None:
        stepper: AudioStepper | None = None
        t_first, n_samples = 0.0, 0
        try:
            while (item := self._next_audio()) is not None:
                t0, x, wall = item
                if stepper is None:
                    t_first = t0
                    stepper = self.audio_stepper(self.settings, t0)
                n_samples += x.size
                self.clock_a.add(t_first + n_samples / SAMPLE_RATE, wall)
                with self._timer("audio_features_s"):
                    ts, steps = stepper.push(x)
                self._push_audio_steps(ts, steps)
            finish = getattr(stepper, "finish", None)  # sliding audio steps: the last come at the end
            if finish is not None:
                with self._timer("audio_features_s"):
                    self._push_audio_steps(*finish())
        finally:
            if stepper is not None:
                stepper.close()
            self._workers_done["audio"] = True
            self._ready.set()

    def _push_audio_steps(self, ts: np.ndarray, steps: np.ndarray) -> None:
        if ts.size:
            self.audio_ring.push(ts, steps, np.ones(ts.size, bool))
            self.last_audio_t = float(ts[-1])
            self._ready.set()

    def _next_audio(self) -> tuple[float, np.ndarray, float] | None:
        """The next captured chunk; None at the end of capture (or on stop with nothing queued)."""
        while True:
            try:
                item = self.audio_q.get(timeout=_POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    return None
                continue
            if item is not None:
                with self._audio_cv:
                    self._audio_pending_s -= item[1].size / SAMPLE_RATE
                    self._audio_cv.notify_all()
            return item

    # -- video worker

    def _video_worker(self) -> None:
        ex = self.extractor
        reset = getattr(ex, "reset", None)  # a new stream: a face tracker starts without a track
        if callable(reset):
            reset()
        while (batch := self._next_frames()) is not None:
            mark = self._timer.extractor_mark(ex)
            steps, mask, _ = ex.process([b[1] for b in batch])
            self._timer.extractor_delta(ex, mark)
            ts = np.array([b[0] for b in batch], np.float64)
            for t, _, wall in batch:
                self.clock_v.add(t, wall)
            self.video_ring.push(ts, np.asarray(steps, np.float32), np.asarray(mask, bool))
            self.last_video_t = float(ts[-1])
            self._ready.set()
        self._workers_done["video"] = True
        self._ready.set()

    def _next_frames(self) -> list[tuple[float, np.ndarray, float]] | None:
        """Up to ``batch_frames`` queued frames of one size; None when capture ended and none are left."""
        with self._frames_cv:
            while not self._frames and not (self._capture_done.is_set() or self._stop.is_set()):
                self._frames_cv.wait(_POLL_S)
            if not self._frames:
                return None
            batch = [self._frames.popleft()]
            while (self._frames and len(batch) < self.cfg.batch_frames
                   and self._frames[0][1].shape == batch[0][1].shape):
                batch.append(self._frames.popleft())
            self._frames_cv.notify_all()
            return batch

    # -- inference

    def _inference(self) -> None:
        while True:
            self._ready.wait(_POLL_S)
            self._ready.clear()
            workers_done = all(self._workers_done.values())
            batch = self._sync_step()
            if batch is not None:
                self._emit(batch)
            if workers_done and len(self.audio_ring) == 0 and len(self.video_ring) == 0:
                break
        last = max(self.last_audio_t, self.last_video_t)
        if math.isfinite(last) and self.error is None:
            with self._timer("sync_s"):  # end of input: both streams complete, emit the last windows
                self.sync.flush(last_window_end(last, self.settings.hop_s))
                batch = self.sync.pop_batch() if self.sync.pending else None
            if batch is not None:
                self._emit(batch)

    def _sync_step(self) -> Any:
        """Rings -> AVSync; the windows ready now (a batch) or None."""
        with self._timer("sync_s"):
            # audio first: its watermark is the window clock; video then fills in
            if self.use_audio:
                ts, x, _ = self.audio_ring.pop(1 << 16)
                if len(ts):
                    self.sync.push_audio(ts, x)
            if self.use_video:
                ts, x, f = self.video_ring.pop(1 << 16)
                if len(ts):
                    self.sync.push_video(ts, x, f)
            return self.sync.pop_batch() if self.sync.pending else None

    def _latency(self, t: float, now: float) -> float | None:
        walls = [w for w in ((self.clock_a.wall_at(t) if self.use_audio else None),
                             (self.clock_v.wall_at(t) if self.use_video else None)) if w is not None]
        return now - min(walls) if walls else None

    def _emit(self, batch: Any) -> None:
        with self._timer("model_s"):
            results = self.predict(batch)
        now = self.clock()
        forced = {float(e): bool(f) for e, f in zip(np.asarray(batch.end), np.asarray(batch.forced), strict=True)}
        for r in results:
            info: dict[str, Any] = {"latency_s": self._latency(r.end, now), "raw_laugh_prob": r.laugh_prob,
                                    # only meaningful with two modalities (one modality: every window)
                                    "forced": self.cfg.mode == "av" and forced.get(r.end, False)}
            if info["latency_s"] is not None:
                self.latencies.append(info["latency_s"])
            if self.enhancer is not None:
                self.enhancer.apply(r)
            self.windows_emitted += 1
            if self.on_result is not None:
                self.on_result(r, info)


def _make_ring(dim: int, capacity: int) -> Any:
    from avemotion.streaming import FrameRing

    return FrameRing(dim, capacity, "drop_oldest")
