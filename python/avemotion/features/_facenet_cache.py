"""The converted-weights cache: :func:`convert` (graph -> ``.pt`` + ``.onnx`` + manifest, atomically),
reading the manifest and verifying the cached files against it.

Part of :mod:`avemotion.features.facenet_weights` (which re-exports every public name; import from
there; its docstring describes the source, the conversion and the cache).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._io import atomic_write_bytes
from avemotion.features._facenet_graph import (
    build_net,
    check_graph_architecture,
    count_parameters,
    graph_state_dict,
)
from avemotion.features._facenet_onnx import export_facenet_onnx, quantize_facenet_int8
from avemotion.features._facenet_source import (
    CASIA_NAME,
    FIX_CONVERT,
    FIX_RECONVERT,
    GRAPH_BYTES,
    GRAPH_NAME,
    GRAPH_SHA256,
    LICENCE,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    MODULE,
    ONNX_FILE,
    ONNX_INT8_FILE,
    PACKAGE,
    PACKAGE_VERSION,
    STATE_FILE,
    WHEEL_SHA256,
    EmbedderIdentity,
    FaceNetWeightsInvalid,
    FaceNetWeightsMissing,
    facenet_cache_dir,
    file_sha256,
    find_graph,
    verify_graph,
    weights_digest,
)

logger = logging.getLogger("avemotion.features.facenet_weights")


# ----------------------------------------------------------------------------- cache


@dataclass
class ConversionResult:
    """What :func:`convert` found or made. ``converted`` is False when the cache already verified."""

    cache: Path
    state_path: Path
    onnx_path: Path
    manifest_path: Path
    identity: EmbedderIdentity
    converted: bool
    parameters: int
    checks: dict[str, Any]
    seconds: float
    #: the INT8 model (None when converted with ``int8=False``)
    onnx_int8_path: Path | None = None


def convert(
    cache: str | os.PathLike[str] | None = None,
    *,
    graph: str | os.PathLike[str] | None = None,
    force: bool = False,
    int8: bool = True,
) -> ConversionResult:
    """Convert the CASIA-WebFace graph (``graph``, default :func:`find_graph`) into the cache (see the
    module docstring). ``int8``: also write the INT8 quantization of the ONNX model
    (:func:`~avemotion.features._facenet_onnx.quantize_facenet_int8`; a cache that verifies but lacks it
    gets only that file added). A cache that verifies (:func:`verify_cache`) is left alone unless ``force``.
    Raises :class:`FaceNetWeightsMissing` / :class:`FaceNetWeightsInvalid` for a missing or wrong graph."""
    t0 = time.perf_counter()
    d = facenet_cache_dir(cache)
    if not force:
        try:
            m = verify_cache(d)
        except FaceNetWeightsMissing as exc:
            logger.info("converting FaceNet weights: %s", exc)
        else:
            if not int8 or "onnx_int8" in m["files"]:
                if "onnx_int8" in m["files"]:
                    verify_cache(d, files=("onnx_int8",))
                return _result(d, m, converted=False, seconds=time.perf_counter() - t0)
            return _result(d, _add_int8(d, m), converted=True, seconds=time.perf_counter() - t0)
    import torch

    from avemotion.features._tf_graphdef import read_graph

    src = verify_graph(graph if graph is not None else find_graph())
    g = read_graph(src)
    state = graph_state_dict(g, where=str(src))
    net = build_net(state)
    check_graph_architecture(g, net, where=str(src))
    identity = EmbedderIdentity(CASIA_NAME, weights_digest(state))
    buf = io.BytesIO()
    torch.save({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, buf)
    d.mkdir(parents=True, exist_ok=True)
    (d / MANIFEST_FILE).unlink(missing_ok=True)  # an interrupted rewrite must not verify
    atomic_write_bytes(d / STATE_FILE, buf.getvalue())
    diff = export_facenet_onnx(net, d / ONNX_FILE, identity=identity)
    from importlib.metadata import version

    import onnx

    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "embedder": identity.as_dict(),
        "architecture": "facenet-pytorch InceptionResnetV1 (classify=False)",
        "input": "faces float32 (N, 3, 160, 160): RGB crops, (x - 127.5) / 128",
        "output": "embeddings float32 (N, 512), L2-normalized",
        "source": {"package": PACKAGE, "version": PACKAGE_VERSION, "wheel_sha256": WHEEL_SHA256,
                   "file": f"{MODULE}/{GRAPH_NAME}", "sha256": GRAPH_SHA256, "bytes": GRAPH_BYTES},
        "licence": LICENCE,
        "files": {key: {"name": name, "sha256": file_sha256(d / name), "bytes": (d / name).stat().st_size}
                  for key, name in (("state_dict", STATE_FILE), ("onnx", ONNX_FILE))},
        "parameters": count_parameters(net),
        "checks": {"strict_load": True, "architecture": "strides, paddings, residual scales, eps agree",
                   "onnx_vs_torch_max_abs_diff": diff},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                     "facenet_pytorch": version("facenet-pytorch")},
    }
    if int8:
        manifest = _add_int8(d, manifest)
    else:
        atomic_write_bytes(d / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
    logger.info("FaceNet CASIA-WebFace weights converted into %s (%d parameters)", d, manifest["parameters"])
    return _result(d, manifest, converted=True, seconds=time.perf_counter() - t0)


def _add_int8(d: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Quantize the cache's verified fp32 ONNX model into :data:`ONNX_INT8_FILE` and rewrite the
    manifest (atomically, last) with its entry and check figures."""
    import onnxruntime

    identity = EmbedderIdentity(manifest["embedder"]["name"], manifest["embedder"]["sha256"])
    checks = quantize_facenet_int8(d / ONNX_FILE, d / ONNX_INT8_FILE, identity=identity)
    m = dict(manifest)
    p = d / ONNX_INT8_FILE
    m["files"] = {**m["files"], "onnx_int8": {"name": ONNX_INT8_FILE, "sha256": file_sha256(p),
                                               "bytes": p.stat().st_size}}
    m["checks"] = {**m.get("checks", {}), **checks}
    m["versions"] = {**m.get("versions", {}), "onnxruntime": onnxruntime.__version__}
    atomic_write_bytes(d / MANIFEST_FILE, (json.dumps(m, indent=2) + "\n").encode())
    return m


def _result(d: Path, m: Mapping[str, Any], *, converted: bool, seconds: float) -> ConversionResult:
    return ConversionResult(d, d / STATE_FILE, d / ONNX_FILE, d / MANIFEST_FILE,
                            EmbedderIdentity(m["embedder"]["name"], m["embedder"]["sha256"]), converted,
                            int(m.get("parameters", 0)), dict(m.get("checks", {})), seconds,
                            d / ONNX_INT8_FILE if "onnx_int8" in m["files"] else None)


def read_manifest(cache: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The cache's manifest (format checked); :class:`FaceNetWeightsMissing` when absent."""
    path = facenet_cache_dir(cache) / MANIFEST_FILE
    if not path.is_file():
        raise FaceNetWeightsMissing(
            f"the default FaceNet weights (CASIA-WebFace) are not converted yet: {path} missing; {FIX_CONVERT}"
        )
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FaceNetWeightsInvalid(f"{path}: unreadable manifest ({exc}); {FIX_RECONVERT}") from exc
    ok = (isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT and m.get("format_version") == MANIFEST_VERSION
          and isinstance(m.get("files"), dict) and isinstance(m.get("embedder"), dict)
          and m["embedder"].get("name") == CASIA_NAME)
    if not ok:
        raise FaceNetWeightsInvalid(f"{path}: not an avemotion FaceNet weights manifest; {FIX_RECONVERT}")
    return m


def verify_cache(
    cache: str | os.PathLike[str] | None = None, *, files: tuple[str, ...] = ("state_dict", "onnx")
) -> dict[str, Any]:
    """The manifest, after checking that each of ``files`` (``"state_dict"``, ``"onnx"``,
    ``"onnx_int8"``) exists with the recorded size and sha256; :class:`FaceNetWeightsMissing` /
    :class:`FaceNetWeightsInvalid` naming the file and the fix otherwise (a cache converted before the
    INT8 model existed: ``FaceNetWeightsMissing`` saying to run ``avemotion weights``)."""
    d = facenet_cache_dir(cache)
    m = read_manifest(d)
    for key in files:
        rec = m["files"].get(key)
        if key == "onnx_int8" and rec is None:
            raise FaceNetWeightsMissing(f"{d / MANIFEST_FILE}: no INT8 FaceNet model in the cache; {FIX_CONVERT}")
        if not isinstance(rec, dict) or not rec.get("name"):
            raise FaceNetWeightsInvalid(f"{d / MANIFEST_FILE}: no {key!r} entry; {FIX_RECONVERT}")
        p = d / str(rec["name"])
        if not p.is_file():
            raise FaceNetWeightsMissing(f"{p}: missing (listed in {d / MANIFEST_FILE}); {FIX_RECONVERT}")
        size = p.stat().st_size
        digest = file_sha256(p) if size == rec.get("bytes") else None
        if digest != rec.get("sha256"):
            got = f"sha256 {digest}" if digest else f"{size} bytes"
            raise FaceNetWeightsInvalid(
                f"{p}: altered: expected {rec.get('bytes')} bytes with sha256 {rec.get('sha256')} "
                f"(as {MANIFEST_FILE} records), got {got}; {FIX_RECONVERT}"
            )
    return m
