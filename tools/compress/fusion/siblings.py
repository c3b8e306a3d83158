"""Horizontal fusion: convolutions that read the same tensor become one (DNNFusion's many-to-many
group of siblings; TensorRT does the same on the vehicle, ONNX Runtime does not).

Three exact rewrites, in turn, for every tensor read by two or more plain convolutions with
constant weights and equal attributes (kernel, strides, pads, dilations; group 1):

1. **merge**: one convolution with the weights and biases stacked along the output channels,
   then a Split back into the original outputs;
2. **hoist**: when every output of that Split is read only by the same activation (Relu,
   Sigmoid, ...), one activation before the Split;
3. **widen**: when every output of that Split is read only by a small 1x1 convolution (stride
   1, no padding), no Split: each of those reads the merged tensor, with zero weights on the
   other branches' channels (a Split is a copy, slower here than the zero products).

Each output channel is the same sum as before (3. adds exact zeros), so the results agree to
float rounding. The shipped detector's heatmap and box heads (two 3x3 convolutions, 32 channels
each, on the stride-4 features) become one 3x3 convolution with 64 channels.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper

from tools.compress.fusion.graph import GraphEditor

_ACTIVATIONS = frozenset({"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "Elu"})
# Widening only for small outputs (detection heads): there the zero weights cost less than a
# Split copying the merged tensor apart; for wide outputs they would double the work.
WIDEN_MAX_OUT = 32


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _signature(ed: GraphEditor, conv: onnx.NodeProto) -> tuple | None:
    """What two sibling convolutions must share to merge; None for one that cannot."""
    w = ed.initializer(conv.input[1]) if len(conv.input) > 1 else None
    if w is None or w.ndim != 4 or (len(conv.input) > 2 and conv.input[2]
                                    and ed.initializer(conv.input[2]) is None):  # fmt: skip
        return None
    a = _attrs(conv)
    if int(a.get("group", 1)) != 1 or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    return (
        tuple(w.shape[1:]),
        tuple(a.get("strides", [1, 1])),
        tuple(a.get("pads", [0, 0, 0, 0])),
        tuple(a.get("dilations", [1, 1])),
    )


def _weights(ed: GraphEditor, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
    w = ed.initializer(conv.input[1])
    has_bias = len(conv.input) > 2 and conv.input[2]
    b = ed.initializer(conv.input[2]) if has_bias else np.zeros(w.shape[0], w.dtype)
    return w, b


def _split(ed: GraphEditor, x: str, sizes: list[int], outputs: list[str]) -> None:
    split = np.array(sizes, np.int64)
    inputs, attrs = (
        ([x, ed.const(split, "split")], {}) if ed.opset >= 13 else ([x], {"split": sizes})
    )
    ed.graph.node.append(
        helper.make_node("Split", inputs, outputs, ed.name("Split"), axis=1, **attrs)
    )


def _conv(ed: GraphEditor, x: str, w: np.ndarray, b: np.ndarray, like: onnx.NodeProto) -> str:
    attrs = _attrs(like)
    attrs["kernel_shape"] = list(w.shape[2:])
    return ed.op("Conv", x, ed.const(w, "w"), ed.const(b, "b"), **attrs)


def _remove(ed: GraphEditor, nodes: list[onnx.NodeProto]) -> None:
    for node in nodes:
        ed.graph.node.remove(node)


def _sole_readers(ed: GraphEditor, tensors: list[str]) -> list[onnx.NodeProto] | None:
    readers = []
    for t in tensors:
        r = ed.consumers(t)
        if len(r) != 1 or r[0].input[0] != t or t in {o.name for o in ed.graph.output}:
            return None
        readers.append(r[0])
    return readers


def _hoist(ed: GraphEditor, merged: str, outs: list[str]) -> tuple[str, list[str]]:
    acts = _sole_readers(ed, outs)
    if not acts or any(a.op_type not in _ACTIVATIONS or len(a.input) != 1 for a in acts):
        return merged, outs
    if any(a.op_type != acts[0].op_type or _attrs(a) != _attrs(acts[0]) for a in acts):
        return merged, outs
    _remove(ed, acts)
    hoisted = ed.op(acts[0].op_type, merged, **_attrs(acts[0]))
    return hoisted, [a.output[0] for a in acts]


def _widen(ed: GraphEditor, merged: str, outs: list[str], sizes: list[int]) -> bool:
    """Each output of the would-be Split read only by a small 1x1 convolution: that convolution
    reads the merged tensor instead, with zero weights on the other branches' channels."""
    convs = _sole_readers(ed, outs)
    if not convs or any(c.op_type != "Conv" or _signature(ed, c) is None for c in convs):
        return False
    for c, ci in zip(convs, sizes):
        kernel, strides, pads, _ = _signature(ed, c)
        if kernel != (ci, 1, 1) or set(strides) != {1} or any(pads):
            return False
    parts = [_weights(ed, c) for c in convs]
    if sum(p[0].shape[0] for p in parts) > WIDEN_MAX_OUT:
        return False
    col = 0
    for conv, (wi, bi), ci in zip(convs, parts, sizes):
        w = np.zeros((wi.shape[0], sum(sizes), 1, 1), np.float32)
        w[:, col : col + ci] = wi
        col += ci
        conv.input[0] = merged
        conv.input[1] = ed.const(w, "w")
        if len(conv.input) > 2:
            conv.input[2] = ed.const(bi.astype(np.float32), "b")
        else:
            conv.input.append(ed.const(bi.astype(np.float32), "b"))
    return True


def merge_siblings(model: onnx.ModelProto, source: str = "<model>") -> int:
    """Rewrite ``model`` in place; returns how many groups of sibling convolutions merged."""
    ed = GraphEditor(model, source)
    groups: dict[tuple, list[onnx.NodeProto]] = defaultdict(list)
    for node in model.graph.node:
        if node.op_type == "Conv" and (sig := _signature(ed, node)) is not None:
            groups[(node.input[0], sig)].append(node)
    merged_groups = 0
    for (tensor, _), convs in groups.items():
        if len(convs) < 2:
            continue
        parts = [_weights(ed, c) for c in convs]
        w = np.concatenate([p[0] for p in parts]).astype(np.float32)
        b = np.concatenate([p[1] for p in parts]).astype(np.float32)
        sizes = [p[0].shape[0] for p in parts]
        _remove(ed, convs)
        merged = _conv(ed, tensor, w, b, convs[0])
        merged, outs = _hoist(ed, merged, [c.output[0] for c in convs])
        if not _widen(ed, merged, outs, sizes):
            _split(ed, merged, sizes, outs)
        merged_groups += 1
    if merged_groups:
        ed.topo_sort()
    return merged_groups
