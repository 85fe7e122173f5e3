"""Capture sources that feed a :class:`avemotion.pipeline.live.engine.LiveEngine` from their own threads.

- :class:`StreamSource`: a URL or file decoded by PyAV (FFmpeg): ``udp://``, ``rtsp://``, ``http://``,
  a file (optionally paced to its media clock).
- :class:`DeviceSource`: a camera (OpenCV) and a microphone (sounddevice/PortAudio).

A source pushes ``engine.on_audio(t0, samples, wall)`` (mono float32 at the contract's
``SAMPLE_RATE``), ``engine.on_video(t, rgb, wall)`` (frames sampled at the bundle's ``video_fps``)
and ends with ``engine.on_end(reason, error)``. Failures are typed, so callers never match message
text: :class:`SourceOpenError` (the source cannot be opened: nothing received before the open
timeout, refused, not media), :class:`SourceReadError` (it failed while reading), and
:class:`avemotion.features.media.MediaError` with ``kind`` ``no_audio``/``no_video`` (it lacks a
stream the mode needs). The first two are :class:`SourceError`, a ``RuntimeError``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from avemotion._contract import SAMPLE_RATE
from avemotion.features.media import MediaError
from avemotion.pipeline.live.engine import LiveEngine

log = logging.getLogger(__name__)

__all__ = ["DeviceSource", "SourceError", "SourceOpenError", "SourceReadError", "StreamSource", "stream_options"]

#: A hole in the audio pts longer than this (seconds) is filled with silence (the audio clock keeps time).
AUDIO_GAP_S = 0.1


class SourceError(RuntimeError):
    """A capture source failed; ``source`` names it (URL, ``--camera N``, ``--mic NAME``)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


class SourceOpenError(SourceError):
    """The source cannot be opened (nothing received before the open timeout, refused, not media)."""


class SourceReadError(SourceError):
    """The source failed while being read (a decoder or protocol error mid-stream)."""


def stream_options(url: str) -> dict[str, str]:
    """FFmpeg options for a URL: for ``udp://`` a large receive FIFO that tolerates overruns
    (unless the URL sets its own ``fifo_size``), else none."""
    if url.startswith("udp://") and "fifo_size" not in url:
        return {"fifo_size": "1000000", "overrun_nonfatal": "1"}
    return {}


class FrameSampler:
    """Keeps a frame when its time reaches the next sampling instant ``k / fps`` (the rule of
    :func:`avemotion.features.media.iter_video_frames`: a 25 fps stream at 5 fps keeps every 5th)."""

    def __init__(self, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps: expected > 0, got {fps}")
        self.fps, self.k = fps, 0

    def take(self, t: float) -> bool:
        if t + 1e-6 < self.k / self.fps:
            return False
        while (self.k + 1) / self.fps <= t + 1e-6:
            self.k += 1
        self.k += 1
        return True


class AudioFeed:
    """Decoded audio frames -> contiguous mono chunks at ``SAMPLE_RATE`` for the engine. The sample
    count is the audio clock: it starts at the first frame's time, and a hole in the frames' times
    of more than :data:`AUDIO_GAP_S` is filled with silence so the clock keeps the media's."""

    def __init__(self, engine: LiveEngine, resampler: Any) -> None:
        self.engine, self.resampler = engine, resampler
        self.start: float | None = None
        self.emitted = 0

    def feed(self, frame: Any, t: float, wall: float) -> None:
        if self.start is None:
            self.start = max(t, 0.0)
        expected = self.start + self.emitted / SAMPLE_RATE
        if t - expected > AUDIO_GAP_S:
            gap = int(round((t - expected) * SAMPLE_RATE))
            self.engine.on_audio(expected, np.zeros(gap, np.float32), wall)
            self.emitted += gap
        for out in self.resampler.resample(frame):
            x = out.to_ndarray().reshape(-1)
            self.engine.on_audio(self.start + self.emitted / SAMPLE_RATE, x, wall)
            self.emitted += x.size


class StreamSource:
    """Decodes a URL or file with PyAV (FFmpeg) on its own thread and feeds a :class:`LiveEngine`.

    Audio is resampled to mono at ``SAMPLE_RATE`` (see :class:`AudioFeed`); frames are sampled at
    ``fps`` (:class:`FrameSampler`). Media time 0 is the first timestamp seen in the container.
    ``realtime``: pace delivery to the media clock (for files). ``open_timeout_s``: how long to wait
    for the stream to start (then :class:`SourceOpenError`); ``read_timeout_s``: how long to wait for
    more data once it has started (then the stream ends cleanly: "no data for N s").
    """

    def __init__(self, url: str, engine: LiveEngine, *, fps: float, realtime: bool = False,
                 open_timeout_s: float = 10.0, read_timeout_s: float = 3.0,
                 options: dict[str, str] | None = None) -> None:
        self.url, self.engine, self.realtime = url, engine, realtime
        self.sampler = FrameSampler(fps)
        self.timeouts = (open_timeout_s, read_timeout_s)
        self.options = dict(options or {})
        self.thread = threading.Thread(target=self._run, name="avemotion-capture", daemon=True)
        self.opened = threading.Event()
        self._origin: float | None = None
        self._wall0 = 0.0

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        eng = self.engine
        try:
            container = self._open()
        except SourceOpenError as exc:
            eng.on_end("error", exc)
            return
        self.opened.set()
        reason: str
        err: BaseException | None
        try:
            reason, err = self._read(container)
        except MediaError as exc:  # a stream the mode needs is missing
            reason, err = "error", exc
        except Exception as exc:  # anything else ends the run with the error (the engine never waits forever)
            log.exception("%s: capture failed", self.url)
            reason, err = "error", SourceReadError(self.url, f"{self.url}: {type(exc).__name__}: {exc}")
        finally:
            container.close()
        if eng.stopping and reason == "end of stream":
            reason = "stopped"
        eng.on_end(reason, err)

    def _open(self) -> Any:
        import av

        try:
            return av.open(self.url, timeout=self.timeouts, options=self.options)
        except av.error.ExitError as exc:  # the interrupt callback: nothing came before the open timeout
            raise SourceOpenError(self.url, f"cannot open {self.url}: nothing received within "
                                            f"{self.timeouts[0]:g} s ({type(exc).__name__}: {exc})") from exc
        except Exception as exc:  # noqa: BLE001 - refused, not found, not media: reported as the end reason
            raise SourceOpenError(self.url, f"cannot open {self.url}: {type(exc).__name__}: {exc}") from exc

    def _streams(self, container: Any) -> tuple[Any, Any]:
        """The first audio / video stream the mode uses (None when unused); MediaError when missing."""
        eng = self.engine
        a = container.streams.audio[0] if container.streams.audio and eng.use_audio else None
        v = container.streams.video[0] if container.streams.video and eng.use_video else None
        mode = eng.cfg.mode
        if eng.use_audio and a is None:
            raise MediaError(self.url, "no_audio", f"no audio stream (mode {mode!r} needs one; use --mode video)")
        if eng.use_video and v is None:
            raise MediaError(self.url, "no_video", f"no video stream (mode {mode!r} needs one; use --mode audio)")
        if v is not None:
            v.thread_type = "AUTO"
        return a, v

    def _read(self, container: Any) -> tuple[str, BaseException | None]:
        """Demux and deliver until the end; returns ``(end reason, error or None)``."""
        import av

        a, v = self._streams(container)
        audio = AudioFeed(self.engine, av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)) if a else None
        try:
            for packet in container.demux(*[x for x in (a, v) if x is not None]):
                if self.engine.stopping:
                    return "stopped", None
                for frame in packet.decode():
                    if frame.pts is not None and frame.time is not None and not self._deliver(
                            frame, audio if packet.stream is a else None):
                        return "stopped", None
        except (av.error.ExitError, TimeoutError) as exc:
            return f"no data for {self.timeouts[1]:g} s ({type(exc).__name__})", None
        except av.error.EOFError:
            return "end of stream", None
        except av.error.FFmpegError as exc:
            return "stream error", SourceReadError(self.url, f"{self.url}: {type(exc).__name__}: {exc}")
        return "end of stream", None

    def _deliver(self, frame: Any, audio: AudioFeed | None) -> bool:
        """One decoded frame to the engine (audio when ``audio`` is given, else video); False on stop."""
        eng = self.engine
        t_abs = float(frame.time)
        if self._origin is None:
            self._origin, self._wall0 = t_abs, eng.clock()
        t = t_abs - self._origin
        if self.realtime:
            delay = self._wall0 + t - eng.clock()
            if delay > 0 and eng.wait_for_stop(delay):
                return False
        wall = eng.clock()
        if audio is not None:
            audio.feed(frame, t, wall)
        elif self.sampler.take(t):
            eng.on_video(t, frame.to_ndarray(format="rgb24"), wall)
        return True


class DeviceSource:
    """Camera (OpenCV ``VideoCapture(index)``) and microphone (sounddevice/PortAudio) capture threads.

    The microphone's sample count is the audio clock; camera frames are stamped with the engine's
    clock since start (AVSync's ``drift`` clock sync maps them onto the audio clock). Frames are
    forwarded at ``fps``. ``sounddevice`` is imported only here; when it is missing and audio is
    needed, :class:`SourceOpenError` says how to install it or to use ``--mode video``.
    """

    def __init__(self, engine: LiveEngine, *, camera: int | None, mic: str | int | None, fps: float) -> None:
        self.engine, self.camera, self.mic, self.fps = engine, camera, mic, fps
        self.threads: list[threading.Thread] = []
        self._t0 = engine.clock()
        self._stream: Any = None
        self._mic_samples = 0
        self._mic_t0: float | None = None

    def start(self) -> None:
        """Open the devices the mode needs and start capturing; :class:`SourceOpenError` when one cannot be opened."""
        if self.engine.use_audio:
            self._start_mic()
        if self.engine.use_video:
            self._start_camera()

    def _start_mic(self) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            raise SourceOpenError(
                "--mic", f"microphone capture needs the sounddevice package and PortAudio ({exc}); "
                "install them (pip install sounddevice; apt-get install libportaudio2) or use --mode video"
            ) from None
        try:
            self._stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                                          device=self.mic, blocksize=SAMPLE_RATE // 10, callback=self._mic_callback)
            self._stream.start()
        except Exception as exc:  # noqa: BLE001
            raise SourceOpenError("--mic", f"--mic {self.mic!r}: cannot open the microphone: {exc}") from None

    def _mic_callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        wall = self.engine.clock()
        if self._mic_t0 is None:
            self._mic_t0 = wall - self._t0 - frames / SAMPLE_RATE
        t0 = self._mic_t0 + self._mic_samples / SAMPLE_RATE
        self._mic_samples += frames
        self.engine.on_audio(t0, indata[:, 0].copy(), wall)

    def _start_camera(self) -> None:
        import cv2

        cap = cv2.VideoCapture(int(self.camera if self.camera is not None else 0))
        if not cap.isOpened():
            self.close()
            raise SourceOpenError("--camera", f"--camera {self.camera}: cannot open the camera (see --list-devices)")
        th = threading.Thread(target=self._camera, args=(cap,), name="avemotion-camera", daemon=True)
        self.threads.append(th)
        th.start()

    def _camera(self, cap: Any) -> None:
        import cv2

        eng = self.engine
        sampler = FrameSampler(self.fps)
        try:
            while not eng.stopping:
                ok, bgr = cap.read()
                wall = eng.clock()
                if not ok:
                    eng.on_end("camera stopped")
                    return
                t = wall - self._t0
                if sampler.take(t):
                    eng.on_video(t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), wall)
        finally:
            cap.release()
        eng.on_end("stopped")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        if not self.engine.use_video:
            self.engine.on_end("stopped")
