"""AMI meeting corpus: laughter events from the NXT word annotations.

Files read (AMI manual annotations, ``ami_public_manual_1.6.2.zip``; the 1.7 release has the same
layout)::

    words/ES2002a.A.words.xml   one file per meeting and speaker letter (A-E)
      <?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>
      <nite:root nite:id="ES2002a.A.words" xmlns:nite="http://nite.sourceforge.net/">
         <w nite:id="ES2002a.A.words0" starttime="53.56" endtime="53.96">Okay</w>
         <vocalsound nite:id="ES2002a.A.words1" starttime="54.28" endtime="55.12" type="laugh"/>
         <vocalsound nite:id="ES2002a.A.words7" starttime="61.2" endtime="61.2" type="laugh"/>
         <disfmarker nite:id="..." starttime="..." endtime="..."/>
      </nite:root>
    Times are seconds from the meeting start; ``vocalsound`` types include laugh, cough, other.
    corpusResources/meetings.xml (optional; in the same zip)
      <meeting observation="ES2002a" ...>
         <speaker nxt_agent="A" channel="1" global_name="FEE005" .../> ...
      </meeting>

Layouts accepted (``root``): the unpacked annotations folder holding ``words/`` (and
``corpusResources/``), a folder with exactly one such subfolder (e.g. ``ami_public_manual_1.6.2/``),
or the ``words/`` folder itself. The XML files declare their encoding (ISO-8859-1); the parser
honours it and any line ending.

Audio (AMI download layout, ``amicorpus/``): ``{media_root}/{meeting}/audio/{meeting}.Headset-{n}.wav``,
the speaker's headset channel. The channel of speaker letter A..E comes from
``corpusResources/meetings.xml`` when present (the agent's ``channel``; letters are not always
channels in order), else A..E -> 0..4 (``channel_map`` overrides both).

Point laughs: many laughs of the manual annotations carry ``starttime == endtime`` (a point in time;
in some meetings most of them). They are data: each gets the extent ``point_laugh_s`` (default
1.0 s) centred on the point, clipped at 0, is marked ``point laugh, extent ...`` in ``source_detail``
and counted as ``point_laughs`` in the report (the summary JSON and the CLI's output). A laugh with
``endtime < starttime`` or without times is reported as an error and skipped.

Rows: each ``<vocalsound type="laugh">`` (types in ``laugh_types``) is a ``laughter`` ``event`` on
the speaker's channel. Negatives are stretches of that speaker's words (consecutive words closer than
``merge_gap_s`` merged) minus every laugh of the *whole meeting* widened by ``guard_s`` (laughter
bleeds into other headsets), cut into pieces of ``negative_len_s`` (shorter than ``min_negative_s``
dropped) and subsampled deterministically to ``negatives_per_positive`` times the meeting's laughs:
speech that holds no laughter. The group is the meeting series (``group_by="series"``: ES2002a-d are
four meetings of the same four people, so they stay in one split) or the meeting
(``group_by="meeting"``).
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from avemotion.data._common import ProcessResult, finish, keep_fraction
from avemotion.data.combine import subtract_intervals
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "ami"
_FILE = re.compile(r"^(?P<meeting>[A-Z]{2}\d{4}[a-z]?)\.(?P<spk>[A-Z])\.words\.xml$")
_SERIES = re.compile(r"^([A-Z]{2}\d{4})[a-z]?$")
DEFAULT_CHANNELS = {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4}


@dataclass
class Laugh:
    start: float
    end: float
    nite_id: str
    point: bool  # starttime == endtime in the file: the extent was given here


def _times(el: ET.Element) -> tuple[float, float] | None:
    try:
        return float(el.attrib["starttime"]), float(el.attrib["endtime"])
    except (KeyError, ValueError):
        return None


def _line_of(path: Path, nite_id: str) -> int | None:
    """Line of the element with ``nite:id`` (only computed for errors)."""
    try:
        with path.open(encoding="iso-8859-1") as f:
            for i, line in enumerate(f, 1):
                if f'"{nite_id}"' in line:
                    return i
    except OSError:
        pass
    return None


def parse_words(
    path: Path, result: ProcessResult, laugh_types: Sequence[str] = ("laugh",), point_laugh_s: float = 1.0
) -> tuple[list[Laugh], list[tuple[float, float]]]:
    """``(laughs, words)``: the laugh events and word spans of one words file (point laughs get
    ``point_laugh_s`` centred on the point)."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        result.error(path, exc.position[0], f"not well-formed XML ({exc})")
        return [], []
    laughs: list[Laugh] = []
    words: list[tuple[float, float]] = []
    half = point_laugh_s / 2.0
    for el in tree.getroot():
        tag = el.tag.rsplit("}", 1)[-1]
        nid = next((v for k, v in el.attrib.items() if k.endswith("}id") or k == "id"), "?")
        t = _times(el)
        if tag == "vocalsound" and el.attrib.get("type") in laugh_types:
            if t is None or not 0 <= t[0] <= t[1]:
                what = "without valid starttime/endtime" if t is None else f"with endtime {t[1]} < starttime {t[0]}"
                result.error(path, _line_of(path, nid), f"vocalsound {nid} {what}")
                continue
            if t[0] == t[1]:
                laughs.append(Laugh(max(0.0, t[0] - half), t[0] + half, nid, True))
            else:
                laughs.append(Laugh(t[0], t[1], nid, False))
        elif tag == "w" and t is not None and 0 <= t[0] < t[1]:
            words.append(t)
    return laughs, words


def _merge(spans: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] <= gap:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def find_words_dir(root: Path) -> Path:
    """``root/words``, ``root/<one subfolder>/words`` or ``root`` itself when it holds the files."""
    if (root / "words").is_dir():
        return root / "words"
    subs = [p / "words" for p in sorted(root.iterdir()) if p.is_dir() and (p / "words").is_dir()]
    if len(subs) == 1:
        return subs[0]
    if len(subs) > 1:
        raise FileNotFoundError(f"ami: several annotation folders under {root} ({', '.join(str(s.parent) for s in subs)}): pass one")
    if root.name == "words" or any(root.glob("*.words.xml")):
        return root
    raise FileNotFoundError(f"ami: {root / 'words'} not found (expected the NXT words/*.words.xml files)")


def read_meetings_xml(path: Path, result: ProcessResult) -> dict[str, dict[str, int]]:
    """``{meeting: {agent letter: headset channel}}`` from ``corpusResources/meetings.xml``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        result.error(path, exc.position[0], f"not well-formed XML ({exc}); default channels used")
        return {}
    out: dict[str, dict[str, int]] = {}
    for meeting in root.iter():
        if meeting.tag.rsplit("}", 1)[-1] != "meeting" or "observation" not in meeting.attrib:
            continue
        agents: dict[str, int] = {}
        for spk in meeting:
            try:
                agents[spk.attrib["nxt_agent"]] = int(spk.attrib["channel"])
            except (KeyError, ValueError):
                continue
        out[meeting.attrib["observation"]] = agents
    return out


def process(
    root: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    media_root: str | os.PathLike[str] | None = None,
    laugh_types: Sequence[str] = ("laugh",),
    channel_map: Mapping[str, int] | None = None,
    negatives_per_positive: float = 1.0,
    negative_len_s: float = 2.0,
    min_negative_s: float = 0.5,
    guard_s: float = 0.5,
    merge_gap_s: float = 0.5,
    point_laugh_s: float = 1.0,
    group_by: str = "series",
) -> ProcessResult:
    """Build AMI laughter rows from the words files under ``root`` (see the module docstring).

    ``media_root`` (default ``root``) holds ``{meeting}/audio/{meeting}.Headset-{n}.wav``.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"ami: root {base} is not a directory")
    if not point_laugh_s > 0:
        raise ValueError(f"ami: point_laugh_s must be > 0 seconds, got {point_laugh_s}")
    if group_by not in ("series", "meeting"):
        raise ValueError(f"ami: group_by must be 'series' or 'meeting', got {group_by!r}")
    words_dir = find_words_dir(base)
    files = sorted(words_dir.glob("*.words.xml"))
    if not files:
        raise FileNotFoundError(f"ami: no *.words.xml files in {words_dir}")
    result = ProcessResult(CORPUS)
    meetings_xml = words_dir.parent / "corpusResources" / "meetings.xml"
    per_meeting = read_meetings_xml(meetings_xml, result) if channel_map is None and meetings_xml.is_file() else {}
    default_channels = dict(DEFAULT_CHANNELS if channel_map is None else channel_map)
    mroot = Path(media_root) if media_root is not None else base
    split = SplitAssigner(seed, proportions)

    # meeting -> speaker -> (laughs, words, channel)
    meetings: dict[str, dict[str, tuple[list[Laugh], list[tuple[float, float]], int]]] = defaultdict(dict)
    for path in files:
        m = _FILE.match(path.name)
        if not m:
            result.error(path, None, "file name is not {meeting}.{speaker}.words.xml")
            continue
        channels = per_meeting.get(m["meeting"]) or default_channels
        if m["spk"] not in channels:
            result.error(path, None, f"speaker {m['spk']!r} has no headset channel in {channels}")
            continue
        laughs, words = parse_words(path, result, laugh_types, point_laugh_s)
        meetings[m["meeting"]][m["spk"]] = (laughs, words, channels[m["spk"]])
    n_laughs = sum(len(v[0]) for spk in meetings.values() for v in spk.values())
    n_points = sum(la.point for spk in meetings.values() for v in spk.values() for la in v[0])
    result.stats.update(laughs=n_laughs, point_laughs=n_points, point_laugh_s=point_laugh_s,
                        channels_from_meetings_xml=len(per_meeting) > 0)

    def rows() -> Iterator[ManifestRow]:
        for meeting in sorted(meetings):
            series = _SERIES.match(meeting)
            group = f"{CORPUS}:{series[1] if group_by == 'series' and series else meeting}"
            sp = split(group)
            spk = meetings[meeting]
            all_laughs = [(la.start, la.end) for laughs, _, _ in spk.values() for la in laughs]
            cands: list[tuple[str, int, float, float]] = []
            for letter in sorted(spk):
                laughs, words, channel = spk[letter]
                media = str(mroot / meeting / "audio" / f"{meeting}.Headset-{channel}.wav")
                for la in laughs:
                    detail = f"vocalsound {la.nite_id} speaker {letter}"
                    if la.point:
                        detail += f" point laugh, extent {point_laugh_s:g} s"
                    yield ManifestRow(f"{CORPUS}:{la.nite_id}", CORPUS, media, la.start, la.end, "laughter", "event",
                                      detail, group, sp)
                for span in _merge(words, merge_gap_s):
                    for a, b in subtract_intervals(span, all_laughs, guard=guard_s, min_len=min_negative_s,
                                                   max_len=negative_len_s):
                        cands.append((media, channel, a, b))
            frac = min(1.0, negatives_per_positive * len(all_laughs) / len(cands)) if cands else 0.0
            for media, channel, a, b in cands:
                cid = f"{CORPUS}:{meeting}.Headset-{channel}.{int(round(a * 1000))}-{int(round(b * 1000))}"
                if keep_fraction(cid, seed, frac):
                    yield ManifestRow(cid, CORPUS, media, a, b, "no_laughter", "event", "speech, no laugh", group, sp)

    return finish(result, rows(), out, "laughter")
