"""AudioSet laughter: weak segment labels from the segment CSVs, optional strong (timed) labels.

Files read (AudioSet's own release, https://research.google.com/audioset/download.html)::

    balanced_train_segments.csv, unbalanced_train_segments.csv, eval_segments.csv
        # Segments csv created Sun Mar  5 10:54:31 2017
        # num_ytids=22160, num_segs=22160, num_unique_labels=527, num_positive_labels=52882
        # YTID, start_seconds, end_seconds, positive_labels
        --PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"
      Comment lines start with '#'; each row is one 10 s (or shorter) YouTube segment and the
      MIDs of the classes present somewhere in it (weak labels).
    ontology.json
      A JSON list of {"id", "name", "description", "child_ids", ...}; Laughter is "/m/01j3sz" and its
      descendants (Baby laughter, Giggle, Snicker, Belly laugh, Chuckle/chortle) are read from it.

Strong labels (optional) in the format of Gillick et al. (Interspeech 2021, github
jrgillick/laughter-detection, data/audioset/annotations/)::

    clean_laughter_annotations.csv
      FileID,Start,End,Start.1,End.1,...,Start.4,End.4,audio_path,audio_length,window_start,window_length
      FileID is the YouTube id; up to five laughter [Start, End) pairs in seconds from the start of
      the downloaded clip audio; the annotated region is [window_start, window_start+window_length).
    clean_distractor_annotations.csv
      Same columns: clips judged to contain no laughter in the window (negatives).

Rows produced (``label_kind``): weak positives/negatives are ``clip`` rows covering the whole cut
segment (media ``clips/{ytid}_{start_ms}.wav``, as ``datasets/scripts/fetch_audioset_laughter.sh``
names them; start 0, end the segment length); strong laughs are ``event`` rows, the gaps between them
(minus ``guard_s`` each side, at least ``min_negative_s`` long) ``no_laughter`` events of the same clip;
distractor windows ``no_laughter`` ``clip`` rows. Strong/distractor annotations supersede the weak row
of the same YouTube id. Weak negatives are segments with no laughter class, subsampled
deterministically to ``negatives_per_positive`` times the positives, never from a segment that
overlaps a laughter segment of the same video. Group: the YouTube id.

Negative draw: a segment row is in the negative sample when the zlib CRC-32 of its raw line (UTF-8
bytes without the newline; CRC continued from that of ``"avemotion-negatives:{seed}"``) is below
``fraction * 2**32``, ``fraction = negatives_per_positive * positives / other rows`` (capped at 1):
deterministic, independent of block sizes and of the other rows.

Layouts accepted (``root``): one folder holding the files under their published names, as Google's
download page and the Gillick repository give them: ``ontology.json`` (from github
audioset/ontology), any of :data:`SEGMENT_CSVS`, ``clean_laughter_annotations.csv`` and
``clean_distractor_annotations.csv`` (from ``data/audioset/annotations/`` of jrgillick/laughter-detection);
each can also be named explicitly (``segments``, ``ontology``, ``strong``, ``distractors``). Media are
the cut clips under ``root/clips/`` (``datasets/scripts/fetch_audioset_laughter.sh``). Encodings: the
segment CSVs are ASCII/UTF-8 with LF (a CR before the LF is accepted); the Gillick CSVs are UTF-8
with CRLF line endings in the published laughter file (read by ``csv``, any line ending, a BOM is
dropped); ``ontology.json`` UTF-8 JSON.

Speed and memory: the segment CSVs are streamed twice (count, then emit) in blocks read into one
reused buffer (``avemotion.data._segment_csv``, which also holds the one Python definition of the row
grammar). Each block goes through the C++ scanner (``avemotion._core.SegmentScanner``: row grammar,
laughter-MID substring search, CRC-32 draw and strong-id lookup, in one pass at memory speed with the
GIL released); Python parses only the lines it picks (laughter rows, the drawn sample, strongly
annotated videos). A block with a line that breaks the row grammar (``YTID, start, end, "mid,mid"``)
is parsed line by line instead, so every malformed row is reported with file and line (a row whose
times are reversed is reported when it is picked or lies in such a block). What is kept grows with
the number of laughter segments and rows written only, never with the CSV size. Lines that are not
UTF-8 are reported when they are parsed; the others are never decoded.

Layout: the readers of the ontology, segment rows and Gillick annotations live in ``_audioset_read``
(re-exported here), the segment CSV scanner in ``_segment_csv``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from avemotion.data import _segment_csv as segment_csv
from avemotion.data._audioset_read import (
    LAUGHTER_MID,
    Segment,  # noqa: F401  (re-exported: the public names stay importable from here)
    StrongClip,
    descendants,
    iter_segments,  # noqa: F401
    load_ontology,
    read_gillick,
)
from avemotion.data._common import ProcessResult, finish
from avemotion.data._segment_csv import INVALID_LINE as _INVALID_LINE  # noqa: F401  (the scanner tests' reference)
from avemotion.data._segment_csv import YTID as _YTID  # noqa: F401  (tests use it)
from avemotion.data._segment_csv import iter_segment_tuples  # noqa: F401
from avemotion.data.combine import subtract_intervals
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "audioset"
SEGMENT_CSVS = ("balanced_train_segments.csv", "unbalanced_train_segments.csv", "eval_segments.csv")
STRONG_CSV = "clean_laughter_annotations.csv"
DISTRACTOR_CSV = "clean_distractor_annotations.csv"


def _media_name(ytid: str, start: float) -> str:
    return f"{ytid}_{int(round(start * 1000))}.wav"


def _laughter_test(laugh: dict[str, str]) -> Callable[[str], bool]:
    """A predicate: does a raw MID list name a laughter class? (one regex search, exact on a hit)"""
    search = re.compile("|".join(re.escape(m) for m in sorted(laugh, key=len, reverse=True))).search

    def has(labels: str) -> bool:
        return search(labels) is not None and any(x.strip() in laugh for x in labels.split(","))

    return has


def _overlaps(intervals: list[tuple[float, float]], a: float, b: float) -> bool:
    return any(s < b and a < e for s, e in intervals)


@dataclass
class _Inputs:
    """The files one run reads (see :func:`_resolve_inputs`)."""

    segments: list[Path]
    ontology: Path
    strong: Path | None
    distractors: Path | None
    media_root: Path


def _resolve_inputs(
    root: str | os.PathLike[str] | None,
    segments: Sequence[str | os.PathLike[str]] | None,
    ontology: str | os.PathLike[str] | None,
    strong: str | os.PathLike[str] | None,
    distractors: str | os.PathLike[str] | None,
    media_dir: str,
) -> _Inputs:
    """Explicit arguments win; ``root`` supplies the rest (``ontology.json``, the segment CSVs of
    :data:`SEGMENT_CSVS` present, the Gillick CSVs). Raises for missing files or no input at all."""
    base = Path(root) if root is not None else None
    if base is not None and not base.is_dir():
        raise FileNotFoundError(f"audioset: root {base} is not a directory")
    if ontology is None:
        if base is None:
            raise ValueError("audioset: give root or ontology (path to ontology.json)")
        ontology = base / "ontology.json"

    def default(name: str) -> Path | None:
        return base / name if base is not None and (base / name).is_file() else None

    seg_paths = [Path(s) for s in segments] if segments is not None else [
        p for p in map(default, SEGMENT_CSVS) if p is not None]
    for s in seg_paths:
        if not s.is_file():
            raise FileNotFoundError(f"audioset: segment CSV not found: {s}")
    strong_p = Path(strong) if strong is not None else default(STRONG_CSV)
    distr_p = Path(distractors) if distractors is not None else default(DISTRACTOR_CSV)
    if not seg_paths and strong_p is None and distr_p is None:
        raise FileNotFoundError(f"audioset: no segment CSVs ({', '.join(SEGMENT_CSVS)}) or strong annotations under {base}")
    media_root = (base / media_dir) if base is not None else Path(media_dir)
    return _Inputs(seg_paths, Path(ontology), strong_p, distr_p, media_root)


@dataclass
class _WeakPass:
    """What the first pass over the segment CSVs found."""

    pos_by_ytid: dict[str, list[tuple[float, float]]]
    n_pos: int
    n_neg: int

    def keep_fraction(self, negatives_per_positive: float) -> float:
        return min(1.0, negatives_per_positive * self.n_pos / self.n_neg) if self.n_neg else 0.0


def _first_pass(paths: Sequence[Path], laugh: dict[str, str], has_laughter: Callable[[str], bool]) -> _WeakPass:
    """Count rows and remember the laughter segments of each video (quick C++ scan)."""
    found = _WeakPass({}, 0, 0)
    for path in paths:
        n_rows, pos = segment_csv.count_and_find(path, laugh, has_laughter)
        for ytid, start, end in pos:
            found.pos_by_ytid.setdefault(ytid, []).append((start, end))
        found.n_pos += len(pos)
        found.n_neg += n_rows - len(pos)
    return found


def _weak_rows(
    inputs: _Inputs, result: ProcessResult, laugh: dict[str, str], has_laughter: Callable[[str], bool],
    first: _WeakPass, handled: set[str], frac: float, seed: int, split: SplitAssigner,
    seg_start: dict[str, float],
) -> Iterator[ManifestRow]:
    """Second pass: weak ``clip`` rows (laughter segments and the drawn negatives). Rows of
    strongly annotated videos are not emitted; their segment start goes to ``seg_start``."""
    emitted: set[str] = set()
    dropped_overlap = 0
    media_prefix = str(inputs.media_root) + os.sep
    needles = segment_csv.needles_of(laugh)
    for path in inputs.segments:
        for line_no, ytid, start, end, labels, drawn in segment_csv.select(path, result, needles, handled, frac, seed):
            if ytid in handled:
                seg_start.setdefault(ytid, start)
                continue
            positive = has_laughter(labels)
            if not positive:
                if not drawn:
                    continue  # a MID substring hit that is no laughter class, outside the sample
                known = first.pos_by_ytid.get(ytid)
                if known is not None and _overlaps(known, start, end):
                    dropped_overlap += 1
                    continue
            ms = int(round(start * 1000))
            clip_id = f"{CORPUS}:{ytid}_{ms}"
            if clip_id in emitted:
                continue
            emitted.add(clip_id)
            mids = [x for x in map(str.strip, labels.split(",")) if x]  # Segment.mids()
            if positive:
                label, detail = "laughter", "|".join(laugh[m] for m in mids if m in laugh)
            else:
                label, detail = "no_laughter", "labels=" + " ".join(mids)
            group = f"{CORPUS}:{ytid}"
            yield ManifestRow(clip_id, CORPUS, f"{media_prefix}{ytid}_{ms}.wav", 0.0, end - start,
                              label, "clip", f"{path.name}:{line_no} yt_start={start:g} {detail}", group,
                              split(group))
    result.stats["negatives_dropped_overlap"] = dropped_overlap


def _strong_rows(
    clips: Iterable[StrongClip], media_root: Path, seg_start: dict[str, float], split: SplitAssigner,
    guard_s: float, min_negative_s: float,
) -> Iterator[ManifestRow]:
    """Strong laughs as ``event`` rows, the gaps between them as ``no_laughter`` events, distractor
    windows as ``no_laughter`` clips. Media: the segment's cut when the segment CSVs named it."""
    for clip in clips:
        group = f"{CORPUS}:{clip.ytid}"
        name = _media_name(clip.ytid, seg_start[clip.ytid]) if clip.ytid in seg_start else clip.audio_name
        media = str(media_root / name)
        src = f"{clip.source}:{clip.line}"
        if not clip.laughs:
            ws, we = clip.window
            yield ManifestRow(f"{CORPUS}:{clip.ytid}:distractor", CORPUS, media, ws, we, "no_laughter",
                              "clip", f"{src} distractor", group, split(group))
            continue
        for i, (a, b) in enumerate(clip.laughs):
            yield ManifestRow(f"{CORPUS}:{clip.ytid}:laugh{i}", CORPUS, media, a, b, "laughter", "event",
                              f"{src} strong label", group, split(group))
        gaps = subtract_intervals(clip.window, clip.laughs, guard=guard_s, min_len=min_negative_s)
        for i, (a, b) in enumerate(gaps):
            yield ManifestRow(f"{CORPUS}:{clip.ytid}:gap{i}", CORPUS, media, a, b, "no_laughter", "event",
                              f"{src} strong label gap", group, split(group))


def process(
    root: str | os.PathLike[str] | None = None,
    *,
    segments: Sequence[str | os.PathLike[str]] | None = None,
    ontology: str | os.PathLike[str] | None = None,
    strong: str | os.PathLike[str] | None = None,
    distractors: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    negatives_per_positive: float = 1.0,
    media_dir: str = "clips",
    min_negative_s: float = 0.5,
    guard_s: float = 0.25,
    laughter_root: str = LAUGHTER_MID,
) -> ProcessResult:
    """Build AudioSet laughter rows.

    ``root`` (optional) supplies defaults: ``root/ontology.json``, the segment CSVs present among
    :data:`SEGMENT_CSVS`, and the Gillick CSVs when present; explicit arguments win. Media paths are
    ``{root}/{media_dir}/...``. With ``out`` the rows are streamed to that manifest (atomic) and not
    kept in memory. ``laughter_root``: the class whose subtree counts as laughter.
    Raises FileNotFoundError/ValueError for a missing/invalid ontology or no input.
    """
    if negatives_per_positive < 0:
        raise ValueError(f"negatives_per_positive must be >= 0, got {negatives_per_positive}")
    split = SplitAssigner(seed, proportions)
    inputs = _resolve_inputs(root, segments, ontology, strong, distractors, media_dir)
    laugh = descendants(load_ontology(inputs.ontology), laughter_root)
    result = ProcessResult(CORPUS)
    result.stats.update(laughter_classes=len(laugh))

    strong_clips = read_gillick(inputs.strong, result, expect_laughs=True) if inputs.strong else []
    distractor_clips = read_gillick(inputs.distractors, result, expect_laughs=False) if inputs.distractors else []
    strong_ids = {c.ytid for c in strong_clips}
    distractor_ids = {c.ytid for c in distractor_clips} - strong_ids
    handled = strong_ids | distractor_ids

    has_laughter = _laughter_test(laugh)
    first = _first_pass(inputs.segments, laugh, has_laughter)
    frac = first.keep_fraction(negatives_per_positive)
    result.stats.update(segments_positive=first.n_pos, segments_negative=first.n_neg, negative_keep_fraction=frac)

    def rows() -> Iterator[ManifestRow]:
        seg_start: dict[str, float] = {}  # filled by the weak pass, read by the strong rows after it
        yield from _weak_rows(inputs, result, laugh, has_laughter, first, handled, frac, seed, split, seg_start)
        clips = strong_clips + [c for c in distractor_clips if c.ytid in distractor_ids]
        yield from _strong_rows(clips, inputs.media_root, seg_start, split, guard_s, min_negative_s)

    return finish(result, rows(), out, "laughter")
