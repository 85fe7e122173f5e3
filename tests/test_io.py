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


def test_exclusive_write_refuses_an_existing_target(tmp_path) -> None:
    target = atomic_write_text(tmp_path / "stats.pkl", "first")
    with pytest.raises(FileExistsError, match="stats.pkl"):
        atomic_write_bytes(target, b"second", exclusive=True)
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.pkl"]  # the temporary file is gone
    new = atomic_write_bytes(tmp_path / "new.bin", b"x", exclusive=True)
    assert new.read_bytes() == b"x" and stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_current_umask()


def test_exclusive_write_without_hard_links(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def no_links(*args: object) -> None:
        raise OSError(errno.EPERM, "links not supported here")

    monkeypatch.setattr(os, "link", no_links)
    p = atomic_write_bytes(tmp_path / "a", b"1", exclusive=True)
    assert p.read_bytes() == b"1"
    with pytest.raises(FileExistsError):
        atomic_write_bytes(p, b"2", exclusive=True)
    assert p.read_bytes() == b"1" and [x.name for x in tmp_path.iterdir()] == ["a"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _racer(path: str, payload: bytes, barrier, results) -> None:  # type: ignore[no-untyped-def]
    import avemotion._io as io_mod

    real = io_mod._publish

    def publish_after_barrier(tmp: str, target, exclusive: bool) -> None:  # type: ignore[no-untyped-def]
        barrier.wait(timeout=60)  # both writers have their complete file: publish at the same moment
        real(tmp, target, exclusive)

    io_mod._publish = publish_after_barrier
    try:
        io_mod.atomic_write_bytes(path, payload, exclusive=True)
        results.put(("won", payload))
    except FileExistsError:
        results.put(("lost", payload))


def test_two_processes_exclusive_exactly_one_wins(tmp_path) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    target = tmp_path / "out.pkl"
    procs = [ctx.Process(target=_racer, args=(str(target), bytes([65 + i]) * 1000, barrier, results)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    outcomes = sorted(results.get(timeout=10) for _ in procs)
    assert [o for o, _ in outcomes] == ["lost", "won"]
    winner = next(data for o, data in outcomes if o == "won")
    assert target.read_bytes() == winner and [x.name for x in tmp_path.iterdir()] == ["out.pkl"]
