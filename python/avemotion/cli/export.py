"""``avemotion export RUN_DIR --out BUNDLE_DIR``: export a finished training run to a model bundle.

Rebuilds the model from ``RUN_DIR/config.resolved.json``, loads ``RUN_DIR/model.weights.h5`` (the best
epoch), converts it to ONNX with tf2onnx (dynamic batch and time axes), checks ONNX Runtime against Keras
on random batches (max abs diff <= ``export.tolerance``, default 1e-5), and writes the bundle
(``model.onnx``, both normalization statistics, ``bundle.json`` with the run's provenance).
Exit codes: 0 ok, 1 export failure, 2 bad run directory.
"""

from __future__ import annotations

import argparse
import sys

from avemotion.cli import UsageError


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="export a training run to ONNX and write a model bundle",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a finished `avemotion train` run directory")
    p.add_argument("--out", required=True, help="bundle directory to write (e.g. models/my_model)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from avemotion.training.export import ExportError, export_run

    try:
        result, bundle_dir = export_run(args.run_dir, args.out)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    except ExportError as exc:
        print(f"avemotion export: {exc}", file=sys.stderr)
        return 1
    print(f"bundle: {bundle_dir} (onnx opset {result.opset}, max abs diff vs Keras {result.max_abs_diff:.2g} "
          f"over {result.batches_checked} batches, {result.seconds:.1f} s)")
    return 0
