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
