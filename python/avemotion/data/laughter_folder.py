"""A folder of recordings that each hold one label throughout: acted laughter (or, with
``label="no_laughter"``, recordings of noise, silence or speech without laughter).

Files read: every audio file under ``root`` (subfolders included, sorted), by extension
(:data:`AUDIO_EXTENSIONS`); other files (text, images, hidden files) are ignored. For example the
laughter recordings in ``../shared/data/real/laughter/``::

    wav/female-219778__madamvicious__female-evil-laugh.wav     3.1 s, 44.1 kHz stereo, 16-bit PCM
    wav/male-Sick_Villain-Peter_De_Lang-1465872262.wav          30.2 s, 48 kHz stereo, 32-bit float
    ...

Layouts accepted (``root``): any folder; files may sit directly in it or in subfolders (``wav/``,
``female/``, ``male/`` ...). WAV durations come from the RIFF header (integer PCM, IEEE float,
extensible, extra chunks); other formats (``.flac``, ``.mp3``, ``.ogg``, ``.m4a``, ...) through
``ffprobe``. The clip id is the file's path below the deepest folder that holds all the files,
without its extension, folders joined by ``.`` (so ``laughter/`` and ``laughter/wav/`` give the same ids).

Rows: one whole-file ``clip`` row per recording (start 0, end its duration), label ``laughter`` (or
``label``), ``source_detail`` ``file=<path below root>``. Each file is its own group
(``<corpus>:<clip>``): a recording never spans two splits, and leave-one-file-out folds are the
groups. ``corpus`` (default ``laughter_folder``) names the rows, so two folders processed with
different names can be unified without clip-id clashes.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from avemotion._contract import LAUGHTER_LABELS
from avemotion.data._common import ProcessResult, finish, media_duration
from avemotion.data.manifest import DEFAULT_PROPORTIONS, ManifestRow, SplitAssigner

log = logging.getLogger(__name__)

CORPUS = "laughter_folder"
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aiff", ".aif")
_CORPUS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _audio_files(base: Path) -> list[Path]:
    return sorted(
        p for p in base.rglob("*")
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(base).parts)
    )


def process(
    root: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    label: str = "laughter",
    corpus: str = CORPUS,
) -> ProcessResult:
    """Build one ``clip`` row per audio file under ``root`` (see the module docstring)."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"laughter_folder: root {base} is not a directory")
    if label not in LAUGHTER_LABELS:
        raise ValueError(f"laughter_folder: label must be one of {', '.join(LAUGHTER_LABELS)}, got {label!r}")
    if not _CORPUS_NAME.match(corpus):
        raise ValueError(f"laughter_folder: corpus must be a lower-case name like 'acted_laughter', got {corpus!r}")
    files = _audio_files(base)
    if not files:
        raise FileNotFoundError(f"laughter_folder: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {base}")
    result = ProcessResult(corpus)
    result.stats.update(files=len(files))
    split = SplitAssigner(seed, proportions)

    def rows() -> Iterator[ManifestRow]:
        seen: set[str] = set()
        top = Path(os.path.commonpath([p.parent for p in files]))
        for path in files:
            rel = path.relative_to(top)
            stem = ".".join((*rel.parts[:-1], rel.stem))
            if stem in seen:  # a.wav and a.flac side by side
                result.error(path, None, f"another file already gives the clip id {corpus}:{stem}; skipped")
                continue
            try:
                dur = media_duration(path)
            except ValueError as exc:
                result.error(path, None, str(exc))
                continue
            if dur <= 0:
                result.error(path, None, "zero-length audio")
                continue
            seen.add(stem)
            clip_id = f"{corpus}:{stem}"
            yield ManifestRow(clip_id, corpus, str(path), 0.0, dur, label, "clip", f"file={path.relative_to(base).as_posix()}",
                              clip_id, split(clip_id))

    return finish(result, rows(), out, "laughter")
