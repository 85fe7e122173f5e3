"""The one atomic writer: every file avemotion writes goes through here.

A write goes to a temporary file in the target's directory, is flushed and fsynced, then moved into
place. A crash or an exception mid-write leaves the old file (or none), never a partial one; the
temporary file is removed on failure. Written files get the usual permissions (0666 minus the
umask), not mkstemp's 0600.

``exclusive=True`` makes "the target does not exist yet" and "the target now holds the new content"
one atomic step: the complete temporary file is hard-linked to the target name, which fails with
``FileExistsError`` when something is already there (POSIX ``link`` never replaces). Two processes
racing for one target: exactly one wins, the other gets ``FileExistsError`` and the winner's file is
untouched. On a file system without hard links, the target is claimed with ``O_CREAT | O_EXCL``
before the complete file replaces it (still exclusive; a reader may briefly see an empty file).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
# link() errors meaning "this file system has no hard links" (not "the target exists")
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK}


def _publish(tmp: str, target: Path, exclusive: bool) -> None:
    """Move the complete temporary file ``tmp`` to ``target`` (see the module docstring)."""
    if not exclusive:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists already (not replaced)", str(target)) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _FILE_MODE)  # FileExistsError if taken
        os.close(fd)
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    exclusive: bool = False,
) -> Iterator[IO[Any]]:
    """``with atomic_open(p, "w", encoding="utf-8") as f: ...`` replaces ``p`` only on success.

    ``exclusive=True``: raise ``FileExistsError`` (after writing, before publishing) when ``p``
    exists, atomically with the creation; nothing is then changed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode: expected 'w' or 'wb', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if mode == "w" and encoding is None:
            encoding = "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        _publish(tmp, target, exclusive)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, exclusive: bool = False) -> Path:
    with atomic_open(path, "wb", exclusive=exclusive) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, exclusive: bool = False) -> Path:
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    with atomic_open(path, "w", newline="", exclusive=exclusive) as fh:
        fh.write(text)
    return Path(path)


def atomic_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    with open(src, "rb") as inp, atomic_open(dst, "wb") as out:
        shutil.copyfileobj(inp, out)
    return Path(dst)
