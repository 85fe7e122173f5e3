"""``avemotion evaluate``: speaker-independent evaluation of the model beside its peers.

    avemotion evaluate --real ../shared/data/real --out runs/loso
    avemotion evaluate --real ../shared/data/real --calibration-laughter ~/.cache/avemotion/data/calibration_laughter \\
        --out runs/loso          # the model card's run (scripts/get_calibration_laughter.sh first)
    avemotion evaluate --real DIR --folds 03,12 --set data.normalization='"speaker"'

Leave-one-speaker-out over EmoDB's speakers (each fold: statistics from its training speakers only),
the eGeMAPS + linear SVM peer on the same folds (global and per-speaker standardization), online
speaker adaptation, and leave-one-laugh-file-out laughter detection with false alarms on the held-out
speakers' speech (see ``avemotion.training.evaluate``). Steps, each resumable:

1. manifests + audio features under ``--data-dir`` (``avemotion extract`` in a separate process);
2. the peer's utterance-level eGeMAPSv02 functionals (openSMILE, a separate process);
3. one model per fold (TensorFlow, this process), the peers, the summary.

Writes ``OUT/report.json`` (every fold, system and laughter file), ``OUT/summary.md`` (the two tables
of the README's model card), ``OUT/confusion_<system>.png`` and one folder per fold. Exit codes:
0 ok, 1 a step failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from avemotion.cli import UsageError
from avemotion.cli._common import check_laughter_folder

DEFAULT_CONFIG = "training/real_emodb_laughter.toml"


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not vals or any(v < 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected numbers >= 0, got {text!r}")
    return vals


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("evaluate", help="leave-one-speaker-out evaluation beside the eGeMAPS + SVM peer",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", required=True, metavar="DIR", help="real data root (../shared/data/real)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"training configuration (default {DEFAULT_CONFIG})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration value (repeatable)")
    p.add_argument("--out", default="runs/loso", help="output directory (default runs/loso)")
    p.add_argument("--data-dir", default=None, help="manifests, noise clips, features (default OUT/real_data)")
    p.add_argument("--extract-arg", dest="extract_args", action="append", default=[], metavar="ARG",
                   help="extra argument for `avemotion extract` (repeatable)")
    p.add_argument("--calibration-laughter", default=None, metavar="DIR",
                   help="laughter recordings (DIR/wav/*.wav) that join every fold's validation items of the "
                        "laughter threshold calibration and nothing else (never trained on, never tested; "
                        "scripts/get_calibration_laughter.sh fetches the default set)")
    p.add_argument("--folds", default=None, help="only these folds (speaker ids or fold names, comma-separated)")
    p.add_argument("--prior-weights", type=_floats, default=(30.0, 100.0, 300.0, 1000.0),
                   help="online adaptation prior weights (steps) to choose from on each fold's validation "
                        "speaker (default 30,100,300,1000)")
    p.add_argument("--orders", type=int, default=5, help="random utterance orders averaged for online adaptation")
    p.add_argument("--no-peer", action="store_true", help="skip the eGeMAPS + SVM peer")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from avemotion.training.config import load_config
    from avemotion.training.corpora import prepare, speed_factors

    try:
        cfg = load_config(args.config, args.overrides)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    if args.orders < 1:
        raise UsageError(f"--orders: expected >= 1, got {args.orders}")
    out = Path(args.out)
    data_dir = Path(args.data_dir) if args.data_dir else out / "real_data"
    check_laughter_folder("--calibration-laughter", args.calibration_laughter)
    try:
        prep = prepare(args.real, data_dir, seed=cfg.seed, extract_args=args.extract_args,
                       speed_factors=speed_factors(cfg), calibration_laughter=args.calibration_laughter)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--real {args.real}: {exc}") from exc
    except RuntimeError as exc:
        print(f"avemotion evaluate: {exc}", file=sys.stderr)
        return 1
    functionals = None
    if not args.no_peer:
        from avemotion.training.corpora import assign_splits, originals, write_manifests

        # the peer: the original utterances only (the classic recipe has no augmentation)
        orig = originals(prep.data)
        peer_manifest, _ = write_manifests(orig, assign_splits(orig.clips), data_dir / "manifests", prefix="peer")
        functionals = data_dir / "peer_functionals.npz"
        cmd = [sys.executable, "-m", "avemotion.training.peer", str(peer_manifest), str(functionals)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            print(f"avemotion evaluate: peer features failed: {' '.join(cmd)}\n{r.stdout[-3000:]}", file=sys.stderr)
            return 1
    from avemotion.training.evaluate import EvalOptions, evaluate, markdown

    folds = [f.strip() for f in args.folds.split(",")] if args.folds else None
    opts = EvalOptions(prior_weights=args.prior_weights, orders=args.orders, seed=cfg.seed)
    try:
        summary = evaluate(cfg, prep.data, prep.features_dir, functionals, out, opts, folds=folds)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(markdown(summary))
    print(f"report: {out / 'report.json'}; confusion matrices: {out}/confusion_*.png")
    return 0
