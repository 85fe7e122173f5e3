"""LIRIS-ACCEDE (Discrete): a humor proxy from valence/arousal ratings of film excerpts.

Files read (LIRIS-ACCEDE ``LIRIS-ACCEDE-annotations/annotations/`` and ``LIRIS-ACCEDE-data/data/``)::

    ACCEDEranking.txt   (tab-separated, header)
      id  name  valenceRank  arousalRank  valenceValue  arousalValue  valenceVariance  arousalVariance
      0   ACCEDE00000.mp4  5017  2470  2.19  2.37  0.11  0.12
      9,800 excerpts; values on a 1-5 scale (observed valence 1.33-3.59, arousal 1.32-4.54).
    ACCEDEsets.txt      (tab-separated, header)
      id  name  set       set 0 = test, 1 = learning (train), 2 = validation; film-disjoint.
    ACCEDEdescription.xml
      <media><id>0</id><name>ACCEDE00000.mp4</name><movie>After_The_Rain.mp4</movie>
             <start>...</start><end>...</end></media> ...   (start/end: position in the film, frames)

Layouts accepted (``root``): the folder holding what the LIRIS-ACCEDE site gives after registration,
unpacked (``LIRIS-ACCEDE-annotations/annotations/*.txt``, ``LIRIS-ACCEDE-data/data/*.mp4`` and
``ACCEDEdescription.xml``; ``datasets/scripts/ingest_liris_accede.py`` unpacks the zips), or any folder
with the three annotation files at any depth (the first found by name is used). Media are looked
for beside ``ACCEDEdescription.xml`` (``media_dir`` overrides). The text files are tab-separated
with a header, read as UTF-8 (a BOM is dropped) or else Latin-1, LF or CRLF; the XML declares its
own encoding.

Humor proxy rule (``ProxyRule``, configurable): an excerpt is ``laughter`` (kind ``proxy``) when
valenceValue >= ``valence_min`` (3.0) and arousalValue >= ``arousal_min`` (2.5) — pleasant and
engaged; ``no_laughter`` when valenceValue <= ``negative_valence_max`` (2.5); excerpts in between are
left out as ambiguous. The film (``<movie>``) is the group. ``official_sets=True`` keeps the corpus's
own film-disjoint sets instead of the hash split. Each row is the whole excerpt: start 0, end its
duration from the media file, else ``(end - start) / fps`` from the description (``fps`` default 25,
an assumption marked ``duration=from_frames`` in ``source_detail``).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from avemotion.data._common import ProcessResult, finish, media_duration, read_text
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "liris_accede"
OFFICIAL_SETS = {"0": "test", "1": "train", "2": "val"}


@dataclass(frozen=True)
class ProxyRule:
    """Valence/arousal thresholds of the humor proxy (values on LIRIS-ACCEDE's 1-5 scale)."""

    valence_min: float = 3.0
    arousal_min: float = 2.5
    negative_valence_max: float = 2.5

    def __post_init__(self) -> None:
        if not self.negative_valence_max < self.valence_min:
            raise ValueError(
                f"ProxyRule: negative_valence_max ({self.negative_valence_max}) must be < valence_min ({self.valence_min})"
            )

    def label(self, valence: float, arousal: float) -> str | None:
        if valence >= self.valence_min and arousal >= self.arousal_min:
            return "laughter"
        if valence <= self.negative_valence_max:
            return "no_laughter"
        return None


def _find(base: Path, name: str) -> Path:
    direct = base / name
    if direct.is_file():
        return direct
    hits = sorted(base.rglob(name))
    if not hits:
        raise FileNotFoundError(f"liris_accede: {name} not found under {base}")
    return hits[0]


def _read_tsv(path: Path, need: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """``(line, record)`` pairs of a tab-separated file with a header containing ``need`` (UTF-8,
    with or without BOM, else Latin-1; LF or CRLF)."""
    text, _enc = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in need if c not in header]
    if missing:
        raise ValueError(f"{path}:1: missing columns {missing}; header is {header}")
    return [(reader.line_num, {k: (v or "").strip() for k, v in rec.items() if k}) for rec in reader]


def _num(el: ET.Element, tag: str) -> float | None:
    try:
        return float(el.findtext(tag) or "")
    except ValueError:
        return None


def read_description(path: Path, result: ProcessResult) -> dict[str, tuple[str, float | None, float | None]]:
    """``{name: (movie, start, end)}`` from ACCEDEdescription.xml."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}:{exc.position[0]}: not well-formed XML ({exc})") from exc
    out: dict[str, tuple[str, float | None, float | None]] = {}
    for i, media in enumerate(root.iter("media")):
        name = (media.findtext("name") or "").strip()
        movie = (media.findtext("movie") or "").strip()
        if not name or not movie:
            result.error(path, None, f"<media> #{i} lacks <name> or <movie>")
            continue
        out[name] = (movie, _num(media, "start"), _num(media, "end"))
    return out


def process(
    root: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    rule: ProxyRule | None = None,
    official_sets: bool = False,
    media_dir: str | os.PathLike[str] | None = None,
    fps: float = 25.0,
) -> ProcessResult:
    """Build LIRIS-ACCEDE proxy rows (see the module docstring). The three annotation files are
    looked for in ``root`` and below; media in ``media_dir`` (default: the description's folder)."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"liris_accede: root {base} is not a directory")
    if not fps > 0:
        raise ValueError(f"liris_accede: fps must be > 0, got {fps}")
    rule = rule or ProxyRule()
    ranking_p = _find(base, "ACCEDEranking.txt")
    desc_p = _find(base, "ACCEDEdescription.xml")
    sets_p = _find(base, "ACCEDEsets.txt") if official_sets else None
    mdir = Path(media_dir) if media_dir is not None else desc_p.parent
    result = ProcessResult(CORPUS)
    desc = read_description(desc_p, result)
    sets: dict[str, str] = {}
    if sets_p is not None:
        for line, rec in _read_tsv(sets_p, ("id", "name", "set")):
            s = OFFICIAL_SETS.get(rec["set"])
            if s is None:
                result.error(sets_p, line, f"set must be 0, 1 or 2, got {rec['set']!r}")
                continue
            sets[rec["name"]] = s
    split = SplitAssigner(seed, proportions)

    def rows() -> Iterator[ManifestRow]:
        for line, rec in _read_tsv(ranking_p, ("id", "name", "valenceValue", "arousalValue")):
            name = rec["name"]
            try:
                v, a = float(rec["valenceValue"]), float(rec["arousalValue"])
            except (TypeError, ValueError):
                result.error(ranking_p, line, f"valenceValue/arousalValue not numbers: {rec['valenceValue']!r}, {rec['arousalValue']!r}")
                continue
            label = rule.label(v, a)
            if label is None:
                continue
            if name not in desc:
                result.error(ranking_p, line, f"{name!r} not in {desc_p.name}")
                continue
            movie, fstart, fend = desc[name]
            if official_sets and name not in sets:
                result.error(ranking_p, line, f"{name!r} not in {sets_p}")
                continue
            media = mdir / name
            detail = f"valence={v:g} arousal={a:g} movie={movie}"
            if media.is_file():
                try:
                    dur = media_duration(media)
                except ValueError as exc:
                    result.error(media, None, str(exc))
                    continue
            elif fstart is not None and fend is not None and fend > fstart:
                dur = (fend - fstart) / fps
                detail += " duration=from_frames"
            else:
                result.error(ranking_p, line, f"{media} not found and no usable <start>/<end> in {desc_p.name}")
                continue
            group = f"{CORPUS}:{movie}"
            sp = sets[name] if official_sets else split(group)
            stem = Path(name).stem
            yield ManifestRow(f"{CORPUS}:{stem}", CORPUS, str(media), 0.0, dur, label, "proxy", detail, group, sp)

    return finish(result, rows(), out, "laughter")
