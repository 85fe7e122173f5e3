"""One-pass demuxing of audio and sampled video frames (part of :mod:`avemotion.features.media`;
import from there)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from avemotion._contract import SAMPLE_RATE
from avemotion.features._media_base import (
    AUDIO_PREROLL_S,
    MIN_SAMPLE_RATE,
    DecodedAudio,
    MediaError,
    MediaInfo,
    _AudioPlacer,
    _check_range,
    _open,
)

logger = logging.getLogger("avemotion.features.media")  # the front module's name


class Demux:
    """One pass over a media file: sampled video frames and 16 kHz mono audio (see :func:`demux`).

    Iterate (once) for ``(t, rgb)`` frames exactly as :func:`iter_video_frames` yields them; then
    :attr:`audio` is what :func:`decode_audio` returns. Reading :attr:`audio` before the frames are
    exhausted finishes the pass first (frames not yet taken are decoded and dropped). :attr:`info`
    (:class:`MediaInfo`) is read from the open container, so no separate :func:`probe` is needed.
    Use as a context manager, or let the pass finish: the container is closed at its end.

    ``on_audio(samples)``: receive the audio during the pass instead, float32 16 kHz mono chunks in
    order, already on the clip's time axis (they concatenate to exactly what :attr:`audio` would
    hold; nothing is kept, so :attr:`audio` then raises ``ValueError``); called on the thread that
    iterates, between frames. :attr:`audio_seconds` is how much audio was delivered either way.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 5.0,
        start: float = 0.0,
        end: float | None = None,
        audio: bool = True,
        video: bool = True,
        on_audio: Any = None,
    ) -> None:
        import av

        if not (audio or video):
            raise ValueError("demux: ask for audio, video or both (audio=False and video=False)")
        if video and not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        _check_range(path, start, end)
        self.path, self.fps, self.start, self.end = str(path), float(fps), float(start), end
        self._container = _open(path)
        c = self._container
        try:
            a = c.streams.audio[0] if c.streams.audio else None
            v = c.streams.video[0] if c.streams.video else None
            duration = c.duration / 1_000_000 if c.duration else None
            vfps = float(v.average_rate) if v is not None and v.average_rate else None
            self.info = MediaInfo(
                self.path, a is not None, v is not None, duration, a.rate if a is not None else None, vfps
            )
            if audio and a is None:
                raise MediaError(path, "no_audio", "no audio stream")
            if video and v is None:
                raise MediaError(path, "no_video", "no video stream")
            self._a = a if audio else None
            self._v = v if video else None
            if self._a is not None:
                rate = int(self._a.rate or 0)
                if rate < MIN_SAMPLE_RATE:
                    raise MediaError(
                        path, "bad_sample_rate", f"audio sample rate {rate} Hz is below {MIN_SAMPLE_RATE} Hz"
                    )
                self._rate, self._channels = rate, int(self._a.channels or 0)
                self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            if self._v is not None:
                self._v.thread_type = "AUTO"
        except BaseException:
            c.close()
            raise
        self._on_audio = on_audio
        self._chunks: list[np.ndarray] = []  # placed chunks (without on_audio)
        self._n_raw = 0  # resampled chunks decoded
        self._placer = _AudioPlacer(self.start, end, on_audio if on_audio is not None else self._chunks.append)
        self._audio: DecodedAudio | None = None
        self._iter: Iterator[tuple[float, np.ndarray]] | None = None
        self._done = False

    def __enter__(self) -> Demux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        if self._iter is not None:
            raise RuntimeError(f"{self.path}: a Demux is read once (its frames were already taken)")
        self._iter = self._run()
        return self._iter

    @property
    def audio(self) -> DecodedAudio:
        """The decoded audio (the pass is finished first if it is not); ``ValueError`` if not asked
        for, or when it went to ``on_audio``."""
        if self._a is None:
            raise ValueError(f"{self.path}: demux was asked for no audio (audio=False)")
        if self._on_audio is not None:
            raise ValueError(f"{self.path}: the audio went to on_audio (nothing is kept)")
        self._finish()
        if self._audio is None:
            raise RuntimeError(f"{self.path}: the demux pass was abandoned before its end (no audio)")
        return self._audio

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio delivered (to :attr:`audio` or ``on_audio``); the pass is finished first."""
        if self._a is None:
            raise ValueError(f"{self.path}: demux was asked for no audio (audio=False)")
        self._finish()
        return self._placer.emitted / SAMPLE_RATE

    def _finish(self) -> None:
        if not self._done:
            for _ in self if self._iter is None else self._iter:
                pass

    def _run(self) -> Iterator[tuple[float, np.ndarray]]:
        import av

        c, a, v = self._container, self._a, self._v
        start, end, eps = self.start, self.end, 1e-6
        if start > 0:
            # video alone seeks to start; with audio from AUDIO_PREROLL_S before (see decode_audio).
            # Decoding video from an earlier keyframe gives the same frames from start on.
            pre = AUDIO_PREROLL_S if a is not None else 0.0
            c.seek(int(max(0.0, start - pre) * 1_000_000), any_frame=False)
        a_done, v_done = a is None, v is None
        k = n_frames = 0
        which = "audio" if v is None else "video" if a is None else "audio and video"
        try:
            try:
                for packet in c.demux(*[s for s in (a, v) if s is not None]):
                    if a is not None and v is not None:
                        which = "audio" if packet.stream is a else "video"
                    if packet.stream is a and not a_done:
                        for frame in packet.decode():
                            if frame.pts is not None:
                                self._placer.pts(float(frame.pts * frame.time_base))
                            if end is not None and frame.pts is not None and float(frame.pts * frame.time_base) >= end:
                                a_done = True
                                break
                            for out in self._resampler.resample(frame):
                                self._n_raw += 1
                                self._placer.add(out.to_ndarray().reshape(-1))
                    elif packet.stream is v and not v_done:
                        for frame in packet.decode():
                            if frame.pts is None:
                                continue
                            t = float(frame.pts * frame.time_base) - start
                            if t < -eps:
                                continue
                            if end is not None and t >= end - start - eps:
                                v_done = True
                                break
                            if t + eps >= k / self.fps:
                                while (k + 1) / self.fps <= t + eps:
                                    k += 1
                                k += 1
                                n_frames += 1
                                yield t, frame.to_ndarray(format="rgb24")
                    if a_done and v_done:
                        break
            except av.error.FFmpegError as exc:
                if a is not None and not self._n_raw:
                    raise MediaError(self.path, "unreadable", f"cannot decode audio ({exc})") from exc
                if v is not None and n_frames == 0 and a is None:
                    raise MediaError(self.path, "unreadable", f"cannot decode video ({exc})") from exc
                logger.warning("%s: %s decoding stopped early: %s", self.path, which, exc)
            if a is not None:
                for out in self._resampler.resample(None):
                    self._placer.add(out.to_ndarray().reshape(-1))
                self._placer.close()
                if self._on_audio is None:
                    x = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
                    self._audio = DecodedAudio(np.ascontiguousarray(x), self._rate, self._channels)
                    self._chunks = []
            self._done = True
        finally:
            c.close()


def demux(
    path: str | os.PathLike[str],
    *,
    fps: float = 5.0,
    start: float = 0.0,
    end: float | None = None,
    audio: bool = True,
    video: bool = True,
    on_audio: Any = None,
) -> Demux:
    """Open ``path`` once for its audio and its frames sampled at ``fps`` (see :class:`Demux`)::

        d = demux(path, fps=5.0)
        for t, rgb in d: ...          # frames, as iter_video_frames(path, fps=5.0)
        samples = d.audio.samples     # then the audio, as decode_audio(path)
        demux(path, on_audio=q.put)   # or: the audio chunks as they are decoded (see Demux)

    Raises :class:`MediaError` as :func:`decode_audio`/:func:`iter_video_frames` do (``unreadable``,
    ``empty``, ``no_audio`` / ``no_video`` for a stream asked for, ``bad_sample_rate``, ``bad_range``).
    """
    return Demux(path, fps=fps, start=start, end=end, audio=audio, video=video, on_audio=on_audio)
