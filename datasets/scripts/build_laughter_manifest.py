#!/usr/bin/env python3
"""Run every corpus processor whose folder exists, then build the unified manifests.

    python datasets/scripts/build_laughter_manifest.py [--data-root datasets/raw] [--manifests datasets/manifests]
        [--<corpus> DIR ...] [--seed 0] [--proportions 0.8,0.1,0.1]

The corpora come from the registry (``avemotion.data.registry``; ``--<corpus>`` for each, e.g.
``--ami``, ``--liris-accede``, ``--laughter-folder``). Corpus folders default to
``{data-root}/{folder}`` (the registry's folder name: the corpus name, ``laughter`` for
``laughter_folder``); a missing one is skipped with a message. Writes every registered manifest of
each corpus found (``{manifests}/ami.csv``, ``emodb.csv`` + ``emodb_no_laughter.csv``, ...), then
``{manifests}/laughter_v1.csv`` and ``{manifests}/emotion_v1.csv`` (unified), each with its
``.summary.json``. The same as ``make laughter_data``.
Exit code: 0 all good, 3 some input items were skipped (see messages), 2 bad usage/input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from avemotion.cli import main as cli
    from avemotion.data import registry

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("datasets/raw"))
    p.add_argument("--manifests", type=Path, default=Path("datasets/manifests"))
    for c in registry.CORPORA:
        p.add_argument(f"--{c.name.replace('_', '-')}", type=Path, dest=c.name,
                       help=f"{c.name} folder (default DATA_ROOT/{c.dir_name or c.name}): {c.layout}")
    p.add_argument("--seed", default="0")
    p.add_argument("--proportions", default="0.8,0.1,0.1")
    args = p.parse_args(argv)
    common = ["--seed", args.seed, "--proportions", args.proportions]
    worst = 0
    for c in registry.CORPORA:
        root = getattr(args, c.name) or args.data_root / (c.dir_name or c.name)
        if not root.is_dir():
            print(f"build_laughter_manifest: skipping {c.name}: {root} not found", file=sys.stderr)
            continue
        for o in c.outputs:
            rc = cli(["data", c.name, "--root", str(root), "--out", str(args.manifests / o.manifest), *common, *o.args])
            if rc not in (0, 3):
                print(f"build_laughter_manifest: {c.name} failed (exit {rc})", file=sys.stderr)
            worst = max(worst, rc)
    for kind, name in (("laughter", "laughter_v1.csv"), ("emotion", "emotion_v1.csv")):
        inputs = [str(args.manifests / m) for m in registry.manifests(kind)]
        rc = cli(["data", "unify", "--kind", kind, "--inputs", *inputs, "--out", str(args.manifests / name),
                  "--skip-missing"])
        worst = max(worst, rc)
    return worst


if __name__ == "__main__":
    sys.exit(main())
