"""The real training data of the default bundle: EmoDB speech, acted laughter, AMI speech and noise,
as manifests (``docs/contracts.md``) for ``avemotion extract`` and ``avemotion train``.

Sources (``../shared/data/real``, see its SOURCES.md; never copied into the repository)::

    emodb/wav/SSTTTEV.wav     EmoDB: speaker SS, text TTT, emotion letter E, version V; 2.0 s each
                              (W anger, E disgust, A fear, F happy, N neutral, T sad, L boredom)
    laughter/wav/*.wav        acted laughter recordings, nothing but laughter (2.7-30 s)
    ami/*.wav                 AMI meeting speech (headset), no laughter

What the manifests hold:

- emotion manifest: the EmoDB utterances of the six classes (boredom has no class and is left out
  of emotion training), ``group`` = speaker;
- laughter manifest: every laughter file (``laughter``, group = file) and, as ``no_laughter``, every
  EmoDB utterance (boredom included; the same clip ids as the emotion rows, so such a clip carries
  both labels), the AMI speech and generated silence/noise clips (written once into the data
  directory: digital silence, white/pink/brown noise and mains hum at several levels).

Until the corpus processors of ``avemotion.data`` for EmoDB and a laughter folder exist, the three
``read_*`` functions below read the files directly; each returns :class:`Clip` records and is the
one place to swap for a processor's manifest rows.

Splits are not hashed here: :func:`assign_splits` puts named groups into ``val``/``test`` (the
leave-one-speaker-out folds of ``avemotion evaluate`` and the shipped bundle's validation speaker).
No TensorFlow, no openSMILE in this module.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avemotion._contract import SAMPLE_RATE
from avemotion.training._corpora_speed import make_speed_copies, speed_tag_of

log = logging.getLogger(__name__)

#: EmoDB's emotion letters -> this project's classes (None: boredom, no class here).
EMODB_EMOTIONS: dict[str, str | None] = {"W": "anger", "E": "disgust", "A": "fear", "F": "happy",
                                         "N": "neutral", "T": "sad", "L": None}
_EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])\.wav$")
_SAFE = re.compile(r"[^A-Za-z0-9_.+-]")


@dataclass(frozen=True)
class Clip:
    """One media clip of the real training data."""

    clip_id: str        # unique, usable as a file name (the .npz of its features)
    corpus: str         # emodb, laughter, ami, noise
    media_path: str     # absolute path
    start: float
    end: float
    group: str          # speaker / file: one group is never in two splits
    emotion: str | None = None   # one of EMOTION_LABELS, or None
    laughter: bool | None = None  # True laughter, False no laughter, None no laughter label
    detail: str = ""
    source: str = ""    # a derived copy (speed perturbation): the original's clip_id; "" for originals


def _wav_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return float(info.frames) / float(info.samplerate)


def read_emodb(root: str | os.PathLike[str]) -> list[Clip]:
    """Every EmoDB utterance under ``root/wav`` (speaker = group; boredom has ``emotion=None``).
    Raises FileNotFoundError when the folder is missing, ValueError for a file name that does not
    follow EmoDB's ``SSTTTEV.wav``."""
    wav = Path(root) / "wav"
    if not wav.is_dir():
        raise FileNotFoundError(f"EmoDB: expected the folder {wav} (emodb/wav/*.wav)")
    out = []
    for p in sorted(wav.glob("*.wav")):
        m = _EMODB_NAME.match(p.name)
        if m is None:
            raise ValueError(f"EmoDB: {p}: expected a file name SSTTTEV.wav (e.g. 03a01Wa.wav)")
        speaker, text, letter, version = m.groups()
        out.append(Clip(f"emodb:{p.stem}", "emodb", str(p.resolve()), 0.0, round(_wav_seconds(p), 3),
                        speaker, EMODB_EMOTIONS[letter], False, f"text={text};letter={letter};version={version}"))
    if not out:
        raise FileNotFoundError(f"EmoDB: no .wav files in {wav}")
    return out


#: The corpus name of calibration-only laughter recordings (``--calibration-laughter``): they join
#: the validation items of the laughter threshold calibration and nothing else (never trained on,
#: never in the manifests' validation split that selects the epoch, never tested, no copies).
CALIBRATION_LAUGHTER = "laughter_cal"


def read_laughter_folder(root: str | os.PathLike[str], corpus: str = "laughter") -> list[Clip]:
    """Every recording under ``root/wav`` is laughter and its own group (clip ids ``<corpus>:<file>``)."""
    wav = Path(root) / "wav"
    if not wav.is_dir():
        raise FileNotFoundError(f"laughter folder: expected the folder {wav} (laughter/wav/*.wav)")
    out = []
    for p in sorted(wav.glob("*.wav")):
        name = _SAFE.sub("_", p.stem)
        out.append(Clip(f"{corpus}:{name}", corpus, str(p.resolve()), 0.0, round(_wav_seconds(p), 3),
                        name, None, True, "acted laughter recording"))
    if not out:
        raise FileNotFoundError(f"laughter folder: no .wav files in {wav}")
    return out


def read_ami(root: str | os.PathLike[str]) -> list[Clip]:
    """AMI speech excerpts (``root/*.wav``): laughter negatives, group = meeting."""
    out = []
    for p in sorted(Path(root).glob("*.wav")):
        meeting = p.name.split(".")[0]
        out.append(Clip(f"ami:{_SAFE.sub('_', p.stem)}", "ami", str(p.resolve()), 0.0,
                        round(_wav_seconds(p), 3), meeting, None, False, "meeting speech, headset"))
    return out


# ----------------------------------------------------------------------------- noise negatives

#: (kind, level dBFS) of the generated negatives; each kind/level is one clip of NOISE_SECONDS.
NOISE_SPECS: tuple[tuple[str, float], ...] = tuple(
    [("silence", -120.0)]
    + [(k, lv) for k in ("white", "pink", "brown") for lv in (-60.0, -45.0, -30.0, -20.0)]
    + [("hum", -40.0), ("hum", -25.0)]
)
NOISE_SECONDS = 4.0


def _noise(kind: str, level_db: float, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        x = sum(np.sin(2 * np.pi * 50.0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in (1, 2, 3, 5))
    else:
        w = rng.standard_normal(n)
        if kind == "white":
            x = w
        else:  # pink 1/f or brown 1/f^2 by spectral shaping
            f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
            f[0] = f[1]
            spec = np.fft.rfft(w) / (np.sqrt(f) if kind == "pink" else f)
            x = np.fft.irfft(spec, n)
    x = np.asarray(x, np.float64)
    x = x / max(float(np.sqrt(np.mean(x * x))), 1e-12) * 10 ** (level_db / 20)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def make_noise_clips(out_dir: str | os.PathLike[str], seed: int = 0) -> list[Clip]:
    """Write the silence/noise negatives (16 kHz mono WAV, atomically; kept when present) and
    return their clips (group = clip)."""
    import soundfile as sf

    from avemotion._io import atomic_write_bytes

    d = Path(out_dir)
    out = []
    for i, (kind, level) in enumerate(NOISE_SPECS):
        name = f"{kind}_{int(-level)}dB"
        path = d / f"{name}.wav"
        if not path.is_file():
            rng = np.random.default_rng([seed, i])
            buf = io.BytesIO()
            sf.write(buf, _noise(kind, level, int(NOISE_SECONDS * SAMPLE_RATE), rng), SAMPLE_RATE,
                     format="WAV", subtype="PCM_16")
            atomic_write_bytes(path, buf.getvalue())
        out.append(Clip(f"noise:{name}", "noise", str(path.resolve()), 0.0, NOISE_SECONDS, name, None, False,
                        f"generated {kind} at {level:g} dBFS, seed {seed}"))
    return out


# ----------------------------------------------------------------------------- the data set


@dataclass
class RealData:
    """Every clip of the real training data, in a stable order."""

    clips: list[Clip]

    @property
    def speakers(self) -> list[str]:
        return sorted({c.group for c in self.clips if c.corpus == "emodb"})

    @property
    def laugh_files(self) -> list[str]:
        return sorted({c.group for c in self.clips if c.corpus == "laughter"})

    @property
    def calibration_keys(self) -> list[str]:
        """The group keys of the calibration-only laughter files (corpus :data:`CALIBRATION_LAUGHTER`)."""
        return sorted({group_key(c) for c in self.clips if c.corpus == CALIBRATION_LAUGHTER})


def collect(shared_root: str | os.PathLike[str], data_dir: str | os.PathLike[str], *, seed: int = 0,
            calibration_laughter: str | os.PathLike[str] | None = None) -> RealData:
    """EmoDB, the laughter folder and AMI under ``shared_root`` (``../shared/data/real``) plus the
    generated noise clips in ``data_dir/noise`` and, with ``calibration_laughter`` (a folder with
    ``wav/*.wav``), calibration-only laughter recordings (corpus :data:`CALIBRATION_LAUGHTER`)."""
    root = Path(shared_root)
    clips = [*read_emodb(root / "emodb"), *read_laughter_folder(root / "laughter")]
    if calibration_laughter is not None:
        clips += read_laughter_folder(calibration_laughter, corpus=CALIBRATION_LAUGHTER)
    if (root / "ami").is_dir():
        clips += read_ami(root / "ami")
    clips += make_noise_clips(Path(data_dir) / "noise", seed=seed)
    ids = [c.clip_id for c in clips]
    if len(set(ids)) != len(ids):
        raise ValueError("real data: duplicate clip ids (two files map to one id)")
    return RealData(clips)


def speed_factors(cfg: object) -> dict[str, list[float]]:
    """corpus -> speed perturbation factors of a :class:`~avemotion.training.config.TrainConfig`
    (``data.speed_factors`` for EmoDB, ``data.laughter_speed_factors`` for the laughter files)."""
    d = cfg.data  # type: ignore[attr-defined]
    return {k: list(v) for k, v in (("emodb", d.speed_factors), ("laughter", d.laughter_speed_factors)) if v}


def originals(data: RealData) -> RealData:
    """The data without its derived copies (what validation, tests and the peer see)."""
    return RealData([c for c in data.clips if not c.source])


def group_key(clip: Clip) -> str:
    """``corpus:group``, the key of :func:`assign_splits`."""
    return f"{clip.corpus}:{clip.group}"


def assign_splits(clips: Iterable[Clip], val: Iterable[str] = (), test: Iterable[str] = ()) -> dict[str, str]:
    """clip_id -> split: groups (``corpus:group`` keys) in ``test`` go to test, in ``val`` to val,
    the rest to train. Raises ValueError for a key in both or a key matching no clip."""
    val_s, test_s = set(val), set(test)
    both = val_s & test_s
    if both:
        raise ValueError(f"groups in both val and test: {sorted(both)}")
    clips = list(clips)
    known = {group_key(c) for c in clips}
    unknown = (val_s | test_s) - known
    if unknown:
        raise ValueError(f"unknown groups {sorted(unknown)}; expected keys like emodb:03 or laughter:<file>")
    return {c.clip_id: "test" if group_key(c) in test_s else "val" if group_key(c) in val_s else "train"
            for c in clips}


def pick(keys: Iterable[str], n: int, seed: int, salt: str) -> list[str]:
    """``n`` of ``keys`` chosen by a seeded SHA-256 order (stable across runs and machines)."""
    ranked = sorted(set(keys), key=lambda k: hashlib.sha256(f"{seed}:{salt}:{k}".encode()).hexdigest())
    return ranked[:n]


def default_validation(data: RealData, seed: int = 0) -> list[str]:
    """The shipped bundle's validation groups: one EmoDB speaker, two laughter files and three noise
    clips, chosen by :func:`pick` (everything else trains but the calibration-only laughter)."""
    return (pick([f"emodb:{s}" for s in data.speakers], 1, seed, "speaker")
            + pick([f"laughter:{f}" for f in data.laugh_files], 2, seed, "laugh")
            + pick([group_key(c) for c in data.clips if c.corpus == "noise"], 3, seed, "noise"))


def write_manifests(data: RealData, splits: Mapping[str, str], out_dir: str | os.PathLike[str],
                    *, prefix: str = "real", calibration: bool = False) -> tuple[Path, Path]:
    """``{prefix}_emotion.csv`` and ``{prefix}_laughter.csv`` in ``out_dir`` (validated, atomic);
    returns their paths. The laughter manifest lists every original clip and the derived copies
    (speed perturbation) of training groups only: a copy never validates or tests. The
    calibration-only laughter is listed only with ``calibration=True`` (the list of what to extract):
    training never sees it."""
    from avemotion.data.manifest import ManifestRow, write_manifest

    data = RealData([c for c in data.clips if (not c.source or splits[c.clip_id] == "train")
                     and (calibration or c.corpus != CALIBRATION_LAUGHTER)])

    def row(c: Clip, label: str) -> ManifestRow:
        return ManifestRow(c.clip_id, c.corpus, c.media_path, float(c.start), float(c.end), label, "clip",
                           c.detail, c.group, splits[c.clip_id])

    out = Path(out_dir)
    emo = out / f"{prefix}_emotion.csv"
    laugh = out / f"{prefix}_laughter.csv"
    write_manifest(emo, [row(c, c.emotion) for c in data.clips if c.emotion is not None], kind="emotion")
    write_manifest(laugh, [row(c, "laughter" if c.laughter else "no_laughter") for c in data.clips
                           if c.laughter is not None], kind="laughter")
    return emo, laugh


__all__ = ["Clip", "RealData", "Prepared", "collect", "prepare", "extractor_settings", "assign_splits",
           "default_validation", "write_manifests", "originals", "make_speed_copies", "speed_factors", "speed_tag_of",
           "CALIBRATION_LAUGHTER", "read_emodb", "read_laughter_folder", "read_ami", "make_noise_clips", "pick", "group_key"]


# ----------------------------------------------------------------------------- preparation


@dataclass
class Prepared:
    """Manifests and features of the real data, ready for ``avemotion train``/``evaluate``."""

    data: RealData
    emotion_manifest: Path
    laughter_manifest: Path
    features_dir: Path
    validation: list[str]
    extractor: dict[str, object]
    #: calibration-only laughter groups (threshold calibration beside ``validation``)
    calibration: list[str] = field(default_factory=list)


#: The settings an audio-only extraction's features depend on (the rest configure the face path).
AUDIO_SETTINGS = ("audio", "video", "audio_window_s", "audio_hop_s", "audio_mode")


def _relevant(settings: Mapping[str, object]) -> dict[str, object]:
    """The settings two clips' features must agree on: all but ``device``; without video, the audio ones."""
    out = {k: v for k, v in settings.items() if k != "device"}
    return out if out.get("video") else {k: v for k, v in out.items() if k in AUDIO_SETTINGS}


def extractor_settings(features_dir: str | os.PathLike[str], clip_ids: Iterable[str]) -> dict[str, object]:
    """The extractor settings recorded in the clips' feature files (``meta["settings"]``, those of
    the first clip, ``device`` dropped); ValueError when the files disagree on a setting their
    features depend on (a features folder filled by two extractor settings). Audio-only folders are
    compared on :data:`AUDIO_SETTINGS` only: a face-path option added by a later version (recorded as
    null) does not invalidate audio features."""
    from avemotion.features.clipfile import load_clip

    seen: dict[str, object] | None = None
    for cid in clip_ids:
        meta = load_clip(Path(features_dir) / f"{cid}.npz").meta
        settings = dict(meta.get("settings", {}))
        settings.pop("device", None)
        if seen is None:
            seen = settings
        elif _relevant(settings) != _relevant(seen):
            raise ValueError(f"{features_dir}: {cid}.npz was extracted with {settings}, other clips with {seen}; "
                             "use a fresh features folder (or --no-resume) after changing the extractor")
    return seen or {}


def prepare(shared_root: str | os.PathLike[str], data_dir: str | os.PathLike[str], *, seed: int = 0,
            validation: Iterable[str] | None = None, extract_args: Iterable[str] = (),
            features_dir: str | os.PathLike[str] | None = None,
            speed_factors: Mapping[str, Sequence[float]] | None = None,
            calibration_laughter: str | os.PathLike[str] | None = None) -> Prepared:
    """Collect the clips, add speed-perturbed copies (``speed_factors``: corpus -> factors, written
    under ``data_dir/speed``), write the manifests (``data_dir/manifests/real_{emotion,laughter}.csv``,
    split by ``validation`` groups, default :func:`default_validation`) and extract the audio
    features of every clip and copy (the list ``data_dir/manifests/extract_laughter.csv``) with
    ``avemotion extract`` in a **separate process** (openSMILE must not share a process with
    TensorFlow; resumable: finished clips are kept). ``calibration_laughter``: see :func:`collect`.
    Raises RuntimeError when extraction fails."""
    import subprocess
    import sys

    d = Path(data_dir)
    data = collect(shared_root, d, seed=seed, calibration_laughter=calibration_laughter)
    data = RealData([*data.clips, *make_speed_copies(data.clips, speed_factors or {}, d / "speed")])
    val = list(validation) if validation is not None else default_validation(data, seed)
    emo, laugh = write_manifests(data, assign_splits(data.clips, val, ()), d / "manifests", prefix="real")
    _, every = write_manifests(data, {c.clip_id: "train" for c in data.clips}, d / "manifests", prefix="extract",
                               calibration=True)
    feats = Path(features_dir) if features_dir is not None else d / "features"
    cmd = [sys.executable, "-m", "avemotion", "extract", str(every), "-o", str(feats), "--modalities", "audio",
           *extract_args]
    log.info("extracting features: %s", " ".join(cmd))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"feature extraction failed (exit {r.returncode}): {' '.join(cmd)}\n{r.stdout[-3000:]}")
    settings = extractor_settings(feats, [c.clip_id for c in data.clips])
    return Prepared(data, emo, laugh, feats, val, settings, data.calibration_keys)
