"""Test helpers: small two-head ONNX models and model bundles that obey docs/contracts.md.

Why this is a public module (``avemotion.testing``, like ``numpy.testing``) and not in ``tests/``: it
holds no test oracle and no double of an avemotion class. It writes *real* bundles through the real
``avemotion.bundle.write_bundle`` (hashes, dims and input names checked on the way), which three kinds
of callers need without a trained model: this package's tests, its benchmarks (``benchmarks/`` cannot
import from ``tests/``), and users who test their own integration (a service around ``load_model``, a
new capture source) offline in milliseconds. It needs the ``onnx`` package (the [video]/[train] extras)
and is never imported by the library itself.

``build_tiny_two_head_model(path)`` writes an ONNX model with the contract's inputs and outputs::

    audio (B, Ta, 89) f32, audio_mask (B, Ta) f32, video (B, Tv, 512) f32, video_mask (B, Tv) f32
    -> emotion (B, 6) softmax, laughter (B, 1) sigmoid

``kind="pool"`` (default): per modality a per-step dense + tanh, a **masked mean** over time
(``Where(mask > 0.5, h, 0)``, divided by ``max(sum(mask), 1)``, so masked steps cannot affect the
output even when they hold garbage, and an all-masked modality gives zeros), both pooled vectors and
the two "has data" flags concatenated, a hidden dense + relu, then the two heads. Padding and masked
steps never change the output, which is what masking-invariance tests rely on.

``kind="gru"``: a realistic-size model for benchmarks: per-modality dense projection, an ONNX ``GRU``
over the (masked-to-zero) steps with ``sequence_lens`` = the number of real steps, final states fused
into the same heads. Exact invariance only holds for trailing padding there.

``make_test_bundle(out_dir)`` writes a complete bundle (model + stats pickles + bundle.json) through
``avemotion.bundle.write_bundle``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from avemotion._contract import AUDIO_DIM, EMOTION_LABELS, VIDEO_DIM
from avemotion._io import atomic_write_bytes
from avemotion.bundle import DEFAULT_INPUTS as DEFAULT_INPUT_NAMES
from avemotion.bundle import DEFAULT_OUTPUTS as DEFAULT_OUTPUT_NAMES
from avemotion.bundle import write_bundle


def build_tiny_two_head_model(
    path: str | os.PathLike[str],
    *,
    audio_dim: int = AUDIO_DIM,
    video_dim: int = VIDEO_DIM,
    hidden: int = 16,
    n_classes: int = len(EMOTION_LABELS),
    kind: str = "pool",
    seed: int = 0,
    input_names: Mapping[str, str] | None = None,
    output_names: Mapping[str, str] | None = None,
    opset: int = 17,
) -> Path:
    """Write a two-head ONNX model obeying the model I/O contract to ``path``; return the path.

    ``input_names`` / ``output_names`` map the contract's roles (``audio``, ``audio_mask``, ``video``,
    ``video_mask`` / ``emotion``, ``laughter``) to other tensor names, to test bundles whose model
    names differ. Weights are random (``seed``) with a scale that keeps outputs away from 0/1.
    The file is written atomically.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if kind not in ("pool", "gru"):
        raise ValueError(f"kind: expected 'pool' or 'gru', got {kind!r}")
    names = {**DEFAULT_INPUT_NAMES, **(input_names or {})}
    onames = {**DEFAULT_OUTPUT_NAMES, **(output_names or {})}
    rng = np.random.default_rng(seed)
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def dense(name: str, n_in: int, n_out: int, scale: float = 1.0) -> tuple[str, str]:
        w = rng.normal(0, scale / np.sqrt(n_in), (n_in, n_out)).astype(np.float32)
        b = rng.normal(0, 0.1, (n_out,)).astype(np.float32)
        return const(f"{name}_W", w), const(f"{name}_b", b)

    one = const("one", np.array(1.0, np.float32))
    half = const("half", np.array(0.5, np.float32))
    zero = const("zero", np.array(0.0, np.float32))
    axis1 = const("axis1", np.array([1], np.int64))

    def modality(tag: str, x: str, mask: str, dim: int) -> tuple[str, str]:
        """Returns (pooled (B, hidden), has_data (B, 1))."""
        keep = f"{tag}_keep"
        nodes.append(helper.make_node("Greater", [mask, half], [keep]))            # (B, T) bool
        keep3 = f"{tag}_keep3"
        nodes.append(helper.make_node("Unsqueeze", [keep, const(f"{tag}_ax2", np.array([2], np.int64))], [keep3]))
        count = f"{tag}_count"
        maskf = f"{tag}_maskf"
        nodes.append(helper.make_node("Cast", [keep], [maskf], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("ReduceSum", [maskf, axis1], [count], keepdims=1))  # (B, 1)
        has = f"{tag}_has"
        nodes.append(helper.make_node("Min", [count, one], [has]))
        denom = f"{tag}_denom"
        nodes.append(helper.make_node("Max", [count, one], [denom]))
        w, b = dense(f"{tag}_proj", dim, hidden)
        xm = f"{tag}_xm"
        nodes.append(helper.make_node("Where", [keep3, x, zero], [xm]))              # garbage -> 0
        h0, h1, h = f"{tag}_h0", f"{tag}_h1", f"{tag}_h"
        nodes.append(helper.make_node("MatMul", [xm, w], [h0]))
        nodes.append(helper.make_node("Add", [h0, b], [h1]))
        if kind == "pool":
            nodes.append(helper.make_node("Tanh", [h1], [h]))
            hm, s, pooled = f"{tag}_hm", f"{tag}_sum", f"{tag}_pooled"
            nodes.append(helper.make_node("Where", [keep3, h, zero], [hm]))
            nodes.append(helper.make_node("ReduceSum", [hm, axis1], [s], keepdims=0))  # (B, H)
            nodes.append(helper.make_node("Div", [s, denom], [pooled]))
            return pooled, has
        # GRU over time: ONNX GRU wants (T, B, H); sequence_lens int32 (B,)
        xt, lens, lens32 = f"{tag}_xt", f"{tag}_lens", f"{tag}_lens32"
        nodes.append(helper.make_node("Transpose", [h1], [xt], perm=[1, 0, 2]))
        nodes.append(helper.make_node("ReduceSum", [maskf, axis1], [lens], keepdims=0))
        nodes.append(helper.make_node("Cast", [lens], [lens32], to=TensorProto.INT32))
        gw = const(f"{tag}_gru_W", rng.normal(0, 1 / np.sqrt(hidden), (1, 3 * hidden, hidden)).astype(np.float32))
        gr = const(f"{tag}_gru_R", rng.normal(0, 1 / np.sqrt(hidden), (1, 3 * hidden, hidden)).astype(np.float32))
        gb = const(f"{tag}_gru_B", rng.normal(0, 0.1, (1, 6 * hidden)).astype(np.float32))
        y, yh, pooled = f"{tag}_y", f"{tag}_yh", f"{tag}_pooled"
        nodes.append(
            helper.make_node("GRU", [xt, gw, gr, gb, lens32], [y, yh], hidden_size=hidden, linear_before_reset=1)
        )
        sq = const(f"{tag}_ax0", np.array([0], np.int64))
        nodes.append(helper.make_node("Squeeze", [yh, sq], [pooled]))  # (B, H)
        return pooled, has

    pa, ha = modality("a", names["audio"], names["audio_mask"], audio_dim)
    pv, hv = modality("v", names["video"], names["video_mask"], video_dim)
    fused = "fused"
    nodes.append(helper.make_node("Concat", [pa, pv, ha, hv], [fused], axis=1))
    w, b = dense("hid", 2 * hidden + 2, hidden, scale=2.0)
    nodes += [
        helper.make_node("MatMul", [fused, w], ["hid0"]),
        helper.make_node("Add", ["hid0", b], ["hid1"]),
        helper.make_node("Relu", ["hid1"], ["hid"]),
    ]
    we, be = dense("emo", hidden, n_classes, scale=2.0)
    wl, bl = dense("laugh", hidden, 1, scale=2.0)
    nodes += [
        helper.make_node("MatMul", ["hid", we], ["emo0"]),
        helper.make_node("Add", ["emo0", be], ["emo1"]),
        helper.make_node("Softmax", ["emo1"], [onames["emotion"]], axis=-1),
        helper.make_node("MatMul", ["hid", wl], ["lau0"]),
        helper.make_node("Add", ["lau0", bl], ["lau1"]),
        helper.make_node("Sigmoid", ["lau1"], [onames["laughter"]]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        f"avemotion_test_{kind}",
        [
            helper.make_tensor_value_info(names["audio"], f, ["B", "Ta", audio_dim]),
            helper.make_tensor_value_info(names["audio_mask"], f, ["B", "Ta"]),
            helper.make_tensor_value_info(names["video"], f, ["B", "Tv", video_dim]),
            helper.make_tensor_value_info(names["video_mask"], f, ["B", "Tv"]),
        ],
        [
            helper.make_tensor_value_info(onames["emotion"], f, ["B", n_classes]),
            helper.make_tensor_value_info(onames["laughter"], f, ["B", 1]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="avemotion.testing")
    model.ir_version = min(model.ir_version, 8)  # loadable by onnxruntime >= 1.21
    onnx.checker.check_model(model)
    return atomic_write_bytes(path, model.SerializeToString())


def write_test_stats(
    stats_dir: str | os.PathLike[str],
    *,
    audio_dim: int = AUDIO_DIM,
    video_dim: int = VIDEO_DIM,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``audio_normalization_stats.pkl`` and ``video_normalization_stats.pkl`` with random
    mean/std (std in [0.5, 2)) through ``avemotion.feature_normalizer``; returns their paths.
    """
    from avemotion.feature_normalizer import save_normalization_stats

    rng = np.random.default_rng(seed)
    d = Path(stats_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, dim in (("audio", audio_dim), ("video", video_dim)):
        mean = rng.normal(0, 1, dim).astype(np.float32)
        std = rng.uniform(0.5, 2.0, dim).astype(np.float32)
        paths.append(save_normalization_stats(mean, std, name, d))
    return paths[0], paths[1]


def make_test_bundle(
    out_dir: str | os.PathLike[str],
    *,
    kind: str = "pool",
    seed: int = 0,
    hidden: int = 16,
    audio_dim: int = AUDIO_DIM,
    video_dim: int = VIDEO_DIM,
    input_names: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Build a tiny model and stats in a scratch folder beside ``out_dir`` and write a bundle there."""
    out = Path(out_dir)
    s = dict(settings or {})
    if input_names:
        s.setdefault("inputs", {**DEFAULT_INPUT_NAMES, **input_names})
    scratch = Path(tempfile.mkdtemp(prefix=".bundle-src-", dir=out.parent if out.parent.exists() else None))
    try:
        onnx_path = build_tiny_two_head_model(
            scratch / "model.onnx", kind=kind, seed=seed, hidden=hidden, audio_dim=audio_dim,
            video_dim=video_dim, input_names=input_names,
        )
        write_test_stats(scratch, audio_dim=audio_dim, video_dim=video_dim, seed=seed)
        return write_bundle(out, onnx_path=onnx_path, stats_dir=scratch,
                            training={"source": "avemotion.testing", "kind": kind, "seed": seed}, settings=s)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
