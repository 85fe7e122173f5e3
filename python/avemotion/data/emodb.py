"""EmoDB (Berlin Database of Emotional Speech): acted German emotional speech, label in the file name.

Files read (the corpus's own download ``emodb.zip`` from emodb.bilderbar.info, or audb's ``emodb``)::

    wav/03a01Fa.wav ...     535 utterances of 10 speakers (the full release; any subset works)
      SSTTTEV.wav: speaker SS (03 08 09 10 11 12 13 14 15 16; male 03 10 11 12 15, female 08 09 13
      14 16), text TTT (a01 a02 a04 a05 a07 b01 b02 b03 b09 b10), emotion letter E, version V (a-z).
      E: W Ärger (anger), L Langeweile (boredom), E Ekel (disgust), A Angst (fear), F Freude
      (happiness), T Trauer (sadness), N neutral.
    erkennung.txt (optional)  the corpus's listening test, Latin-1, tab-separated, decimal commas,
      values padded with spaces / no-break spaces (0xA0):
        Nr.<TAB>Satz<TAB>erkannt<TAB>natuerlich
        1  <TAB>03a01Ab.wav<TAB>65,00     <TAB>35,00
      ``erkannt``: % of 20 listeners who recognised the intended emotion; ``natuerlich``: % who
      judged it natural. It lists every file of the test (816, more than the corpus kept).

Layouts accepted (``root``): the release folder holding ``wav/`` (and ``erkennung.txt``; its other
folders ``lablaut/``, ``labsilb/``, ``silb/`` are not read), or the ``wav/`` folder itself. Any WAV
sample rate or format (the release is 16 kHz; the copy in ``../shared/data/real/emodb`` is 22.05 kHz,
cut to 2.0 s); durations come from each file's header. ``erkennung.txt`` is decoded as UTF-8 when it
is valid UTF-8, else Latin-1 (as published); LF or CRLF.

Rows: one whole-utterance ``clip`` row per file (start 0, end the file's duration), grouped by
speaker (``emodb:03``) so a speaker never spans two splits; ``source_detail`` holds speaker, sex, text,
version and, when ``erkennung.txt`` lists the file, ``recognised=``/``natural=`` (percent).

- Emotion manifest (default): the six classes of the model; **boredom (L) has no class and is left
  out** (counted as ``boredom_skipped`` in the report, not an error). ``boredom_as=LABEL`` opts in to
  map it to one of the six (marked ``boredom_as=LABEL`` in ``source_detail``).
- Laughter manifest (``laughter_negatives=True``): every utterance, boredom included, as a
  ``no_laughter`` ``clip`` row (acted speech holds no laughter). Clip ids are the same as in the
  emotion manifest (``emodb:03a01Fa``), so training joins both labels on one clip and features are
  extracted once.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from avemotion._contract import EMOTION_LABELS
from avemotion.data._common import ProcessResult, finish, media_duration, read_text
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "emodb"
#: Emotion letter -> contract label (None: boredom, no class of the model).
EMOTIONS: dict[str, str | None] = {
    "W": "anger", "E": "disgust", "A": "fear", "F": "happy", "N": "neutral", "T": "sad", "L": None,
}
SPEAKERS: dict[str, str] = {
    "03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f", "14": "f", "15": "m", "16": "f",
}
TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def parse_name(name: str) -> tuple[str, str, str, str]:
    """``(speaker, text, emotion_letter, version)`` from ``03a01Fa(.wav)``; ValueError if malformed."""
    stem = name[:-4] if name.lower().endswith(".wav") else name
    m = _NAME.match(stem)
    if not m:
        raise ValueError(f"name {name!r} is not SSTTTEV (speaker, text, emotion letter, version; e.g. 03a01Fa.wav)")
    speaker, text, emo, version = m.groups()
    if speaker not in SPEAKERS:
        raise ValueError(f"speaker {speaker!r} in {name!r} is not one of EmoDB's {', '.join(SPEAKERS)}")
    if text not in TEXTS:
        raise ValueError(f"text code {text!r} in {name!r} is not one of {', '.join(TEXTS)}")
    if emo not in EMOTIONS:
        raise ValueError(f"emotion letter {emo!r} in {name!r} is not one of {', '.join(EMOTIONS)}")
    return speaker, text, emo, version


def read_erkennung(path: Path, result: ProcessResult) -> dict[str, tuple[float, float]]:
    """``{stem: (recognised_percent, natural_percent)}`` from ``erkennung.txt`` (see the module
    docstring); malformed lines are reported with file and line and skipped."""
    text, _enc = read_text(path)
    lines = text.splitlines()
    if not lines or [c.strip() for c in lines[0].split("\t")][:4] != ["Nr.", "Satz", "erkannt", "natuerlich"]:
        head = lines[0] if lines else ""
        raise ValueError(f"{path}:1: expected the header Nr.<TAB>Satz<TAB>erkannt<TAB>natuerlich, got {head!r}")
    out: dict[str, tuple[float, float]] = {}
    for i, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]  # str.strip() also drops the 0xA0 padding
        if len(cells) < 4:
            result.error(path, i, f"expected 4 tab-separated fields, got {len(cells)}")
            continue
        try:
            recognised, natural = (float(c.replace(",", ".")) for c in cells[2:4])
        except ValueError:
            result.error(path, i, f"erkannt/natuerlich not numbers: {cells[2]!r}, {cells[3]!r}")
            continue
        out[Path(cells[1]).stem] = (recognised, natural)
    return out


def _wav_dir(base: Path) -> Path:
    if (base / "wav").is_dir():
        return base / "wav"
    if any(p.suffix.lower() == ".wav" for p in base.iterdir()):
        return base
    raise FileNotFoundError(f"emodb: neither {base / 'wav'} nor WAV files in {base} (expected wav/03a01Fa.wav ...)")


def process(
    root: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    laughter_negatives: bool = False,
    boredom_as: str | None = None,
) -> ProcessResult:
    """Build EmoDB rows from ``root/wav/*.wav`` (or ``root/*.wav``) and ``erkennung.txt`` when present.

    Emotion rows by default (boredom left out unless ``boredom_as`` names one of the six labels);
    ``laughter_negatives=True``: ``no_laughter`` rows of every utterance. See the module docstring.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"emodb: root {base} is not a directory")
    if boredom_as is not None and boredom_as not in EMOTION_LABELS:
        raise ValueError(f"emodb: boredom_as must be one of {', '.join(EMOTION_LABELS)} or None, got {boredom_as!r}")
    if boredom_as is not None and laughter_negatives:
        raise ValueError("emodb: boredom_as applies to emotion rows, not with laughter_negatives")
    wav_dir = _wav_dir(base)
    files = sorted(p for p in wav_dir.iterdir() if p.suffix.lower() == ".wav" and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"emodb: no .wav files in {wav_dir}")
    result = ProcessResult(CORPUS)
    erk_path = next((p for p in (base / "erkennung.txt", wav_dir.parent / "erkennung.txt") if p.is_file()), None)
    listening = read_erkennung(erk_path, result) if erk_path is not None else {}
    split = SplitAssigner(seed, proportions)
    kind = "laughter" if laughter_negatives else "emotion"
    result.stats.update(files=len(files), boredom_skipped=0, listening_test_rows=len(listening))

    def rows() -> Iterator[ManifestRow]:
        for path in files:
            try:
                speaker, text, emo, version = parse_name(path.name)
            except ValueError as exc:
                result.error(path, None, str(exc))
                continue
            label = EMOTIONS[emo]
            detail = f"speaker={speaker} sex={SPEAKERS[speaker]} text={text} emotion={emo} version={version}"
            if laughter_negatives:
                label = "no_laughter"
            elif label is None:
                if boredom_as is None:
                    result.stats["boredom_skipped"] += 1
                    continue
                label, detail = boredom_as, detail + f" boredom_as={boredom_as}"
            try:
                dur = media_duration(path)
            except ValueError as exc:
                result.error(path, None, str(exc))
                continue
            if dur <= 0:
                result.error(path, None, "zero-length audio")
                continue
            if path.stem in listening:
                rec, nat = listening[path.stem]
                detail += f" recognised={rec:g} natural={nat:g}"
            group = f"{CORPUS}:{speaker}"
            yield ManifestRow(f"{CORPUS}:{path.stem}", CORPUS, str(path), 0.0, dur, label, "clip", detail,
                              group, split(group))

    return finish(result, rows(), out, kind)
