"""CREMA-D (emotion): clip names, demographics, the emotion manifest ``emotion_v1.csv``.

Files read (CREMA-D release, github CheyneyComputerScience/CREMA-D)::

    AudioWAV/1001_DFA_ANG_XX.wav ...   7,442 clips, 91 actors (1001-1091)
      ActorID_SentenceID_Emotion_Level: SentenceID one of 12 three-letter codes (IEO, TIE, IOM,
      IWW, TAI, MTI, IWL, ITH, DFA, ITS, TSI, WSI); Emotion ANG, DIS, FEA, HAP, NEU, SAD;
      Level LO, MD, HI or XX (unspecified).
    VideoDemographics.csv (optional)
      ActorID,Age,Sex,Race,Ethnicity   e.g.  1001,51,Male,Caucasian,Not Hispanic
    (or a plain list of the clip names, one a line, e.g. ``AudioWAV_filenames.txt``)

Layouts accepted (``root``): the repository checkout (``AudioWAV/``, ``VideoDemographics.csv``; the
other folders ``AudioMP3/``, ``VideoFlash/``, ``VideoMP4/``, ``processedResults/`` are not read), or
any folder with an ``AudioWAV/`` folder (``audio_dir`` renames it), or ``names_file`` alone. The
demographics CSV is UTF-8 (a BOM is dropped), LF or CRLF; a names file is UTF-8 or else Latin-1.
The repository stores the media with Git LFS: a clone without ``git lfs pull`` holds small pointer
files, which are reported as such (not as broken WAVs). Older checkouts name one clip
``1040_ITH_SAD_X.wav`` (level ``X``, fixed upstream to ``XX``): accepted.

Emotion codes map to the contract's labels: ANG anger, DIS disgust, FEA fear, HAP happy,
NEU neutral, SAD sad. Rows are whole clips (``label_kind`` ``clip``, start 0, end the clip duration
read from the WAV header). The actor is the group (``cremad:1001``), so no actor spans two splits;
``source_detail`` holds sentence, level and the actor's sex/age when demographics are present.
Without audio files (a names list only) durations are unknown: pass ``assume_duration`` to use a
fixed value (marked ``duration=assumed`` in ``source_detail``), else those names are reported as errors.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from avemotion.data._common import ProcessResult, finish, media_duration, read_text
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "cremad"
EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
LEVELS = ("LO", "MD", "HI", "XX", "X")
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")


def parse_name(name: str) -> tuple[str, str, str, str]:
    """``(actor, sentence, label, level)`` from ``1001_DFA_ANG_XX(.wav)``; ValueError if malformed."""
    stem = Path(name.strip()).stem if name.strip().lower().endswith((".wav", ".flv", ".mp3", ".mp4")) else name.strip()
    m = _NAME.match(stem)
    if not m:
        raise ValueError(f"name {name!r} is not ActorID_SentenceID_Emotion_Level (e.g. 1001_DFA_ANG_XX)")
    actor, sentence, emo, level = m.groups()
    if emo not in EMOTIONS:
        raise ValueError(f"emotion code {emo!r} in {name!r} is not one of {', '.join(EMOTIONS)}")
    if sentence not in SENTENCES:
        raise ValueError(f"sentence code {sentence!r} in {name!r} is not one of {', '.join(SENTENCES)}")
    if level not in LEVELS:
        raise ValueError(f"level {level!r} in {name!r} is not one of LO, MD, HI, XX")
    return actor, sentence, EMOTIONS[emo], level


def read_demographics(path: Path, result: ProcessResult) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "ActorID" not in reader.fieldnames:
            raise ValueError(f"{path}:1: expected a header with ActorID,Age,Sex,Race,Ethnicity; got {reader.fieldnames}")
        for rec in reader:
            actor = (rec.get("ActorID") or "").strip()
            if not re.fullmatch(r"\d{4}", actor):
                result.error(path, reader.line_num, f"ActorID {actor!r} is not a 4-digit id")
                continue
            out[actor] = {k: (v or "").strip() for k, v in rec.items() if k}
    return out


def process(
    root: str | os.PathLike[str],
    *,
    names_file: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    assume_duration: float | None = None,
    audio_dir: str = "AudioWAV",
) -> ProcessResult:
    """Build the CREMA-D emotion rows from ``root/AudioWAV/*.wav`` (or ``names_file``, one name a
    line) and ``root/VideoDemographics.csv`` when present. See the module docstring."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"cremad: root {base} is not a directory")
    if assume_duration is not None and not assume_duration > 0:
        raise ValueError(f"assume_duration must be > 0 seconds, got {assume_duration}")
    result = ProcessResult(CORPUS)
    wav_dir = base / audio_dir
    entries: list[tuple[str, int | None, str]]
    if names_file is not None:
        nf = Path(names_file)
        if not nf.is_file():
            raise FileNotFoundError(f"cremad: names file not found: {nf}")
        entries = [(str(nf), i, line.strip()) for i, line in enumerate(read_text(nf)[0].splitlines(), 1)]
        entries = [e for e in entries if e[2]]
    elif wav_dir.is_dir():
        entries = [(str(p), None, p.name) for p in sorted(wav_dir.glob("*.wav"))]
    else:
        raise FileNotFoundError(f"cremad: neither {wav_dir} nor a names_file was found")
    demo_path = base / "VideoDemographics.csv"
    demo = read_demographics(demo_path, result) if demo_path.is_file() else {}
    split = SplitAssigner(seed, proportions)

    def rows() -> Iterator[ManifestRow]:
        seen: set[str] = set()
        for source, line, name in entries:
            try:
                actor, sentence, label, level = parse_name(name)
            except ValueError as exc:
                result.error(source, line, str(exc))
                continue
            stem = Path(name).stem if name.lower().endswith(".wav") else name
            if stem in seen:
                result.error(source, line, f"duplicate clip {stem}")
                continue
            media = wav_dir / f"{stem}.wav"
            detail = f"sentence={sentence} level={level}"
            if media.is_file():
                try:
                    dur = media_duration(media)
                except ValueError as exc:
                    result.error(source, line, str(exc))
                    continue
            elif assume_duration is not None:
                dur = float(assume_duration)
                detail += " duration=assumed"
            else:
                result.error(source, line, f"audio {media} not found (pass assume_duration to use a fixed length)")
                continue
            if dur <= 0:
                result.error(source, line, f"{media}: zero-length audio")
                continue
            if actor in demo:
                detail += f" sex={demo[actor].get('Sex', '')} age={demo[actor].get('Age', '')}"
            seen.add(stem)
            group = f"{CORPUS}:{actor}"
            yield ManifestRow(f"{CORPUS}:{stem}", CORPUS, str(media), 0.0, dur, label, "clip", detail, group, split(group))

    return finish(result, rows(), out, "emotion")
