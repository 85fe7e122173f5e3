"""Atomic writes: old content survives a failed write, no temporary files remain, normal permissions."""

from __future__ import annotations

import os
import stat

import pytest

from avemotion._io import atomic_copy, atomic_open, atomic_write_bytes, atomic_write_text


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path) -> None:
    target = tmp_path / "out.jsonl"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("half of the new content")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old\n"
    with pytest.raises(TypeError):
        atomic_write_text(target, 123)  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_permissions_follow_umask_not_mkstemp(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        p = atomic_write_bytes(tmp_path / "sub" / "a.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044


def test_copy_and_mode_check(tmp_path) -> None:
    src = atomic_write_bytes(tmp_path / "src", b"abc")
    assert atomic_copy(src, tmp_path / "dst").read_bytes() == b"abc"
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "a"):
            pass
