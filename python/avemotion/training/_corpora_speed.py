"""Speed-perturbed copies of training clips (part of :mod:`avemotion.training.corpora`; import from
there).

Speed perturbation (Ko et al., "Audio augmentation for speech recognition", Interspeech 2015): the
signal resampled so that it plays ``f`` times faster, ``y(t) = x(f t)``: tempo and pitch move by the
same factor (0.9 and 1.1 are the classic pair). A copy is a :class:`~avemotion.training.corpora.Clip`
with its original's group and labels and ``source`` = the original's clip id; the manifests list a
copy only where its group trains (:func:`avemotion.training.corpora.write_manifests`), so a held-out
speaker or laughter file never has copies on the training side, nor copies of its own in a test.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from avemotion._contract import SAMPLE_RATE

log = logging.getLogger("avemotion.training.corpora")

#: a :class:`avemotion.training.corpora.Clip` (not imported: this sibling never imports its front module)
ClipT = TypeVar("ClipT", bound=Any)


_TAG = re.compile(r"_(sp\d{3})$")


def speed_tag(factor: float) -> str:
    """``sp090`` for 0.9: the suffix of a copy's clip id and file name."""
    return f"sp{int(round(factor * 100)):03d}"


def speed_tag_of(clip_id: str) -> str:
    """The speed tag of a copy's clip id (``emodb:03a01Wa_sp090`` -> ``sp090``), "" for an original."""
    m = _TAG.search(clip_id)
    return m.group(1) if m else ""


def speed_perturb(x: np.ndarray, sr: int, factor: float, out_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float ``x`` at ``sr`` Hz played ``factor`` times faster, sampled at ``out_sr`` Hz:
    a polyphase resampling (scipy) from ``sr`` to ``out_sr / factor``."""
    from scipy.signal import resample_poly

    if not 0.5 <= factor <= 2.0:
        raise ValueError(f"speed factor {factor}: expected a value in [0.5, 2]")
    ratio = Fraction(out_sr / (factor * sr)).limit_denominator(2000)
    y = resample_poly(np.asarray(x, np.float64), ratio.numerator, ratio.denominator)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def make_speed_copies(clips: Iterable[ClipT], factors: Mapping[str, Sequence[float]],
                      out_dir: str | os.PathLike[str]) -> list[ClipT]:
    """For every clip of a corpus in ``factors`` (corpus -> speed factors) and each factor, a
    speed-perturbed copy of the clip's ``start``-``end`` span written as a 16 kHz mono WAV under
    ``out_dir/<corpus>/`` (atomically; kept when present, so a rerun resumes) and returned as a clip
    (same group, labels and corpus; ``source`` = the original's id). A clip whose audio cannot be
    read or resampled is reported (a warning) and gets no copies; the others go on."""
    import soundfile as sf

    from avemotion._io import atomic_write_bytes

    out = []
    for clip in clips:
        fs = factors.get(clip.corpus, ())
        if not fs or clip.source:
            continue
        x: np.ndarray | None = None
        sr = 0
        for f in fs:
            tag = speed_tag(f)
            path = Path(out_dir) / clip.corpus / f"{clip.clip_id.split(':', 1)[-1]}_{tag}.wav"
            try:
                if path.is_file():
                    seconds = float(sf.info(str(path)).frames) / SAMPLE_RATE
                else:
                    if x is None:
                        with sf.SoundFile(clip.media_path) as fh:
                            sr = fh.samplerate
                            fh.seek(int(round(clip.start * sr)))
                            x = fh.read(int(round((clip.end - clip.start) * sr)), dtype="float32",
                                        always_2d=True).mean(axis=1)
                    y = speed_perturb(x, sr, f)
                    buf = io.BytesIO()
                    sf.write(buf, y, SAMPLE_RATE, format="WAV", subtype="PCM_16")
                    atomic_write_bytes(path, buf.getvalue())
                    seconds = len(y) / SAMPLE_RATE
            except (OSError, RuntimeError, ValueError) as exc:  # soundfile's errors are RuntimeErrors
                log.warning("speed copies of %s (%s): skipped, %s", clip.clip_id, clip.media_path, exc)
                break
            out.append(replace(clip, clip_id=f"{clip.clip_id}_{tag}", media_path=str(path.resolve()), start=0.0,
                               end=round(seconds, 3), detail=f"speed x{f:g} of {clip.clip_id}",
                               source=clip.clip_id))
    return out
