"""The TensorRT (symmetric INT8) Q/DQ file runs on ORT's CPU provider with its ReLUs folded."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from perception.models import model_file
from stack.engine import EngineOptions, load_engine
from stack.engine.qdq_relu import fold_symmetric_relus

SCALE = 0.05


def _chain_model(scale_b: float = SCALE, zp_b: int = 0) -> onnx.ModelProto:
    """x -> Conv(identity 1x1) -> Q -> DQ -> Relu -> Q -> DQ -> y, INT8 zero points."""
    inits = [
        numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w"),
        numpy_helper.from_array(np.float32(SCALE), "sa"),
        numpy_helper.from_array(np.float32(scale_b), "sb"),
        numpy_helper.from_array(np.int8(0), "za"),
        numpy_helper.from_array(np.int8(zp_b), "zb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("QuantizeLinear", ["c", "sa", "za"], ["qa"]),
        helper.make_node("DequantizeLinear", ["qa", "sa", "za"], ["da"]),
        helper.make_node("Relu", ["da"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "sb", "zb"], ["qb"]),
        helper.make_node("DequantizeLinear", ["qb", "sb", "zb"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 8])], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_a_folded_chain_gives_the_same_numbers_within_the_calibrated_range():
    model = _chain_model()
    folded, n = fold_symmetric_relus(model)
    assert n == 1 and [x.op_type for x in folded.graph.node] == [
        "Conv", "QuantizeLinear", "DequantizeLinear"
    ]  # fmt: skip
    onnx.checker.check_model(folded, full_check=True)
    inside = np.linspace(-127 * SCALE, 127 * SCALE, 16, dtype=np.float32).reshape(1, 1, 2, 8)
    np.testing.assert_array_equal(_run(folded, inside), _run(model, inside))
    # Above 127 steps the file saturates; the folded chain keeps the value (up to 255 steps).
    big = np.full((1, 1, 2, 8), 200 * SCALE, np.float32)
    assert _run(model, big).max() == np.float32(127 * SCALE)
    assert _run(folded, big).max() == np.float32(200 * SCALE)
    assert n == 1 and fold_symmetric_relus(model)[0] is not model  # the input is not modified
    assert [x.op_type for x in model.graph.node].count("Relu") == 1


def test_chains_that_would_change_the_numbers_stay():
    for model in (_chain_model(scale_b=0.07), _chain_model(zp_b=3)):
        same, n = fold_symmetric_relus(model)
        assert n == 0 and same is model


def test_the_tensorrt_file_fuses_like_the_onnxruntime_file(tmp_path):
    trt = onnx.load(model_file("camera_detector_int8.onnx"))  # shipped in TensorRT's layout
    folded, n = fold_symmetric_relus(trt)
    assert n == 18
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(folded.SerializeToString(), so, providers=["CPUExecutionProvider"])
    nodes = onnx.load(tmp_path / "optimized.onnx").graph.node
    ops = [x.op_type for x in nodes]
    assert ops.count("QLinearConv") == 20 and "Relu" not in ops and "Conv" not in ops
    producer = {o: x.op_type for x in nodes for o in x.output}
    resizes = [producer[x.input[0]] for x in nodes if x.op_type == "Resize"]
    assert resizes == ["QLinearConv"] * 3  # the FPN upsamples run on uint8, not in float
    # The backend folds at load time: its outputs are those of the folded model.
    engine = load_engine(
        model_file("camera_detector_int8.onnx"),
        EngineOptions.of(backend="onnxruntime", intra_op_threads=1),
    )
    x = np.random.default_rng(0).random((1, 3, 192, 320), dtype=np.float32)
    got = engine.run({"images": x})
    want = ort.InferenceSession(folded.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"images": x}
    )
    for name, ref in zip([o.name for o in engine.outputs], want):
        np.testing.assert_allclose(np.asarray(got[name]), ref, rtol=0, atol=1e-6)


def _resize_model(mode: str, scale_c: float = SCALE) -> onnx.ModelProto:
    """The chain, then DQ -> Resize(x2, ``mode``) -> Q -> DQ (an FPN upsample), INT8 zero points."""
    model = _chain_model()
    g = model.graph
    g.node[-1].output[0] = "d"
    g.initializer.extend([numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up"),
                          numpy_helper.from_array(np.float32(scale_c), "sc"),
                          numpy_helper.from_array(np.int8(0), "zc")])  # fmt: skip
    g.node.extend([
        helper.make_node("Resize", ["d", "", "up"], ["u"], mode=mode),
        helper.make_node("QuantizeLinear", ["u", "sc", "zc"], ["qc"]),
        helper.make_node("DequantizeLinear", ["qc", "sc", "zc"], ["y"]),
    ])  # fmt: skip
    g.ClearField("output")
    g.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 16]))
    return model


def _zero_point_types(model: onnx.ModelProto) -> list[int]:
    inits = {i.name: i.data_type for i in model.graph.initializer}
    return [inits[n.input[2]] for n in model.graph.node if n.op_type.endswith("Linear")]


def test_a_linear_or_nearest_resize_after_a_folded_relu_goes_uint8_with_the_same_numbers():
    x = np.linspace(-127 * SCALE, 127 * SCALE, 16, dtype=np.float32).reshape(1, 1, 2, 8)
    for mode in ("linear", "nearest"):
        model = _resize_model(mode)
        folded, n = fold_symmetric_relus(model)
        assert n == 1 and _zero_point_types(folded) == [TensorProto.UINT8] * 4
        onnx.checker.check_model(folded, full_check=True)
        np.testing.assert_array_equal(_run(folded, x), _run(model, x))
    assert _zero_point_types(_resize_model("linear")) == [TensorProto.INT8] * 6  # input untouched


def test_a_resize_that_could_overshoot_or_rescales_stays_int8():
    for model in (_resize_model("cubic"), _resize_model("linear", scale_c=0.07)):
        folded, n = fold_symmetric_relus(model)
        assert n == 1 and _zero_point_types(folded)[-2:] == [TensorProto.INT8] * 2
