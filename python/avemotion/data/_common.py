"""Pieces shared by the corpus processors: results, per-item errors, output, media durations."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import wave
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avemotion.data.manifest import (
    DEFAULT_PROPORTIONS,
    ManifestRow,
    ManifestSummary,
    check_proportions,
    write_manifest,
)

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

    def error(self, source: str | os.PathLike[str], line: int | None, message: str) -> None:
        self.n_errors += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(ItemError(str(source), line, message))
        if self.n_errors <= 20:
            log.warning("%s: skipped %s", self.corpus, ItemError(str(source), line, message))


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 0
    proportions: tuple[float, float, float] = DEFAULT_PROPORTIONS

    def __post_init__(self) -> None:
        check_proportions(self.proportions)


def finish(
    result: ProcessResult, rows: Iterable[ManifestRow], out: str | os.PathLike[str] | None, kind: str
) -> ProcessResult:
    """Stream ``rows`` to ``out`` (atomic, validated, summary JSON beside it) or collect them."""
    if out is not None:
        result.summary = write_manifest(out, rows, kind=kind)
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
    return zlib.crc32(key.encode(), _seed_crc(seed)) / 4294967296.0 < fraction


@functools.lru_cache(maxsize=64)
def _seed_crc(seed: int) -> int:
    return zlib.crc32(f"avemotion-negatives:{seed}".encode())


def media_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds of a media file: WAV from its header (stdlib), others with ``ffprobe``.

    Raises FileNotFoundError when missing, ValueError when unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"media file not found: {p}")
    if p.suffix.lower() == ".wav":
        try:
            with wave.open(str(p), "rb") as w:
                return w.getnframes() / float(w.getframerate())
        except (wave.Error, EOFError) as exc:
            raise ValueError(f"{p}: not a readable WAV file ({exc})") from exc
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


def find_media(directory: Path, stem: str, extensions: Sequence[str]) -> Path | None:
    """The first ``directory/stem.ext`` that exists, trying ``extensions`` in order."""
    for ext in extensions:
        p = directory / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def require_dir(root: str | os.PathLike[str], what: str) -> Path:
    p = Path(root)
    if not p.is_dir():
        raise FileNotFoundError(f"{what}: corpus root {p} is not a directory")
    return p
