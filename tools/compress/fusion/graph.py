"""A small editor over an ONNX graph: unique names, constants, nodes, consumers, static shapes.

The rewrites build their subgraphs through it so that names never collide with the model's and
every constant is an initializer (which onnxslim and ONNX Runtime fold or keep as they see fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tools.compress.fusion.errors import FusionError


class GraphEditor:
    def __init__(self, model: onnx.ModelProto, source: str = "<model>") -> None:
        self.model = model
        self.graph = model.graph
        self.source = source
        self._names = {n.name for n in self.graph.node}
        self._names |= {t for n in self.graph.node for t in (*n.input, *n.output)}
        self._names |= {i.name for i in self.graph.initializer}
        self._names |= {v.name for v in (*self.graph.input, *self.graph.output)}
        self._count = 0

    @property
    def opset(self) -> int:
        for op in self.model.opset_import:
            if op.domain in ("", "ai.onnx"):
                return int(op.version)
        return 1

    def name(self, hint: str) -> str:
        while True:
            self._count += 1
            name = f"l4f/{hint}_{self._count}"
            if name not in self._names:
                self._names.add(name)
                return name

    def const(self, value: Any, hint: str = "c", dtype: Any = None) -> str:
        name = self.name(hint)
        arr = np.asarray(value, dtype)
        self.graph.initializer.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> list[str]:
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.graph.node.append(helper.make_node(op, list(inputs), outs, self.name(op), **attrs))
        return outs

    def op(self, op: str, *inputs: str, **attrs: Any) -> str:
        return self.node(op, inputs, 1, **attrs)[0]

    def initializer(self, name: str) -> np.ndarray | None:
        for init in self.graph.initializer:
            if init.name == name:
                return numpy_helper.to_array(init)
        return None

    def set_initializer(self, name: str, value: np.ndarray) -> None:
        for i, init in enumerate(self.graph.initializer):
            if init.name == name:
                self.graph.initializer[i].CopyFrom(numpy_helper.from_array(value, name))
                return
        raise FusionError(f"{self.source}: no initializer {name!r}")

    def consumers(self, tensor: str) -> list[onnx.NodeProto]:
        return [n for n in self.graph.node if tensor in n.input]

    def producer(self, tensor: str) -> onnx.NodeProto | None:
        return next((n for n in self.graph.node if tensor in n.output), None)

    def rename_input(self, old: str, new: str) -> None:
        """Every consumer of ``old`` reads ``new`` instead."""
        for node in self.graph.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new
        for out in self.graph.output:
            if out.name == old:
                raise FusionError(f"{self.source}: {old!r} is also a graph output")

    def reduce_max(self, x: str, axis: int) -> str:
        """ReduceMax over one axis, keepdims=0 (axes as attribute below opset 18)."""
        if self.opset >= 18:
            return self.op("ReduceMax", x, self.const([axis], "axes", np.int64), keepdims=0)
        return self.op("ReduceMax", x, axes=[axis], keepdims=0)

    def topo_sort(self) -> None:
        """Nodes in an order where every input is produced before use (appended nodes moved)."""
        known = {i.name for i in self.graph.input} | {i.name for i in self.graph.initializer}
        known.add("")
        pending = list(self.graph.node)
        ordered: list[onnx.NodeProto] = []
        while pending:
            ready = [n for n in pending if all(i in known for i in n.input)]
            if not ready:
                raise FusionError(
                    f"{self.source}: the rewritten graph has a cycle or a dangling input"
                )
            for n in ready:
                known.update(n.output)
                ordered.append(n)
            ready_ids = {id(n) for n in ready}
            pending = [n for n in pending if id(n) not in ready_ids]
        del self.graph.node[:]
        self.graph.node.extend(ordered)


def static_shape(model: onnx.ModelProto, tensor: str) -> tuple[int, ...]:
    """The static shape of a graph input/output or inferred value; FusionError when unknown."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    for value in (*g.input, *g.output, *g.value_info):
        if value.name == tensor:
            dims = value.type.tensor_type.shape.dim
            if dims and all(d.HasField("dim_value") for d in dims):
                return tuple(int(d.dim_value) for d in dims)
            break
    raise FusionError(f"tensor {tensor!r}: needs a static shape for this rewrite")


def node_count(model: onnx.ModelProto) -> int:
    return len(model.graph.node)
