"""The MTCNN face detector (part of :mod:`avemotion.features.video`; import from there).

:class:`FaceDetector` keeps the most confident face per frame as a :class:`Detection` (standardised
160x160 crop, probability, box); P/R/O-net can run through ONNX Runtime (``onnx_dir``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from avemotion.features._video_device import resolve_device
from avemotion.features._video_embed import FACE_SIZE


def _onnx_net_class() -> Any:
    import torch

    class OnnxNet(torch.nn.Module):
        """An MTCNN stage run by ONNX Runtime behind the torch call facenet-pytorch makes."""

        def __init__(self, path: Path) -> None:
            import onnxruntime as ort

            super().__init__()
            if not path.is_file():
                raise FileNotFoundError(
                    f"MTCNN ONNX net not found: {path} (export with --mtcnn-dir)"
                )
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            # facenet-pytorch reads the model dtype from its first parameter
            self.dtype_marker = torch.nn.Parameter(torch.zeros(0), requires_grad=False)

        def forward(self, x: Any) -> tuple[Any, ...]:
            arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
            return tuple(torch.from_numpy(o).to(x.device) for o in self.session.run(None, {"x": arr}))

    return OnnxNet


def _OnnxNet(path: Path) -> Any:  # noqa: N802 - a factory standing in for a class
    return _onnx_net_class()(path)


@dataclasses.dataclass
class Detection:
    """Best face of one frame: ``face`` float32 (3, 160, 160) standardised crop, ``prob``, ``box`` (x1, y1, x2, y2) px."""

    face: np.ndarray
    prob: float
    box: np.ndarray


class Detector(Protocol):
    """What :class:`VideoExtractor` needs of a face detector: :class:`FaceDetector`, or the stateful
    :class:`avemotion.features.face_track.TrackingFaceDetector` (which also has ``reset()``)."""

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detection | None]: ...


class FaceDetector:
    """MTCNN (facenet-pytorch) keeping the most confident face per frame.

    ``detect(frames)``: a list of RGB uint8 (H, W, 3) frames (same size within a call to batch them)
    -> one :class:`Detection` or ``None`` per frame. Faces below ``min_prob`` count as no face.

    ``detect_max_side``: frames whose longer side exceeds it are shrunk to it (area interpolation)
    for detection only; boxes are scaled back and the 160x160 crop is cut from the full-resolution
    frame. MTCNN's cost grows with the pixel count (its image pyramid), so 640x480 video detects
    about 4x faster at 320 while faces of >= ``min_face_size`` px in the shrunk frame (~40 px in
    the original) are still found. ``None`` detects at full resolution.

    ``onnx_dir``: run P/R/O-net through ONNX Runtime from ``pnet.onnx``, ``rnet.onnx``, ``onet.onnx``
    there (``avemotion weights --mtcnn-onnx DIR``); same detections.

    ``device``: where MTCNN's torch nets and its image pyramid / NMS run: ``"cpu"`` (default),
    ``"cuda"``, ``"cuda:N"``, ``"auto"`` (see :func:`resolve_device`; ``self.device`` is the
    resolved ``torch.device``). Frames are uploaded by facenet-pytorch; boxes/probs come back as
    numpy and the 160x160 crop is always cut on the CPU from the full-resolution frame. With
    ``onnx_dir`` the three nets run in ONNX Runtime on the CPU and their outputs are moved to
    ``device`` for the rest of MTCNN.
    """

    def __init__(
        self,
        *,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        min_prob: float = 0.9,
        detect_max_side: int | None = 320,
        onnx_dir: str | os.PathLike[str] | None = None,
        device: Any = "cpu",
    ) -> None:
        from facenet_pytorch import MTCNN

        if detect_max_side is not None and detect_max_side < 48:
            raise ValueError(f"detect_max_side must be >= 48 px or None, got {detect_max_side}")
        self.detect_max_side = detect_max_side
        self.min_prob = float(min_prob)
        self.device = resolve_device(device)
        self.mtcnn = MTCNN(
            image_size=FACE_SIZE,
            margin=0,
            min_face_size=min_face_size,
            thresholds=list(thresholds),
            keep_all=False,
            select_largest=False,
            post_process=True,
            device=self.device,
        )
        if onnx_dir is not None:
            for name in ("pnet", "rnet", "onet"):
                setattr(self.mtcnn, name, _OnnxNet(Path(onnx_dir) / f"{name}.onnx"))

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detection | None]:
        import torch
        from facenet_pytorch.models.mtcnn import fixed_image_standardization
        from facenet_pytorch.models.utils.detect_face import extract_face

        if len(frames) == 0:
            return []
        for i, f in enumerate(frames):
            if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                raise ValueError(f"frame {i} must be RGB uint8 (H, W, 3), got {f.dtype} {f.shape}")
        small, scales = [], []
        for f in frames:
            side = max(f.shape[0], f.shape[1])
            if self.detect_max_side is not None and side > self.detect_max_side:
                import cv2

                sc = self.detect_max_side / side
                size = (max(1, round(f.shape[1] * sc)), max(1, round(f.shape[0] * sc)))
                small.append(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
                scales.append((f.shape[1] / size[0], f.shape[0] / size[1]))
            else:
                small.append(f)
                scales.append((1.0, 1.0))
        same = all(f.shape == small[0].shape for f in small)
        if same:
            with torch.inference_mode():
                boxes, probs = self.mtcnn.detect(np.stack(small))
        else:
            boxes, probs = [], []
            for f in small:
                with torch.inference_mode():
                    b, p = self.mtcnn.detect(f)
                boxes.append(b)
                probs.append(p)
        out: list[Detection | None] = []
        for f, b, p, (sx, sy) in zip(frames, boxes, probs, scales, strict=True):
            if b is None or p is None or len(b) == 0 or p[0] is None:
                out.append(None)
                continue
            b = np.asarray(b, np.float32).reshape(-1, 4) * np.array([sx, sy, sx, sy], np.float32)
            p = np.asarray(p, np.float32).reshape(-1)
            k = int(np.argmax(p))
            if not p[k] >= self.min_prob:
                out.append(None)
                continue
            face = fixed_image_standardization(extract_face(f, b[k], FACE_SIZE, 0))
            out.append(Detection(face.numpy().astype(np.float32), float(p[k]), b[k]))
        return out
