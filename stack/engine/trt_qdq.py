"""Static check of an explicitly quantized (Q/DQ) ONNX model against TensorRT's rules.

TensorRT cannot run here, so ``l4 engine qdq-check``, the INT8 quantizer (``target:
tensorrt``) and the TensorRT backend (before it parses a Q/DQ file) check every
``QuantizeLinear`` / ``DequantizeLinear`` against the rules TensorRT's ONNX parser and its
Q/DQ layers enforce. Each rule below names where it comes from:

- onnx-tensorrt ``onnxOpImporters.cpp``, ``QuantDequantLinearHelper`` (onnx/onnx-tensorrt
  at 0137504e2b25fe5253bd85d26b073378fb67805b; the QuantizeLinear and DequantizeLinear
  importers both call it; the stored copy carries no line numbers, so the statements followed
  are quoted):
  - ``checkNotInvalidType(inputs.at(0), {"UINT8"})`` and, for QuantizeLinear,
    ``checkNotInvalidType(inputs.at(2), {"UINT8"})``: no UINT8 data input, no UINT8 quantize
    zero point (:attr:`QdqRule.DATA_TYPE`, :attr:`QdqRule.ZERO_POINT_TYPE`);
  - ``inputs.size() >= 2`` "requires at least 2 inputs" (:attr:`QdqRule.INPUTS`);
  - the scale: ``scale.count() > 0`` and ``std::all_of(... x > 0)`` over FP32/FP16/BF16
    values, "Scale coefficients must all be positive"; a scale that is not constant weights is
    taken as a tensor and never checked (:attr:`QdqRule.SCALE`: constant, float, positive);
  - the zero point: its type picks the quantized type (``kFP8``, ``kINT8``, ``kINT4``; any
    other is replaced by INT8 with a warning); ``shiftIsAllZeros(zeroPoint)``, "TensorRT only
    supports symmetric quantization" (:attr:`QdqRule.SYMMETRIC`); ``zeroPointSize ==
    scaleSize`` (:attr:`QdqRule.ZERO_POINT_SHAPE`); ``output_dtype`` must equal the
    zero-point type;
  - the axis: ``convertAxis`` (``0 <= axis <= nbDims`` after adding the rank to a negative
    one) and, for a scale of more than one value, ``scaleDims.nbDims == 1`` with ``K ==
    scaleSize`` where ``K = dims[axis]``, else the blocked layout of rank ``nbDims``
    (INT4/FP4 weights only), else "Invalid rank for the scale tensor"; the comment there:
    "We assume this is weight-quantization ... Activations-quantization does not support
    per-axis quantization" (:attr:`QdqRule.AXIS`, :attr:`QdqRule.PER_CHANNEL`). That
    version reads a missing ``axis`` as the rank (then 0); a later version of the same file
    (with the MX / FP4 additions, ``attrs.get<int32_t>("axis", 1)``) as ONNX's default 1, and
    before opset 13 as 0: a per-channel Q/DQ must name its axis, in opset >= 13
    (:attr:`QdqRule.OPSET`).
- TensorRT's ``IDequantizeLayer`` (NvInfer.h, TensorRT 10 API reference): "accepts a
  quantized type input tensor"; the zero point's "data type must be identical to the input's
  data type", "must only contain zero-valued coefficients" and must be a build-time constant;
  scale "strictly positive", "a 1D tensor for per-channel quantization" whose size "must match
  the size of the quantization axis". An INT32 input (ONNX Runtime's quantized biases) is not
  a quantized type: "only activation types allowed as input to this layer"
  (:attr:`QdqRule.DATA_TYPE`). ``IQuantizeLayer``: "accepts a floating-point data input".
- TensorRT's "Working with Quantized Types" guide: "TensorRT uses a symmetric quantization
  scheme"; per-tensor, per-channel or block scaling "depends on the layer and data type".

The check is static: constants are initializers, ``Constant`` nodes and ``Identity`` / ``Cast``
chains ending in one (as the parser's ``getWeightsFromIdentityOrConstant`` looks through
them); shapes and types come from ONNX shape inference.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from stack.engine.errors import EngineError
from stack.engine.model import QDQ_OPS

MIN_OPSET = 13
FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16)
# The quantized types TensorRT takes (INT4 / FP8 need a newer TensorRT; INT8 everywhere).
QUANTIZED = (TensorProto.INT8, TensorProto.FLOAT8E4M3FN, TensorProto.INT4)
MAX_LISTED = 5  # problems named in an error message


class QdqRule(str, enum.Enum):
    OPSET = "opset >= 13 (per-axis Q/DQ and the axis attribute)"
    INPUTS = "x and a scale"
    DATA_TYPE = "Q takes float, DQ takes INT8/FP8/INT4 (no UINT8, no INT32)"
    SCALE = "scale a constant of positive floats"
    SYMMETRIC = "zero point a constant of zeros (symmetric)"
    ZERO_POINT_TYPE = "zero point INT8/FP8/INT4, DQ's the type of its input"
    ZERO_POINT_SHAPE = "zero point as many values as the scale"
    AXIS = "per-channel axis named, in range, one scale per channel"
    PER_CHANNEL = "per-channel scales on constant weights only"


class QdqRuleError(EngineError):
    """A Q/DQ model breaks a rule of TensorRT's explicit quantization."""


@dataclass(frozen=True)
class QdqProblem:
    node: str
    op: str
    rule: QdqRule
    detail: str

    def __str__(self) -> str:
        return f"{self.op} {self.node!r}: {self.rule.name} ({self.rule.value}): {self.detail}"


def _type_name(elem_type: int | None) -> str:
    return "unknown" if elem_type is None else TensorProto.DataType.Name(elem_type)


class _Graph:
    """Constants, element types and shapes of a model's tensors, as far as they are static."""

    def __init__(self, model: onnx.ModelProto) -> None:
        inferred = onnx.shape_inference.infer_shapes(model)
        graph = model.graph
        self.consts: dict[str, np.ndarray] = {
            i.name: numpy_helper.to_array(i) for i in graph.initializer
        }
        self.types: dict[str, int] = {i.name: i.data_type for i in graph.initializer}
        self.shapes: dict[str, tuple[int | None, ...]] = {
            i.name: tuple(i.dims) for i in graph.initializer
        }
        for v in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
            tt = v.type.tensor_type
            self.types.setdefault(v.name, tt.elem_type)
            if tt.HasField("shape"):
                dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
                self.shapes.setdefault(v.name, dims)
        self.through: dict[str, str] = {}  # Identity / Cast output -> its input
        for node in graph.node:
            if node.op_type == "Constant" and node.attribute[0].name == "value":
                value = numpy_helper.to_array(node.attribute[0].t)
                self.consts[node.output[0]] = value
                self.types.setdefault(node.output[0], node.attribute[0].t.data_type)
                self.shapes.setdefault(node.output[0], value.shape)
            elif node.op_type in ("Identity", "Cast"):
                self.through[node.output[0]] = node.input[0]

    def const(self, name: str) -> np.ndarray | None:
        seen = 0
        while name not in self.consts and name in self.through and seen < 64:
            name, seen = self.through[name], seen + 1
        return self.consts.get(name)


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def check_qdq(model: onnx.ModelProto) -> list[QdqProblem]:
    """Every rule every Q/DQ node of ``model`` breaks (empty: TensorRT takes them all)."""
    nodes = [n for n in model.graph.node if n.op_type in QDQ_OPS]
    if not nodes:
        return []
    problems: list[QdqProblem] = []
    opset = _opset(model)
    if opset < MIN_OPSET:
        problems.append(QdqProblem("(model)", "opset", QdqRule.OPSET, f"default opset {opset}"))
    graph = _Graph(model)
    for node in nodes:
        problems += _check_node(graph, node)
    return problems


def _check_node(graph: _Graph, node: onnx.NodeProto) -> list[QdqProblem]:
    name = node.name or node.output[0]
    out: list[QdqProblem] = []

    def bad(rule: QdqRule, detail: str) -> None:
        out.append(QdqProblem(name, node.op_type, rule, detail))

    inputs = [i for i in node.input]
    if len(inputs) < 2 or not inputs[1]:
        bad(QdqRule.INPUTS, f"{len(inputs)} input(s), no scale")
        return out
    is_dq = node.op_type == "DequantizeLinear"
    x_type = graph.types.get(inputs[0])
    if is_dq and x_type not in QUANTIZED:
        bad(QdqRule.DATA_TYPE, f"input {inputs[0]!r} is {_type_name(x_type)}")
    if not is_dq and x_type not in FLOATS:
        bad(QdqRule.DATA_TYPE, f"input {inputs[0]!r} is {_type_name(x_type)}, not float")
    scale = _check_scale(graph, inputs[1], bad)
    zp = inputs[2] if len(inputs) > 2 and inputs[2] else None
    if zp is not None:
        _check_zero_point(graph, node, zp, x_type if is_dq else None, scale, bad)
    if scale is not None and scale.size != 1:
        _check_axis(graph, node, inputs[0], scale, bad)
    return out


def _check_scale(graph: _Graph, name: str, bad) -> np.ndarray | None:
    scale = graph.const(name)
    if scale is None:
        bad(QdqRule.SCALE, f"scale {name!r} is not a constant")
        return None
    if graph.types.get(name) not in FLOATS:
        bad(QdqRule.SCALE, f"scale {name!r} is {_type_name(graph.types.get(name))}")
    elif scale.size == 0 or not bool((scale.astype(np.float64) > 0).all()):
        low = float(np.min(scale)) if scale.size else "no values"
        bad(QdqRule.SCALE, f"scale {name!r} has a value <= 0 or NaN (min {low})")
    return scale


def _check_zero_point(graph, node, name: str, x_type, scale, bad) -> None:
    zp_type = graph.types.get(name)
    if zp_type not in QUANTIZED:
        bad(QdqRule.ZERO_POINT_TYPE, f"zero point {name!r} is {_type_name(zp_type)}")
    elif x_type is not None and zp_type != x_type:
        bad(
            QdqRule.ZERO_POINT_TYPE, f"zero point {_type_name(zp_type)}, input {_type_name(x_type)}"
        )
    attrs = _attrs(node)
    if "output_dtype" in attrs and attrs["output_dtype"] not in (0, zp_type):
        bad(QdqRule.ZERO_POINT_TYPE, f"output_dtype {_type_name(attrs['output_dtype'])}")
    value = graph.const(name)
    if value is None:
        bad(QdqRule.SYMMETRIC, f"zero point {name!r} is not a constant")
        return
    nonzero = np.flatnonzero(value.astype(np.float64).reshape(-1))
    if len(nonzero):
        bad(QdqRule.SYMMETRIC, f"zero point {name!r}: {len(nonzero)} of {value.size} values "
                               f"not 0 (first {value.reshape(-1)[nonzero[0]]})")  # fmt: skip
    if scale is not None and value.size != scale.size:
        bad(QdqRule.ZERO_POINT_SHAPE, f"{value.size} zero points, {scale.size} scales")


def _check_axis(graph: _Graph, node, x: str, scale: np.ndarray, bad) -> None:
    if graph.const(x) is None:
        bad(QdqRule.PER_CHANNEL, f"{scale.size} scales on activation {x!r}")
    attrs = _attrs(node)
    if "axis" not in attrs:
        bad(QdqRule.AXIS, f"{scale.size} scales and no axis attribute (parsers differ)")
        return
    if scale.ndim != 1:
        bad(QdqRule.AXIS, f"scale of rank {scale.ndim}: INT8 takes one scale per channel")
        return
    shape = graph.shapes.get(x)
    if shape is None:
        return
    axis = int(attrs["axis"])
    rank = len(shape)
    if not -rank <= axis < rank:
        bad(QdqRule.AXIS, f"axis {axis} outside [{-rank}, {rank - 1}] of {x!r}")
    elif shape[axis] is not None and shape[axis] != scale.size:
        bad(QdqRule.AXIS, f"{scale.size} scales, {x!r} has {shape[axis]} on axis {axis}")


def require_tensorrt_qdq(model: onnx.ModelProto, source: str) -> None:
    """Raise :class:`QdqRuleError` naming ``source`` and the first problems, if any."""
    problems = check_qdq(model)
    if problems:
        listed = "; ".join(str(p) for p in problems[:MAX_LISTED])
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise QdqRuleError(
            f"{source}: {len(problems)} Q/DQ problem(s) TensorRT refuses: {listed}{more}"
        )
