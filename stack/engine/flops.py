"""FLOPs per inference of an ONNX model, from inferred tensor shapes.

Convention: a multiply-accumulate of Conv / ConvTranspose / Gemm / MatMul counts 2 FLOPs; any
other compute op counts 1 FLOP per output element; pure data-movement ops count 0. Dynamic
dimensions are fixed (batch 1 by default) before shape inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx

from stack.engine.model import OnnxModel, iter_nodes

_MOVEMENT_OPS = frozenset(
    {
        "Cast", "Concat", "Constant", "ConstantOfShape", "DepthToSpace", "Expand", "Flatten",
        "Gather", "GatherElements", "GatherND", "Identity", "Pad", "Range", "Reshape", "Resize",
        "Shape", "Size", "Slice", "SpaceToDepth", "Split", "Squeeze", "Tile", "Transpose",
        "Unsqueeze", "QuantizeLinear", "DequantizeLinear",
    }
)  # fmt: skip


@dataclass(frozen=True)
class FlopCount:
    macs: int  # multiply-accumulates in Conv / ConvTranspose / Gemm / MatMul
    other: int  # elements produced by other compute ops
    unknown_nodes: int  # nodes whose shapes could not be inferred (not counted)

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.other


def _fixed_inputs(proto: onnx.ModelProto, dynamic: int) -> onnx.ModelProto:
    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    for value in fixed.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = dynamic
    return fixed


def _shapes(proto: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    graph = inferred.graph
    shapes: dict[str, tuple[int, ...]] = {t.name: tuple(t.dims) for t in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes


def _node_macs(node: onnx.NodeProto, shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """MACs of a Conv / ConvTranspose / Gemm / MatMul node, or None where a shape is unknown."""
    out = shapes.get(node.output[0])
    a = shapes.get(node.input[0])
    b = shapes.get(node.input[1]) if len(node.input) > 1 else None
    if out is None or a is None or b is None:
        return None
    if node.op_type == "Conv":  # weight [Cout, Cin/group, k...]
        return int(np.prod(out, dtype=np.int64) * np.prod(b[1:], dtype=np.int64))
    if node.op_type == "ConvTranspose":  # weight [Cin, Cout/group, k...]
        return int(np.prod(a, dtype=np.int64) * np.prod(b[1:], dtype=np.int64))
    if node.op_type == "Gemm":
        trans_a = any(at.name == "transA" and at.i for at in node.attribute)
        k = a[0] if trans_a else a[-1]
        return int(np.prod(out, dtype=np.int64) * k)
    # MatMul: numpy broadcasting semantics; a 1-D A has K = its length.
    return int(np.prod(out, dtype=np.int64) * a[-1])


def count_flops(model: OnnxModel, dynamic: int = 1) -> FlopCount:
    shapes = _shapes(_fixed_inputs(model.proto, dynamic))
    macs = other = unknown = 0
    for node in iter_nodes(model.proto.graph):
        if node.op_type in _MOVEMENT_OPS or not node.output:
            continue
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            n = _node_macs(node, shapes)
            if n is None:
                unknown += 1
            else:
                macs += n
            continue
        out = shapes.get(node.output[0])
        if out is None:
            unknown += 1
        else:
            other += int(np.prod(out, dtype=np.int64))
    return FlopCount(macs=macs, other=other, unknown_nodes=unknown)
