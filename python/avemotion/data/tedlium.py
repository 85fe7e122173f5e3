"""TED-LIUM: laughter from marker tokens in the STM transcripts.

Files read (TED-LIUM release 1-3, ``{train,dev,test}/stm/*.stm``; audio ``.../sph/{talk}.sph``)::

    AaronHuey_2010X 1 AaronHuey_2010X 17.82 28.81 <o,f0,male> i'm going to talk today about ...
    AaronHuey_2010X 1 inter_segment_gap 28.81 29.40 <o,,unknown> ignore_time_segment_in_scoring
    # fields: talk channel speaker start_s end_s <condition> transcript

Layouts accepted (``root``): a release folder as unpacked from openslr (``TEDLIUM_release1/``,
``TEDLIUM_release2/``: ``{train,dev,test}/stm/*.stm`` + ``sph/``; ``TEDLIUM_release-3/``: ``data/``
(every talk), ``legacy/`` and ``speaker-adaptation/`` (the same talks again, split two ways)), any
folder below one of them, or any folder of ``*.stm`` files (searched recursively). Release 3 is
detected by its ``data/``+``legacy/`` folders and only ``distribution`` (default ``data``) is read, so
no talk is read twice; in any layout a talk found in a second STM file is reported and skipped.
STM files are UTF-8 (bytes that are not are replaced), LF or CRLF; ``;;`` lines are comments.

Release 3's normalized transcripts carry no laughter markers, so with the default markers it yields
nothing for them (a warning says so); text that keeps audience reactions (MuST-C style
``(Laughter)``) does. ``markers`` (case-insensitive substrings of the transcript) are configurable.
Segments whose transcript is ``ignore_time_segment_in_scoring`` are skipped.

Rows: a segment containing a marker is a ``laughter`` ``clip`` row (the laugh is somewhere in the
segment); segments without one are ``no_laughter`` candidates, dropped when within ``guard_s`` of a
laughter segment of the same talk, subsampled deterministically to ``negatives_per_positive`` times the
talk's positives. The talk is the group. Media: ``{media_root}/{talk}.sph`` (default: the ``sph``
folder beside the ``stm`` folder).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from avemotion.data._common import ProcessResult, finish, keep_fraction
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "tedlium"
DEFAULT_MARKERS = ("(laughter)", "[laughter]", "<laughter>")
IGNORE = "ignore_time_segment_in_scoring"
RELEASE3_DISTRIBUTIONS = ("data", "legacy", "speaker-adaptation")


@dataclass
class StmSegment:
    path: Path
    line: int
    talk: str
    speaker: str
    start: float
    end: float
    text: str


def parse_stm(path: Path, result: ProcessResult) -> list[StmSegment]:
    """Segments of one STM file; malformed lines reported with file and line, ignored segments skipped."""
    segs: list[StmSegment] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith(";;"):
                continue
            parts = line.split(None, 6)
            if len(parts) < 6:
                result.error(path, lineno, f"expected 'talk channel speaker start end <cond> text', got {len(parts)} fields")
                continue
            talk, _channel, speaker, s, e = parts[:5]
            rest = parts[5:]
            if rest and rest[0].startswith("<"):
                text = rest[1] if len(rest) > 1 else ""
            else:
                text = " ".join(rest)
            try:
                start, end = float(s), float(e)
            except ValueError:
                result.error(path, lineno, f"start/end not numbers: {s!r}, {e!r}")
                continue
            if not 0 <= start < end:
                result.error(path, lineno, f"need 0 <= start < end, got start={start} end={end}")
                continue
            if text.strip() == IGNORE:
                continue
            segs.append(StmSegment(path, lineno, talk, speaker, start, end, text))
    return segs


def process(
    root: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    markers: Sequence[str] = DEFAULT_MARKERS,
    media_root: str | os.PathLike[str] | None = None,
    negatives_per_positive: float = 1.0,
    guard_s: float = 1.0,
    distribution: str = "data",
) -> ProcessResult:
    """Build TED-LIUM laughter rows from every ``*.stm`` under ``root`` (see the module docstring)."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"tedlium: root {base} is not a directory")
    if not markers or any(not m.strip() for m in markers):
        raise ValueError(f"tedlium: markers must be non-empty strings, got {list(markers)}")
    if distribution not in RELEASE3_DISTRIBUTIONS:
        raise ValueError(f"tedlium: distribution must be one of {', '.join(RELEASE3_DISTRIBUTIONS)}, got {distribution!r}")
    search = base
    if (base / "data").is_dir() and (base / "legacy").is_dir():  # TED-LIUM 3
        search = base / distribution
        if not search.is_dir():
            raise FileNotFoundError(f"tedlium: TED-LIUM 3 distribution folder {search} not found")
    files = sorted(search.rglob("*.stm"))
    if not files:
        raise FileNotFoundError(f"tedlium: no .stm files under {search}")
    lowered = [m.lower() for m in markers]
    result = ProcessResult(CORPUS)
    split = SplitAssigner(seed, proportions)

    def rows() -> Iterator[ManifestRow]:
        n_pos = 0
        talk_file: dict[str, Path] = {}
        for path in files:
            segs, dup = [], set()
            for seg in parse_stm(path, result):
                first = talk_file.setdefault(seg.talk, path)
                if first == path:
                    segs.append(seg)
                elif seg.talk not in dup:
                    dup.add(seg.talk)
                    result.error(path, seg.line, f"talk {seg.talk} already read from {first}; skipped here")
            sph = Path(media_root) if media_root is not None else path.parent.parent / "sph"
            by_talk: dict[str, list[tuple[StmSegment, bool]]] = {}
            for seg in segs:
                text = seg.text.lower()
                by_talk.setdefault(seg.talk, []).append((seg, any(m in text for m in lowered)))
            for talk, items in by_talk.items():
                group = f"{CORPUS}:{talk}"
                sp = split(group)
                media = str(sph / f"{talk}.sph")
                pos = [(s.start, s.end) for s, hit in items if hit]
                negs = [s for s, hit in items if not hit and not any(a - guard_s < s.end and s.start < b + guard_s for a, b in pos)]
                neg_ids = {id(s) for s in negs}
                frac = min(1.0, negatives_per_positive * len(pos) / len(negs)) if negs else 0.0
                for seg, hit in items:
                    cid = f"{CORPUS}:{talk}:{int(round(seg.start * 1000))}"
                    detail = f"{path.name}:{seg.line}"
                    if hit:
                        n_pos += 1
                        yield ManifestRow(cid, CORPUS, media, seg.start, seg.end, "laughter", "clip", detail + " marker", group, sp)
                    elif id(seg) in neg_ids and keep_fraction(cid, seed, frac):
                        yield ManifestRow(cid, CORPUS, media, seg.start, seg.end, "no_laughter", "clip", detail, group, sp)
        result.stats["positives"] = n_pos
        if n_pos == 0:
            log.warning("tedlium: no segment contains a laughter marker %s (release 3 transcripts have none)", list(markers))

    return finish(result, rows(), out, "laughter")
