#!/usr/bin/env python3
"""Run every laughter corpus processor whose folder exists, then build the unified manifest.

    python datasets/scripts/build_laughter_manifest.py [--data-root datasets/raw] [--manifests datasets/manifests]
        [--audioset DIR] [--ami DIR] [--tedlium DIR] [--mustard DIR] [--liris-accede DIR] [--cremad DIR]
        [--seed 0] [--proportions 0.8,0.1,0.1]

Corpus folders default to ``{data-root}/{corpus}``; a missing one is skipped with a message.
Writes ``{manifests}/{corpus}.csv`` for each corpus found, ``{manifests}/laughter_v1.csv`` (unified,
laughter corpora) and ``{manifests}/emotion_v1.csv`` (CREMA-D), each with its ``.summary.json``.
Exit code: 0 all good, 3 some input items were skipped (see messages), 2 bad usage/input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LAUGHTER = ("audioset", "ami", "tedlium", "mustard", "liris_accede")


def main(argv: list[str] | None = None) -> int:
    from avemotion.cli import main as cli

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("datasets/raw"))
    p.add_argument("--manifests", type=Path, default=Path("datasets/manifests"))
    for c in (*LAUGHTER, "cremad"):
        p.add_argument(f"--{c.replace('_', '-')}", type=Path, dest=c, help=f"{c} folder (default DATA_ROOT/{c})")
    p.add_argument("--seed", default="0")
    p.add_argument("--proportions", default="0.8,0.1,0.1")
    args = p.parse_args(argv)
    common = ["--seed", args.seed, "--proportions", args.proportions]
    worst = 0
    for corpus in (*LAUGHTER, "cremad"):
        root = getattr(args, corpus) or args.data_root / corpus
        name = "emotion_v1.csv" if corpus == "cremad" else f"{corpus}.csv"
        if not root.is_dir():
            print(f"build_laughter_manifest: skipping {corpus}: {root} not found", file=sys.stderr)
            continue
        rc = cli(["data", corpus, "--root", str(root), "--out", str(args.manifests / name), *common])
        if rc not in (0, 3):
            print(f"build_laughter_manifest: {corpus} failed (exit {rc})", file=sys.stderr)
        worst = max(worst, rc)
    inputs = [str(args.manifests / f"{c}.csv") for c in LAUGHTER]
    rc = cli(["data", "unify", "--inputs", *inputs, "--out", str(args.manifests / "laughter_v1.csv"), "--skip-missing"])
    return max(worst, rc)


if __name__ == "__main__":
    sys.exit(main())
