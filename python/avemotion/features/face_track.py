"""Face tracking between MTCNN detections: the full detector on keyframes, one O-net step between.

MTCNN's cost is its first two stages: P-net over an image pyramid of the whole frame (8 scales for a
320x240 frame), then R-net over every candidate. Between two sampled frames of a talking face the
face barely moves, so :class:`TrackingFaceDetector` runs the full detector
(:class:`avemotion.features.video.FaceDetector`) only on a keyframe, and on the frames after it runs
MTCNN's last stage alone: the square around the previous box (MTCNN's ``rerec``) is cut from the
frame, area-resampled to 48x48 and given to O-net (one small forward, in ONNX Runtime by default),
whose score confirms the face and whose box regression moves the box onto it. That is MTCNN's third
stage with the previous frame's box standing in for R-net's candidate, so a tracked frame's box,
probability and 160x160 crop mean what a detected one does (the crop is cut the same way, from
the full-resolution frame).

Calibration: the full detector's box comes from O-net on R-net's square, the tracking step's from
O-net on the square around the previous box, so even on a still face the two differ (demo clip:
IoU 0.90, FaceNet cosine 0.957 without calibration). On the first tracked frame after a full
detection, O-net is also run on the detected frame itself and the difference between its box and
the detector's (in units of the square's side) is added to every tracked box until the next full
detection: on a still face the tracked box is then the detected one.

The full detector runs again (a *re-detection*), and its answer is the frame's answer, when:

- there is no track (the first frame, after :meth:`reset`, after a frame without a face, after a
  change of frame size);
- O-net's score on the tracked box is below ``min_prob`` (the detector's, 0.9 by default: the face
  left, was covered, or a cut changed the picture);
- the box moved or changed size too much for one step: IoU with the previous box below ``min_iou``
  (default 0.5), a side under ``min_side_px`` (detection-scale px, like MTCNN's minimum) or a box
  mostly outside the frame;
- ``redetect_every`` frames (default :data:`DEFAULT_REDETECT_EVERY` = 5, i.e. 1 s at the default
  5 fps) have passed since the last full detection: a keyframe. This bounds how long a second,
  more confident face entering the picture is ignored (the detector keeps the most confident face,
  the tracker the current one until the next keyframe) and how far the box can drift.
  ``redetect_every=1`` turns tracking off (every frame detected).

A step whose box moved by more than ``refine_shift`` of its side (centre or size) gets another O-net
step from the moved box, up to ``max_steps`` (default 2): O-net's regression recovers most of a
shift in one step, the second brings the box onto the face. After ``BATCH_AFTER_MISSES`` full
detections in a row without a face, the rest of the frames of a
:meth:`~TrackingFaceDetector.detect` call are detected as one batch (MTCNN batches its pyramid,
~25 % cheaper per frame), so a stretch without faces costs what every-frame detection does, not
more; the same after ``BATCH_AFTER_FAILS`` tracking steps failing in a row (motion too fast to
follow), which bounds the cost of a failed O-net step plus a single-frame detection per frame.

Contract: :meth:`TrackingFaceDetector.detect` takes and returns what ``FaceDetector.detect`` does
(``frames`` -> one :class:`~avemotion.features.video.Detection` or ``None`` per frame), in time
order; the track carries over from one call to the next (a stream fed in batches tracks across
them). One instance belongs to one stream: call :meth:`reset` before another file or stream (the
:class:`~avemotion.features.video.VideoExtractor` does at the start of ``extract``). Not thread safe.
``stats`` counts what happened (:class:`TrackStats`), ``last_sources`` says per frame of the last
call whether it was ``"detected"`` or ``"tracked"``.

Measured (``benchmarks/bench_face_detect.py``; README *Features*): face-present share identical to
every-frame detection on the demo clip and on moving, cut and two-face clips of a real photo;
tracked boxes agree with every-frame detection as closely as MTCNN agrees with itself on the same
frame shifted by 1-5 px.

Layout: this module holds :class:`TrackingFaceDetector` and its box helpers and re-exports the
O-net runner and its cached ONNX export (``_face_track_onet``). Import every name from here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from avemotion.features._face_track_onet import (
    ONET_SIZE,
    OnetRun,
    _onet_runner,
    copy_to_cpu,
    onet_onnx_path,
)
from avemotion.features.video import FACE_SIZE, Detection, FaceDetector

__all__ = [
    "BATCH_AFTER_FAILS",
    "BATCH_AFTER_MISSES",
    "DEFAULT_REDETECT_EVERY",
    "ONET_SIZE",
    "OnetRun",
    "TrackStats",
    "TrackingFaceDetector",
    "box_iou",
    "copy_to_cpu",
    "onet_onnx_path",
]

logger = logging.getLogger(__name__)

#: frames between two full MTCNN detections while a face is tracked (1 s at 5 fps)
DEFAULT_REDETECT_EVERY = 5
#: full detections in a row without a face after which the rest of a ``detect`` call is
#: detected as one batch (MTCNN batches its pyramid: ~25 % less per frame)
BATCH_AFTER_MISSES = 2
#: tracking steps failing in a row (motion too fast to follow) after which the rest of a call is
#: detected as one batch too
BATCH_AFTER_FAILS = 3


@dataclasses.dataclass
class TrackStats:
    """What the tracker did, in frames (summed since construction; :meth:`reset` keeps them)."""

    frames: int = 0
    #: frames answered by a full MTCNN detection (keyframes + re-detections + frames without a track)
    detected: int = 0
    #: frames answered by the O-net step alone
    tracked: int = 0
    #: re-detections because O-net's score fell below ``min_prob``
    lost: int = 0
    #: re-detections because the box changed too much (IoU gate, size, frame edge)
    jumped: int = 0
    #: re-detections because ``redetect_every`` frames had passed
    keyframes: int = 0
    #: O-net forwards run (one or two per tracking attempt)
    onet_calls: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boxes ``(x1, y1, x2, y2)`` (0 when either is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = float(w * h)
    area_a = float((a[2] - a[0]) * (a[3] - a[1]))
    area_b = float((b[2] - b[0]) * (b[3] - b[1]))
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


class TrackingFaceDetector:
    """A :class:`FaceDetector` on keyframes, O-net tracking between them (see the module docstring).

    ``detector``: the full detector (default ``FaceDetector()``); its MTCNN nets (torch or ONNX
    Runtime), ``detect_max_side`` shrinking and ``min_prob`` are used by the tracking step too.
    ``redetect_every`` >= 1 frames; ``min_iou`` in [0, 1]; ``min_prob`` defaults to the detector's.
    """

    def __init__(
        self,
        detector: FaceDetector | None = None,
        *,
        redetect_every: int = DEFAULT_REDETECT_EVERY,
        min_iou: float = 0.5,
        min_prob: float | None = None,
        refine_shift: float = 0.1,
        max_steps: int = 2,
        min_side_px: float = 12.0,
        onet: str = "auto",
    ) -> None:
        if int(redetect_every) != redetect_every or redetect_every < 1:
            raise ValueError(f"redetect_every must be an integer >= 1 (frames), got {redetect_every!r}")
        if not 0.0 <= min_iou <= 1.0:
            raise ValueError(f"min_iou must be in [0, 1], got {min_iou!r}")
        if min_prob is not None and not 0.0 <= min_prob <= 1.0:
            raise ValueError(f"min_prob must be in [0, 1] or None, got {min_prob!r}")
        if not refine_shift >= 0:
            raise ValueError(f"refine_shift must be >= 0, got {refine_shift!r}")
        self.detector = detector if detector is not None else FaceDetector()
        self.redetect_every = int(redetect_every)
        self.min_iou = float(min_iou)
        self.min_prob = float(self.detector.min_prob if min_prob is None else min_prob)
        self.refine_shift = float(refine_shift)
        if int(max_steps) != max_steps or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        self.max_steps = int(max_steps)
        self.min_side_px = float(min_side_px)
        if onet not in ("auto", "onnx", "torch"):
            raise ValueError(f"onet must be 'auto', 'onnx' or 'torch', got {onet!r}")
        self._onet_run, self.onet_backend = _onet_runner(self.detector, onet)
        self.stats = TrackStats()
        self._box: np.ndarray | None = None  # last face box, full-resolution px
        self._shape: tuple[int, ...] | None = None
        self._since_detect = 0
        self._misses = 0  # full detections in a row that found no face
        self._fails = 0  # tracking steps in a row that failed (lost or jumped)
        # the O-net step's bias against the full detector, measured on the last detected frame:
        # (x1, y1, x2, y2) offsets in units of the squared box's side (see _calibrate)
        self._calib: np.ndarray | None = None
        self._calib_frame: np.ndarray | None = None
        #: per frame of the last ``detect`` call: ``"detected"`` or ``"tracked"``
        self.last_sources: list[str] = []

    # attributes a VideoExtractor or a caller may read from a detector
    @property
    def device(self) -> Any:
        return self.detector.device

    @property
    def detect_max_side(self) -> int | None:
        return self.detector.detect_max_side

    def reset(self) -> None:
        """Forget the track (a new stream or file starts); the next frame is fully detected."""
        self._drop_track()
        self._shape = None
        self._since_detect = 0
        self._misses = 0
        self._fails = 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detection | None]:
        """One :class:`Detection` or ``None`` per RGB uint8 (H, W, 3) frame, frames in time order."""
        for i, f in enumerate(frames):
            if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                got = f"{f.dtype} {f.shape}" if isinstance(f, np.ndarray) else type(f).__name__
                raise ValueError(f"frame {i} must be RGB uint8 (H, W, 3), got {got}")
        out: list[Detection | None] = []
        sources: list[str] = []
        i = 0
        while i < len(frames):
            f = frames[i]
            if f.shape != self._shape:
                self._drop_track()
                self._shape = f.shape
            det: Detection | None = None
            keyframe = self._box is not None and self._since_detect >= self.redetect_every
            if keyframe:
                self.stats.keyframes += 1
            elif self._box is not None:
                det = self._track(f, self._box)
            if det is not None:
                self.stats.frames += 1
                self.stats.tracked += 1
                self._since_detect += 1
                self._fails = 0
                self._box = np.asarray(det.box, np.float32).copy()
                out.append(det)
                sources.append("tracked")
                i += 1
                continue
            # a full detection; after BATCH_AFTER_MISSES full detections in a row without a face,
            # the rest of the call is detected in one batch
            j = i + 1
            if not keyframe and self._box is not None:
                self._fails += 1
            if self._misses >= BATCH_AFTER_MISSES or self._fails >= BATCH_AFTER_FAILS:
                while j < len(frames) and frames[j].shape == f.shape:
                    j += 1
            dets = self.detector.detect(list(frames[i:j]))
            self.stats.frames += j - i
            self.stats.detected += j - i
            self._since_detect = 1
            last = dets[-1]
            self._misses = self._misses + 1 if last is None else 0
            if last is None:
                self._drop_track()
            else:
                self._box = np.asarray(last.box, np.float32).copy()
                self._calib = None
                self._calib_frame = frames[j - 1]
            out.extend(dets)
            sources.extend(["detected"] * (j - i))
            i = j
        self.last_sources = sources
        return out

    def _drop_track(self) -> None:
        self._box = None
        self._calib = None
        self._calib_frame = None

    # -- the O-net step

    def _detect_scale(self, frame: np.ndarray) -> float:
        """Full-resolution px per px of the frame the detector sees (``detect_max_side`` shrinking)."""
        side = max(frame.shape[0], frame.shape[1])
        mx = self.detector.detect_max_side
        return 1.0 if mx is None or side <= mx else side / mx

    def _onet(self, frame: np.ndarray, box: np.ndarray) -> tuple[float, np.ndarray] | None:
        """MTCNN's third stage on one box (full-resolution px): ``(score, regressed box)``, or
        ``None`` when the squared box leaves no pixels inside the frame.

        The arithmetic of facenet-pytorch's ``rerec`` (square around the box), ``pad`` (integer
        box clipped to the frame: a box over the edge is stretched, as there) and ``bbreg``
        (regression in units of the square's side + 1); the 48x48 input is area-resampled from
        the full-resolution frame (what area-resampling the shrunk frame approximates).
        """
        import cv2

        h, w = frame.shape[:2]
        bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
        side = max(bw, bh)
        sq = np.array([box[0] + bw / 2 - side / 2, box[1] + bh / 2 - side / 2, 0.0, 0.0], np.float64)
        sq[2:] = sq[:2] + side
        x, y, ex, ey = (int(v) for v in sq)  # truncation toward zero, as torch's .trunc().int()
        x, y, ex, ey = max(x, 1), max(y, 1), min(ex, w), min(ey, h)
        if ey <= y - 1 or ex <= x - 1:
            return None
        crop = frame[y - 1 : ey, x - 1 : ex]
        if crop.size == 0:
            return None
        im = cv2.resize(crop, (ONET_SIZE, ONET_SIZE), interpolation=cv2.INTER_AREA)
        im = ((im.astype(np.float32) - 127.5) * 0.0078125).transpose(2, 0, 1)[None]
        reg, prob = self._onet_run(np.ascontiguousarray(im))
        self.stats.onet_calls += 1
        s1 = side + 1.0
        out = sq + np.asarray(reg, np.float64).reshape(4) * s1
        return float(prob.reshape(-1)[1]), out.astype(np.float32)

    def _calibrate(self, box: np.ndarray) -> np.ndarray:
        """Offsets that make the O-net step return the detector's box on the detected frame itself.

        The full detector's box comes from O-net run on R-net's square, the tracking step runs
        O-net on the square around the previous box, so even on a still face the two boxes differ
        (measured on the demo clip without this: IoU 0.90, FaceNet cosine 0.957). The difference,
        measured once on the keyframe (one more O-net forward) and carried in units of the
        square's side, is added to every tracked box until the next full detection.
        """
        if self._calib is None:
            self._calib = np.zeros(4, np.float32)
            frame = self._calib_frame
            if frame is not None:
                res = self._onet(frame, box)
                if res is not None and res[0] >= self.min_prob:
                    self._calib = ((box - res[1]) / _square_side(box)).astype(np.float32)
            self._calib_frame = None
        return self._calib

    def _step(self, frame: np.ndarray, box: np.ndarray, calib: np.ndarray) -> tuple[float, np.ndarray] | None:
        res = self._onet(frame, box)
        if res is None:
            return None
        return res[0], res[1] + calib * _square_side(box)

    def _track(self, frame: np.ndarray, prev: np.ndarray) -> Detection | None:
        """The tracked detection on ``frame`` from the previous box, or ``None`` (re-detect)."""
        from facenet_pytorch.models.mtcnn import fixed_image_standardization
        from facenet_pytorch.models.utils.detect_face import extract_face

        calib = self._calibrate(prev)
        res = self._step(frame, prev, calib)
        cur = prev
        for _ in range(self.max_steps - 1):
            if res is None or res[0] < self.min_prob or _shift(res[1], cur) <= self.refine_shift:
                break
            cur = res[1]
            res = self._step(frame, cur, calib)
        if res is None or res[0] < self.min_prob:
            self.stats.lost += 1
            return None
        score, box = res
        h, w = frame.shape[:2]
        bw, bh = box[2] - box[0], box[3] - box[1]
        inside_w = min(box[2], w) - max(box[0], 0)
        inside_h = min(box[3], h) - max(box[1], 0)
        if (
            min(bw, bh) < self.min_side_px * self._detect_scale(frame)
            or inside_w <= 0.5 * bw
            or inside_h <= 0.5 * bh
            or box_iou(box, prev) < self.min_iou
        ):
            self.stats.jumped += 1
            return None
        face = fixed_image_standardization(extract_face(frame, box, FACE_SIZE, 0))
        return Detection(face.numpy().astype(np.float32), score, box.astype(np.float32))


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between the boxes' centres and difference of their sides, in units of ``a``'s side."""
    side = _square_side(a)
    d = np.hypot(*((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2))
    return float(max(d, abs(side - _square_side(b))) / side)


def _square_side(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1e-6))
