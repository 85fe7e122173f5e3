"""The Sandberg GraphDef -> facenet-pytorch ``InceptionResnetV1`` state dict mapping (by TensorFlow
scope name), the architecture checks (strides, paddings, residual scales) and the torch net.

Part of :mod:`avemotion.features.facenet_weights` (which re-exports every public name; import from
there; its docstring describes the source, the conversion and the cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from avemotion.features._facenet_source import (
    BN_EPS,
    FACE_SIZE,
)

# ----------------------------------------------------------------------------- GraphDef -> state dict

_STEM = {"Conv2d_1a_3x3": "conv2d_1a", "Conv2d_2a_3x3": "conv2d_2a", "Conv2d_2b_3x3": "conv2d_2b",
         "Conv2d_3b_1x1": "conv2d_3b", "Conv2d_4a_3x3": "conv2d_4a", "Conv2d_4b_3x3": "conv2d_4b"}
#: TensorFlow scope of a repeated block -> (facenet-pytorch module, number of blocks, branch table)
_B35 = {"Branch_0/Conv2d_1x1": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
        "Branch_1/Conv2d_0b_3x3": "branch1.1", "Branch_2/Conv2d_0a_1x1": "branch2.0",
        "Branch_2/Conv2d_0b_3x3": "branch2.1", "Branch_2/Conv2d_0c_3x3": "branch2.2", "Conv2d_1x1": "conv2d"}
_B17 = {"Branch_0/Conv2d_1x1": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
        "Branch_1/Conv2d_0b_1x7": "branch1.1", "Branch_1/Conv2d_0c_7x1": "branch1.2", "Conv2d_1x1": "conv2d"}
_B8 = {"Branch_0/Conv2d_1x1": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
       "Branch_1/Conv2d_0b_1x3": "branch1.1", "Branch_1/Conv2d_0c_3x1": "branch1.2", "Conv2d_1x1": "conv2d"}
_MIXED = {
    "Mixed_6a": {"Branch_0/Conv2d_1a_3x3": "branch0", "Branch_1/Conv2d_0a_1x1": "branch1.0",
                 "Branch_1/Conv2d_0b_3x3": "branch1.1", "Branch_1/Conv2d_1a_3x3": "branch1.2"},
    "Mixed_7a": {"Branch_0/Conv2d_0a_1x1": "branch0.0", "Branch_0/Conv2d_1a_3x3": "branch0.1",
                 "Branch_1/Conv2d_0a_1x1": "branch1.0", "Branch_1/Conv2d_1a_3x3": "branch1.1",
                 "Branch_2/Conv2d_0a_1x1": "branch2.0", "Branch_2/Conv2d_0b_3x3": "branch2.1",
                 "Branch_2/Conv2d_1a_3x3": "branch2.2"},
}
_REPEATS = {"Repeat/block35_": ("repeat_1", 5, _B35), "Repeat_1/block17_": ("repeat_2", 10, _B17),
            "Repeat_2/block8_": ("repeat_3", 5, _B8)}
_ROOT = "InceptionResnetV1/"


def conv_scopes() -> dict[str, str]:
    """TensorFlow conv scope (without ``InceptionResnetV1/``) -> facenet-pytorch module path.
    A path ending in ``conv2d`` is a plain ``nn.Conv2d`` with bias; the others are ``BasicConv2d``."""
    out = {tf: pt for tf, pt in _STEM.items()}
    for tf_prefix, (pt_prefix, n, table) in _REPEATS.items():
        for i in range(n):
            out.update({f"{tf_prefix}{i + 1}/{k}": f"{pt_prefix}.{i}.{v}" for k, v in table.items()})
    out.update({f"Block8/{k}": f"block8.{v}" for k, v in _B8.items()})
    for block, table in _MIXED.items():
        out.update({f"{block}/{k}": f"{block.lower()}.{v}" for k, v in table.items()})
    return out


def _hwio_to_oihw(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1), dtype=np.float32)


def graph_state_dict(graph: Any, *, where: str = "graph") -> dict[str, np.ndarray]:
    """facenet-pytorch ``InceptionResnetV1`` state dict (float32 numpy; ``num_batches_tracked`` 0)
    from a parsed graph (:func:`avemotion.features._tf_graphdef.read_graph`). Every float constant of
    the graph must be used exactly once (scalars of the residual scales and concat axes aside, checked
    by :func:`check_graph_architecture`); ``ValueError`` naming the tensor otherwise."""
    consts: dict[str, np.ndarray] = graph.consts
    used: set[str] = set()

    def take(name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        full = _ROOT + name
        if full not in consts:
            raise ValueError(f"{where}: tensor {full!r} not found (not an Inception-ResNet-v1 graph?)")
        if full in used:
            raise ValueError(f"{where}: tensor {full!r} mapped twice")
        used.add(full)
        arr = np.asarray(consts[full], dtype=np.float32)
        if shape is not None and arr.shape != shape:
            raise ValueError(f"{where}: tensor {full!r}: expected shape {shape}, got {arr.shape}")
        return arr

    state: dict[str, np.ndarray] = {}
    for tf, pt in conv_scopes().items():
        w = take(f"{tf}/weights")
        if w.ndim != 4:
            raise ValueError(f"{where}: {_ROOT}{tf}/weights: expected a 4-d HWIO kernel, got {w.shape}")
        c = w.shape[3]
        if pt.endswith("conv2d"):
            state[f"{pt}.weight"] = _hwio_to_oihw(w)
            state[f"{pt}.bias"] = take(f"{tf}/biases", (c,))
            continue
        state[f"{pt}.conv.weight"] = _hwio_to_oihw(w)
        state[f"{pt}.bn.weight"] = np.ones(c, np.float32)
        state[f"{pt}.bn.bias"] = take(f"{tf}/Conv2D_bn_offset", (c,))
        state[f"{pt}.bn.running_mean"] = np.zeros(c, np.float32)
        state[f"{pt}.bn.running_var"] = np.full(c, np.float32(1) - np.float32(BN_EPS), np.float32)
        state[f"{pt}.bn.num_batches_tracked"] = np.zeros((), np.int64)
    w = take("Bottleneck/weights")
    state["last_linear.weight"] = np.ascontiguousarray(w.T)
    n = w.shape[1]
    state["last_bn.weight"] = take("Bottleneck/BatchNorm/Const", (n,))
    state["last_bn.bias"] = take("Bottleneck/BatchNorm/beta", (n,))
    state["last_bn.running_mean"] = take("Bottleneck/BatchNorm/moving_mean", (n,))
    state["last_bn.running_var"] = take("Bottleneck/BatchNorm/moving_variance", (n,))
    state["last_bn.num_batches_tracked"] = np.zeros((), np.int64)
    left = sorted(k for k, v in consts.items() if v.dtype == np.float32 and v.ndim > 0 and k not in used)
    if left:
        raise ValueError(f"{where}: {len(left)} weight tensors not mapped, e.g. {left[:3]}")
    return state


def check_graph_architecture(graph: Any, net: Any, *, where: str = "graph") -> None:
    """The graph's conv strides/paddings, residual scales, BatchNorm eps and input shape agree with
    ``net`` (a facenet-pytorch ``InceptionResnetV1``); ``ValueError`` naming the node otherwise."""
    modules = dict(net.named_modules())
    by_name = {n.name: n for n in graph.nodes}
    for tf, pt in conv_scopes().items():
        node = by_name.get(f"{_ROOT}{tf}/Conv2D")
        conv = modules[pt] if pt.endswith("conv2d") else modules[f"{pt}.conv"]
        if node is None:
            raise ValueError(f"{where}: no Conv2D node for {_ROOT}{tf}")
        strides = list(node.attrs.get("strides") or [])
        pad = node.attrs.get("padding")
        kh, kw = conv.kernel_size
        want_pad = (0, 0) if pad == b"VALID" else ((kh - 1) // 2, (kw - 1) // 2)
        if strides != [1, *conv.stride, 1] or tuple(conv.padding) != want_pad or (pad == b"SAME" and conv.stride != (1, 1)):
            raise ValueError(
                f"{where}: {node.name}: strides {strides} padding {pad!r} do not match {pt} "
                f"(stride {conv.stride}, padding {conv.padding})"
            )
    for tf_prefix, (pt_prefix, n, _) in _REPEATS.items():
        for i in range(n):
            _check_scale(graph, f"{_ROOT}{tf_prefix}{i + 1}/mul/x", modules[f"{pt_prefix}.{i}"].scale, where)
    _check_scale(graph, f"{_ROOT}Block8/mul/x", modules["block8"].scale, where)
    bn = by_name.get(f"{_ROOT}Bottleneck/BatchNorm/cond/FusedBatchNorm_1")
    if bn is None or abs(float(bn.attrs.get("epsilon", 0.0)) - net.last_bn.eps) > 1e-9:
        raise ValueError(f"{where}: bottleneck BatchNorm epsilon is not {net.last_bn.eps}")
    inp = by_name.get("input")
    if inp is None or list(inp.attrs.get("shape") or [])[1:] != [FACE_SIZE, FACE_SIZE, 3]:
        raise ValueError(f"{where}: expected a placeholder 'input' of shape (N, 160, 160, 3)")


def _check_scale(graph: Any, name: str, want: float, where: str) -> None:
    got = graph.consts.get(name)
    if got is None or abs(float(got) - want) > 1e-6:
        raise ValueError(f"{where}: residual scale {name} is {got}, facenet-pytorch uses {want}")


def build_net(state: Mapping[str, np.ndarray]) -> Any:
    """facenet-pytorch ``InceptionResnetV1`` (eval) with ``state`` loaded strictly (nothing missing or
    unexpected, every shape equal); ``ValueError`` otherwise."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    net = InceptionResnetV1(pretrained=None, classify=False)
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"converted weights do not fit InceptionResnetV1 exactly: {exc}") from exc
    return net.eval()


def count_parameters(net: Any) -> int:
    return int(sum(p.numel() for p in net.parameters()))
