from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.stack.engine.models import save_graph


def matmul_model(path: Path, size: int, layers: int = 1) -> Path:
    """A real ONNX model: ``layers`` chained MatMuls of a [1, size] input by [size, size]."""
    rng = np.random.default_rng(size)
    nodes, inits = [], []
    prev = "x"
    for i in range(layers):
        w = numpy_helper.from_array(rng.random((size, size), np.float32), f"w{i}")
        inits.append(w)
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes,
        f"mm{size}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, size])],
        inits,
    )
    return save_graph(graph, path)


@pytest.fixture
def variant_models(tmp_path: Path) -> list[Path]:
    """Dense, pruned and tiny variants of one model: the same graph at shrinking sizes."""
    return [
        matmul_model(tmp_path / "dense.onnx", 256, layers=4),
        matmul_model(tmp_path / "pruned.onnx", 128, layers=2),
        matmul_model(tmp_path / "tiny.onnx", 16),
    ]
