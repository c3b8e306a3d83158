"""A branch read only at K gathered cells is computed at those K cells only.

A CenterNet head reads its box branch at the K peaks the heatmap gives, nowhere else; yet the
network computes that branch (a 3x3 convolution, an activation, a 1x1 convolution) at every cell
of the stride-4 map. Here the Gather moves up the branch, through:

- element-wise activations (Relu, Sigmoid, ...): the same op on the K gathered rows;
- 1x1 convolutions (stride 1, constant weights, group 1): a MatMul [K, Ci] x [Ci, Co] plus bias;
- ending at one k x k convolution (odd k, stride 1, dilation 1, group 1, "same" zero padding,
  constant weights) reading a feature map F [1, C, H, W]: its K x k x k input patches are gathered
  from F (a constant table maps each cell to the flat indices of its neighbours and a constant
  mask zeroes those outside the map, as the zero padding does), then one MatMul
  [K, C k k] x [C k k, Co] plus bias.

Each output row is the same sum of the same products as the convolution's output at that cell (in
another order, so equal to float rounding). For the shipped detector this removes a 3x3
32->32 convolution and a 1x1 32->4 convolution over 48 x 80 cells (~72 MFLOP, a sixth of the
network) for ~2 MFLOP at K = 100. Every tensor of the branch must be read only by the next op
of the chain (nothing else may need the dense values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from tools.compress.fusion.graph import GraphEditor, static_shape

_UNARY = frozenset({"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "Elu", "Clip"})


@dataclass(frozen=True)
class _Step:
    """One op of the branch, from the feature map towards the gathered tensor."""

    node: onnx.NodeProto
    weight: np.ndarray | None = None  # [Co, Ci, k, k] for convolutions
    bias: np.ndarray | None = None


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _conv_weights(ed: GraphEditor, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
    """Weights and bias of a plain convolution that :func:`gather_branch` can move a Gather
    through (stride 1, dilation 1, group 1, odd square kernel with "same" zero padding)."""
    w = ed.initializer(conv.input[1]) if len(conv.input) > 1 else None
    if w is None or w.dtype != np.float32 or w.ndim != 4:
        return None
    if w.shape[2] != w.shape[3] or w.shape[2] % 2 != 1:
        return None
    has_bias = len(conv.input) > 2 and conv.input[2]
    b = ed.initializer(conv.input[2]) if has_bias else np.zeros(w.shape[0], np.float32)
    if b is None:
        return None
    a = _attrs(conv)
    r = w.shape[2] // 2
    if (
        int(a.get("group", 1)) != 1
        or set(a.get("strides", [1, 1])) != {1}
        or set(a.get("dilations", [1, 1])) != {1}
        or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        or list(a.get("pads", [0, 0, 0, 0])) != [r] * 4
    ):
        return None
    return w, b.astype(np.float32)


def _sole_reader(ed: GraphEditor, tensor: str) -> bool:
    return len(ed.consumers(tensor)) == 1 and tensor not in {o.name for o in ed.graph.output}


def _chain(ed: GraphEditor, tensor: str) -> tuple[str, list[_Step]] | None:
    """Walk up from ``tensor`` through activations and 1x1 convolutions to the first k x k
    convolution (or the last 1x1 one); returns the feature map it reads and the steps."""
    steps: list[_Step] = []
    while True:
        node = ed.producer(tensor)
        if node is None:
            break
        if node.op_type in _UNARY and all(
            ed.initializer(i) is not None for i in node.input[1:] if i
        ):
            steps.insert(0, _Step(node))
        elif node.op_type == "Conv" and (wb := _conv_weights(ed, node)) is not None:
            steps.insert(0, _Step(node, *wb))
            if wb[0].shape[2] > 1:
                return node.input[0], steps
        else:
            break
        if not _sole_reader(ed, node.input[0]):
            break
        tensor = node.input[0]
    while steps and steps[0].weight is None:  # start at a convolution
        steps.pop(0)
    return (steps[0].node.input[0], steps) if steps else None


def _neighbour_tables(h: int, w: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """index[cell, j] = flat cell of neighbour j (kernel order dy, dx) clamped into the map,
    mask[cell, j, 0] = 1 inside the map, 0 where the convolution reads its zero padding."""
    r = k // 2
    ys, xs = np.divmod(np.arange(h * w), w)
    offsets = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    dy, dx = (v.reshape(-1) for v in offsets)
    yy, xx = ys[:, None] + dy[None, :], xs[:, None] + dx[None, :]
    inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
    index = np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1)
    mask = inside.astype(np.float32)[:, :, None]
    return index.astype(np.int32), mask  # int32 indices: half the bytes of int64 in the file


def _patches(ed: GraphEditor, fmap: str, cells: str, k: int) -> str:
    """Input patches of ``fmap`` [1, C, H, W] around flat ``cells`` [K], as [K, k k C]: cell
    rows gathered from the channels-last map (one contiguous copy per row; ONNX Runtime turns
    the Transpose into its channels-last reorder)."""
    _, c, h, w = static_shape(ed.model, fmap)
    nhwc = ed.op("Transpose", fmap, perm=[0, 2, 3, 1])
    flat = ed.op("Reshape", nhwc, ed.const(np.array([h * w, c], np.int64), "shape"))
    if k == 1:
        return ed.op("Gather", flat, cells, axis=0)  # [K, C]
    index, mask = _neighbour_tables(h, w, k)
    idx = ed.op("Gather", ed.const(index, "nbr"), cells, axis=0)  # [K, k k]
    inside = ed.op("Gather", ed.const(mask, "inside"), cells, axis=0)  # [K, k k, 1]
    vals = ed.op("Mul", ed.op("Gather", flat, idx, axis=0), inside)  # [K, k k, C]
    return ed.op("Reshape", vals, ed.const(np.array([-1, k * k * c], np.int64), "shape"))


@dataclass(frozen=True)
class GatheredBranch:
    """[K, Co] rows of the branch; ``dense_nodes`` ops of the branch left to dead-code removal,
    ``row_nodes`` ops added to compute it at the rows."""

    rows: str
    dense_nodes: int
    row_nodes: int


def gather_branch(ed: GraphEditor, tensor: str, cells: str) -> GatheredBranch | None:
    """``tensor`` [1, C, H, W] read at flat ``cells`` [K] only: its branch computed at those
    cells, or None when the branch does not start at a convolution this can compute by rows."""
    found = _chain(ed, tensor)
    if found is None:
        return None
    fmap, steps = found
    before = len(ed.graph.node)
    k = steps[0].weight.shape[2]
    rows = _patches(ed, fmap, cells, k)
    for i, step in enumerate(steps):
        if step.weight is None:
            attrs = _attrs(step.node)
            rows = ed.node(step.node.op_type, [rows, *step.node.input[1:]], 1, **attrs)[0]
        else:
            w = step.weight.transpose(0, 2, 3, 1) if i == 0 else step.weight  # kh kw C order
            wmat = np.ascontiguousarray(w.reshape(w.shape[0], -1).T)  # [k k C, Co]
            rows = ed.op(
                "Add", ed.op("MatMul", rows, ed.const(wmat, "w")), ed.const(step.bias, "b")
            )
    return GatheredBranch(rows, len(steps), len(ed.graph.node) - before)
