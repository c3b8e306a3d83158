"""The static TensorRT Q/DQ check: a model TensorRT takes passes; one broken rule at a time is
named with its node; the shipped TensorRT file passes and the ONNX Runtime one does not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from perception.models import model_file
from stack.engine.trt_qdq import QdqRule, QdqRuleError, check_qdq, require_tensorrt_qdq


def _model(opset: int = 13) -> onnx.ModelProto:
    """x -> Q -> DQ (per tensor) -> Conv(W from a per-channel DQ, float bias) -> y."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "s_x"),
        numpy_helper.from_array(np.array(0, np.int8), "zp_x"),
        numpy_helper.from_array(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), "w_q"),
        numpy_helper.from_array(np.full(4, 0.01, np.float32), "s_w"),
        numpy_helper.from_array(np.zeros(4, np.int8), "zp_w"),
        numpy_helper.from_array(np.zeros(4, np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_x", "zp_x"], ["x_q"], name="q_x"),
        helper.make_node("DequantizeLinear", ["x_q", "s_x", "zp_x"], ["x_dq"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w_q", "s_w", "zp_w"], ["w"], name="dq_w", axis=0),
        helper.make_node("Conv", ["x_dq", "w", "bias"], ["y"], name="conv", pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _set(model: onnx.ModelProto, name: str, value: np.ndarray) -> None:
    init = next(i for i in model.graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(value, name))


def _node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.name == name)


def _int32_bias(m: onnx.ModelProto) -> None:  # what ONNX Runtime's quantizer does to a bias
    m.graph.initializer.append(numpy_helper.from_array(np.zeros(4, np.int32), "b_q"))
    m.graph.node.insert(0, helper.make_node("DequantizeLinear", ["b_q", "s_w"], ["b"], name="dq_b", axis=0))  # fmt: skip
    _node(m, "conv").input[2] = "b"


def _scale_input(m: onnx.ModelProto) -> None:  # a scale computed at run time
    m.graph.input.append(helper.make_tensor_value_info("s_in", TensorProto.FLOAT, []))
    _node(m, "q_x").input[1] = "s_in"


def _uint8_activations(m: onnx.ModelProto) -> None:  # ONNX Runtime's U8S8 layout
    _set(m, "zp_x", np.array(128, np.uint8))


def _per_channel_activation(m: onnx.ModelProto) -> None:
    _set(m, "s_x", np.full(3, 0.02, np.float32))
    _set(m, "zp_x", np.zeros(3, np.int8))
    for name in ("q_x", "dq_x"):
        _node(m, name).attribute.append(helper.make_attribute("axis", 1))


def _drop_axis(m: onnx.ModelProto) -> None:
    del _node(m, "dq_w").attribute[:]


BROKEN: list[tuple[str, Callable[[onnx.ModelProto], None], str, QdqRule, str]] = [
    ("int32 bias", _int32_bias, "dq_b", QdqRule.DATA_TYPE, "is INT32"),
    ("uint8 data", lambda m: _set(m, "w_q", np.zeros((4, 3, 3, 3), np.uint8)), "dq_w",
     QdqRule.DATA_TYPE, "is UINT8"),
    ("uint8 zero point", _uint8_activations, "q_x", QdqRule.ZERO_POINT_TYPE, "is UINT8"),
    ("asymmetric", lambda m: _set(m, "zp_w", np.array([0, 3, 0, 0], np.int8)), "dq_w",
     QdqRule.SYMMETRIC, "1 of 4 values not 0"),
    ("zero scale", lambda m: _set(m, "s_w", np.array([0.01, 0, 0.01, 0.01], np.float32)), "dq_w",
     QdqRule.SCALE, "<= 0"),
    ("negative scale", lambda m: _set(m, "s_x", np.array(-0.02, np.float32)), "q_x",
     QdqRule.SCALE, "<= 0"),
    ("nan scale", lambda m: _set(m, "s_x", np.array(np.nan, np.float32)), "q_x",
     QdqRule.SCALE, "NaN"),
    ("int scale", lambda m: _set(m, "s_x", np.array(1, np.int32)), "q_x", QdqRule.SCALE, "INT32"),
    ("scale not constant", _scale_input, "q_x", QdqRule.SCALE, "not a constant"),
    ("zero points and scales", lambda m: _set(m, "zp_w", np.zeros(2, np.int8)), "dq_w",
     QdqRule.ZERO_POINT_SHAPE, "2 zero points, 4 scales"),
    ("scales and channels", lambda m: (_set(m, "s_w", np.full(3, 0.01, np.float32)),
                                       _set(m, "zp_w", np.zeros(3, np.int8))), "dq_w",
     QdqRule.AXIS, "3 scales, 'w_q' has 4 on axis 0"),
    ("axis out of range", lambda m: _node(m, "dq_w").attribute[0].CopyFrom(
        helper.make_attribute("axis", 4)), "dq_w", QdqRule.AXIS, "axis 4 outside [-4, 3]"),
    ("no axis", _drop_axis, "dq_w", QdqRule.AXIS, "no axis attribute"),
    ("per-channel activation", _per_channel_activation, "q_x", QdqRule.PER_CHANNEL,
     "3 scales on activation 'x'"),
    ("q of an integer", lambda m: m.graph.input[0].type.tensor_type.__setattr__(
        "elem_type", TensorProto.INT8), "q_x", QdqRule.DATA_TYPE, "'x' is INT8, not float"),
    ("one input", lambda m: _node(m, "dq_x").input.__delitem__(slice(1, None)), "dq_x",
     QdqRule.INPUTS, "1 input(s)"),
]  # fmt: skip


def test_a_model_tensorrt_takes_passes() -> None:
    assert check_qdq(_model()) == []
    require_tensorrt_qdq(_model(), "m.onnx")  # no error


@pytest.mark.parametrize(
    ("what", "breaks", "node", "rule", "detail"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_each_broken_rule_is_named_with_its_node(what, breaks, node, rule, detail) -> None:
    model = _model()
    breaks(model)
    problems = check_qdq(model)
    mine = [p for p in problems if p.node == node and p.rule is rule]
    assert mine and detail in mine[0].detail, problems
    with pytest.raises(QdqRuleError, match=rf"m\.onnx: .*'{node}': {rule.name} "):
        require_tensorrt_qdq(model, "m.onnx")


def test_old_opset_is_named_once() -> None:
    problems = check_qdq(_model(opset=12))
    assert [(p.node, p.rule) for p in problems] == [("(model)", QdqRule.OPSET)]
    assert "default opset 12" in str(problems[0])


def test_a_model_without_qdq_has_nothing_to_check() -> None:
    model = _model()
    del model.graph.node[:3]
    assert check_qdq(model) == []


def test_error_lists_five_problems_and_counts_the_rest() -> None:
    model = _model()
    _uint8_activations(model)
    _set(model, "s_w", np.zeros(4, np.float32))
    _set(model, "zp_w", np.ones(4, np.int8))
    _drop_axis(model)
    with pytest.raises(QdqRuleError, match=r"\d+ Q/DQ problem\(s\).*\(and \d+ more\)"):
        require_tensorrt_qdq(model, "m.onnx")


def test_shipped_files() -> None:
    """The shipped INT8 files are TensorRT's layout (tests/perception/detector/
    test_shipped_int8_layout.py checks every one a launch file reaches); an ONNX Runtime-layout
    file is refused, by name, as TensorRT's parser would refuse it (the rule tests above: UINT8 data and
    zero points)."""
    assert check_qdq(onnx.load(model_file("camera_detector_int8.onnx"))) == []
    assert check_qdq(onnx.load(model_file("camera_detector_int8_fused.onnx"))) == []


def _saved_pair(tmp_path, breakage, bad_name: str):
    """The valid model and a copy broken by ``breakage``, saved in ``tmp_path``."""
    good, bad = tmp_path / "good.onnx", tmp_path / bad_name
    onnx.save(_model(), good)
    broken = _model()
    breakage(broken)
    onnx.save(broken, bad)
    return good, bad


def test_qdq_check_command(tmp_path, capsys) -> None:
    import json

    from stack.cli.main import main

    good, bad = _saved_pair(tmp_path, _int32_bias, "bad.onnx")
    assert main(["engine", "qdq-check", str(good)]) == 0
    assert "3 Q/DQ nodes; TensorRT's rules hold" in capsys.readouterr().out
    assert main(["engine", "qdq-check", str(bad), "--json", str(tmp_path / "p.json")]) == 1
    out = capsys.readouterr().out
    assert "DequantizeLinear 'dq_b': DATA_TYPE" in out and "1 problem(s)" in out
    rows = json.loads((tmp_path / "p.json").read_text())["problems"]
    assert rows == [{"node": "dq_b", "op": "DequantizeLinear", "rule": "DATA_TYPE",
                     "detail": "input 'b_q' is INT32"}]  # fmt: skip
    assert main(["engine", "qdq-check", str(tmp_path / "missing.onnx")]) == 2


def test_tensorrt_backend_refuses_a_broken_file_before_building(tmp_path, caplog) -> None:
    import logging

    from stack.engine import Backend, EngineOptions, load_engine
    from tests.stack.engine.test_loader import FakeTrt

    good, bad = _saved_pair(tmp_path, _uint8_activations, "u8.onnx")
    fake = FakeTrt(tmp_path, "10.3.0")

    def opts(backend):
        return EngineOptions.of(backend=backend, precision="int8", cache_dir=tmp_path / "cache")

    with pytest.raises(QdqRuleError, match=r"u8\.onnx: 5 Q/DQ problem.*'q_x': ZERO_POINT_TYPE"):
        load_engine(bad, opts("tensorrt"), trt_api=fake)
    assert fake.builds == []
    caplog.set_level(logging.WARNING, "stack.engine")
    engine = load_engine(bad, opts("auto"), trt_api=fake)  # auto: ONNX Runtime runs it
    assert engine.backend is Backend.ONNXRUNTIME and fake.builds == []
    assert "TensorRT failed, falling back to ONNX Runtime" in caplog.text
    load_engine(good, opts("tensorrt"), trt_api=fake)
    assert len(fake.builds) == 1
