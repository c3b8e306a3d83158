"""Small real ONNX models built with the onnx helper API, for the engine tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONV_CHANNELS = 4
CLASSES = 5
SIZE = 16


def save_graph(graph: onnx.GraphProto, path: Path) -> Path:
    """``graph`` as an opset-13, IR-8 model, checked and saved at ``path``."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def conv_model(
    path: Path,
    batch: int | str = "batch",
    seed: int = 0,
    height: int | str = SIZE,
    width: int | str = SIZE,
) -> Path:
    """images float32[batch,3,16,16] -> Conv3x3(4) -> Relu = features; -> GAP -> Gemm(5) = logits.

    ``height`` / ``width`` as a string make those dimensions dynamic (named so)."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(
        rng.normal(0, 0.3, (CONV_CHANNELS, 3, 3, 3)).astype(np.float32), "w"
    )
    b = numpy_helper.from_array(rng.normal(0, 0.1, CONV_CHANNELS).astype(np.float32), "b")
    fc = numpy_helper.from_array(
        rng.normal(0, 0.5, (CLASSES, CONV_CHANNELS)).astype(np.float32), "fc"
    )
    fcb = numpy_helper.from_array(np.zeros(CLASSES, np.float32), "fcb")
    nodes = [
        helper.make_node("Conv", ["images", "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["features"]),
        helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, height, width])],
        [
            helper.make_tensor_value_info(
                "features", TensorProto.FLOAT, [batch, CONV_CHANNELS, height, width]
            ),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, CLASSES]),
        ],
        [w, b, fc, fcb],
    )
    return save_graph(graph, path)


def mixed_model(path: Path) -> Path:
    """x float32[2,3] and ids int64[2,3] -> x + Cast(ids) = sum float32[2,3], and ids * 2 = twice."""
    two = numpy_helper.from_array(np.array(2, np.int64), "two")
    nodes = [
        helper.make_node("Cast", ["ids"], ["idsf"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "idsf"], ["sum"]),
        helper.make_node("Mul", ["ids", "two"], ["twice"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mixed",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 3]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("twice", TensorProto.INT64, [2, 3]),
        ],
        [two],
    )
    return save_graph(graph, path)


def conv_flops(batch: int = 1, height: int = SIZE, width: int = SIZE) -> tuple[int, int]:
    """(MACs, other elements) of conv_model by hand."""
    conv = batch * CONV_CHANNELS * height * width * 3 * 3 * 3
    gemm = batch * CLASSES * CONV_CHANNELS
    relu = batch * CONV_CHANNELS * height * width
    gap = batch * CONV_CHANNELS
    return conv + gemm, relu + gap
