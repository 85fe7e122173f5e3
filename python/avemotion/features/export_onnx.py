"""Kept for old callers: the ONNX exporters now live in :mod:`avemotion.features.facenet_weights`
and behind the CLI (``avemotion weights --export-onnx OUT.onnx`` / ``--mtcnn-onnx DIR``).

``python -m avemotion.features.export_onnx OUT.onnx [--weights FILE] [--allow-random-weights]
[--mtcnn-dir DIR]`` still works and runs that command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from avemotion.features.facenet_weights import MTCNN_NETS, export_mtcnn  # noqa: F401  (re-exported)


def export_facenet(
    out_path: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    allow_random_weights: bool = False,
    net: Any = None,
    opset: int = 17,
    tol: float = 1e-5,
) -> Path:
    """Export ``net`` (default: :func:`avemotion.features.video.load_facenet` with ``weights`` /
    ``allow_random_weights``) to ``out_path``; see :func:`~avemotion.features.facenet_weights.export_facenet_onnx`."""
    from avemotion.features.facenet_weights import export_facenet_onnx
    from avemotion.features.video import load_facenet

    if net is None:
        net = load_facenet(weights, allow_random_weights=allow_random_weights)
    export_facenet_onnx(net, out_path, identity=getattr(net, "avemotion_identity", None), opset=opset, tol=tol)
    return Path(out_path)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from avemotion.cli import main as cli_main

    p = argparse.ArgumentParser(prog="python -m avemotion.features.export_onnx",
                                description="Same as `avemotion weights --export-onnx OUT`.")
    p.add_argument("out", type=Path)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--allow-random-weights", action="store_true")
    p.add_argument("--mtcnn-dir", type=Path, default=None)
    a = p.parse_args(argv)
    cmd = ["weights", "--export-onnx", str(a.out)]
    cmd += ["--facenet-weights", str(a.weights)] if a.weights else []
    cmd += ["--random-facenet"] if a.allow_random_weights else []
    cmd += ["--mtcnn-onnx", str(a.mtcnn_dir)] if a.mtcnn_dir else []
    return cli_main(cmd)


if __name__ == "__main__":
    sys.exit(main())
