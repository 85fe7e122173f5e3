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
With ``on_audio`` the audio is handed over as it is decoded instead (already placed on the clip's
time axis: the chunks concatenate to exactly :attr:`Demux.audio`'s samples), so a consumer on
another thread (``analyze``'s audio steps) works while the frames are still being decoded.

Layout: this module holds :func:`probe`, :func:`decode_audio` and :func:`iter_video_frames` and
re-exports the rest: :class:`MediaError`, the decoded records and the audio placement
(``_media_base``), :class:`Demux` / :func:`demux` (``_media_demux``). Import every name from here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import numpy as np

from avemotion._contract import SAMPLE_RATE
from avemotion.features._media_base import (
    AUDIO_PREROLL_S,
    MIN_SAMPLE_RATE,
    DecodedAudio,
    MediaError,
    MediaInfo,
    _check_range,
    _open,
    _place_audio,
)
from avemotion.features._media_demux import Demux, demux

__all__ = [
    "AUDIO_PREROLL_S",
    "MIN_SAMPLE_RATE",
    "SAMPLE_RATE",
    "DecodedAudio",
    "Demux",
    "MediaError",
    "MediaInfo",
    "decode_audio",
    "demux",
    "iter_video_frames",
    "probe",
]

logger = logging.getLogger(__name__)


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
