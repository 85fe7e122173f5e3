"""``avemotion data``: corpus processors, the unified manifest and the balance report.

    avemotion data <corpus> --root DIR --out FILE [--seed 0] [--proportions 0.8,0.1,0.1] [...]
        corpus: audioset, ami, tedlium, mustard, liris_accede, cremad
    avemotion data unify [--inputs A.csv B.csv ...] [--out datasets/manifests/laughter_v1.csv] [--resplit]
    avemotion data balance MANIFEST [--split train] [--weights-out FILE]

Exit codes: 0 ok, 2 bad usage/input, 3 written but some inputs were skipped (listed on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CORPORA = ("audioset", "ami", "tedlium", "mustard", "liris_accede", "cremad")
MANIFEST_DIR = Path("datasets/manifests")
DEFAULT_UNIFY_INPUTS = [str(MANIFEST_DIR / f"{c}.csv") for c in CORPORA if c != "cremad"]


def _proportions(text: str) -> tuple[float, float, float]:
    from avemotion.data.manifest import check_proportions

    try:
        return check_proportions([float(x) for x in text.split(",")])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("data", help="build laughter/emotion manifests from the corpora")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    for corpus in CORPORA:
        c = dsub.add_parser(corpus, help=f"process {corpus} into a manifest")
        c.add_argument("--root", required=True, type=Path, help="corpus folder")
        c.add_argument("--out", required=True, type=Path, help="manifest CSV to write (atomically)")
        c.add_argument("--seed", type=int, default=0, help="split hash seed (default 0)")
        c.add_argument("--proportions", type=_proportions, default=(0.8, 0.1, 0.1),
                       help="train,val,test proportions (default 0.8,0.1,0.1)")
        c.add_argument("--skip-missing", action="store_true",
                       help="a missing --root prints a message and exits 0 (for make)")
        if corpus in ("audioset", "ami", "tedlium"):
            c.add_argument("--negatives-per-positive", type=float, default=1.0)
        if corpus == "audioset":
            c.add_argument("--segments", nargs="*", type=Path, help="segment CSVs (default: those in --root)")
            c.add_argument("--ontology", type=Path, help="ontology.json (default: --root/ontology.json)")
            c.add_argument("--strong", type=Path, help="Gillick clean_laughter_annotations.csv")
            c.add_argument("--distractors", type=Path, help="Gillick clean_distractor_annotations.csv")
        if corpus == "ami":
            c.add_argument("--media-root", type=Path, help="folder of {meeting}/audio/*.wav (default --root)")
        if corpus == "tedlium":
            c.add_argument("--markers", nargs="+", help="laughter marker strings (case-insensitive)")
        if corpus in ("mustard", "cremad"):
            c.add_argument("--assume-duration", type=float,
                           help="seconds to use when a clip's media is absent (marked in source_detail)")
        if corpus == "mustard":
            c.add_argument("--group-by", choices=("show", "speaker"), default="show")
        if corpus == "cremad":
            c.add_argument("--names-file", type=Path, help="list of clip names, one a line, instead of AudioWAV/")
        if corpus == "liris_accede":
            c.add_argument("--official-sets", action="store_true", help="use ACCEDEsets.txt splits")
            c.add_argument("--valence-min", type=float, default=3.0)
            c.add_argument("--arousal-min", type=float, default=2.5)
            c.add_argument("--negative-valence-max", type=float, default=2.5)
            c.add_argument("--fps", type=float, default=25.0)
        c.set_defaults(func=run, data_command=corpus)
    u = dsub.add_parser("unify", help="merge per-corpus laughter manifests into one")
    u.add_argument("--inputs", nargs="+", type=str, default=DEFAULT_UNIFY_INPUTS,
                   help="manifests to merge (missing ones are skipped); default datasets/manifests/<corpus>.csv")
    u.add_argument("--out", type=Path, default=MANIFEST_DIR / "laughter_v1.csv")
    u.add_argument("--resplit", action="store_true", help="re-assign every group's split by hash")
    u.add_argument("--skip-missing", action="store_true",
                   help="when no input exists, print a message and exit 0 (for make)")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--proportions", type=_proportions, default=(0.8, 0.1, 0.1))
    u.set_defaults(func=run)
    b = dsub.add_parser("balance", help="class distribution and 'balanced' class weights of a manifest")
    b.add_argument("manifest", type=Path)
    b.add_argument("--split", choices=("train", "val", "test"), help="only this split")
    b.add_argument("--weights-out", type=Path,
                   help="class weights JSON (default <manifest>.class_weights.json beside it)")
    b.set_defaults(func=run)
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
        return _process(args)
    except (ManifestError, FileNotFoundError, ValueError, KeyError) as exc:
        raise UsageError(str(exc)) from exc


def _process(args: argparse.Namespace) -> int:
    import importlib

    corpus = args.data_command
    if not args.root.is_dir():
        msg = f"{corpus}: corpus folder {args.root} not found"
        if args.skip_missing:
            print(f"skipping {msg}", file=sys.stderr)
            return 0
        raise FileNotFoundError(msg)
    mod = importlib.import_module(f"avemotion.data.{corpus}")
    kw: dict = {"out": args.out, "seed": args.seed, "proportions": args.proportions}
    if corpus in ("audioset", "ami", "tedlium"):
        kw["negatives_per_positive"] = args.negatives_per_positive
    if corpus == "audioset":
        kw.update(segments=args.segments, ontology=args.ontology, strong=args.strong, distractors=args.distractors)
    if corpus == "ami" and args.media_root:
        kw["media_root"] = args.media_root
    if corpus == "tedlium" and args.markers:
        kw["markers"] = args.markers
    if corpus in ("mustard", "cremad"):
        kw["assume_duration"] = args.assume_duration
    if corpus == "mustard":
        kw["group_by"] = args.group_by
    if corpus == "cremad":
        kw["names_file"] = args.names_file
    if corpus == "liris_accede":
        from avemotion.data.liris_accede import ProxyRule

        kw.update(official_sets=args.official_sets, fps=args.fps,
                  rule=ProxyRule(args.valence_min, args.arousal_min, args.negative_valence_max))
    result = mod.process(args.root, **kw)
    console = _console()
    console.print(result.summary.render(f"{corpus} -> {args.out}"))
    if result.n_errors:
        print(f"{corpus}: {result.n_errors} input item(s) skipped:", file=sys.stderr)
        for e in result.errors[:50]:
            print(f"  {e}", file=sys.stderr)
        return 3
    return 0


def _unify(args: argparse.Namespace) -> int:
    from avemotion.data.manifest import unify

    if args.skip_missing and not any(Path(p).is_file() for p in args.inputs):
        print(f"skipping unify: none of {', '.join(args.inputs)} exist", file=sys.stderr)
        return 0
    res = unify(args.inputs, args.out, resplit=args.resplit, seed=args.seed, proportions=args.proportions)
    for m in res.missing:
        print(f"skipping missing manifest {m}", file=sys.stderr)
    _console().print(res.summary.render(f"unified -> {res.out}"))
    return 0


def _balance(args: argparse.Namespace) -> int:
    from avemotion.data.manifest import balance_report, iter_manifest, save_class_weights

    report = balance_report(iter_manifest(args.manifest), split=args.split)
    out = args.weights_out or args.manifest.with_name(args.manifest.stem + ".class_weights.json")
    save_class_weights(report, out)
    _console().print(report.render(f"class balance of {args.manifest}"))
    print(json.dumps({"class_weights": report.weights, "saved": str(out)}))
    return 0
