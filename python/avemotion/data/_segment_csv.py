"""AudioSet segment CSVs, streamed: the row grammar, block reads and the two scanning passes.

Rows look like ``--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"`` (see ``avemotion.data.audioset``).
This module holds the one Python definition of that grammar (:data:`ROW_PATTERN`); the C++ scanner
(``avemotion._core.SegmentScanner``, ``cpp/include/avemotion/segment_scan.h``) implements the same
grammar at memory speed, and ``tests/data/test_audioset.py`` compares it with :data:`INVALID_LINE`,
which is built from :data:`ROW_PATTERN`. Every row Python parses goes through
:func:`parse_segment_line`, whichever pass reads it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from avemotion.data._common import ProcessResult, seed_crc

# ----------------------------------------------------------------------------- row grammar
NUM = r"[0-9]+(?:\.[0-9]*)?"
#: A well-formed row, without its newline: ``YTID, start, end, "mid,mid"`` (YTID 11 characters of
#: ``[A-Za-z0-9_-]``; spaces after the commas and before the end optional; a CR before the newline).
ROW_PATTERN = rf'([A-Za-z0-9_-]{{11}}), *({NUM}), *({NUM}), *"([^"\n]*)" *\r?'
_ROW = re.compile(ROW_PATTERN)
#: A line that is neither a well-formed row, a comment nor blank (the reference for the scanner).
INVALID_LINE = re.compile(rf"^(?!{ROW_PATTERN}$|#|[ \t\r]*$).*$", re.M)
YTID = re.compile(r"^[A-Za-z0-9_-]{11}$")


class RowError(ValueError):
    """A line that breaks the segment row grammar (the message says how)."""


def parse_segment_line(raw: str) -> tuple[str, float, float, str]:
    """``YTID, start, end, "labels"`` -> ``(ytid, start, end, labels)`` for one line (a trailing
    newline is ignored). Raises :class:`RowError` naming what is wrong: the grammar of
    :data:`ROW_PATTERN`, then ``start < end``."""
    line = raw.rstrip("\n")
    m = _ROW.fullmatch(line)
    if m is None:
        raise RowError(_why_not_a_row(line))
    ytid, s, e, labels = m.groups()
    start, end = float(s), float(e)
    if not start < end:
        raise RowError(f"need start < end, got start={s} end={e}")
    return ytid, start, end, labels


def _why_not_a_row(line: str) -> str:
    cells = next(csv.reader([line], skipinitialspace=True), [])
    shown = line.strip()[:80]
    if len(cells) != 4:
        return f'expected 4 fields (YTID, start, end, "labels"), got {len(cells)} in {shown!r}'
    if not YTID.match(cells[0].strip()):
        return f"bad YTID {cells[0].strip()!r} (11 characters of A-Z a-z 0-9 _ -) in {shown!r}"
    if not all(re.fullmatch(NUM, c.strip()) for c in cells[1:3]):
        return f"start/end not plain non-negative numbers in {shown!r}"
    return f'labels must be one double-quoted list ("/m/..,/m/..") in {shown!r}'


def parse_or_report(
    line: str, path: Path, lineno: int, result: ProcessResult
) -> tuple[str, float, float, str] | None:
    """A row's fields; None for a comment or blank line, or (reported) a malformed row."""
    if line[:1] == "#" or not line.strip():
        return None
    try:
        return parse_segment_line(line)
    except RowError as exc:
        result.error(path, lineno, str(exc))
        return None


def iter_segment_tuples(path: Path, result: ProcessResult) -> Iterator[tuple[int, str, float, float, str]]:
    """Stream one segment CSV as ``(line, ytid, start, end, labels)``; malformed rows go to
    ``result.error`` with file and line. Constant memory; no C++ (the streaming passes below read
    bytes through the scanner instead)."""
    with path.open(encoding="utf-8", newline="") as f:
        for lineno, raw in enumerate(f, 1):
            parsed = parse_or_report(raw, path, lineno, result)
            if parsed is not None:
                yield (lineno, *parsed)


# ----------------------------------------------------------------------------- streaming passes
#: Bytes read at a time by the streaming passes (memory is a few times this, whatever the file size).
BLOCK = 1 << 20


def blocks(path: Path, block: int | None = None) -> Iterator[memoryview]:
    """Whole lines ending in b"\\n": the lines that end within the partial line carried over plus
    the next ``block`` bytes read (a last line without a newline gets one). Each view is into one
    reused buffer and valid only until the next is requested (copy what you keep); lines are
    counted by the caller (the scanner). Memory: about 2 * ``block`` (more only for a longer line)."""
    block = block or BLOCK
    buf = bytearray(2 * block)
    n_tail = 0
    with path.open("rb") as f:
        while True:
            if len(buf) < n_tail + block:  # a line longer than the buffer: a bigger one
                buf = buf[:n_tail] + bytearray(n_tail + block)
            mv = memoryview(buf)
            n = f.readinto(mv[n_tail : n_tail + block])
            if n == 0:
                if n_tail:
                    buf[n_tail : n_tail + 1] = b"\n"
                    yield mv[: n_tail + 1]
                return
            end = n_tail + n
            cut = buf.rfind(b"\n", n_tail, end) + 1
            if cut:
                yield mv[:cut]
            tail = bytes(mv[cut:end])
            n_tail = len(tail)
            buf[:n_tail] = tail


def needles_of(laugh: dict[str, str]) -> list[str]:
    """The laughter MIDs as scanner needles, longest first."""
    return sorted(laugh, key=len, reverse=True)


def count_and_find(path: Path, laugh: dict[str, str], has_laughter: Callable[[str], bool],
                   block: int | None = None) -> tuple[int, list[tuple[str, float, float]]]:
    """First pass over a segment CSV, in :data:`BLOCK`-byte chunks: the number of data rows (lines
    not starting with '#') and the ``(ytid, start, end)`` of laughter rows. The C++ scanner counts
    the lines and finds those containing a laughter MID; only those are parsed. Malformed rows are
    skipped here and reported by the second pass (:func:`select`)."""
    from avemotion import _core

    scanner = _core.SegmentScanner(needles_of(laugh), [], 0, 0, False)
    n_rows = 0
    pos: list[tuple[str, float, float]] = []
    for data in blocks(path, block):
        lines, comments, _bad, picks = scanner.scan(data)
        n_rows += lines - comments
        for _i, b, e, _flags in picks:
            try:
                line = str(data[b:e], "utf-8")
            except UnicodeDecodeError:
                continue
            if line[:1] == "#":
                continue
            try:
                ytid, start, end, labels = parse_segment_line(line)
            except RowError:
                continue
            if has_laughter(labels):
                pos.append((ytid, start, end))
    return n_rows, pos


def select(
    path: Path, result: ProcessResult, needles: Sequence[str], handled: set[str], frac: float, seed: int
) -> Iterator[tuple[int, str, float, float, str, bool]]:
    """Second pass: the rows that may be emitted, as ``(line, ytid, start, end, labels, drawn)``
    where ``drawn`` says whether the row is in the negative sample.

    A row is selected when its raw line contains a laughter MID (substring), when the CRC-32 of
    the raw line (its UTF-8 bytes without the newline, CRC continued from the seed's CRC) is below
    ``frac * 2**32`` (the negative draw), or when it starts with a strongly annotated YouTube id.
    Each :data:`BLOCK` of bytes goes through the C++ scanner once (row grammar, MID search, CRC,
    id lookup at memory speed); only the selected lines of a clean block reach Python and are
    parsed. A block with a line that breaks the row grammar is parsed line by line so every bad
    row is reported with its line.
    """
    from avemotion import _core

    limit = int(frac * 4294967296.0) if frac < 1.0 else 1 << 33
    ids = sorted(i for i in handled if len(i.encode()) == 11)
    scanner = _core.SegmentScanner(list(needles), ids, seed_crc(seed), limit, True)
    sampled_flag, hit_flag = _core.PICK_SAMPLED, _core.PICK_HIT

    first = 1
    for data in blocks(path):
        n_lines, _comments, bad, picks = scanner.scan(data)
        items: Iterable[tuple[int, bytes, int]]
        if bad < 0:
            items = [(i, bytes(data[b:e]), f) for i, b, e, f in picks]
        else:  # every line, with the scanner's flags for the picked ones
            flags = {i: f for i, _b, _e, f in picks}
            items = [(i, raw, flags.get(i, 0)) for i, raw in enumerate(bytes(data[:-1]).split(b"\n"))]
        for i, raw, f in items:
            lineno = first + i
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                result.error(path, lineno, f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})")
                continue
            parsed = parse_or_report(line, path, lineno, result)
            if parsed is None:
                continue
            ytid, start, end, labels = parsed
            drawn = bool(f & sampled_flag)
            if drawn or f & hit_flag or ytid in handled:
                yield lineno, ytid, start, end, labels, drawn
        first += n_lines
