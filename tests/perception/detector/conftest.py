"""Fixtures of the detector tests: real ONNX models built in tmp_path, cards, camera geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from perception.detector.lift import CameraGeometry
from perception.detector.node import CameraDetectorParams
from perception.geometry import RigidTransform
from stack.engine import EngineOptions, load_engine

# The scenario rig's front camera: 640x384, 70 deg HFOV, at (1.9, 0, 1.5) in base_link.
WIDTH, HEIGHT = 640, 384
FX = WIDTH / 2.0 / np.tan(np.radians(35.0))
K = np.array([[FX, 0.0, WIDTH / 2.0], [0.0, FX, HEIGHT / 2.0], [0.0, 0.0, 1.0]])
CAMERA_XYZRPY = (1.9, 0.0, 1.5, -np.pi / 2, 0.0, -np.pi / 2)


def build_constant_onnx(
    path: Path,
    input_shape: tuple[int, ...],
    outputs: dict[str, np.ndarray],
    input_name: str = "images",
) -> Path:
    """A real ONNX model whose outputs are fixed arrays (plus 0 x the input, so it is used)."""
    nodes = [helper.make_node("ReduceMean", [input_name], ["mean"], keepdims=0)]
    nodes.append(helper.make_node("Mul", ["mean", "zero"], ["nothing"]))
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    graph_outputs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        inits.append(numpy_helper.from_array(value, f"{name}_const"))
        nodes.append(helper.make_node("Add", [f"{name}_const", "nothing"], [name]))
        graph_outputs.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape))
        )
    graph = helper.make_graph(
        nodes,
        "constant_detector",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        graph_outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def centernet_card(**overrides) -> dict:
    card = {
        "model": "det.onnx",
        "input": {"width": 320, "height": 192, "resize": "stretch", "channel_order": "rgb"},
        "decoder": {"name": "centernet", "outputs": ["heatmap", "boxes"], "stride": 8},
        "classes": ["car", "truck", "pedestrian", "bicycle"],
        "labels": {
            "car": "CAR",
            "truck": "TRUCK",
            "pedestrian": "PEDESTRIAN",
            "bicycle": "BICYCLE",
        },
        "score_threshold": 0.3,
        "nms_threshold": 0.5,
    }
    card.update(overrides)
    return card


def centernet_outputs(peaks: list[tuple[int, int, int, float, tuple[float, float, float, float]]]):
    """heatmap [1,4,24,40] and boxes [1,4,24,40] with (class, row, col, score, ltrb) peaks."""
    heat = np.full((1, 4, 24, 40), 0.01, np.float32)
    dist = np.full((1, 4, 24, 40), 4.0, np.float32)
    for cls, row, col, score, ltrb in peaks:
        heat[0, cls, row, col] = score
        dist[0, :, row, col] = ltrb
    return heat, dist


@pytest.fixture
def camera_geometry() -> CameraGeometry:
    return CameraGeometry(K.copy(), RigidTransform.from_xyzrpy(*CAMERA_XYZRPY), WIDTH, HEIGHT)


@pytest.fixture
def constant_detector(tmp_path: Path):
    """Write a constant-output centernet ONNX + its card; returns the card path."""

    def make(peaks, card_overrides: dict | None = None, name: str = "det") -> Path:
        heat, dist = centernet_outputs(peaks)
        build_constant_onnx(
            tmp_path / f"{name}.onnx", (1, 3, 192, 320), {"heatmap": heat, "boxes": dist}
        )
        card = centernet_card(model=f"{name}.onnx", **(card_overrides or {}))
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(card))
        return path

    return make


@pytest.fixture
def det():
    """This module's helpers (build_constant_onnx, centernet_card, centernet_outputs, K, ...).

    Built from this file's own globals: several test folders have a module named `conftest`,
    so looking this one up in sys.modules by name could find another.
    """
    import types

    return types.SimpleNamespace(**globals())


@pytest.fixture
def make_ctx(fake):
    """A fake context for a CameraDetector whose engines are onnxruntime, one thread."""

    class EngineContext(fake.FakeContext):
        def engine(self, model, **options):
            options.pop("precision", None)
            options["backend"] = "onnxruntime"
            return load_engine(model, EngineOptions.of(intra_op_threads=1, **options))

    def make(**params):
        return EngineContext(CameraDetectorParams(**params), name="camera_detector")

    return make
