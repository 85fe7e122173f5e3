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

Speed and memory: the segment CSVs are streamed twice (count, then emit) in :data:`BLOCK`-byte
blocks read into one reused buffer. Each block goes through the C++ scanner
(``avemotion._core.SegmentScanner``: row grammar, laughter-MID substring search, CRC-32 draw and
strong-id lookup, in one pass at memory speed with the GIL released); Python parses only the lines
it picks (laughter rows, the drawn sample, strongly annotated videos). A block with a line that
breaks the row grammar (``YTID, start, end, "mid,mid"``) is parsed line by line instead, so every
malformed row is reported with file and line (a row whose times are reversed is reported when it
is picked or lies in such a block). What is kept grows with the number of laughter segments and
rows written only, never with the CSV size (about 2 * BLOCK for the buffer). Lines that are not
UTF-8 are reported when they are parsed; the others are never decoded.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from avemotion.data._common import ProcessResult, finish
from avemotion.data.manifest import ManifestRow, SplitAssigner, subtract_intervals

log = logging.getLogger(__name__)

CORPUS = "audioset"
LAUGHTER_MID = "/m/01j3sz"
SEGMENT_CSVS = ("balanced_train_segments.csv", "unbalanced_train_segments.csv", "eval_segments.csv")
STRONG_CSV = "clean_laughter_annotations.csv"
DISTRACTOR_CSV = "clean_distractor_annotations.csv"
_YTID = re.compile(r"^[A-Za-z0-9_-]{11}$")


def load_ontology(path: str | os.PathLike[str]) -> dict[str, dict]:
    """``{mid: node}`` from AudioSet's ``ontology.json``."""
    p = Path(path)
    try:
        nodes = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"AudioSet ontology not found: {p}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and "id" in n for n in nodes):
        raise ValueError(f"{p}: expected a JSON list of objects with 'id', 'name', 'child_ids'")
    return {n["id"]: n for n in nodes}


def descendants(ontology: dict[str, dict], root: str = LAUGHTER_MID) -> dict[str, str]:
    """``{mid: name}`` for ``root`` and every class below it (cycle-safe)."""
    if root not in ontology:
        raise KeyError(f"class {root!r} not in the ontology ({len(ontology)} classes)")
    out: dict[str, str] = {}
    stack = [root]
    while stack:
        mid = stack.pop()
        if mid in out or mid not in ontology:
            continue
        out[mid] = ontology[mid].get("name", mid)
        stack.extend(ontology[mid].get("child_ids", []))
    return out


@dataclass
class Segment:
    """One segment row; ``labels`` is the raw comma-separated MID list."""

    line: int
    ytid: str
    start: float
    end: float
    labels: str

    def mids(self) -> list[str]:
        return [x.strip() for x in self.labels.split(",") if x.strip()]


def _parse_segment_line(raw: str) -> tuple[str, float, float, str]:
    """``YTID, start, end, "labels"`` -> parts; the common case without csv's overhead."""
    parts = raw.split(",", 3)
    if len(parts) == 4:
        labels = parts[3].strip()
        if len(labels) >= 2 and labels[0] == '"' and labels[-1] == '"' and '"' not in labels[1:-1]:
            return parts[0].strip(), float(parts[1]), float(parts[2]), labels[1:-1]
    cells = next(csv.reader([raw], skipinitialspace=True))
    if len(cells) != 4:
        raise IndexError(f"expected 4 fields (YTID, start, end, labels), got {len(cells)}")
    return cells[0].strip(), float(cells[1]), float(cells[2]), cells[3]


def iter_segments(path: Path, result: ProcessResult) -> Iterator[Segment]:
    """Stream one segment CSV as :class:`Segment` objects (see :func:`iter_segment_tuples`)."""
    for t in iter_segment_tuples(path, result):
        yield Segment(*t)


def iter_segment_tuples(path: Path, result: ProcessResult) -> Iterator[tuple[int, str, float, float, str]]:
    """Stream one segment CSV as ``(line, ytid, start, end, labels)``; malformed rows go to
    ``result.error`` with file and line. Constant memory."""
    match_id = _YTID.match
    with path.open(encoding="utf-8", newline="") as f:
        for lineno, raw in enumerate(f, 1):
            if raw[:1] == "#" or raw.isspace() or not raw:
                continue
            try:
                ytid, start, end, labels = _parse_segment_line(raw)
            except IndexError as exc:
                result.error(path, lineno, str(exc))
                continue
            except ValueError:
                result.error(path, lineno, f"start/end not numbers in {raw.strip()[:80]!r}")
                continue
            if not match_id(ytid) or not (0 <= start < end):
                result.error(path, lineno, f"bad YTID {ytid!r} or times start={start} end={end}")
                continue
            yield lineno, ytid, start, end, labels


#: A line that is neither a well-formed row, a comment nor blank. The reference for the row
#: grammar that the C++ scanner (``avemotion._core.SegmentScanner``) checks; the tests compare them.
_INVALID_LINE = re.compile(
    r'^(?![A-Za-z0-9_-]{11}, *[0-9]+(?:\.[0-9]*)?, *[0-9]+(?:\.[0-9]*)?, *"[^"\n]*" *\r?$|#|[ \t\r]*$).*$',
    re.M,
)


#: Bytes read at a time by the streaming passes (memory is a few times this, whatever the file size).
BLOCK = 1 << 20


def _blocks(path: Path, block: int | None = None) -> Iterator[memoryview]:
    """Whole lines ending in b"\n": the lines that end within the partial line carried over plus
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


def _mid_needles(laugh: dict[str, str]) -> list[str]:
    return sorted(laugh, key=len, reverse=True)


def _select_segments(
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
    from avemotion.data._common import _seed_crc

    s0 = _seed_crc(seed)
    limit = int(frac * 4294967296.0) if frac < 1.0 else 1 << 33
    scanner = _core.SegmentScanner(list(needles), sorted(i for i in handled if len(i.encode()) == 11), s0, limit, True)
    sampled_flag, hit_flag = _core.PICK_SAMPLED, _core.PICK_HIT

    first = 1
    for data in _blocks(path):
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
            if line[:1] == "#" or not line.strip():
                continue
            try:
                ytid, start, end, labels = _parse_segment_line(line)
            except IndexError as exc:
                result.error(path, lineno, str(exc))
                continue
            except ValueError:
                result.error(path, lineno, f"start/end not numbers in {line.strip()[:80]!r}")
                continue
            if not _YTID.match(ytid) or not (0 <= start < end):
                result.error(path, lineno, f"bad YTID {ytid!r} or times start={start} end={end}")
                continue
            drawn = bool(f & sampled_flag)
            if drawn or f & hit_flag or ytid in handled:
                yield lineno, ytid, start, end, labels, drawn
        first += n_lines


@dataclass
class StrongClip:
    ytid: str
    line: int
    laughs: list[tuple[float, float]]
    window: tuple[float, float]
    audio_name: str
    source: str


def read_gillick(path: str | os.PathLike[str], result: ProcessResult, *, expect_laughs: bool) -> list[StrongClip]:
    """Read a Gillick et al. annotation CSV (see the module docstring).

    Bad rows (mangled ids such as Excel's ``#NAME?``, zero-length or out-of-window intervals,
    duplicate ids) are reported with file and line; a bad interval drops only itself, a laughter
    clip left with no interval is dropped.
    """
    p = Path(path)
    clips: list[StrongClip] = []
    seen: set[str] = set()
    with p.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        need = {"FileID", "window_start", "window_length"}
        if not need <= set(header):
            raise ValueError(f"{p}:1: missing columns {sorted(need - set(header))}; header is {header}")
        pairs = [(h, "End" + h[5:]) for h in header if re.fullmatch(r"Start(\.\d+)?", h)]
        for rec in reader:
            line = reader.line_num
            ytid = (rec.get("FileID") or "").strip()
            if not _YTID.match(ytid):
                result.error(p, line, f"FileID {ytid!r} is not an 11-character YouTube id")
                continue
            if ytid in seen:
                result.error(p, line, f"duplicate FileID {ytid!r} (first occurrence kept)")
                continue
            try:
                ws = float(rec["window_start"])
                we = ws + float(rec["window_length"])
            except (TypeError, ValueError):
                result.error(p, line, f"window_start/window_length not numbers: {rec['window_start']!r}, {rec['window_length']!r}")
                continue
            if not we > ws >= 0:
                result.error(p, line, f"empty annotation window [{ws}, {we})")
                continue
            laughs: list[tuple[float, float]] = []
            for s_col, e_col in pairs:
                s, e = (rec.get(s_col) or "").strip(), (rec.get(e_col) or "").strip()
                if not s and not e:
                    continue
                try:
                    a, b = float(s), float(e)
                except ValueError:
                    result.error(p, line, f"{s_col}/{e_col} not numbers: {s!r}, {e!r}")
                    continue
                if not (ws - 1e-6 <= a < b <= we + 1e-6):
                    result.error(p, line, f"{s_col}/{e_col} interval [{a}, {b}) empty or outside window [{ws}, {we})")
                    continue
                laughs.append((max(a, ws), min(b, we)))
            if expect_laughs and not laughs:
                result.error(p, line, f"no usable laughter interval for {ytid}; clip skipped")
                continue
            if not expect_laughs and laughs:
                result.error(p, line, f"distractor {ytid} has laughter intervals; clip skipped")
                continue
            audio_name = Path((rec.get("audio_path") or "").strip()).name or f"yt_{ytid}.mp3"
            seen.add(ytid)
            clips.append(StrongClip(ytid, line, sorted(laughs), (ws, we), audio_name, p.name))
    return clips


def _media_name(ytid: str, start: float) -> str:
    return f"{ytid}_{int(round(start * 1000))}.wav"


def _laughter_test(laugh: dict[str, str]) -> Callable[[str], bool]:
    """A predicate: does a raw MID list name a laughter class? (one regex search, exact on a hit)"""
    search = re.compile("|".join(re.escape(m) for m in sorted(laugh, key=len, reverse=True))).search

    def has(labels: str) -> bool:
        return search(labels) is not None and any(x.strip() in laugh for x in labels.split(","))

    return has


def _scan(path: Path, laugh: dict[str, str], has_laughter: Callable[[str], bool],
          block: int | None = None) -> tuple[int, list[tuple[str, float, float]]]:
    """Quick first pass over a segment CSV, in :data:`BLOCK`-byte chunks: the number of data rows
    (lines not starting with '#') and the ``(ytid, start, end)`` of laughter rows. The C++ scanner
    counts the lines and finds those containing a laughter MID; only those are parsed. Malformed
    rows are skipped here and reported by the second pass (:func:`_select_segments`)."""
    from avemotion import _core

    scanner = _core.SegmentScanner(_mid_needles(laugh), [], 0, 0, False)
    n_rows = 0
    pos: list[tuple[str, float, float]] = []
    for data in _blocks(path, block):
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
                ytid, start, end, labels = _parse_segment_line(line)
            except (IndexError, ValueError):
                continue
            if has_laughter(labels) and _YTID.match(ytid) and 0 <= start < end:
                pos.append((ytid, start, end))
    return n_rows, pos


def _overlaps(intervals: list[tuple[float, float]], a: float, b: float) -> bool:
    return any(s < b and a < e for s, e in intervals)


def process(
    root: str | os.PathLike[str] | None = None,
    *,
    segments: Sequence[str | os.PathLike[str]] | None = None,
    ontology: str | os.PathLike[str] | None = None,
    strong: str | os.PathLike[str] | None = None,
    distractors: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = (0.8, 0.1, 0.1),
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
    base = Path(root) if root is not None else None
    if base is not None and not base.is_dir():
        raise FileNotFoundError(f"audioset: root {base} is not a directory")
    if ontology is None:
        if base is None:
            raise ValueError("audioset: give root or ontology (path to ontology.json)")
        ontology = base / "ontology.json"
    if segments is None:
        segments = [base / n for n in SEGMENT_CSVS if (base / n).is_file()] if base else []
    if base is not None and strong is None and (base / STRONG_CSV).is_file():
        strong = base / STRONG_CSV
    if base is not None and distractors is None and (base / DISTRACTOR_CSV).is_file():
        distractors = base / DISTRACTOR_CSV
    seg_paths = [Path(s) for s in segments]
    for s in seg_paths:
        if not s.is_file():
            raise FileNotFoundError(f"audioset: segment CSV not found: {s}")
    if not seg_paths and strong is None and distractors is None:
        raise FileNotFoundError(f"audioset: no segment CSVs ({', '.join(SEGMENT_CSVS)}) or strong annotations under {base}")

    laugh = descendants(load_ontology(ontology), laughter_root)
    media_root = (base / media_dir) if base is not None else Path(media_dir)
    result = ProcessResult(CORPUS)
    result.stats.update(laughter_classes=len(laugh))

    strong_clips = read_gillick(strong, result, expect_laughs=True) if strong else []
    distractor_clips = read_gillick(distractors, result, expect_laughs=False) if distractors else []
    strong_ids = {c.ytid for c in strong_clips}
    distractor_ids = {c.ytid for c in distractor_clips} - strong_ids
    handled = strong_ids | distractor_ids

    # Pass 1 (quick scan): count rows and remember the laughter segments of each video.
    has_laughter = _laughter_test(laugh)
    pos_by_ytid: dict[str, list[tuple[float, float]]] = {}
    seg_start: dict[str, float] = {}
    n_pos = n_neg = 0
    for path in seg_paths:
        rows_, pos = _scan(path, laugh, has_laughter)
        for ytid, start, end in pos:
            pos_by_ytid.setdefault(ytid, []).append((start, end))
        n_pos += len(pos)
        n_neg += rows_ - len(pos)
    frac = min(1.0, negatives_per_positive * n_pos / n_neg) if n_neg else 0.0
    result.stats.update(segments_positive=n_pos, segments_negative=n_neg, negative_keep_fraction=frac)

    media_prefix = str(media_root) + os.sep

    def rows() -> Iterator[ManifestRow]:
        emitted: set[str] = set()
        dropped_overlap = 0
        for path in seg_paths:
            for line_no, ytid, start, end, labels, drawn in _select_segments(
                path, result, _mid_needles(laugh), handled, frac, seed
            ):
                if ytid in handled:
                    seg_start.setdefault(ytid, start)
                    continue
                positive = has_laughter(labels)
                if not positive:
                    if not drawn:
                        continue  # a MID substring hit that is no laughter class, outside the sample
                    known = pos_by_ytid.get(ytid)
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
        for clip in strong_clips + [c for c in distractor_clips if c.ytid in distractor_ids]:
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

    return finish(result, rows(), out, "laughter")
