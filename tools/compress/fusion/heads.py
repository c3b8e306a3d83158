"""Post-processing heads in the model: peak finding / scoring and top-K with fixed output shapes.

Every head ends in the same three outputs, read by the ``topk`` decoder of the camera detector:
``det_boxes`` [1, K, 4] x1 y1 x2 y2 in network-input pixels, ``det_scores`` [1, K] (best first)
and ``det_classes`` [1, K] int64. The node keeps the rows scoring at least its threshold; with
``nms`` the head also runs the card's NMS (:mod:`.nms`: suppressed rows score -1) and the node
skips its own, else the node runs NMS on the rows as it does on the unfused decoders' candidates.

- ``centernet``: MaxPool (the decoder's 3x3 dilation) keeps the local maxima (every other cell
  scores below zero), TopK over classes x cells, cell centres from a constant table. The box
  branch is computed at the K peaks only where it can be (:mod:`.gathered`: the shipped model's
  3x3 conv, ReLU and 1x1 conv as MatMuls on gathered patches); element-wise ops that end it (the
  shipped model's Clip, Exp, Mul) run on the K rows: the same ops on the same values, on 4 x K
  numbers instead of 4 x H x W.
- ``yolov5`` / ``yolox`` (decoded): score = objectness x best class; ``yolov8``: best class.
- ``fastestdet``: score = obj^0.6 * cls^0.4, box decoded from the cell (tanh offset, sigmoid size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from perception.detector.card import ModelCard
from tools.compress.fusion.errors import FusionError
from tools.compress.fusion.gathered import GatheredBranch, gather_branch
from tools.compress.fusion.graph import GraphEditor, static_shape
from tools.compress.fusion.nms import add_nms, nms_applies

OUT_BOXES, OUT_SCORES, OUT_CLASSES = "det_boxes", "det_scores", "det_classes"
NOT_A_PEAK_SCALE = 3e38  # masked cells score heat - 3e38 * (pooled - heat) < 0: never pass


def _f32(x) -> np.ndarray:
    return np.asarray(x, np.float32)


def _i64(x) -> np.ndarray:
    return np.asarray(x, np.int64)


def _topk(ed: GraphEditor, scores: str, n: int, k: int) -> tuple[str, str]:
    """scores [n] -> (values [k], indices [k])."""
    values, idx = ed.node(
        "TopK", [scores, ed.const(_i64([k]), "k")], 2, axis=0, largest=1, sorted=1
    )
    return values, idx


def _xyxy_from_cxcywh(ed: GraphEditor, rows4: str) -> str:
    """[k, 4] cx cy w h -> [k, 4] x1 y1 x2 y2 with one MatMul (a constant 4x4 map)."""
    m = _f32([[1, 0, 1, 0], [0, 1, 0, 1], [-0.5, 0, 0.5, 0], [0, -0.5, 0, 0.5]])
    return ed.op("MatMul", rows4, ed.const(m, "cxcywh2xyxy"))


def _centernet(
    ed: GraphEditor, card: ModelCard, outs: list[str], k: int, gather: bool = True
) -> tuple[str, str, str, GatheredBranch | None]:
    heat, dist = outs
    _, c, h, w = static_shape(ed.model, heat)
    opts = {"stride": 8, "peak_kernel": 3, **card.decoder.options}
    kern, stride = int(opts["peak_kernel"]), float(opts["stride"])
    src = heat
    producer = ed.producer(heat)
    if producer is not None and producer.op_type == "DequantizeLinear":
        # ONNX Runtime would move the Q/DQ across a MaxPool that reads a DequantizeLinear and
        # run it on uint8 (~15x slower than its float kernel here); -(-x) is x and stops that.
        src = ed.op("Neg", ed.op("Neg", heat))
    pooled = ed.op("MaxPool", src, kernel_shape=[kern, kern], pads=[kern // 2] * 4, strides=[1, 1])
    # Peaks keep their score, every other cell goes below zero (below any threshold the card
    # allows): heat - BIG * (pooled - heat). At a peak pooled - heat is 0, so the score is
    # heat exactly; elsewhere pooled - heat >= one ulp of heat (>= 2^-149 with denormals), so
    # BIG times it exceeds heat and the result is negative. Three element-wise ops where
    # Equal + Where cost ONNX Runtime more (its Where broadcasts the scalar slowly).
    below = ed.op("Sub", pooled, heat)
    masked = ed.op("Sub", heat, ed.op("Mul", below, ed.const(_f32(NOT_A_PEAK_SCALE), "big")))
    flat = ed.op("Reshape", masked, ed.const(_i64([c * h * w]), "shape"))
    scores, idx = _topk(ed, flat, c * h * w, min(k, c * h * w))
    cells = ed.const(_i64(h * w), "cells")
    cls = ed.op("Div", idx, cells)
    pos = ed.op("Mod", idx, cells)
    # Cell centres (x + 0.5) * stride, y likewise, as x y x y rows of a constant table: one
    # Gather instead of nine small ops (the same float32 products).
    ys, xs = np.divmod(np.arange(h * w), w)
    centres = (np.stack([xs, ys, xs, ys], axis=1).astype(np.float32) + _f32(0.5)) * _f32(stride)
    cxy = ed.op("Gather", ed.const(centres.astype(np.float32), "centres"), pos, axis=0)  # [k, 4]
    raw, tail = _elementwise_tail(ed, dist)
    branch = gather_branch(ed, raw, pos) if gather else None  # the branch at the K peaks
    if branch is not None:
        d = _replay(ed, branch.rows, tail)  # [k, 4] l t r b
    else:
        d = ed.op("Reshape", raw, ed.const(_i64([4, h * w]), "shape"))
        d = _replay(ed, ed.op("Gather", d, pos, axis=1), tail)  # [4, k]
        d = ed.op("Transpose", d, perm=[1, 0])  # [k, 4] l t r b
    boxes = ed.op("Add", cxy, ed.op("Mul", d, ed.const(_f32([-1, -1, 1, 1]), "sign")))
    return boxes, scores, cls, branch


_SINKABLE = frozenset({"Clip", "Exp", "Mul", "Add", "Sub", "Div", "Relu", "Sigmoid", "Tanh"})


def _elementwise_tail(ed: GraphEditor, tensor: str) -> tuple[str, list[onnx.NodeProto]]:
    """The element-wise ops with constant scalar operands that end in ``tensor`` (each read only
    by the next), and the tensor they start from; they commute with a Gather of elements."""
    tail: list[onnx.NodeProto] = []
    while True:
        node = ed.producer(tensor)
        if node is None or node.op_type not in _SINKABLE:
            break
        data = [i for i in node.input if i and ed.initializer(i) is None]
        consts = [ed.initializer(i) for i in node.input if i and i not in data]
        if len(data) != 1 or any(c.size != 1 for c in consts):
            break
        if node.op_type in ("Sub", "Div") and node.input[0] != data[0]:
            break  # c - x and c / x stay exact too, but keep the operand order simple
        if len(ed.consumers(data[0])) != 1:
            break
        tail.insert(0, node)
        tensor = data[0]
    return tensor, tail


def _replay(ed: GraphEditor, x: str, tail: list[onnx.NodeProto]) -> str:
    """Apply ``tail``'s ops to ``x`` (same op types, attributes and constants)."""
    for node in tail:
        inputs = [x if i and ed.initializer(i) is None else i for i in node.input]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x = ed.node(node.op_type, inputs, 1, **attrs)[0]
    return x


def _rows(ed: GraphEditor, pred: str, transpose: bool) -> tuple[str, int, int]:
    shape = static_shape(ed.model, pred)
    if len(shape) != 3 or shape[0] != 1:
        raise FusionError(f"{ed.source}: output {pred!r} {list(shape)}: expected [1, N, ...]")
    rows = ed.op("Reshape", pred, ed.const(_i64(shape[1:]), "shape"))
    if transpose:
        rows = ed.op("Transpose", rows, perm=[1, 0])
        return rows, shape[2], shape[1]
    return rows, shape[1], shape[2]


def _slice(ed: GraphEditor, x: str, start: int, end: int, axis: int = 1) -> str:
    return ed.op(
        "Slice",
        x,
        ed.const(_i64([start]), "s"),
        ed.const(_i64([end]), "e"),
        ed.const(_i64([axis]), "a"),
    )


def _yolo(ed: GraphEditor, card: ModelCard, outs: list[str], k: int) -> tuple[str, str, str]:
    name = card.decoder.name
    if name == "yolox" and not card.decoder.options.get("decoded", False):
        raise FusionError(
            f"{card.source}: decoder yolox: the head needs an export with decoded boxes (decoder.decoded: true)"
        )
    shape = static_shape(ed.model, outs[0])
    transpose = name == "yolov8" and shape[1] == 4 + card.num_classes
    rows, n, width = _rows(ed, outs[0], transpose)
    first_cls = 4 if name == "yolov8" else 5
    cls_scores = _slice(ed, rows, first_cls, width)
    if name != "yolov8":
        cls_scores = ed.op("Mul", cls_scores, _slice(ed, rows, 4, 5))
    score = ed.reduce_max(cls_scores, 1)
    cls = ed.op("ArgMax", cls_scores, axis=1, keepdims=0)
    scores, idx = _topk(ed, score, n, min(k, n))
    picked = ed.op("Gather", _slice(ed, rows, 0, 4), idx, axis=0)
    return _xyxy_from_cxcywh(ed, picked), scores, ed.op("Gather", cls, idx, axis=0)


def _fastestdet(ed: GraphEditor, card: ModelCard, outs: list[str], k: int) -> tuple[str, str, str]:
    _, ch, gh, gw = static_shape(ed.model, outs[0])
    opts = {"obj_power": 0.6, "cls_power": 0.4, **card.decoder.options}
    cells = ed.op(
        "Transpose", ed.op("Reshape", outs[0], ed.const(_i64([ch, gh * gw]), "shape")), perm=[1, 0]
    )
    cls_scores = _slice(ed, cells, 5, ch)
    best = ed.op("Relu", ed.reduce_max(cls_scores, 1))
    obj = ed.op(
        "Relu", ed.op("Reshape", _slice(ed, cells, 0, 1), ed.const(_i64([gh * gw]), "shape"))
    )
    score = ed.op(
        "Mul",
        ed.op("Pow", obj, ed.const(_f32(opts["obj_power"]), "p")),
        ed.op("Pow", best, ed.const(_f32(opts["cls_power"]), "p")),
    )
    cls = ed.op("ArgMax", cls_scores, axis=1, keepdims=0)
    scores, idx = _topk(ed, score, gh * gw, min(k, gh * gw))
    picked = ed.op("Gather", _slice(ed, cells, 1, 5), idx, axis=0)  # [k, 4] raw tx ty tw th
    grid = np.stack(np.meshgrid(np.arange(gw), np.arange(gh), indexing="xy"), -1).reshape(-1, 2)
    cell_xy = ed.op("Gather", ed.const(_f32(grid), "grid"), idx, axis=0)  # [k, 2] x y
    xy = ed.op("Add", cell_xy, ed.op("Tanh", _slice(ed, picked, 0, 2)))
    xy = ed.op("Mul", xy, ed.const(_f32([card.input.width / gw, card.input.height / gh]), "cellpx"))
    wh = ed.op(
        "Mul",
        ed.op("Sigmoid", _slice(ed, picked, 2, 4)),
        ed.const(_f32([card.input.width, card.input.height]), "imgpx"),
    )
    return (
        _xyxy_from_cxcywh(ed, ed.op("Concat", xy, wh, axis=1)),
        scores,
        ed.op("Gather", cls, idx, axis=0),
    )


HEADS: dict[str, Callable[[GraphEditor, ModelCard, list[str], int], tuple[str, str, str]]] = {
    "centernet": lambda ed, card, outs, k: _centernet(ed, card, outs, k)[:3],
    "yolov5": _yolo,
    "yolov8": _yolo,
    "yolox": _yolo,
    "fastestdet": _fastestdet,
}


@dataclass(frozen=True)
class Head:
    k: int  # rows of each output
    nms: bool  # the head runs the card's NMS (the node must not run it again)
    gathered: GatheredBranch | None = None  # a branch computed at the K rows only


def add_head(
    model: onnx.ModelProto,
    card: ModelCard,
    k: int,
    source: str = "<model>",
    nms: bool = False,
    gather: bool = True,
) -> Head:
    """Replace the model's outputs by the top-``k`` head of the card's decoder, with the card's
    NMS in the model when ``nms`` and :func:`.nms.nms_applies`; with ``gather``, a branch read
    only at the K rows is computed at those rows (:mod:`.gathered`; CenterNet's box branch)."""
    head = HEADS.get(card.decoder.name)
    if head is None:
        raise FusionError(
            f"{card.source}: decoder {card.decoder.name!r} has no in-model head; heads: {sorted(HEADS)}"
        )
    ed = GraphEditor(model, source)
    names = list(card.decoder.outputs) or [o.name for o in model.graph.output]
    missing = [n for n in names if n not in {o.name for o in model.graph.output}]
    if missing:
        raise FusionError(
            f"{card.source}: decoder.outputs: {missing[0]!r} is not an output of {source}"
        )
    branch = None
    if card.decoder.name == "centernet":
        boxes, scores, cls, branch = _centernet(ed, card, names, k, gather)
    else:
        boxes, scores, cls = head(ed, card, names, k)
    kk = int(min(k, _candidates(ed, card, names)))
    nms = nms and nms_applies(card, ed.opset)
    if nms:
        scores = add_nms(ed, boxes, scores, cls, kk, card)
    final = [
        (
            ed.op("Reshape", boxes, ed.const(_i64([1, kk, 4]), "shape")),
            OUT_BOXES,
            TensorProto.FLOAT,
            [1, kk, 4],
        ),
        (
            ed.op("Reshape", scores, ed.const(_i64([1, kk]), "shape")),
            OUT_SCORES,
            TensorProto.FLOAT,
            [1, kk],
        ),
        (
            ed.op("Reshape", cls, ed.const(_i64([1, kk]), "shape")),
            OUT_CLASSES,
            TensorProto.INT64,
            [1, kk],
        ),
    ]
    del model.graph.output[:]
    for tensor, name, dtype, shape in final:
        model.graph.node.append(helper.make_node("Identity", [tensor], [name], ed.name("out")))
        model.graph.output.append(helper.make_tensor_value_info(name, dtype, shape))
    _prune_dead(model)
    return Head(kk, nms, branch)


def _candidates(ed: GraphEditor, card: ModelCard, names: list[str]) -> int:
    shape = static_shape(ed.model, names[0])
    if card.decoder.name == "centernet":
        return int(np.prod(shape[1:]))
    if card.decoder.name == "fastestdet":
        return int(shape[2] * shape[3])
    if card.decoder.name == "yolov8" and shape[1] == 4 + card.num_classes:
        return int(shape[2])
    return int(shape[1])


def _prune_dead(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers nothing reads any more (the old outputs' consumers)."""
    live = {o.name for o in model.graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(list(model.graph.node)):
        if any(o in live for o in node.output):
            kept.append(node)
            live.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    inits = [i for i in model.graph.initializer if i.name in live]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
