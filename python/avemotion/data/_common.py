"""Pieces shared by the corpus processors: results, per-item errors, output, media durations,
text files of unknown encoding, corpus roots."""

from __future__ import annotations

import functools
import logging
import os
import struct
import subprocess
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from avemotion.data.manifest import ManifestRow, ManifestSummary, write_manifest

log = logging.getLogger("avemotion.data")

#: Stored per-item errors are capped (all are counted) so a broken multi-million-row file cannot
#: exhaust memory.
MAX_STORED_ERRORS = 1000


@dataclass
class ItemError:
    """One input item (file, line, entry) that could not be used, and why."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}" if self.line else f"{self.source}: {self.message}"


@dataclass
class ProcessResult:
    """What a corpus ``process()`` produced.

    ``rows`` holds the rows when no ``out`` was given (else empty: they were streamed to ``out``);
    ``summary`` counts them either way; ``errors`` lists skipped inputs (up to 1000 kept,
    ``n_errors`` counts all).
    """

    corpus: str
    rows: list[ManifestRow] = field(default_factory=list)
    summary: ManifestSummary | None = None
    out: Path | None = None
    errors: list[ItemError] = field(default_factory=list)
    n_errors: int = 0
    stats: dict[str, int | float] = field(default_factory=dict)

    def report(self) -> dict[str, int | float]:
        """``stats`` plus ``skipped_items`` (the error count): what the summary JSON records."""
        return {**self.stats, "skipped_items": self.n_errors}

    def error(self, source: str | os.PathLike[str], line: int | None, message: str) -> None:
        self.n_errors += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(ItemError(str(source), line, message))
        if self.n_errors <= 20:
            log.warning("%s: skipped %s", self.corpus, ItemError(str(source), line, message))


def finish(
    result: ProcessResult, rows: Iterable[ManifestRow], out: str | os.PathLike[str] | None, kind: str
) -> ProcessResult:
    """Stream ``rows`` to ``out`` (atomic, validated, summary JSON beside it, with the result's
    ``stats`` and error count under ``"report"``) or collect them."""
    if out is not None:
        result.summary = write_manifest(out, rows, kind=kind, report=result.report)
        result.out = Path(out)
    else:
        result.rows = list(rows)
        result.summary = ManifestSummary.of(result.rows)
    return result


def keep_fraction(key: str, seed: int, fraction: float) -> bool:
    """Deterministic Bernoulli(fraction) draw for ``key`` (used to subsample negatives)."""
    if fraction >= 1.0:
        return True
    if fraction <= 0.0:
        return False
    # CRC-32 (zlib, C speed, identical on every platform) seeded through its start value: a
    # sampling hash, not a security one; it runs once per negative row of multi-million-row CSVs.
    return zlib.crc32(key.encode(), seed_crc(seed)) / 4294967296.0 < fraction


@functools.lru_cache(maxsize=64)
def seed_crc(seed: int) -> int:
    """CRC-32 of ``"avemotion-negatives:{seed}"``: the start value of every negative draw."""
    return zlib.crc32(f"avemotion-negatives:{seed}".encode())


def media_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds of a media file: WAV from its RIFF header (any sample format: integer
    PCM, IEEE float, WAVE_FORMAT_EXTENSIBLE; extra chunks such as ``LIST``/``PAD `` skipped), other
    files with ``ffprobe``.

    Raises FileNotFoundError when missing, ValueError when unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"media file not found: {p}")
    if p.suffix.lower() == ".wav":
        with p.open("rb") as f:
            head = f.read(12)
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                return _riff_wav_duration(p, f)
        if head.startswith(b"version http"):  # "version https://git-lfs.github.com/spec/v1"
            raise ValueError(f"{p}: a Git LFS pointer, not audio (fetch the media with `git lfs pull`)")
        if head[:4] not in (b"RF64", b"BW64"):  # 64-bit WAV variants: left to ffprobe
            raise ValueError(f"{p}: not a readable WAV file (no RIFF/WAVE header)")
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(p)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        return float(out)
    except FileNotFoundError as exc:
        raise ValueError(f"{p}: ffprobe not installed (Debian package ffmpeg) to read its duration") from exc
    except (subprocess.CalledProcessError, ValueError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"{p}: ffprobe could not read a duration ({exc})") from exc


def _riff_wav_duration(p: Path, f: BinaryIO) -> float:
    """Frames / rate from the ``fmt `` and ``data`` chunks (file positioned after ``RIFF....WAVE``)."""
    read, seek = f.read, f.seek
    rate = block_align = 0
    size_left = p.stat().st_size - 12
    while size_left >= 8:
        hdr = read(8)
        if len(hdr) < 8:
            break
        cid, n = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        size_left -= 8
        if cid == b"fmt ":
            fmt = read(min(n, 64))
            if len(fmt) < 16:
                raise ValueError(f"{p}: not a readable WAV file (fmt chunk of {len(fmt)} bytes)")
            _tag, _channels, rate, _byte_rate, block_align = struct.unpack("<HHIIH", fmt[:14])
            seek(n - len(fmt) + (n & 1), 1)
        elif cid == b"data":
            if not rate or not block_align:
                raise ValueError(f"{p}: not a readable WAV file (data chunk before a valid fmt chunk)")
            n = min(n, size_left)  # a header that claims more than the file holds (truncated file)
            return (n // block_align) / float(rate)
        else:
            seek(n + (n & 1), 1)
        size_left -= n + (n & 1)
    raise ValueError(f"{p}: not a readable WAV file (no fmt/data chunk)")


def read_text(path: str | os.PathLike[str], encoding: str | None = None) -> tuple[str, str]:
    """``(text, encoding)`` of a small text file whose encoding a corpus does not declare: a UTF-8
    BOM is dropped; UTF-8 is tried first, then ``encoding`` (default Latin-1, which decodes any
    byte). Line endings are kept as they are (``splitlines()`` handles LF, CRLF and CR)."""
    data = Path(path).read_bytes()
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        return data[3 if bom else 0 :].decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        enc = encoding or "latin-1"
        return data.decode(enc), enc


def find_media(directory: Path, stem: str, extensions: Sequence[str]) -> Path | None:
    """The first ``directory/stem.ext`` that exists, trying ``extensions`` in order."""
    for ext in extensions:
        p = directory / f"{stem}{ext}"
        if p.is_file():
            return p
    return None
