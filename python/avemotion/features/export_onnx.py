"""Export FaceNet (InceptionResnetV1) to ONNX for the real-time path.

``python -m avemotion.features.export_onnx OUT.onnx [--weights FILE] [--allow-random-weights]``

Legacy TorchScript exporter (``dynamo=False``), opset 17, input ``faces`` float32 (N, 3, 160, 160)
standardised crops, output ``embeddings`` float32 (N, 512) L2-normalized; N is dynamic. After export
the ONNX Runtime output is compared with torch on a batch of 3 and the export fails if they differ by
more than ``tol`` (1e-5). The MTCNN networks stay in torch (their detections feed non-differentiable
box logic in facenet-pytorch; the nets are small, detection is dominated by the image pyramid).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

from avemotion.features.video import FACE_SIZE, OnnxEmbedder, TorchEmbedder, load_facenet

logger = logging.getLogger(__name__)


def export_facenet(out_path: str | os.PathLike[str], *, weights: str | os.PathLike[str] | None = None,
                   allow_random_weights: bool = False, opset: int = 17, tol: float = 1e-5) -> Path:
    """Write the ONNX model atomically to ``out_path`` and check it against torch; returns the path."""
    import torch

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = load_facenet(weights, allow_random_weights=allow_random_weights)
    tmp = out.with_name(f".{out.name}.tmp")
    dummy = torch.zeros(1, 3, FACE_SIZE, FACE_SIZE)
    try:
        torch.onnx.export(net, (dummy,), str(tmp), input_names=["faces"], output_names=["embeddings"],
                          dynamic_axes={"faces": {0: "batch"}, "embeddings": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
        x = np.random.default_rng(0).standard_normal((3, 3, FACE_SIZE, FACE_SIZE)).astype(np.float32)
        diff = float(np.abs(OnnxEmbedder(tmp)(x) - TorchEmbedder(net)(x)).max())
        if not diff <= tol:
            raise RuntimeError(f"ONNX export differs from torch by {diff:.3g} (> {tol})")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("FaceNet ONNX written to %s (max |onnx - torch| = %.2g)", out, diff)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m avemotion.features.export_onnx", description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="output .onnx path")
    p.add_argument("--weights", type=Path, default=None, help="VGGFace2 checkpoint (default: $AVEMOTION_FACENET_WEIGHTS or torch hub cache)")
    p.add_argument("--allow-random-weights", action="store_true", help="random weights when none found (testing only)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        export_facenet(args.out, weights=args.weights, allow_random_weights=args.allow_random_weights)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
