"""TensorRT's INT8 Q/DQ layout made fast on ONNX Runtime's CPU provider, when a session is made.

TensorRT takes only symmetric INT8 activations (zero point 0). ONNX Runtime's quantizer then
keeps every ReLU (``QDQRemovableActivation`` removes it only for asymmetric activations) between
two Q/DQ pairs: ``Conv -> Q -> DQ -> Relu -> Q -> DQ``. ONNX Runtime's CPU fusions can fold a
ReLU into the QLinearConv before it only when the Q after the ReLU clamps at 0 by itself (zero
point = the type's minimum: uint8 0 or int8 -128), which zero point 0 on INT8 is not; so the
ReLU stays a float op, many convolutions stay float Conv with dequantized weights, and the
TensorRT file runs slower than FP32 there.

:func:`fold_symmetric_relus` rewrites each such chain, in memory, into ``Conv -> Q -> DQ`` with
the ReLU output's scale and a **uint8** zero point 0: ``clamp(round(x / s), 0, 255)``, where the
file computes ``clamp(round(x / s), 0, 127)`` (the two Qs share the scale: the chain is
rewritten only then). Every value up to 127 steps is the same number; only values above the
calibrated range, which the file saturates at 127 steps, keep more of their size. ONNX Runtime
then fuses all convolutions into QLinearConv (u8 activations, s8 weights) as it does for its own
asymmetric file. A nearest or linear ``Resize`` right after such a chain (an FPN upsample:
``DQ -> Resize -> Q -> DQ``, the same scale, INT8 zero point 0) takes the same uint8 zero point:
its output stays within its input's range, so the numbers are the same, and ORT runs the Resize on
uint8 instead of in float between a uint8 and an int8 pair. The file on disk is unchanged, so the
one Q/DQ file builds in TensorRT and runs at INT8 speed in ONNX Runtime.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from stack.engine.graph_index import GraphIndex


def _int8_zero(g: GraphIndex, node: onnx.NodeProto) -> np.ndarray | None:
    """The scale of a Q/DQ with an INT8 zero point of 0 (a scalar), else None."""
    if len(node.input) < 3:
        return None
    scale, zp = g.array(node.input[1]), g.array(node.input[2])
    if scale is None or zp is None or zp.dtype != np.int8 or zp.size != 1 or zp.any():
        return None
    return scale if scale.size == 1 else None


def _chain(g: GraphIndex, relu: onnx.NodeProto) -> tuple[onnx.NodeProto, ...] | None:
    """(Q_a, DQ_a, Q_b) around ``relu`` when the chain can be rewritten."""
    dq_a = g.writer_node(relu.input[0])
    q_a = g.writer_node(dq_a.input[0]) if dq_a is not None else None
    q_b = g.only_reader_node(relu.output[0])
    if q_a is None or q_b is None or dq_a.op_type != "DequantizeLinear":
        return None
    if q_a.op_type != "QuantizeLinear" or q_b.op_type != "QuantizeLinear":
        return None
    if (
        g.only_reader_node(q_a.output[0]) is not dq_a
        or g.only_reader_node(dq_a.output[0]) is not relu
    ):
        return None
    scales = [_int8_zero(g, n) for n in (q_a, dq_a, q_b)]
    if any(s is None for s in scales) or len({float(s) for s in scales}) != 1:
        return None
    dqs = g.reader_nodes(q_b.output[0])
    if not dqs or any(d.op_type != "DequantizeLinear" or _int8_zero(g, d) is None for d in dqs):
        return None
    return q_a, dq_a, q_b


def fold_symmetric_relus(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with every foldable ``Q -> DQ -> Relu -> Q`` chain rewritten (see
    the module docstring), and how many; the model itself when there is none."""
    first = GraphIndex(model.graph)
    if not any(_chain(first, n) for n in model.graph.node if n.op_type == "Relu"):
        return model, 0
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = GraphIndex(out.graph)
    removed: list[onnx.NodeProto] = []
    for relu in [n for n in out.graph.node if n.op_type == "Relu"]:
        chain = _chain(g, relu)
        if chain is None:
            continue
        q_a, dq_a, q_b = chain
        scale = float(g.array(q_b.input[1]))  # type: ignore[arg-type]  # checked by _chain
        zero = f"{q_b.output[0]}/uint8_zero_point"
        out.graph.initializer.append(numpy_helper.from_array(np.zeros((), np.uint8), zero))
        q_b.input[0], q_b.input[2] = q_a.input[0], zero
        for dq in g.reader_nodes(q_b.output[0]):
            dq.input[2] = zero
            _widen_resize(g, dq, zero, scale)
        removed += [q_a, dq_a, relu]
    for node in removed:
        out.graph.node.remove(node)
    return out, len(removed) // 3


# Resize modes whose output lies within the range of its input (no overshoot, unlike cubic).
_RANGE_KEEPING_RESIZE = frozenset({b"nearest", b"linear"})


def _widen_resize(g: GraphIndex, dq: onnx.NodeProto, zero: str, scale: float) -> None:
    """``DQ(uint8, now) -> Resize -> Q(int8, zp 0, same scale) -> DQs``: a nearest or linear
    Resize of values in [0, 127 steps] stays there, so its Q/DQs take the same uint8 zero point
    (the same numbers) and ONNX Runtime runs the Resize on uint8 instead of in float between
    an int8 and a uint8 pair."""
    resize = g.only_reader_node(dq.output[0])
    if resize is None or resize.op_type != "Resize":
        return
    mode = next((a.s for a in resize.attribute if a.name == "mode"), b"nearest")
    q = g.only_reader_node(resize.output[0])
    if mode not in _RANGE_KEEPING_RESIZE or q is None or q.op_type != "QuantizeLinear":
        return
    dqs = g.reader_nodes(q.output[0])
    if not dqs or any(d.op_type != "DequantizeLinear" for d in dqs):
        return
    scales = [_int8_zero(g, n) for n in (q, *dqs)]
    if any(s is None or float(s) != scale for s in scales):
        return
    q.input[2] = zero
    for d in dqs:
        d.input[2] = zero
