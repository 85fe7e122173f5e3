"""AMI meeting corpus: laughter events from the NXT word annotations.

Files read (AMI manual annotations v1.6.2, ``ami_public_manual_1.6.2.zip``)::

    words/ES2002a.A.words.xml   one file per meeting and speaker letter (A-E)
      <?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>
      <nite:root nite:id="ES2002a.A.words" xmlns:nite="http://nite.sourceforge.net/">
         <w nite:id="ES2002a.A.words0" starttime="53.56" endtime="53.96">Okay</w>
         <vocalsound nite:id="ES2002a.A.words1" starttime="54.28" endtime="55.12" type="laugh"/>
         <disfmarker nite:id="..." starttime="..." endtime="..."/>
      </nite:root>
    Times are seconds from the meeting start; ``vocalsound`` types include laugh, cough, other.

Audio (AMI download layout): ``{meeting}/audio/{meeting}.Headset-{n}.wav``, the speaker's headset
channel; speaker letter A..E maps to headset 0..4 by default (``channel_map`` overrides, as
``corpusResources/meetings.xml`` gives it per meeting).

Rows: each ``<vocalsound type="laugh">`` (types in ``laugh_types``) is a ``laughter`` ``event`` on
the speaker's channel. Negatives are stretches of that speaker's words (consecutive words closer than
``merge_gap_s`` merged) minus every laugh of the *whole meeting* widened by ``guard_s`` (laughter
bleeds into other headsets), cut into pieces of ``negative_len_s`` (shorter than ``min_negative_s``
dropped) and subsampled deterministically to ``negatives_per_positive`` times the meeting's laughs.
The meeting is the group.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from avemotion.data._common import ProcessResult, finish, keep_fraction
from avemotion.data.manifest import ManifestRow, SplitAssigner, subtract_intervals

log = logging.getLogger(__name__)

CORPUS = "ami"
_FILE = re.compile(r"^(?P<meeting>[A-Z]{2}\d{4}[a-z]?)\.(?P<spk>[A-Z])\.words\.xml$")
DEFAULT_CHANNELS = {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4}


def _times(el: ET.Element) -> tuple[float, float] | None:
    try:
        a, b = float(el.attrib["starttime"]), float(el.attrib["endtime"])
    except (KeyError, ValueError):
        return None
    return (a, b) if 0 <= a < b else None


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
    path: Path, result: ProcessResult, laugh_types: Sequence[str] = ("laugh",)
) -> tuple[list[tuple[float, float, str]], list[tuple[float, float]]]:
    """``(laughs, words)``: laugh events ``(start, end, nite_id)`` and word spans of one file."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        result.error(path, exc.position[0], f"not well-formed XML ({exc})")
        return [], []
    laughs: list[tuple[float, float, str]] = []
    words: list[tuple[float, float]] = []
    for el in tree.getroot():
        tag = el.tag.rsplit("}", 1)[-1]
        nid = next((v for k, v in el.attrib.items() if k.endswith("}id") or k == "id"), "?")
        if tag == "vocalsound" and el.attrib.get("type") in laugh_types:
            t = _times(el)
            if t is None:
                result.error(path, _line_of(path, nid), f"vocalsound {nid} without valid starttime/endtime")
                continue
            laughs.append((t[0], t[1], nid))
        elif tag == "w":
            t = _times(el)
            if t is not None:
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


def process(
    root: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = (0.8, 0.1, 0.1),
    media_root: str | os.PathLike[str] | None = None,
    laugh_types: Sequence[str] = ("laugh",),
    channel_map: Mapping[str, int] | None = None,
    negatives_per_positive: float = 1.0,
    negative_len_s: float = 2.0,
    min_negative_s: float = 0.5,
    guard_s: float = 0.5,
    merge_gap_s: float = 0.5,
) -> ProcessResult:
    """Build AMI laughter rows from ``root/words/*.words.xml`` (see the module docstring).

    ``media_root`` (default ``root``) holds ``{meeting}/audio/{meeting}.Headset-{n}.wav``.
    """
    base = Path(root)
    words_dir = base / "words"
    if not words_dir.is_dir():
        raise FileNotFoundError(f"ami: {words_dir} not found (expected the NXT words/*.words.xml files)")
    channels = dict(DEFAULT_CHANNELS if channel_map is None else channel_map)
    mroot = Path(media_root) if media_root is not None else base
    result = ProcessResult(CORPUS)
    split = SplitAssigner(seed, proportions)

    # meeting -> speaker -> (laughs, words)
    meetings: dict[str, dict[str, tuple[list, list]]] = defaultdict(dict)
    files = sorted(words_dir.glob("*.words.xml"))
    if not files:
        raise FileNotFoundError(f"ami: no *.words.xml files in {words_dir}")
    for path in files:
        m = _FILE.match(path.name)
        if not m:
            result.error(path, None, "file name is not {meeting}.{speaker}.words.xml")
            continue
        if m["spk"] not in channels:
            result.error(path, None, f"speaker {m['spk']!r} has no headset channel in channel_map {channels}")
            continue
        meetings[m["meeting"]][m["spk"]] = parse_words(path, result, laugh_types)

    def rows() -> Iterator[ManifestRow]:
        for meeting in sorted(meetings):
            group = f"{CORPUS}:{meeting}"
            sp = split(group)
            spk = meetings[meeting]
            all_laughs = [(a, b) for laughs, _ in spk.values() for a, b, _ in laughs]
            cands: list[tuple[str, float, float]] = []
            for letter in sorted(spk):
                laughs, words = spk[letter]
                media = str(mroot / meeting / "audio" / f"{meeting}.Headset-{channels[letter]}.wav")
                for a, b, nid in laughs:
                    yield ManifestRow(f"{CORPUS}:{nid}", CORPUS, media, a, b, "laughter", "event",
                                      f"vocalsound {nid} speaker {letter}", group, sp)
                for span in _merge(words, merge_gap_s):
                    for a, b in subtract_intervals(span, all_laughs, guard=guard_s, min_len=min_negative_s,
                                                   max_len=negative_len_s):
                        cands.append((media, a, b))
            frac = min(1.0, negatives_per_positive * len(all_laughs) / len(cands)) if cands else 0.0
            for media, a, b in cands:
                speaker = Path(media).stem.rsplit("-", 1)[-1]
                cid = f"{CORPUS}:{meeting}.Headset-{speaker}.{int(round(a * 1000))}-{int(round(b * 1000))}"
                if keep_fraction(cid, seed, frac):
                    yield ManifestRow(cid, CORPUS, media, a, b, "no_laughter", "event", "speech, no laugh", group, sp)

    return finish(result, rows(), out, "laughter")
