"""Resume bookkeeping of ``avemotion extract``: ``{out_dir}/index.csv`` read and written atomically,
and the check that a finished clip's ``.npz`` is intact (size + sha256, or it loads). Re-exported by
:mod:`avemotion.features.extract`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from avemotion.features._extract_task import INDEX_COLUMNS, INDEX_NAME, ClipResult, ClipTask

logger = logging.getLogger("avemotion.features.extract")


def read_index(out_dir: str | os.PathLike[str]) -> dict[str, ClipResult]:
    """Rows of ``{out_dir}/index.csv`` by clip id (empty when there is none)."""
    p = Path(out_dir) / INDEX_NAME
    if not p.is_file():
        return {}
    with p.open(newline="") as fh:
        return {r["clip_id"]: ClipResult.from_row(r) for r in csv.DictReader(fh)}


def write_index(out_dir: str | os.PathLike[str], results: Iterable[ClipResult]) -> Path:
    """Write ``index.csv`` atomically (``avemotion._io``: temp file + ``os.replace``, 0666 minus umask)."""
    from avemotion._io import atomic_write_text

    p = Path(out_dir) / INDEX_NAME
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(INDEX_COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow(r.row())
    return atomic_write_text(p, buf.getvalue())


def file_digest(path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(size in bytes, sha256 hex)`` of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _result_from_file(task: ClipTask, path: Path) -> ClipResult:
    from avemotion.features.clipfile import load_clip

    c = load_clip(path)
    t = c.meta.get("timings", {})
    size, digest = file_digest(path)
    return ClipResult(
        task.clip_id,
        "ok",
        path.name,
        "",
        len(c.audio_times),
        len(c.video_times),
        float(c.meta.get("seconds", 0.0)),
        int(c.video_mask.sum()),
        "",
        "; ".join(c.meta.get("warnings", [])),
        str(task.media_path),
        task.start,
        task.end,
        **{k: float(t.get(k, 0.0)) for k in ("decode_s", "audio_s", "video_s", "total_s")},
        bytes=size,
        sha256=digest,
    )


def _verified_result(task: ClipTask, path: Path, row: ClipResult | None) -> ClipResult | None:
    """The index row of a finished clip whose ``.npz`` is intact, else None (extract it again).

    With a size and sha256 recorded in the index, the file must match both (a truncated, altered or
    replaced file does not). Without them (an index of an older version, or none), the file must load
    through :func:`avemotion.features.clipfile.load_clip`, and its row is rebuilt from the file.
    """
    if row is not None and row.status == "ok" and row.sha256:
        try:
            if path.stat().st_size == row.bytes and file_digest(path) == (row.bytes, row.sha256):
                return row
        except OSError as exc:
            logger.warning("%s: unreadable (%s); extracting it again", path, exc)
            return None
        logger.warning(
            "%s: does not match index.csv (size/sha256 recorded when it was written); extracting "
            "it again",
            path,
        )
        return None
    import zipfile
    import zlib

    try:
        return _result_from_file(task, path)
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        logger.warning(
            "%s: not a readable clip file (%s: %s); extracting it again",
            path,
            type(exc).__name__,
            exc,
        )
        return None
