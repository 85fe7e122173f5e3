#!/usr/bin/env python3
"""Unpack the LIRIS-ACCEDE downloads (when zipped) and write its humor-proxy manifest.

    python datasets/scripts/ingest_liris_accede.py --root datasets/raw/liris_accede
        [--out datasets/manifests/liris_accede.csv] [--official-sets] [--seed 0] [--proportions 0.8,0.1,0.1]
        [--valence-min 3.0] [--arousal-min 2.5] [--negative-valence-max 2.5] [--fps 25]

``--root`` holds what the LIRIS-ACCEDE site gives after registration: ``LIRIS-ACCEDE-annotations.zip``
and ``LIRIS-ACCEDE-data.zip`` (or their unpacked folders). Zips are unpacked beside themselves once
(an existing folder of the same name is kept: reruns resume); members that would escape the folder
are refused. The proxy rule is documented in ``avemotion.data.liris_accede``.
Exit codes: 0 ok, 2 bad input, 3 manifest written but some rows skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path


def unpack(zip_path: Path) -> Path:
    """Unpack ``x.zip`` into ``x/`` atomically (temp folder + rename); skip when ``x/`` exists."""
    dest = zip_path.with_suffix("")
    if dest.is_dir():
        print(f"ingest_liris_accede: {dest} exists, not unpacking again", file=sys.stderr)
        return dest
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=zip_path.parent))
    with zipfile.ZipFile(zip_path) as zf:
        for m in zf.namelist():
            target = (tmp / m).resolve()
            if not str(target).startswith(str(tmp.resolve()) + os.sep) and target != tmp.resolve():
                raise ValueError(f"{zip_path}: member {m!r} would be written outside {dest}")
        zf.extractall(tmp)
    os.replace(tmp, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("datasets/manifests/liris_accede.csv"))
    p.add_argument("--official-sets", action="store_true")
    p.add_argument("--valence-min", default="3.0")
    p.add_argument("--arousal-min", default="2.5")
    p.add_argument("--negative-valence-max", default="2.5")
    p.add_argument("--fps", default="25")
    p.add_argument("--seed", default="0")
    p.add_argument("--proportions", default="0.8,0.1,0.1")
    args = p.parse_args(argv)
    if not args.root.is_dir():
        print(f"skipping liris_accede: corpus folder {args.root} not found", file=sys.stderr)
        return 0
    for z in sorted(args.root.glob("LIRIS-ACCEDE-*.zip")):
        try:
            unpack(z)
        except (zipfile.BadZipFile, ValueError) as exc:
            print(f"ingest_liris_accede: error: {z}: {exc}", file=sys.stderr)
            return 2
    from avemotion.cli import main as cli

    cmd = ["data", "liris_accede", "--root", str(args.root), "--out", str(args.out), "--seed", args.seed,
           "--proportions", args.proportions,
           "--valence-min", args.valence_min, "--arousal-min", args.arousal_min,
           "--negative-valence-max", args.negative_valence_max, "--fps", args.fps]
    if args.official_sets:
        cmd.append("--official-sets")
    return cli(cmd)


if __name__ == "__main__":
    sys.exit(main())
