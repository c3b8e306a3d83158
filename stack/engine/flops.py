"""FLOPs per inference of an ONNX model, from inferred tensor shapes.

Convention: a multiply-accumulate of Conv / ConvTranspose / Gemm / MatMul counts 2 FLOPs; any
other compute op counts 1 FLOP per output element; pure data-movement ops count 0. Counts are
Python ints (no overflow for huge shapes). A dynamic batch (leading) dimension is fixed (1 by
default) before shape inference; any other dynamic dimension needs a shape given for its input,
or the FLOPs are unknown (never computed with a guess such as H = W = 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import onnx

from stack.engine.base import TensorSpec
from stack.engine.errors import FeedError
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


@dataclass(frozen=True)
class DynamicDim:
    """A dimension of a model input that the model leaves open."""

    input: str
    index: int
    name: str | None  # the ONNX dim_param, if any

    def __str__(self) -> str:
        return f"{self.input}[{self.index}]" + (f" ({self.name})" if self.name else "")


def input_shapes(
    model: OnnxModel, batch: int = 1, shapes: Mapping[str, Sequence[int]] | None = None
) -> tuple[dict[str, tuple[int, ...]], list[DynamicDim]]:
    """Concrete shapes of the model's inputs, and the dynamic dimensions left open.

    ``shapes`` gives whole shapes by input name (each must keep the input's rank and static
    dimensions; FeedError otherwise); any other input gets ``batch`` for a dynamic leading
    (batch) dimension only. Every other dynamic dimension stays open: FLOPs computed with a
    guess for it (H = W = 1) would be wrong, so the caller says they are unknown.
    """
    given = dict(shapes or {})
    names = [spec.name for spec in model.inputs]
    for name in given:
        if name not in names:
            raise FeedError(f"{model.name}: no input named {name!r} (inputs: {', '.join(names)})")
    fixed: dict[str, tuple[int, ...]] = {}
    open_dims: list[DynamicDim] = []
    for spec in model.inputs:
        if spec.name in given:
            fixed[spec.name] = _checked_shape(model.name, spec, tuple(given[spec.name]))
            continue
        names_ = spec.dim_names or (None,) * len(spec.shape)
        dims: list[int] = []
        for i, (d, dim_name) in enumerate(zip(spec.shape, names_)):
            if d is None and i == 0:
                d = batch
            if d is None:
                open_dims.append(DynamicDim(spec.name, i, dim_name))
                d = 0
            dims.append(d)
        fixed[spec.name] = tuple(dims)
    return fixed, open_dims


def _checked_shape(model: str, spec: TensorSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    where = f"{model}: input {spec.name} {spec.dims_text()}"
    if len(shape) != len(spec.shape):
        raise FeedError(
            f"{where}: shape {_text(shape)} has rank {len(shape)}, not {len(spec.shape)}"
        )
    for i, (want, got) in enumerate(zip(spec.shape, shape)):
        if got < 1:
            raise FeedError(f"{where}: shape {_text(shape)}: dimension {i} must be >= 1")
        if want is not None and want != got:
            raise FeedError(f"{where}: shape {_text(shape)}: dimension {i} is fixed at {want}")
    return shape


def _text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def _fixed_inputs(proto: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...]]) -> onnx.ModelProto:
    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    for value in fixed.graph.input:
        shape = shapes.get(value.name)
        if shape is None:  # an initializer listed as an input by an old exporter
            continue
        for dim, size in zip(value.type.tensor_type.shape.dim, shape):
            dim.dim_value = size
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
        return math.prod(out) * math.prod(b[1:])
    if node.op_type == "ConvTranspose":  # weight [Cin, Cout/group, k...]
        return math.prod(a) * math.prod(b[1:])
    if node.op_type == "Gemm":
        trans_a = any(at.name == "transA" and at.i for at in node.attribute)
        k = a[0] if trans_a else a[-1]
        return math.prod(out) * k
    # MatMul: numpy broadcasting semantics; a 1-D A has K = its length.
    return math.prod(out) * a[-1]


def count_flops(
    model: OnnxModel, batch: int = 1, shapes: Mapping[str, Sequence[int]] | None = None
) -> FlopCount | None:
    """FLOPs per inference with inputs fixed as :func:`input_shapes` does; None when a dynamic
    input dimension is left open (the count would depend on it)."""
    fixed, open_dims = input_shapes(model, batch, shapes)
    if open_dims:
        return None
    shapes = _shapes(_fixed_inputs(model.proto, fixed))
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
            other += math.prod(out)
    return FlopCount(macs=macs, other=other, unknown_nodes=unknown)
