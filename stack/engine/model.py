"""Reading and describing an ONNX model file: validity, hash, tensors, opset, ops, parameters."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from stack.engine.base import TensorSpec, spec_from_dims
from stack.engine.errors import ModelError

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


def _np_dtype(elem_type: int, where: str) -> np.dtype:
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{where}: unsupported tensor element type {elem_type}") from None


def _value_spec(value: onnx.ValueInfoProto, where: str) -> TensorSpec:
    ttype = value.type.tensor_type
    dims: list[int | str | None] = []
    for d in ttype.shape.dim:
        if d.HasField("dim_value"):
            dims.append(d.dim_value)
        else:
            dims.append(d.dim_param or None)
    return spec_from_dims(value.name, dims, _np_dtype(ttype.elem_type, f"{where}: {value.name}"))


def iter_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of the graph, including those inside If / Loop / Scan bodies."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from iter_nodes(g)


@dataclass(frozen=True)
class OnnxModel:
    """A parsed, checked ONNX model file."""

    path: Path
    data: bytes
    proto: onnx.ModelProto

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def opset(self) -> int:
        for entry in self.proto.opset_import:
            if entry.domain in ("", "ai.onnx"):
                return entry.version
        return 0

    @cached_property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """Graph inputs that are real inputs (old exporters also list initializers)."""
        weights = {t.name for t in self.proto.graph.initializer}
        return tuple(
            _value_spec(v, self.name) for v in self.proto.graph.input if v.name not in weights
        )

    @cached_property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return tuple(_value_spec(v, self.name) for v in self.proto.graph.output)

    def op_histogram(self) -> Counter[str]:
        return Counter(n.op_type for n in iter_nodes(self.proto.graph))

    def parameter_count(self) -> int:
        """Elements in the initializers (the weights); Constant nodes are not parameters."""
        return sum(math.prod(t.dims) for t in self.proto.graph.initializer)

    @property
    def has_qdq(self) -> bool:
        """Whether the model is explicitly quantized (QuantizeLinear / DequantizeLinear)."""
        return any(n.op_type in QDQ_OPS for n in iter_nodes(self.proto.graph))


def read_model(path: str | Path) -> OnnxModel:
    """Read and check an ONNX file; ModelError names the file and what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file")
    data = path.read_bytes()
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: not an ONNX model (protobuf does not parse: {exc})") from None
    # Protobuf happily parses many non-ONNX byte strings into a near-empty message.
    if proto.ir_version <= 0 or not proto.graph.output:
        raise ModelError(f"{path}: not an ONNX model (no IR version or no graph outputs)")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise ModelError(f"{path}: invalid ONNX model: {first}") from None
    return OnnxModel(path=path, data=data, proto=proto)
