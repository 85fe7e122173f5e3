"""Test doubles for the pipeline's stages: an audio stepper, a video extractor, a predictor and a source
that pushes arrays into a live engine from the test's own thread. All deterministic, none needs openSMILE,
torch, a network or the wall clock; features are small (4-d audio, 3-d video) and easy to reason about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from avemotion._contract import EMOTION_LABELS, SAMPLE_RATE
from avemotion.pipeline import PipelineSettings

SETTINGS = PipelineSettings(window_s=2.0, hop_s=0.5, audio_window_s=1.0, audio_hop_s=0.1, video_fps=5.0,
                            laughter_threshold=0.5, labels=EMOTION_LABELS, audio_dim=4, video_dim=3)


class FakeAudioStepper:
    """Steps every ``audio_hop_s`` over windows of ``audio_window_s`` (the streaming extractor's
    timing): [mean, max, min, rms] of the window's samples; times = window end + ``t0``."""

    instances: list[FakeAudioStepper] = []

    def __init__(self, settings: PipelineSettings, t0: float) -> None:
        self.win = int(round(settings.audio_window_s * SAMPLE_RATE))
        self.hop = int(round(settings.audio_hop_s * SAMPLE_RATE))
        self.t0 = t0
        self.buf = np.zeros(0, np.float32)
        self.start = 0  # absolute index of buf[0]
        self.next = 0  # absolute start of the next window
        self.closed = False
        FakeAudioStepper.instances.append(self)

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.buf = np.concatenate([self.buf, np.asarray(samples, np.float32)])
        times, rows = [], []
        while self.next + self.win <= self.start + self.buf.size:
            w = self.buf[self.next - self.start:self.next - self.start + self.win]
            rows.append([w.mean(), w.max(), w.min(), np.sqrt(np.mean(w.astype(np.float64) ** 2))])
            times.append(self.t0 + (self.next + self.win) / SAMPLE_RATE)
            self.next += self.hop
        drop = self.next - self.start
        self.buf, self.start = self.buf[drop:], self.start + drop
        return np.asarray(times, np.float64), np.asarray(rows, np.float32).reshape(-1, 4)

    def close(self) -> None:
        self.closed = True


class FakeEmbedder:
    """``process(frames)``: a frame's 3-d step is its mean RGB / 255; a black frame has no face.
    ``timings`` grow by fixed amounts; ``seen`` records the mean value of every frame processed;
    ``fail`` makes it raise (a worker failure)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.timings = {"detect_s": 0.0, "embed_s": 0.0}
        self.seen: list[float] = []
        self.batches: list[int] = []
        self.fail = fail

    def process(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.fail is not None:
            raise self.fail
        self.batches.append(len(frames))
        steps = np.stack([f.reshape(-1, 3).mean(0) / 255.0 for f in frames]).astype(np.float32)
        face = np.array([f.max() > 0 for f in frames], bool)
        steps[~face] = 0.0
        self.seen += [float(f.mean()) for f in frames]
        self.timings["detect_s"] += 0.001 * len(frames)
        self.timings["embed_s"] += 0.002 * len(frames)
        return steps, face, face.astype(np.float32)

    def extract(self, frames: Any) -> Any:
        """``(t, rgb)`` pairs -> an object with ``times``, ``steps``, ``mask`` (VideoExtractor.extract)."""
        from types import SimpleNamespace

        pairs = list(frames)
        if not pairs:
            return SimpleNamespace(times=np.zeros(0), steps=np.zeros((0, 3), np.float32), mask=np.zeros(0, bool))
        steps, face, _ = self.process([f for _, f in pairs])
        return SimpleNamespace(times=np.array([t for t, _ in pairs], np.float64), steps=steps, mask=face)


class FakePredictor:
    """A deterministic function of each window's real steps: logits from the masked means of the
    first audio and video features and the step counts; laughter = sigmoid of the audio mean."""

    def __init__(self, settings: PipelineSettings = SETTINGS) -> None:
        self.settings = settings
        self.calls: list[int] = []

    def predict(self, inputs: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        a, v = (np.asarray(x, np.float64) for x in inputs)
        am, vm = (np.asarray(m, bool) for m in masks)
        self.calls.append(a.shape[0])
        a_mean = (a[..., 0] * am).sum(1) / np.maximum(am.sum(1), 1)
        v_mean = (v[..., 0] * vm).sum(1) / np.maximum(vm.sum(1), 1)
        k = len(self.settings.labels)
        logits = np.stack([a_mean * 10, v_mean * 10, am.sum(1) / 10, vm.sum(1) / 10]
                          + [np.zeros_like(a_mean)] * (k - 4), axis=1)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True), 1.0 / (1.0 + np.exp(-20 * a_mean[:, None]))


def tone(seconds: float, *, amp: float = 0.5, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A test signal whose level varies over time (so windows differ): noise times a slow ramp."""
    n = int(round(seconds * rate))
    rng = np.random.default_rng(seed)
    ramp = 0.2 + 0.8 * (0.5 + 0.5 * np.sin(np.arange(n) / rate * 2.0))
    return (amp * ramp * rng.uniform(-1, 1, n) + 0.05 * ramp).astype(np.float32)


def frames(seconds: float, fps: float, *, black_from: float | None = None) -> list[tuple[float, np.ndarray]]:
    """``(t, rgb)`` frames at ``fps``: small 8x8 images whose brightness grows with t; black (no face)
    from ``black_from`` on."""
    out = []
    for k in range(int(round(seconds * fps))):
        t = k / fps
        val = 0 if black_from is not None and t >= black_from else 40 + int(200 * t / max(seconds, 1e-9))
        out.append((t, np.full((8, 8, 3), val, np.uint8)))
    return out


class ArraySource:
    """Pushes audio (in ``chunk``-sample pieces) and frames into an engine in media-time order, on the
    caller's thread. ``wall(t)`` gives the capture time of media time ``t`` (default: ``t`` itself).
    Ends with ``on_end(reason)``."""

    def __init__(self, engine: Any, audio: np.ndarray | None, video: list[tuple[float, np.ndarray]] | None,
                 *, chunk: int = SAMPLE_RATE // 10, wall: Any = None, reason: str = "end of stream") -> None:
        self.engine, self.audio, self.video, self.chunk = engine, audio, video or [], chunk
        self.wall = wall or (lambda t: t)
        self.reason = reason

    def events(self) -> list[tuple[float, str, Any]]:
        ev: list[tuple[float, str, Any]] = []
        if self.audio is not None:
            for i in range(0, self.audio.size, self.chunk):
                ev.append((i / SAMPLE_RATE, "a", self.audio[i:i + self.chunk]))
        ev += [(t, "v", rgb) for t, rgb in self.video]
        return sorted(ev, key=lambda e: (e[0], e[1]))

    def run(self, *, end: bool = True) -> None:
        for t, kind, data in self.events():
            if kind == "a":
                self.engine.on_audio(t, data, self.wall(t + data.size / SAMPLE_RATE))
            else:
                self.engine.on_video(t, data, self.wall(t))
        if end:
            self.engine.on_end(self.reason)
