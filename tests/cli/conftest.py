"""Fixtures for the analyze/live CLI tests: a tiny model bundle and short media made offline.

The bundle is avemotion.testing's tiny two-head model with random normalization stats; its
``video_fps`` is 1 (instead of 5) so that MTCNN + FaceNet (random weights, CPU) run on few frames.
Media come from ``samples/demo_clip.mp4`` (real AMI speech over a real face photo).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "samples" / "demo_clip.mp4"


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    from avemotion.testing import make_test_bundle

    features = {"audio_window_s": 1.0, "audio_hop_s": 0.1, "video_fps": 1.0, "sample_rate": 16000}
    return make_test_bundle(tmp_path_factory.mktemp("model") / "bundle", settings={"features": features})


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of the demo clip's real speech, audio only (16 kHz mono WAV)."""
    out = tmp_path_factory.mktemp("media") / "speech.wav"
    _ffmpeg("-i", str(DEMO), "-vn", "-t", "4", "-ac", "1", "-ar", "16000", str(out))
    return out


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo clip's first 4 s re-encoded with a keyframe every 5 frames (a UDP receiver joining
    late decodes video within 0.2 s), AAC 16 kHz mono: for streaming over MPEG-TS."""
    out = tmp_path_factory.mktemp("media") / "short.mp4"
    _ffmpeg("-i", str(DEMO), "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "5",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "16000", "-ac", "1", str(out))
    return out
