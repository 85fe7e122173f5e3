"""Read a frozen TensorFlow ``GraphDef`` (``.pb``) without TensorFlow.

Only the few fields a frozen inference graph needs are declared, in a minimal protobuf descriptor
built at run time (``google.protobuf``, which the ``onnx`` package already requires). Field numbers
are TensorFlow's own (``tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape}.proto``);
protobuf skips every field not declared here, so the reader accepts any GraphDef:

    GraphDef          node = 1 (repeated NodeDef)
    NodeDef           name = 1, op = 2, input = 3 (repeated), attr = 5 (map<string, AttrValue>)
    AttrValue         list = 1, s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7, tensor = 8
    AttrValue.List    s = 2, i = 3, f = 4 (repeated)
    TensorProto       dtype = 1, tensor_shape = 2, tensor_content = 4, float_val = 5, int_val = 7,
                      int64_val = 10
    TensorShapeProto  dim = 2 (repeated Dim: size = 1)

A tensor's values are either ``tensor_content`` (raw little-endian bytes) or a typed repeated field
that may hold fewer values than the shape: TensorFlow then repeats the last one (a splat), as frozen
graphs do for constants such as a BatchNorm's gamma of ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_PKG = "avemotion_tf_min"
#: TensorFlow DataType enum -> numpy dtype (the types frozen graphs use for constants).
DTYPES: dict[int, Any] = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_}


@functools.lru_cache(maxsize=1)
def _graphdef_class() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    fd = descriptor_pb2.FileDescriptorProto(name=f"{_PKG}.proto", package=_PKG, syntax="proto3")

    def add(m: Any, name: str, num: int, typ: int, label: int = opt, ref: str | None = None,
            oneof: int | None = None) -> None:
        f = m.field.add(name=name, number=num, type=typ, label=label)
        if ref:
            f.type_name = f".{_PKG}.{ref}"
        if oneof is not None:
            f.oneof_index = oneof

    shape = fd.message_type.add(name="TensorShapeProto")
    dim = shape.nested_type.add(name="Dim")
    add(dim, "size", 1, F.TYPE_INT64)
    add(shape, "dim", 2, F.TYPE_MESSAGE, rep, "TensorShapeProto.Dim")
    tensor = fd.message_type.add(name="TensorProto")
    add(tensor, "dtype", 1, F.TYPE_INT32)
    add(tensor, "tensor_shape", 2, F.TYPE_MESSAGE, opt, "TensorShapeProto")
    add(tensor, "tensor_content", 4, F.TYPE_BYTES)
    add(tensor, "float_val", 5, F.TYPE_FLOAT, rep)
    add(tensor, "int_val", 7, F.TYPE_INT32, rep)
    add(tensor, "int64_val", 10, F.TYPE_INT64, rep)
    attr = fd.message_type.add(name="AttrValue")
    lst = attr.nested_type.add(name="ListValue")
    add(lst, "s", 2, F.TYPE_BYTES, rep)
    add(lst, "i", 3, F.TYPE_INT64, rep)
    add(lst, "f", 4, F.TYPE_FLOAT, rep)
    attr.oneof_decl.add(name="value")  # as in TensorFlow: one of these is set
    add(attr, "list", 1, F.TYPE_MESSAGE, opt, "AttrValue.ListValue", oneof=0)
    add(attr, "s", 2, F.TYPE_BYTES, oneof=0)
    add(attr, "i", 3, F.TYPE_INT64, oneof=0)
    add(attr, "f", 4, F.TYPE_FLOAT, oneof=0)
    add(attr, "b", 5, F.TYPE_BOOL, oneof=0)
    add(attr, "type", 6, F.TYPE_INT32, oneof=0)
    add(attr, "shape", 7, F.TYPE_MESSAGE, opt, "TensorShapeProto", oneof=0)
    add(attr, "tensor", 8, F.TYPE_MESSAGE, opt, "TensorProto", oneof=0)
    node = fd.message_type.add(name="NodeDef")
    entry = node.nested_type.add(name="AttrEntry")
    entry.options.map_entry = True
    add(entry, "key", 1, F.TYPE_STRING)
    add(entry, "value", 2, F.TYPE_MESSAGE, opt, "AttrValue")
    add(node, "name", 1, F.TYPE_STRING)
    add(node, "op", 2, F.TYPE_STRING)
    add(node, "input", 3, F.TYPE_STRING, rep)
    add(node, "attr", 5, F.TYPE_MESSAGE, rep, "NodeDef.AttrEntry")
    graph = fd.message_type.add(name="GraphDef")
    add(graph, "node", 1, F.TYPE_MESSAGE, rep, "NodeDef")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PKG}.GraphDef"))


def message_class(name: str) -> Any:
    """The message class ``GraphDef``, ``NodeDef``, ``TensorProto``, ... of the minimal descriptor
    (used by tests to write small graphs)."""
    from google.protobuf import message_factory

    pool = _graphdef_class().DESCRIPTOR.file.pool
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PKG}.{name}"))


@dataclass
class Node:
    """One graph node: ``attrs`` holds plain Python values (ints, floats, bytes, lists; a tensor
    attribute as a numpy array)."""

    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """``nodes`` in file order; ``consts`` maps each ``Const`` node's name to its value."""

    nodes: list[Node]
    consts: dict[str, np.ndarray]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def tensor_to_array(t: Any, *, where: str = "tensor") -> np.ndarray:
    """A ``TensorProto`` as a numpy array (raw ``tensor_content`` or the typed values, splatted)."""
    if t.dtype not in DTYPES:
        raise ValueError(f"{where}: unsupported TensorFlow dtype enum {t.dtype}")
    dtype = np.dtype(DTYPES[t.dtype])
    shape = tuple(int(d.size) for d in t.tensor_shape.dim)
    n = int(np.prod(shape)) if shape else 1
    if t.tensor_content:
        arr = np.frombuffer(t.tensor_content, dtype=dtype.newbyteorder("<"))
        if arr.size != n:
            raise ValueError(f"{where}: tensor_content holds {arr.size} values, shape {shape} needs {n}")
        return arr.astype(dtype, copy=True).reshape(shape)
    vals = list(t.float_val) if dtype.kind == "f" else list(t.int64_val) or list(t.int_val)
    if not vals:
        return np.zeros(shape, dtype)
    if len(vals) > n:
        raise ValueError(f"{where}: {len(vals)} values for shape {shape} ({n} elements)")
    out = np.empty(n, dtype)
    out[: len(vals)] = vals
    out[len(vals):] = vals[-1]  # TensorFlow's rule: the last value fills the rest
    return out.reshape(shape)


def _attr_value(v: Any, where: str) -> Any:
    kind = v.WhichOneof("value")
    if kind == "tensor":
        return tensor_to_array(v.tensor, where=where)
    if kind == "list":
        return list(v.list.i) or list(v.list.f) or list(v.list.s)
    if kind == "shape":
        return [int(d.size) for d in v.shape.dim]
    return getattr(v, kind) if kind else None


def read_graph(path: str | Path) -> Graph:
    """Parse the frozen graph at ``path``; ``ValueError`` naming the file when it is not one."""
    p = Path(path)
    msg = _graphdef_class()()
    try:
        msg.ParseFromString(p.read_bytes())
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"{p}: not a TensorFlow GraphDef: {exc}") from exc
    if not len(msg.node):
        raise ValueError(f"{p}: not a TensorFlow GraphDef (no nodes)")
    nodes, consts = [], {}
    for nd in msg.node:
        attrs = {k: _attr_value(v, f"{p}: node {nd.name!r} attr {k!r}") for k, v in nd.attr.items()}
        nodes.append(Node(nd.name, nd.op, list(nd.input), attrs))
        if nd.op == "Const":
            value = attrs.get("value")
            if not isinstance(value, np.ndarray):
                raise ValueError(f"{p}: Const node {nd.name!r} has no tensor value")
            consts[nd.name] = value
    return Graph(nodes, consts)
