"""Decoding media files with PyAV (FFmpeg): audio as 16 kHz mono float32, video frames sampled at a rate.

Times are seconds relative to the requested ``start`` (the clip start), taken from the streams'
presentation timestamps (pts). Errors a batch job should report per clip raise :class:`MediaError`,
whose ``kind`` says what went wrong (``unreadable``, ``no_audio``, ``no_video``, ``empty``,
``bad_sample_rate``, ``bad_range``).

Audio: the first audio stream is decoded, mixed down to mono and resampled to 16 kHz float32 by
FFmpeg's resampler (``av.AudioResampler("flt", "mono", 16000)``, libswresample). Samples are placed on
the clip's time axis by the pts of the first decoded frame; a gap before it (e.g. a stream starting
late) is filled with zeros so that sample ``i`` is at ``i / 16000`` s after ``start``. A clip that
starts later than 0 is decoded from ``AUDIO_PREROLL_S`` before its start: 16 kHz PCM files then give
exactly the samples of a whole-file decode; resampled or lossy streams agree up to the resampler's
sub-sample phase (tested: correlation > 0.999). Streams sampled
below ``MIN_SAMPLE_RATE`` (8 kHz) are rejected: eGeMAPS needs the band up to 4 kHz.

Video: the first video stream is decoded and frames are sampled at ``fps``: a frame is kept when its
pts reaches the next sampling instant ``k / fps`` (so a 25 fps stream at 5 fps keeps every 5th
frame); its timestamp is its own pts. Frames are RGB uint8 (H, W, 3).

Both in one pass (:func:`demux`, what ``analyze`` uses): the container is opened and read once, the
audio and video packets decoded as they come; the sampled frames are yielded as they are decoded
(the consumer runs between them, so memory holds one frame, not the video) while the audio is
collected, and is complete when the frames are exhausted. Same samples and frames as
:func:`decode_audio` and :func:`iter_video_frames` on the same arguments (tested bit for bit).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 8000
#: seconds decoded before a clip's start and dropped (decoder/resampler warm-up)
AUDIO_PREROLL_S = 0.2


class MediaError(Exception):
    """A media file that cannot give what was asked (``kind`` names the reason, ``path`` the file)."""

    def __init__(self, path: str | os.PathLike[str], kind: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.kind = kind


@dataclasses.dataclass
class DecodedAudio:
    """``samples`` float32 (n,) 16 kHz mono from ``start``; ``source_rate``/``source_channels`` of the file."""

    samples: np.ndarray
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        return self.samples.size / SAMPLE_RATE


@dataclasses.dataclass
class MediaInfo:
    """What a file holds: durations in seconds (``None`` when unknown), stream presence and rates."""

    path: str
    has_audio: bool
    has_video: bool
    duration: float | None
    audio_rate: int | None
    video_fps: float | None


def _open(path: str | os.PathLike[str]) -> Any:
    import av

    p = Path(path)
    if not p.is_file():
        raise MediaError(path, "unreadable", "file not found")
    if p.stat().st_size == 0:
        raise MediaError(path, "empty", "file is empty (0 bytes)")
    try:
        return av.open(str(p))
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise MediaError(
            path, "unreadable", f"cannot open media ({type(exc).__name__}: {exc})"
        ) from exc


def _check_range(path: str | os.PathLike[str], start: float, end: float | None) -> None:
    if not np.isfinite(start) or start < 0:
        raise MediaError(path, "bad_range", f"start must be >= 0 seconds, got {start}")
    if end is not None and not end > start:
        raise MediaError(path, "bad_range", f"end must be > start ({start}), got {end}")


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Stream presence, duration and rates of a media file (raises :class:`MediaError`)."""
    with _open(path) as container:
        a = container.streams.audio[0] if container.streams.audio else None
        v = container.streams.video[0] if container.streams.video else None
        duration = container.duration / 1_000_000 if container.duration else None
        fps = float(v.average_rate) if v is not None and v.average_rate else None
        return MediaInfo(
            str(path),
            a is not None,
            v is not None,
            duration,
            a.rate if a is not None else None,
            fps,
        )


def decode_audio(
    path: str | os.PathLike[str], *, start: float = 0.0, end: float | None = None
) -> DecodedAudio:
    """Decode the first audio stream between ``start`` and ``end`` (seconds; ``None`` = to the end).

    Raises :class:`MediaError` (``no_audio``, ``unreadable``, ``bad_sample_rate``, ``bad_range``).
    A stream whose decoded audio is shorter than ``end`` just ends early (no padding at the end).
    """
    import av

    _check_range(path, start, end)
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(path, "no_audio", "no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or 0)
        if rate < MIN_SAMPLE_RATE:
            raise MediaError(
                path,
                "bad_sample_rate",
                f"audio sample rate {rate} Hz is below {MIN_SAMPLE_RATE} Hz",
            )
        channels = int(stream.channels or 0)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        if start > 0:
            # from a little before start (then trimmed by pts): the resampler's and decoder's
            # start-up transients fall before the clip
            container.seek(int(max(0.0, start - AUDIO_PREROLL_S) * 1_000_000), any_frame=False)
        chunks: list[np.ndarray] = []
        first_t: float | None = None
        try:
            for frame in container.decode(stream):
                if first_t is None and frame.pts is not None:
                    first_t = float(frame.pts * frame.time_base)
                if (
                    end is not None
                    and frame.pts is not None
                    and float(frame.pts * frame.time_base) >= end
                ):
                    break
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise MediaError(path, "unreadable", f"cannot decode audio ({exc})") from exc
            logger.warning("%s: audio decoding stopped early: %s", path, exc)
    return _place_audio(chunks, first_t, start, end, rate, channels)


def _place_audio(
    chunks: list[np.ndarray], first_t: float | None, start: float, end: float | None, rate: int, channels: int
) -> DecodedAudio:
    """Resampled chunks on the clip's time axis: zeros before the first frame's pts, cut at ``end``."""
    x = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if first_t is None:
        first_t = 0.0
    offset = int(round((first_t - start) * SAMPLE_RATE))
    if offset > 0:
        x = np.concatenate([np.zeros(offset, np.float32), x])
    elif offset < 0:
        x = x[-offset:]
    if end is not None:
        x = x[: int(round((end - start) * SAMPLE_RATE))]
    return DecodedAudio(np.ascontiguousarray(x), rate, channels)


def iter_video_frames(
    path: str | os.PathLike[str], *, fps: float = 5.0, start: float = 0.0, end: float | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(t, rgb)`` for frames sampled at ``fps`` between ``start`` and ``end``.

    ``t`` is the frame's pts in seconds relative to ``start``; ``rgb`` uint8 (H, W, 3).
    Raises :class:`MediaError` (``no_video``, ``unreadable``, ``bad_range``).
    """
    import av

    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    _check_range(path, start, end)
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(path, "no_video", "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start > 0:
            container.seek(int(start * 1_000_000), any_frame=False)
        k = 0
        eps = 1e-6
        n = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * frame.time_base) - start
                if t < -eps:
                    continue
                if end is not None and t >= end - start - eps:
                    break
                if t + eps >= k / fps:
                    while (k + 1) / fps <= t + eps:
                        k += 1
                    k += 1
                    n += 1
                    yield t, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            if n == 0:
                raise MediaError(path, "unreadable", f"cannot decode video ({exc})") from exc
            logger.warning("%s: video decoding stopped early: %s", path, exc)


# ------------------------------------------------------------------------------ one pass, both streams


class Demux:
    """One pass over a media file: sampled video frames and 16 kHz mono audio (see :func:`demux`).

    Iterate (once) for ``(t, rgb)`` frames exactly as :func:`iter_video_frames` yields them; then
    :attr:`audio` is what :func:`decode_audio` returns. Reading :attr:`audio` before the frames are
    exhausted finishes the pass first (frames not yet taken are decoded and dropped). :attr:`info`
    (:class:`MediaInfo`) is read from the open container, so no separate :func:`probe` is needed.
    Use as a context manager, or let the pass finish: the container is closed at its end.
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
        self._chunks: list[np.ndarray] = []
        self._first_t: float | None = None
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
        """The decoded audio (the pass is finished first if it is not); ``ValueError`` if not asked for."""
        if self._a is None:
            raise ValueError(f"{self.path}: demux was asked for no audio (audio=False)")
        if not self._done:
            for _ in self if self._iter is None else self._iter:
                pass
        if self._audio is None:
            raise RuntimeError(f"{self.path}: the demux pass was abandoned before its end (no audio)")
        return self._audio

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
                            if self._first_t is None and frame.pts is not None:
                                self._first_t = float(frame.pts * frame.time_base)
                            if end is not None and frame.pts is not None and float(frame.pts * frame.time_base) >= end:
                                a_done = True
                                break
                            for out in self._resampler.resample(frame):
                                self._chunks.append(out.to_ndarray().reshape(-1))
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
                if a is not None and not self._chunks:
                    raise MediaError(self.path, "unreadable", f"cannot decode audio ({exc})") from exc
                if v is not None and n_frames == 0 and a is None:
                    raise MediaError(self.path, "unreadable", f"cannot decode video ({exc})") from exc
                logger.warning("%s: %s decoding stopped early: %s", self.path, which, exc)
            if a is not None:
                for out in self._resampler.resample(None):
                    self._chunks.append(out.to_ndarray().reshape(-1))
                self._audio = _place_audio(self._chunks, self._first_t, start, end, self._rate, self._channels)
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
) -> Demux:
    """Open ``path`` once for its audio and its frames sampled at ``fps`` (see :class:`Demux`)::

        d = demux(path, fps=5.0)
        for t, rgb in d: ...          # frames, as iter_video_frames(path, fps=5.0)
        samples = d.audio.samples     # then the audio, as decode_audio(path)

    Raises :class:`MediaError` as :func:`decode_audio`/:func:`iter_video_frames` do (``unreadable``,
    ``empty``, ``no_audio`` / ``no_video`` for a stream asked for, ``bad_sample_rate``, ``bad_range``).
    """
    return Demux(path, fps=fps, start=start, end=end, audio=audio, video=video)
