"""AudioSet's input files: the ontology, the segment CSV rows, the Gillick et al. strong laughter /
distractor annotations (part of :mod:`avemotion.data.audioset`; import from there)."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from avemotion.data._common import ProcessResult
from avemotion.data._segment_csv import YTID as _YTID
from avemotion.data._segment_csv import iter_segment_tuples

LAUGHTER_MID = "/m/01j3sz"


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


def iter_segments(path: Path, result: ProcessResult) -> Iterator[Segment]:
    """Stream one segment CSV as :class:`Segment` objects (see :func:`iter_segment_tuples`)."""
    for t in iter_segment_tuples(path, result):
        yield Segment(*t)


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
    with p.open(encoding="utf-8-sig", newline="") as f:
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
