"""TrackingFaceDetector against full MTCNN detection on every frame, on moving clips of a real photo.

The clips are rendered here from ``skimage.data.astronaut()`` (a real face photo) over
``skimage.data.coffee()`` (a real photo with no face), with known motion, so every frame has a ground
truth face box, then encoded with ffmpeg (H.264, yuv420p: real codec artefacts) and decoded back
through :func:`avemotion.features.media.iter_video_frames` at 5 fps, as ``analyze`` does:

- ``sway``: a talking-head sway: the face drifts and its size breathes by +-15 %;
- ``fast``: large, fast motion and a zoom from far to near (forces re-detections);
- ``cuts``: face, a cut to a frame without a face, a cut back to the face elsewhere and smaller,
  then a second (mirrored, larger) face entering beside the first;
- ``zoompan``: ffmpeg's own zoompan filter (pan + zoom) over the photo, no ground truth.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("facenet_pytorch")
pytestmark = pytest.mark.video

from avemotion.features import video as V  # noqa: E402
from avemotion.features.face_track import (  # noqa: E402
    DEFAULT_REDETECT_EVERY,
    TrackingFaceDetector,
    box_iou,
)
from avemotion.features.media import iter_video_frames  # noqa: E402

FFMPEG = shutil.which("ffmpeg")
W, H, RATE = 640, 480, 25

# ------------------------------------------------------------------------------ clip rendering

#: a sprite placement at time t: (centre x, centre y, sprite side px, mirrored) per visible face
Placement = Callable[[float], list[tuple[float, float, float, bool]]]


def _sprite_face_box(face_box_512: np.ndarray, cx: float, cy: float, side: float, mirror: bool) -> np.ndarray:
    """Where the astronaut's face box lands when the 512 px photo is drawn ``side`` px wide at (cx, cy)."""
    b = np.asarray(face_box_512, np.float64).copy()
    if mirror:
        b[[0, 2]] = 512 - b[[2, 0]]
    k = side / 512
    return np.array([cx - side / 2 + b[0] * k, cy - side / 2 + b[1] * k, cx - side / 2 + b[2] * k,
                     cy - side / 2 + b[3] * k])


def render_clip(
    path: Path, duration: float, place: Placement, face_box_512: np.ndarray, *, width: int = W
) -> dict[float, list[np.ndarray]]:
    """Write an H.264 clip (``width`` x 3/4 ``width``, RATE fps) and return frame time -> ground-truth
    face boxes. ``place`` is written for 640x480 and scaled to ``width``."""
    import cv2
    from skimage import data

    k0 = width / W
    w, h = width, int(round(H * k0))
    astro = data.astronaut()
    bg = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_AREA)
    truth: dict[float, list[np.ndarray]] = {}
    proc = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{w}x{h}", "-r", str(RATE), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", str(path)],
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    for i in range(int(round(duration * RATE))):
        t = i / RATE
        img = bg.copy()
        boxes = []
        for cx, cy, side, mirror in place(t):
            cx, cy, side = cx * k0, cy * k0, side * k0
            src = astro[:, ::-1] if mirror else astro
            k = side / 512
            m = np.array([[k, 0, cx - side / 2], [0, k, cy - side / 2]], np.float64)
            warped = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_AREA)
            inside = cv2.warpAffine(np.full((512, 512), 255, np.uint8), m, (w, h)) > 127
            img[inside] = warped[inside]
            boxes.append(_sprite_face_box(face_box_512, cx, cy, side, mirror))
        truth[round(t, 6)] = boxes
        proc.stdin.write(np.ascontiguousarray(img).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return truth


def _sway(t: float) -> list[tuple[float, float, float, bool]]:
    return [(320 + 15 * math.sin(2 * math.pi * t / 2.3), 250 + 8 * math.sin(2 * math.pi * t / 1.7),
             420 * (1 + 0.08 * math.sin(2 * math.pi * t / 3.1)), False)]


def _walk(t: float) -> list[tuple[float, float, float, bool]]:
    return [(320 + 40 * math.sin(2 * math.pi * t / 2.3), 250 + 20 * math.sin(2 * math.pi * t / 1.7),
             420 * (1 + 0.15 * math.sin(2 * math.pi * t / 3.1)), False)]


def _fast(t: float) -> list[tuple[float, float, float, bool]]:
    return [(320 + 200 * math.sin(2 * math.pi * t / 1.5), 240 + 60 * math.cos(2 * math.pi * t / 1.1),
             260 + 70 * t, False)]


def _cuts(t: float) -> list[tuple[float, float, float, bool]]:
    if t < CUT_OUT:
        return [(300 + 30 * t, 260, 420, False)]
    if t < CUT_BACK:
        return []  # a cut to a picture without a face
    if t < SECOND_FACE:
        return [(180 + 20 * (t - CUT_BACK), 200, 300, False)]  # back, elsewhere and smaller
    return [(180, 200, 300, False), (470, 280, 380, True)]  # a second face enters


CUT_OUT, CUT_BACK, SECOND_FACE = 0.8, 1.4, 2.2


CLIPS: dict[str, tuple[float, Placement]] = {
    "sway": (3.0, _sway), "walk": (3.0, _walk), "fast": (3.0, _fast), "cuts": (3.4, _cuts)
}


def render_zoompan(path: Path, work: Path, *, width: int = W, duration: float = 4.0) -> None:
    """ffmpeg's zoompan (pan + zoom) over the photo on a 4:3 grey canvas."""
    from PIL import Image
    from skimage import data

    png = work / "astro43.png"
    canvas = np.full((512, 684, 3), 128, np.uint8)
    canvas[:, 86:598] = data.astronaut()
    Image.fromarray(canvas).save(png)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-framerate", str(RATE), "-i", str(png),
         "-vf", "zoompan=z='1.25+0.2*sin(on/13)':x='(iw-iw/zoom)/2+50*sin(on/9)':"
         f"y='(ih-ih/zoom)/2+30*cos(on/11)':d=1:s={width}x{width * 3 // 4}:fps={RATE}",
         "-t", str(duration), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )


#: the tests' clips: 320x240 (the detector's own working size, so no shrinking), ~3 s at 5 fps
TEST_WIDTH, TEST_SECONDS = 320, 3.0


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> object:
    """One intra-op thread: on 2 shared cores torch's spinning second thread makes MTCNN ~3x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def detector() -> V.FaceDetector:
    return V.FaceDetector()


@pytest.fixture(scope="module")
def astro_box(detector: V.FaceDetector) -> np.ndarray:
    from skimage import data

    d = detector.detect([data.astronaut()])[0]
    assert d is not None
    return np.asarray(d.box, np.float64)


def _run(det: object, frames: list, batch: int = 8) -> list:
    out: list = []
    for i in range(0, len(frames), batch):
        out.extend(det.detect(frames[i : i + batch]))  # type: ignore[attr-defined]
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, astro_box: np.ndarray, detector: V.FaceDetector) -> dict:
    """name -> dict(times, frames at 5 fps, truth (time -> boxes, or {}), every (every-frame detections),
    tracked (the tracker's), stats, sources)."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is needed to make the moving clips")
    d = tmp_path_factory.mktemp("face_track")
    out: dict = {}
    for name in [*CLIPS, "zoompan"]:
        p = d / f"{name}.mp4"
        if name == "zoompan":
            render_zoompan(p, d, width=TEST_WIDTH, duration=TEST_SECONDS)
            truth: dict = {}
        else:
            dur, place = CLIPS[name]
            truth = render_clip(p, dur, place, astro_box, width=TEST_WIDTH)
        tf = list(iter_video_frames(p, fps=5.0))
        frames = [f for _, f in tf]
        tracker = TrackingFaceDetector(detector)
        tracked, sources = [], []
        for i in range(0, len(frames), 8):
            tracked.extend(tracker.detect(frames[i : i + 8]))
            sources.extend(tracker.last_sources)
        out[name] = dict(times=[t for t, _ in tf], frames=frames, truth=truth, every=_run(detector, frames),
                         tracked=tracked, stats=tracker.stats, sources=sources)
    return out


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("name", ["sway", "walk", "fast", "cuts", "zoompan"])
def test_tracking_keeps_every_face_and_agrees_with_detection(clips: dict, name: str) -> None:
    c = clips[name]
    every, tracked, times, truth, s = c["every"], c["tracked"], c["times"], c["truth"], c["stats"]
    assert len(tracked) == len(every) == len(c["frames"]) >= 14
    # the face-present share must not drop: the same frames have a face
    assert [d is not None for d in tracked] == [d is not None for d in every]
    # (with two faces on screen the tracker may keep the other one until the next keyframe)
    one_face = [not truth or len(truth[round(t, 6)]) <= 1 for t in times]
    ious = [box_iou(a.box, b.box) for a, b, k in zip(every, tracked, one_face, strict=True) if a is not None and k]
    assert min(ious) > 0.6 and float(np.median(ious)) > 0.85
    for t, d in zip(times, tracked, strict=True):
        if truth:
            gts = truth[round(t, 6)]
            if not gts:
                assert d is None, f"{name} t={t}: a face reported where there is none"
            else:
                assert d is not None and max(box_iou(d.box, g) for g in gts) > 0.6, f"{name} t={t}"
        if d is not None:
            assert d.face.shape == (3, 160, 160) and d.face.dtype == np.float32 and d.prob >= 0.9
    assert s.frames == len(every) and s.detected + s.tracked == len(every)
    assert c["sources"].count("tracked") == s.tracked
    if name == "sway":
        # a talking-head sway is tracked between keyframes: one full detection per interval
        assert s.detected == math.ceil(len(every) / DEFAULT_REDETECT_EVERY)
        assert s.lost == s.jumped == 0
    if name == "zoompan":
        assert s.tracked >= len(every) // 2


def test_cut_and_second_face(clips: dict, detector: V.FaceDetector) -> None:
    c = clips["cuts"]
    times, frames, dets, sources = c["times"], c["frames"], c["tracked"], c["sources"]
    out = [i for i, t in enumerate(times) if CUT_OUT <= t < CUT_BACK]
    back = [i for i, t in enumerate(times) if CUT_BACK <= t < SECOND_FACE]
    assert out and back
    assert all(dets[i] is None for i in out)
    # the cut away was noticed by the O-net step (lost), the face found again by a full detection
    assert c["stats"].lost >= 1 and sources[back[0]] == "detected"
    assert all(box_iou(dets[i].box, c["truth"][round(times[i], 6)][0]) > 0.6 for i in back)
    # with two faces, a keyframe answers what the full detector answers
    two = [i for i, t in enumerate(times) if t >= SECOND_FACE and sources[i] == "detected"]
    assert two
    for i in two:
        ref = detector.detect([frames[i]])[0]
        assert ref is not None and box_iou(ref.box, dets[i].box) > 0.99


def test_keyframe_interval_reset_and_shape_change(clips: dict, detector: V.FaceDetector) -> None:
    frames = clips["sway"]["frames"]
    off = TrackingFaceDetector(detector, redetect_every=1)
    off.detect(frames[:3])
    assert off.stats.tracked == 0 and off.stats.detected == 3 and off.last_sources == ["detected"] * 3
    n = 4
    tr = TrackingFaceDetector(detector, redetect_every=n)
    for i in range(0, 10, 3):  # the track carries across calls
        tr.detect(frames[i : min(i + 3, 10)])
    assert tr.stats.detected == math.ceil(10 / n) and tr.stats.keyframes == math.ceil(10 / n) - 1
    tr.reset()
    tr.detect([frames[10]])
    assert tr.last_sources == ["detected"]  # after reset the next frame is fully detected
    tr.detect([frames[11]])
    assert tr.last_sources == ["tracked"]
    tr.detect([np.ascontiguousarray(frames[12][::2, ::2])])  # a new frame size drops the track
    assert tr.last_sources == ["detected"]


def test_no_face_stretch_is_detected_in_batches(clips: dict, detector: V.FaceDetector) -> None:
    """Frames without a face: after two single detections the rest of a call goes as one batch."""
    calls: list[int] = []

    class Counting:
        def __init__(self, inner: V.FaceDetector) -> None:
            self.inner = inner
            self.min_prob, self.detect_max_side, self.mtcnn, self.device = (
                inner.min_prob, inner.detect_max_side, inner.mtcnn, inner.device)

        def detect(self, frames: list) -> list:
            calls.append(len(frames))
            return self.inner.detect(frames)

    c = clips["cuts"]
    empty = [c["frames"][i] for i, t in enumerate(c["times"]) if CUT_OUT <= t < CUT_BACK][:2] * 4
    tr = TrackingFaceDetector(Counting(detector))  # type: ignore[arg-type]
    assert tr.detect(empty) == [None] * 8
    assert calls == [1, 1, 6]
    tr.detect(empty[:3])  # the stretch goes on in the next call: batched at once
    assert calls[-1] == 3


def test_real_clip_face_then_no_face(demo_frames: tuple[list, list], detector: V.FaceDetector) -> None:
    """samples/demo_clip.mp4 (640x480, shrunk for detection) from 8 s: the real face photo, then
    (10-12 s) a grey picture without one."""
    times, frames = demo_frames
    every = _run(detector, frames)
    tracker = TrackingFaceDetector(detector)
    tracked = _run(tracker, frames)
    assert [d is not None for d in tracked] == [d is not None for d in every]
    assert [d is not None for d in every] == [t < 10.0 for t in times]
    assert tracker.stats.tracked >= 5 and tracker.stats.lost == 0
    for a, b in zip(every, tracked, strict=True):
        if a is not None:
            assert box_iou(a.box, b.box) > 0.85


@pytest.fixture(scope="module")
def demo_frames() -> tuple[list, list]:
    clip = Path(__file__).resolve().parents[2] / "samples" / "demo_clip.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    tf = list(iter_video_frames(clip, fps=5.0, start=8.0))
    return [t + 8.0 for t, _ in tf], [f for _, f in tf]


def test_same_results_through_the_video_extractor(clips: dict, detector: V.FaceDetector) -> None:
    """The extractor takes the tracker as its detector; extract() resets it per stream."""
    c = clips["sway"]
    times, frames = c["times"][:8], c["frames"][:8]

    def embed(faces: np.ndarray) -> np.ndarray:  # a stand-in embedder: the crop's mean colour
        v = np.zeros((faces.shape[0], V.VIDEO_DIM), np.float32)
        v[:, :3] = faces.mean(axis=(2, 3))
        return v

    ex = V.VideoExtractor(embed, TrackingFaceDetector(detector), batch_size=4)  # type: ignore[arg-type]
    a = ex.extract(zip(times, frames, strict=True))
    b = ex.extract(zip(times, frames, strict=True))
    np.testing.assert_array_equal(a.steps, b.steps)  # the second run starts from a fresh track
    np.testing.assert_array_equal(a.mask, [d is not None for d in c["every"][:8]])
    assert ex.detector.stats.tracked > 0


def test_onet_backends_agree(clips: dict, detector: V.FaceDetector, tmp_path: Path, monkeypatch) -> None:
    """O-net in ONNX Runtime (exported once into the cache) and in torch give the same track."""
    monkeypatch.setenv("AVEMOTION_CACHE", str(tmp_path))
    frames = clips["sway"]["frames"][:5]
    a = TrackingFaceDetector(detector, onet="onnx")
    b = TrackingFaceDetector(detector, onet="torch")
    assert a.onet_backend == "onnx" and b.onet_backend == "torch"
    assert list((tmp_path / "mtcnn").glob("onet-*.onnx"))
    da, db = a.detect(frames), b.detect(frames)
    assert a.last_sources == b.last_sources and a.last_sources.count("tracked") == 4
    for x, y in zip(da, db, strict=True):
        np.testing.assert_allclose(x.box, y.box, atol=1e-2)
        assert x.prob == pytest.approx(y.prob, abs=1e-4)


def test_bad_arguments(detector: V.FaceDetector) -> None:
    with pytest.raises(ValueError, match="redetect_every"):
        TrackingFaceDetector(detector, redetect_every=0)
    with pytest.raises(ValueError, match="min_iou"):
        TrackingFaceDetector(detector, min_iou=1.5)
    with pytest.raises(ValueError, match="onet"):
        TrackingFaceDetector(detector, onet="tensorflow")
    tr = TrackingFaceDetector(detector)
    with pytest.raises(ValueError, match="frame 1 must be RGB uint8"):
        tr.detect([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])
    assert tr.detect([]) == []


def test_box_iou() -> None:
    a = np.array([0, 0, 10, 10.0])
    assert box_iou(a, a) == 1.0
    assert box_iou(a, np.array([5, 0, 15, 10.0])) == pytest.approx(50 / 150)
    assert box_iou(a, np.array([20, 20, 30, 30.0])) == 0.0
