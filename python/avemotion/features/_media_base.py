"""Shared parts of media decoding: :class:`MediaError`, the decoded records, opening a file, the
range check and placing resampled audio on the clip's time axis (part of
:mod:`avemotion.features.media`; import from there)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import SAMPLE_RATE

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


class _AudioPlacer:
    """:func:`_place_audio` done incrementally: resampled chunks in, chunks on the clip's time axis out
    (zeros before the first frame's pts, samples before ``start`` dropped, cut at ``end``), handed to
    ``emit`` as soon as the first pts is known. The emitted chunks concatenate to exactly what
    :func:`_place_audio` returns for the same chunks."""

    def __init__(self, start: float, end: float | None, emit: Any) -> None:
        self.start, self.emit = start, emit
        self.limit = None if end is None else int(round((end - start) * SAMPLE_RATE))
        self.first_t: float | None = None
        self.pending: list[np.ndarray] = []  # chunks that came before any pts (rare)
        self.skip: int | None = None  # samples still to drop (offset < 0); None: placement unknown yet
        self.emitted = 0

    def pts(self, t: float) -> None:
        """The first audio frame's pts (seconds); later calls are ignored."""
        if self.first_t is None:
            self.first_t = t

    def add(self, chunk: np.ndarray) -> None:
        if self.skip is None:
            if self.first_t is None:
                self.pending.append(chunk)
                return
            self._place()
        self._out(chunk)

    def close(self) -> None:
        """End of the audio: what is still held back (placement defaults to t = 0 without any pts)."""
        if self.skip is None:
            self._place()

    def _place(self) -> None:
        offset = int(round(((self.first_t if self.first_t is not None else 0.0) - self.start) * SAMPLE_RATE))
        self.skip = max(0, -offset)
        if offset > 0:
            self._out(np.zeros(offset, np.float32))
        pending, self.pending = self.pending, []
        for c in pending:
            self._out(c)

    def _out(self, chunk: np.ndarray) -> None:
        x = chunk.astype(np.float32, copy=False)
        if self.skip:
            k = min(self.skip, x.size)
            x, self.skip = x[k:], self.skip - k
        if self.limit is not None:
            x = x[: max(0, self.limit - self.emitted)]
        if x.size:
            self.emitted += x.size
            self.emit(np.ascontiguousarray(x))
