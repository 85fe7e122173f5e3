"""Export FaceNet (InceptionResnetV1) to ONNX for the real-time path.

``python -m avemotion.features.export_onnx OUT.onnx [--weights FILE] [--allow-random-weights]``

Legacy TorchScript exporter (``dynamo=False``), opset 17, input ``faces`` float32 (N, 3, 160, 160)
standardised crops, output ``embeddings`` float32 (N, 512) L2-normalized; N is dynamic. After export
the ONNX Runtime output is compared with torch on a batch of 3 and the export fails if they differ by
more than ``tol`` (1e-5).

``--mtcnn-dir DIR`` also exports MTCNN's three networks (``pnet.onnx`` with dynamic batch/height/width,
``rnet.onnx`` 24x24, ``onet.onnx`` 48x48, dynamic batch) for ``FaceDetector(onnx_dir=DIR)``; the box
logic between them stays facenet-pytorch's, so detections equal the torch ones (tested). Measured
on 2 busy cores this was not faster than torch (many small pyramid calls), so torch stays the default.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from avemotion.features.video import FACE_SIZE, OnnxEmbedder, TorchEmbedder, load_facenet

logger = logging.getLogger(__name__)


def export_facenet(
    out_path: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    allow_random_weights: bool = False,
    net: Any = None,
    opset: int = 17,
    tol: float = 1e-5,
) -> Path:
    """Write the ONNX model atomically to ``out_path`` and check it against torch; returns the path.

    ``net``: an already loaded InceptionResnetV1 (else :func:`load_facenet` with ``weights``).
    """
    import torch

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if net is None:
        net = load_facenet(weights, allow_random_weights=allow_random_weights)
    tmp = out.with_name(f".{out.name}.tmp")
    dummy = torch.zeros(1, 3, FACE_SIZE, FACE_SIZE)
    try:
        torch.onnx.export(
            net,
            (dummy,),
            str(tmp),
            input_names=["faces"],
            output_names=["embeddings"],
            dynamic_axes={"faces": {0: "batch"}, "embeddings": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
        x = (
            np.random.default_rng(0)
            .standard_normal((3, 3, FACE_SIZE, FACE_SIZE))
            .astype(np.float32)
        )
        diff = float(np.abs(OnnxEmbedder(tmp)(x) - TorchEmbedder(net)(x)).max())
        if not diff <= tol:
            raise RuntimeError(f"ONNX export differs from torch by {diff:.3g} (> {tol})")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("FaceNet ONNX written to %s (max |onnx - torch| = %.2g)", out, diff)
    return out


MTCNN_NETS = {
    # name: (example input shape, dynamic input axes, output names)
    "pnet": ((1, 3, 64, 80), {0: "batch", 2: "height", 3: "width"}, ["reg", "prob"]),
    "rnet": ((2, 3, 24, 24), {0: "batch"}, ["reg", "prob"]),
    "onet": ((2, 3, 48, 48), {0: "batch"}, ["reg", "landmarks", "prob"]),
}


def export_mtcnn(out_dir: str | os.PathLike[str], *, opset: int = 17, tol: float = 1e-5) -> Path:
    """Write ``pnet.onnx``, ``rnet.onnx``, ``onet.onnx`` (facenet-pytorch's bundled weights) to ``out_dir``."""
    import onnxruntime as ort
    import torch
    from facenet_pytorch import MTCNN

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mtcnn = MTCNN(device="cpu")
    rng = np.random.default_rng(0)
    for name, (shape, dyn, outs) in MTCNN_NETS.items():
        net = getattr(mtcnn, name).eval()
        tmp, dst = out / f".{name}.onnx.tmp", out / f"{name}.onnx"
        try:
            out_axes = {
                o: {0: "batch", **({2: "h", 3: "w"} if name == "pnet" else {})} for o in outs
            }
            torch.onnx.export(
                net,
                (torch.zeros(shape),),
                str(tmp),
                input_names=["x"],
                output_names=outs,
                dynamic_axes={"x": dyn, **out_axes},
                opset_version=opset,
                dynamo=False,
            )
            test_shape = (3, 3, 70, 90) if name == "pnet" else (5, *shape[1:])
            x = rng.standard_normal(test_shape).astype(np.float32)
            got = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(
                None, {"x": x}
            )
            with torch.inference_mode():
                want = net(torch.from_numpy(x))
            diff = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))
            if not diff <= tol:
                raise RuntimeError(f"MTCNN {name} ONNX differs from torch by {diff:.3g} (> {tol})")
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m avemotion.features.export_onnx", description=__doc__.split("\n")[0]
    )
    p.add_argument("out", type=Path, help="output .onnx path")
    p.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="VGGFace2 checkpoint (default: $AVEMOTION_FACENET_WEIGHTS or torch hub cache)",
    )
    p.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="random weights when none found (testing only)",
    )
    p.add_argument("--mtcnn-dir", type=Path, default=None, help="also export MTCNN's nets here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        export_facenet(
            args.out, weights=args.weights, allow_random_weights=args.allow_random_weights
        )
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
