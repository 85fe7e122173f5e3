"""``avemotion data``: corpus processors, the unified manifests and the balance report.

    avemotion data <corpus> --root DIR --out FILE [--seed 0] [--proportions 0.8,0.1,0.1] [...]
        corpus: every entry of avemotion.data.registry (`avemotion data list`)
    avemotion data unify [--kind laughter|emotion] [--inputs A.csv B.csv ...] [--out FILE] [--resplit]
    avemotion data balance MANIFEST [--split train] [--weights-out FILE]
    avemotion data list

Exit codes: 0 ok, 2 bad usage/input, 3 written but some inputs were skipped (listed on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from avemotion._contract import SPLITS
from avemotion.data import registry
from avemotion.data.manifest import DEFAULT_PROPORTIONS

MANIFEST_DIR = Path("datasets/manifests")
UNIFIED = {"laughter": "laughter_v1.csv", "emotion": "emotion_v1.csv"}


def _proportions(text: str) -> tuple[float, float, float]:
    from avemotion.data.manifest import check_proportions

    try:
        return check_proportions([float(x) for x in text.split(",")])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("data", help="build laughter/emotion manifests from the corpora")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    for corpus in registry.CORPORA:
        c = dsub.add_parser(corpus.name, help=corpus.help, description=f"{corpus.help}. --root holds: {corpus.layout}")
        c.add_argument("--root", required=True, type=Path, help=f"corpus folder ({corpus.layout})")
        c.add_argument("--out", required=True, type=Path, help="manifest CSV to write (atomically)")
        c.add_argument("--seed", type=int, default=0, help="split hash seed (default 0)")
        c.add_argument("--proportions", type=_proportions, default=DEFAULT_PROPORTIONS,
                       help="train,val,test proportions (default 0.8,0.1,0.1)")
        c.add_argument("--skip-missing", action="store_true",
                       help="a missing --root prints a message and exits 0 (for make)")
        for option in corpus.options:
            option.add_to(c)
        c.set_defaults(func=run, data_command=corpus.name)
    u = dsub.add_parser("unify", help="merge per-corpus manifests of one kind into one")
    u.add_argument("--kind", choices=tuple(UNIFIED), default="laughter", help="manifest kind (default laughter)")
    u.add_argument("--inputs", nargs="+", type=str,
                   help="manifests to merge (missing ones are skipped); default: every registered manifest "
                        "of --kind in datasets/manifests/")
    u.add_argument("--out", type=Path, help="default datasets/manifests/laughter_v1.csv or emotion_v1.csv")
    u.add_argument("--resplit", action="store_true", help="re-assign every group's split by hash")
    u.add_argument("--skip-missing", action="store_true",
                   help="when no input exists, print a message and exit 0 (for make)")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--proportions", type=_proportions, default=DEFAULT_PROPORTIONS)
    u.set_defaults(func=run)
    b = dsub.add_parser("balance", help="class distribution and 'balanced' class weights of a manifest")
    b.add_argument("manifest", type=Path)
    b.add_argument("--split", choices=SPLITS, help="only this split")
    b.add_argument("--weights-out", type=Path,
                   help="class weights JSON (default <manifest>.class_weights.json beside it)")
    b.set_defaults(func=run)
    lst = dsub.add_parser("list", help="the registered corpora: what --root holds, which manifests they write")
    lst.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console()


def run(args: argparse.Namespace) -> int:
    from avemotion.cli import UsageError
    from avemotion.data.manifest import ManifestError

    action = args.data_command
    try:
        if action == "unify":
            return _unify(args)
        if action == "balance":
            return _balance(args)
        if action == "list":
            return registry.main(["list"])
        return _process(args)
    except (ManifestError, FileNotFoundError, ValueError, KeyError) as exc:
        raise UsageError(str(exc)) from exc


def _process(args: argparse.Namespace) -> int:
    corpus = registry.get(args.data_command)
    if not args.root.is_dir():
        msg = f"{corpus.name}: corpus folder {args.root} not found"
        if args.skip_missing:
            print(f"skipping {msg}", file=sys.stderr)
            return 0
        raise FileNotFoundError(msg)
    kw = {"out": args.out, "seed": args.seed, "proportions": args.proportions, **corpus.process_kwargs(args)}
    result = corpus.load().process(args.root, **kw)
    _console().print(result.summary.render(f"{corpus.name} -> {args.out}"))
    if result.stats:
        print(f"{corpus.name}: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                            for k, v in result.stats.items()))
    if result.n_errors:
        print(f"{corpus.name}: {result.n_errors} input item(s) skipped:", file=sys.stderr)
        for e in result.errors[:50]:
            print(f"  {e}", file=sys.stderr)
        return 3
    return 0


def _unify(args: argparse.Namespace) -> int:
    from avemotion.data.combine import unify

    inputs = args.inputs or [str(MANIFEST_DIR / m) for m in registry.manifests(args.kind)]
    out = args.out or MANIFEST_DIR / UNIFIED[args.kind]
    if args.skip_missing and not any(Path(p).is_file() for p in inputs):
        print(f"skipping unify: none of {', '.join(inputs)} exist", file=sys.stderr)
        return 0
    res = unify(inputs, out, kind=args.kind, resplit=args.resplit, seed=args.seed, proportions=args.proportions)
    for m in res.missing:
        print(f"skipping missing manifest {m}", file=sys.stderr)
    _console().print(res.summary.render(f"unified -> {res.out}"))
    return 0


def _balance(args: argparse.Namespace) -> int:
    from avemotion.data.combine import balance_report, save_class_weights
    from avemotion.data.manifest import iter_manifest

    report = balance_report(iter_manifest(args.manifest), split=args.split)
    out = args.weights_out or args.manifest.with_name(args.manifest.stem + ".class_weights.json")
    save_class_weights(report, out)
    _console().print(report.render(f"class balance of {args.manifest}"))
    print(json.dumps({"class_weights": report.weights, "saved": str(out)}))
    return 0
