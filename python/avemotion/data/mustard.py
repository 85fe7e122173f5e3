"""MUStARD: sarcasm as a humor proxy.

Files read (github soujanyaporia/MUStARD, ``data/sarcasm_data.json``; videos
``data/videos/utterances_final/{id}.mp4``)::

    {
      "160": {
        "utterance": "It's just a privilege to watch your mind at work.",
        "speaker": "SHELDON",
        "context": ["I never would have identified the fingerprints of string theory ...", "..."],
        "context_speakers": ["LEONARD", "SHELDON"],
        "show": "BBT",
        "sarcasm": true
      },
      ...
    }

Layouts accepted (``root``): the repository checkout (``data/sarcasm_data.json``), its ``data/``
folder, or any folder holding ``sarcasm_data.json``. Videos (``mmsd_raw_data.zip``, unpacked) are
looked for in ``videos/utterances_final/`` beside the JSON, then ``utterances_final/`` beside it,
then ``root/videos/utterances_final/`` (``video_dir`` overrides, relative to the JSON's folder).
The JSON is UTF-8 (a BOM is accepted); any line ending.

Sarcasm is not laughter: rows are ``label_kind`` ``proxy`` (``sarcasm: true`` -> ``laughter``,
``false`` -> ``no_laughter``), so training can weight or drop them. Each row is the whole utterance
clip (start 0, end its duration read from the media file; ``assume_duration`` gives a fixed length,
marked ``duration=assumed``, when the videos are absent). The JSON has no episode ids, so the group
is the show (``group_by="show"``, the default, keeps a sitcom's laugh track and cast in one split)
or the show and speaker (``group_by="speaker"``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from avemotion.data._common import ProcessResult, find_media, finish, media_duration
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "mustard"
REQUIRED = ("utterance", "speaker", "show", "sarcasm")


VIDEO_DIRS = ("videos/utterances_final", "utterances_final")


def find_json(base: Path, name: str = "sarcasm_data.json") -> Path:
    """``root/NAME``, else ``root/data/NAME`` (the repository layout)."""
    for p in (base / name, base / "data" / name):
        if p.is_file():
            return p
    raise FileNotFoundError(f"mustard: {name} not found in {base} or {base / 'data'} "
                            "(--root: the MUStARD repository, its data/ folder, or the JSON's folder)")


def find_video_dir(base: Path, json_dir: Path, video_dir: str | None = None) -> Path:
    """The folder of ``{id}.mp4`` utterance clips (see the module docstring); the first candidate
    when none exists (rows then need ``assume_duration``)."""
    if video_dir is not None:
        return json_dir / video_dir
    cands = [json_dir / d for d in VIDEO_DIRS] + [base / VIDEO_DIRS[0]]
    return next((c for c in cands if c.is_dir()), cands[0])


def _line_of_key(text: str, key: str) -> int | None:
    i = text.find(f'"{key}"')
    return text.count("\n", 0, i) + 1 if i >= 0 else None


def process(
    root: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    json_name: str = "sarcasm_data.json",
    video_dir: str | None = None,
    group_by: str = "show",
    assume_duration: float | None = None,
) -> ProcessResult:
    """Build MUStARD proxy rows from ``sarcasm_data.json`` under ``root`` (see the module docstring)."""
    base = Path(root)
    path = find_json(base, json_name)
    if group_by not in ("show", "speaker"):
        raise ValueError(f"mustard: group_by must be 'show' or 'speaker', got {group_by!r}")
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of id -> utterance record, got {type(data).__name__}")
    vids = find_video_dir(base, path.parent, video_dir)
    result = ProcessResult(CORPUS)
    split = SplitAssigner(seed, proportions)

    def rows() -> Iterator[ManifestRow]:
        for uid, rec in data.items():
            line = _line_of_key(text, uid)
            if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED):
                result.error(path, line, f"entry {uid!r} lacks one of {', '.join(REQUIRED)}")
                continue
            if not isinstance(rec["sarcasm"], bool):
                result.error(path, line, f"entry {uid!r}: sarcasm must be true/false, got {rec['sarcasm']!r}")
                continue
            show = str(rec["show"]).strip() or "unknown"
            media = find_media(vids, uid, (".mp4", ".wav", ".mkv"))
            detail = f"sarcasm={str(rec['sarcasm']).lower()} speaker={rec['speaker']}"
            if media is not None:
                try:
                    dur = media_duration(media)
                except ValueError as exc:
                    result.error(media, None, str(exc))
                    continue
            elif assume_duration is not None:
                dur, media = float(assume_duration), vids / f"{uid}.mp4"
                detail += " duration=assumed"
            else:
                result.error(path, line, f"entry {uid!r}: video {vids / (uid + '.mp4')} not found (pass assume_duration)")
                continue
            if dur <= 0:
                result.error(media, None, "zero-length media")
                continue
            group = f"{CORPUS}:{show}" if group_by == "show" else f"{CORPUS}:{show}:{rec['speaker']}"
            label = "laughter" if rec["sarcasm"] else "no_laughter"
            yield ManifestRow(f"{CORPUS}:{uid}", CORPUS, str(media), 0.0, dur, label, "proxy", detail, group, split(group))

    return finish(result, rows(), out, "laughter")
