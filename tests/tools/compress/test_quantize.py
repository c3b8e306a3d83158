"""INT8 Q/DQ: float biases (no INT32 DequantizeLinear), both activation types, calibration errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from perception.detector.card import load_card
from perception.detector.preprocess import preprocess
from perception.models import CAMERA_DETECTOR_CARD, model_file
from stack.engine.quantize import int32_dequantize_inputs
from stack.engine.trt_qdq import QdqRule, check_qdq
from tools.compress.quantize import (
    Calibration,
    QuantizeError,
    QuantTarget,
    quantize_int8,
    run_method,
)


def _qdq_params(model: onnx.ModelProto) -> tuple[set[int], set[int]]:
    """(activation zero-point dtypes, weight dtypes) of the Q/DQ nodes."""
    inits = {i.name: i for i in model.graph.initializer}
    zp_types = {inits[n.input[2]].data_type for n in model.graph.node
                if n.op_type == "QuantizeLinear" and len(n.input) > 2}  # fmt: skip
    zeros = [onnx.numpy_helper.to_array(inits[n.input[2]]) for n in model.graph.node
             if n.op_type == "QuantizeLinear" and len(n.input) > 2]  # fmt: skip
    nonzero = {int(np.any(z != 0)) for z in zeros}
    return zp_types, nonzero


@pytest.mark.parametrize("target", list(QuantTarget))
def test_int8_leaves_biases_float_and_runs(tmp_path, camera_frames, target):
    out = tmp_path / f"det_{target.value}.onnx"
    result = quantize_int8(
        model_file("camera_detector.onnx"), out, camera_frames[:4], CAMERA_DETECTOR_CARD, target
    )
    model = onnx.load(out)
    assert result.int32_dequantize == [] and int32_dequantize_inputs(model) == []
    assert result.frames == 4
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    inits = {i.name for i in model.graph.initializer}
    assert convs and all(len(c.input) < 3 or c.input[2] in inits for c in convs)  # float bias
    zp_types, nonzero = _qdq_params(model)
    if target is QuantTarget.TENSORRT:  # what TensorRT takes: INT8, zero point 0
        assert zp_types == {onnx.TensorProto.INT8} and nonzero == {0}
        assert check_qdq(model) == []  # and every other rule of its Q/DQ import
    else:
        assert zp_types == {onnx.TensorProto.UINT8}
        assert {p.rule for p in check_qdq(model)} >= {QdqRule.ZERO_POINT_TYPE}
    card = load_card(result.card)
    assert card.model == out.name and target.value in card.description
    x = preprocess(camera_frames[5], card.input)[0]
    got = ort.InferenceSession(str(out)).run(None, {"images": x})
    want = ort.InferenceSession(str(model_file("camera_detector.onnx"))).run(None, {"images": x})
    heat_err = np.abs(got[0] - want[0]).max()
    assert 0 < heat_err < 0.15  # quantized, and still close on the heatmap


def test_int32_check_finds_what_the_default_quantizer_makes(tmp_path, camera_frames):
    """ONNX Runtime's default (QuantizeBias on) gives INT32 bias inputs: the check must see them."""
    card = load_card(CAMERA_DETECTOR_CARD)
    feeds = iter([{"images": preprocess(f, card.input)[0]} for f in camera_frames[:2]])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    quantize_static(str(model_file("camera_detector.onnx")), str(tmp_path / "q.onnx"), Reader(),
                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=True)  # fmt: skip
    assert len(int32_dequantize_inputs(onnx.load(tmp_path / "q.onnx"))) == 20  # one per Conv


def test_calibration_from_a_bag_topic_and_its_errors(tmp_path, scenario_bag):
    frames = list(Calibration(bag=scenario_bag, every=3, max_frames=3).frames())
    assert len(frames) == 3 and frames[0].shape == (384, 640, 3) and frames[0].dtype == np.uint8
    with pytest.raises(QuantizeError, match="give a bag"):
        list(Calibration().frames())
    with pytest.raises(Exception, match="no topic '/nope'"):
        list(Calibration(bag=scenario_bag, topic="/nope").frames())
    with pytest.raises(QuantizeError, match="no calibration frames"):
        quantize_int8(
            model_file("camera_detector.onnx"), tmp_path / "x.onnx", [], CAMERA_DETECTOR_CARD
        )
    assert not (tmp_path / "x.onnx").exists()


def test_run_method_checks_the_recipe(tmp_path, scenario_bag):
    base = {"model": str(model_file("camera_detector.onnx"))}
    with pytest.raises(
        QuantizeError, match=r"target: 'gpu' is not one of \['tensorrt', 'onnxruntime'\]"
    ):
        run_method({**base, "target": "gpu"}, tmp_path)
    with pytest.raises(QuantizeError, match=r"calibration\.bags: unknown key"):
        run_method({**base, "calibration": {"bags": "x"}}, tmp_path)
    with pytest.raises(QuantizeError, match="model: required key missing"):
        run_method({}, tmp_path)
    result = run_method(
        {**base, "name": "d8", "calibration": {"bag": str(scenario_bag), "max_frames": 2}}, tmp_path
    )
    assert result.model == Path(tmp_path / "d8.onnx") and result.frames == 2
    assert result.target is QuantTarget.TENSORRT


def test_calibration_from_scenario_seeds_generates_once(tmp_path):
    cal = Calibration(seeds=(5,), seconds=0.3, data_dir=tmp_path / "scen", every=1, max_frames=2)
    assert len(list(cal.frames())) == 2
    (bag,) = cal.bags()
    stamp = (bag / "metadata.yaml").stat().st_mtime_ns
    assert len(list(cal.frames())) == 2 and (bag / "metadata.yaml").stat().st_mtime_ns == stamp


def test_calibration_regenerates_a_scenario_cut_off_before_its_ground_truth(tmp_path, caplog):
    cal = Calibration(seeds=(5,), seconds=0.3, data_dir=tmp_path / "scen", every=1, max_frames=1)
    (bag,) = cal.bags()
    (bag / "scenario.yaml").unlink()  # as if killed after the bag closed, before the last file
    with caplog.at_level("WARNING", logger="tools.compress.quantize"):
        (again,) = cal.bags()
    assert again == bag and (bag / "scenario.yaml").is_file()
    assert any("incomplete" in r.getMessage() for r in caplog.records)


def test_int8fuse_bench_is_registered():
    from perception.detector.pipeline import Detections2D
    from tools.bench import BENCHMARKS, load_benchmark
    from tools.bench.quantfuse import _same

    assert BENCHMARKS["int8fuse"] == "tools.bench.quantfuse:run" and callable(
        load_benchmark("int8fuse")
    )
    a = Detections2D(np.array([[0, 0, 4, 4], [1, 1, 5, 5]], np.float32), np.array([0.5, 0.5], np.float32),
                     np.array([0, 1]), np.array([1, 2], np.uint8))  # fmt: skip
    swapped = Detections2D(a.boxes[::-1].copy(), a.scores[::-1], a.classes[::-1], a.labels[::-1])
    assert _same(a, swapped)  # order of equal scores does not matter
    moved = Detections2D(a.boxes + np.float32(0.6), a.scores, a.classes, a.labels)
    assert not _same(a, moved)  # 0.6 px is over the tolerance


def test_an_opset_11_model_is_upgraded_for_per_channel_qdq(tmp_path, shared_data, camera_frames):
    """FastestDet is opset 11, where DequantizeLinear has no axis: the file must still be valid."""
    import json

    model = shared_data / "onnx" / "fastestdet" / "FastestDet.onnx"
    if not model.exists():
        pytest.skip("FastestDet.onnx not in the shared data")
    card = {"model": str(model), "input": {"width": 352, "height": 352, "channel_order": "bgr"},
            "decoder": "fastestdet", "classes": str(model.parent / "coco.names"),
            "labels": {"car": "CAR"}}  # fmt: skip
    (tmp_path / "fd.json").write_text(json.dumps(card))
    out = tmp_path / "fd_int8.onnx"
    quantize_int8(model, out, camera_frames[:2], tmp_path / "fd.json", write_model_card=False)
    q = onnx.load(out)
    onnx.checker.check_model(q, full_check=True)
    assert [o.version for o in q.opset_import if o.domain in ("", "ai.onnx")] == [13]
    assert int32_dequantize_inputs(q) == []
    assert not list(tmp_path.glob(".*opset13*"))  # the scratch copy is gone
