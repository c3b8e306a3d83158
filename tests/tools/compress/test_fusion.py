"""Fusion rewrites: the fused model gives the unfused model's detections on real camera frames."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from perception.detector.card import card_from_dict, load_card
from perception.detector.pipeline import Detector
from perception.detector.preprocess import preprocess
from perception.models import CAMERA_DETECTOR_CARD, model_file
from stack.engine import EngineOptions, load_engine
from tools.compress.fusion import FuseOptions, FusionError, fuse
from tools.compress.fusion.heads import add_head

BOX_TOLERANCE_PX = 0.5


def _detector(card_path: Path, threshold: float | None = None) -> Detector:
    card = load_card(card_path)
    engine = load_engine(
        card.model_path(), EngineOptions.of(backend="onnxruntime", intra_op_threads=1)
    )
    det = Detector(engine, card)
    if threshold is not None:
        det.score_threshold = threshold
    return det


def canonical(d):
    """Detections in a fixed order (equal scores, as INT8 gives, may come out in any order)."""
    order = np.lexsort((d.boxes[:, 1], d.boxes[:, 0], d.classes)) if len(d) else np.zeros(0, int)
    return type(d)(d.boxes[order], d.scores[order], d.classes[order], d.labels[order])


def _assert_same(plain: Detector, fused: Detector, frames: list[np.ndarray]) -> int:
    total = 0
    for i, frame in enumerate(frames):
        a, b = canonical(plain.detect(frame)), canonical(fused.detect(frame))
        assert len(a) == len(b), f"frame {i}: {len(a)} vs {len(b)} detections"
        assert (a.classes == b.classes).all(), f"frame {i}: classes differ"
        if len(a):
            assert np.abs(a.boxes - b.boxes).max() <= BOX_TOLERANCE_PX, f"frame {i}"
            assert np.abs(a.scores - b.scores).max() < 1e-4
        total += len(a)
    return total


def test_fused_shipped_detector_gives_the_same_detections(tmp_path, camera_frames):
    result = fuse(model_file("camera_detector.onnx"), tmp_path / "fused.onnx", CAMERA_DETECTOR_CARD)
    model = onnx.load(result.model)
    (image,) = model.graph.input
    assert image.type.tensor_type.elem_type == TensorProto.UINT8
    assert [d.dim_value for d in image.type.tensor_type.shape.dim] == [1, 192, 320, 3]
    shapes = {
        o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output
    }
    assert shapes == {"det_boxes": [1, 100, 4], "det_scores": [1, 100], "det_classes": [1, 100]}
    # Only standard ONNX operators: nothing EXTENDED/ALL would leave (FusedConv, NCHWc).
    assert {op.domain for op in model.opset_import} <= {"", "ai.onnx"}
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    # The affine map and channel swap went into the first convolution, which reads the frame
    # as it lies (HWC viewed as one channel): no Transpose, Mul or Gather up front.
    assert _path_from_input(model, 3) == ["Cast", "Reshape", "Conv"]
    assert [s["name"] for s in result.steps] == [
        "cleanup", "preprocess", "postprocess", "cleanup"
    ]  # fmt: skip
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("NonMaxSuppression") == 1 and "Split" not in ops
    # The box branch (3x3 Conv, Relu, 1x1 Conv) is computed at the K peaks only: two Gemms
    # on gathered patches instead of two convolutions over the map, and Clip/Exp/Mul on K rows.
    assert ops.count("Conv") == 20 - 2 and ops.count("Gemm") == 2  # MatMul + Add, by cleanup
    assert result.steps[2]["gathered_branch"]["dense_nodes"] == 3
    clip = next(n for n in model.graph.node if n.op_type == "Clip")
    assert next(n for n in model.graph.node if clip.input[0] in n.output).op_type == "Gemm"
    card = load_card(result.card)
    assert card.input.fused and card.decoder.name == "topk"
    assert card.decoder.options["nms_iou"] == card.nms_threshold
    assert _detector(result.card).decoder.suppressed
    n = _assert_same(_detector(CAMERA_DETECTOR_CARD), _detector(result.card), camera_frames)
    assert n >= 10  # the frames really have detections to compare


def test_sibling_merge_when_asked_gives_the_same_detections(tmp_path, camera_frames):
    # Off by default (no win under ONNX Runtime); with the box branch left dense the heads' two
    # 3x3 convolutions become one, and the 1x1 heads read it with zero weights (no Split).
    opts = FuseOptions(siblings=True, gather=False)
    result = fuse(
        model_file("camera_detector.onnx"), tmp_path / "sib.onnx", CAMERA_DETECTOR_CARD, opts
    )
    siblings = next(s for s in result.steps if s["name"] == "siblings")
    assert siblings["nodes_before"] - siblings["nodes_after"] == 2
    ops = [n.op_type for n in onnx.load(result.model).graph.node]
    assert ops.count("Conv") == 20 - 1 and "Split" not in ops and "Gemm" not in ops
    n = _assert_same(_detector(CAMERA_DETECTOR_CARD), _detector(result.card), camera_frames)
    assert n >= 10


def _path_from_input(model: onnx.ModelProto, n: int) -> list[str]:
    """The op types of the first ``n`` nodes after the graph input, following single readers."""
    tensor, ops = model.graph.input[0].name, []
    for _ in range(n):
        (node,) = [x for x in model.graph.node if tensor in x.input]
        ops.append(node.op_type)
        tensor = node.output[0]
    return ops


def _fastestdet_card(model_dir: Path, tmp_path: Path) -> Path:
    card = {
        "model": str(model_dir / "FastestDet.onnx"),
        "input": {"width": 352, "height": 352, "resize": "stretch", "channel_order": "bgr"},
        "decoder": {"name": "fastestdet"},
        "classes": str(model_dir / "coco.names"),
        "labels": {"person": "PEDESTRIAN", "bicycle": "BICYCLE", "car": "CAR", "bus": "BUS",
                   "truck": "TRUCK"},
        "score_threshold": 0.3,
        "nms_threshold": 0.45,
    }  # fmt: skip
    path = tmp_path / "fastestdet.json"
    path.write_text(json.dumps(card))
    return path


def test_fused_fastestdet_gives_the_same_detections(tmp_path, shared_data, camera_frames):
    model_dir = shared_data / "onnx" / "fastestdet"
    if not (model_dir / "FastestDet.onnx").exists():
        pytest.skip("FastestDet.onnx not in the shared data")
    card = _fastestdet_card(model_dir, tmp_path)
    result = fuse(model_dir / "FastestDet.onnx", tmp_path / "fdet_fused.onnx", card)
    cleanup = result.steps[0]
    assert cleanup["name"] == "cleanup" and cleanup["nodes_after"] < cleanup["nodes_before"]
    n = _assert_same(_detector(card, 0.2), _detector(result.card, 0.2), camera_frames)
    assert n >= 5


def _conv_model(path: Path, pads: int, stride: int = 1) -> Path:
    """A real 3->4 channel 3x3 convolution with padding ``pads``, input [1, 3, 8, 12]."""
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b")
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[pads] * 4, strides=[stride] * 2)
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, b],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("pads", "mean", "folded", "stride"),
    [(1, (0.0, 0.0, 0.0), True, 1), (1, (0.0, 0.0, 0.0), True, 2), (0, (0.4, 0.5, 0.6), True, 2),
     (1, (0.4, 0.5, 0.6), False, 1)],
)  # fmt: skip
def test_preprocessing_fold_matches_numpy(tmp_path, pads, mean, folded, stride):
    from tools.compress.fusion.preprocess import fold_preprocessing

    src = _conv_model(tmp_path / "conv.onnx", pads, stride)
    spec = card_from_dict({
        "model": "conv.onnx", "decoder": "centernet", "classes": ["car"], "labels": {"car": "CAR"},
        "input": {"width": 12, "height": 8, "channel_order": "rgb", "mean": list(mean), "std": [0.2, 0.25, 0.5]},
    }).input  # fmt: skip
    model = onnx.load(src)
    fold = fold_preprocessing(model, spec, "conv.onnx")
    assert (fold.folded_convs == 1) is folded
    assert ("Sub" in fold.explicit_ops) is (not folded)
    # Folded: the convolution reads the HWC frame as one channel (no Transpose).
    assert ("Transpose" in [n.op_type for n in model.graph.node]) is (not folded)
    onnx.save(model, tmp_path / "fused.onnx")
    bgr = np.random.default_rng(0).integers(0, 256, (8, 12, 3), np.uint8)
    want = ort.InferenceSession(str(src)).run(None, {"x": preprocess(bgr, spec)[0]})[0]
    got = ort.InferenceSession(str(tmp_path / "fused.onnx")).run(None, {"image": bgr[None]})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_preprocessing_fold_refuses_a_wrong_input_size(tmp_path):
    from tools.compress.fusion.preprocess import fold_preprocessing

    model = onnx.load(_conv_model(tmp_path / "conv.onnx", 1))
    spec = card_from_dict({"model": "m", "decoder": "centernet", "classes": ["car"], "labels": {"car": "CAR"},
                           "input": {"width": 320, "height": 192}}).input  # fmt: skip
    with pytest.raises(
        FusionError, match=r"input 'x' is \[1, 3, 8, 12\]; folding needs \[1, 3, 192, 320\]"
    ):
        fold_preprocessing(model, spec, "conv.onnx")


def _yolo_model(path: Path, preds: np.ndarray) -> Path:
    """A model whose output is ``preds`` (+ 0 x the input): a real graph with a fixed answer."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["p", "z"], ["output"]),
    ]
    inits = [
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(preds, "p"),
    ]
    graph = helper.make_graph(
        nodes, "yolo", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(preds.shape))], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("layout", ["yolov5", "yolov8", "yolov8t"])
def test_yolo_heads_give_the_decoders_candidates(tmp_path, layout):
    rng = np.random.default_rng(7)
    n, c = 50, 3
    xy, wh = rng.uniform(10, 50, (n, 2)), rng.uniform(2, 10, (n, 2))
    cls = rng.uniform(0, 1, (n, c)) ** 3
    if layout == "yolov5":
        rows = np.concatenate([xy, wh, rng.uniform(0, 1, (n, 1)), cls], 1)
    else:
        rows = np.concatenate([xy, wh, cls], 1)
    preds = (rows.T if layout == "yolov8t" else rows)[None].astype(np.float32)
    src = _yolo_model(tmp_path / "yolo.onnx", preds)
    doc = {"model": "yolo.onnx", "decoder": layout[:6], "classes": ["car", "truck", "bicycle"],
           "labels": {"car": "CAR", "truck": "TRUCK", "bicycle": "BICYCLE"},
           "input": {"width": 64, "height": 64}, "score_threshold": 0.2}  # fmt: skip
    (tmp_path / "yolo.json").write_text(json.dumps(doc))
    result = fuse(
        src,
        tmp_path / "yolo_fused.onnx",
        tmp_path / "yolo.json",
        FuseOptions(cleanup=False, preprocess=False, top_k=20, nms=False),
    )
    plain, fused = _detector(tmp_path / "yolo.json"), _detector(result.card)
    image = np.zeros((64, 64, 3), np.uint8)
    a = plain.decoder.decode(plain.infer(image)[0], 0.2)
    b = fused.decoder.decode(fused.infer(image)[0], 0.2)
    order = np.argsort(-a.scores, kind="stable")[:20]
    assert len(a) > 3 and len(b) == min(len(a), 20)
    np.testing.assert_allclose(b.scores, a.scores[order], rtol=1e-5)
    np.testing.assert_array_equal(b.classes, a.classes[order])
    np.testing.assert_allclose(b.boxes, a.boxes[order], atol=1e-4)


def test_heads_refuse_what_they_cannot_decode(tmp_path):
    src = _yolo_model(tmp_path / "y.onnx", np.zeros((1, 10, 8), np.float32))
    base = {"model": "y.onnx", "classes": ["car", "truck", "bus"], "labels": {"car": "CAR"},
            "input": {"width": 64, "height": 64}}  # fmt: skip
    for decoder, match in (
        ({"name": "yolox"}, "needs an export with decoded boxes"),
        ({"name": "yolov5", "outputs": ["nope"]}, "'nope' is not an output"),
    ):
        card = card_from_dict({**base, "decoder": decoder}, str(tmp_path / "c.json"))
        with pytest.raises(FusionError, match=match):
            add_head(onnx.load(src), card, 10, "y.onnx")


def test_fuse_names_an_unreadable_model(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(FusionError, match=r"bad\.onnx: cannot read ONNX model"):
        fuse(tmp_path / "bad.onnx", tmp_path / "out.onnx", CAMERA_DETECTOR_CARD)


def test_fused_int8_detector_gives_the_int8_detections(tmp_path, camera_frames):
    """Quantize first, then fuse: the channel swap goes into the INT8 weights."""
    from tools.compress.quantize import QuantTarget, quantize_int8

    q = quantize_int8(model_file("camera_detector.onnx"), tmp_path / "q.onnx", camera_frames[:4],
                      CAMERA_DETECTOR_CARD, QuantTarget.ONNXRUNTIME)  # fmt: skip
    result = fuse(q.model, tmp_path / "qf.onnx", q.card)
    assert [s["name"] for s in result.steps] == ["preprocess", "postprocess"]  # no cleanup on Q/DQ
    model = onnx.load(result.model)
    assert _path_from_input(model, 4) == ["Cast", "Mul", "Reshape", "QuantizeLinear"]  # no Gather
    # ORT would run a MaxPool that reads a DequantizeLinear on uint8; -(-x) keeps it float.
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    assert next(n for n in model.graph.node if pool.input[0] in n.output).op_type == "Neg"
    n = _assert_same(_detector(q.card), _detector(result.card), camera_frames)
    assert n >= 10


def test_fusing_the_tensorrt_int8_file_keeps_tensorrts_qdq_rules(tmp_path):
    """The rewrites (channel swap in the INT8 first-layer weights, heads, NMS) leave every Q/DQ
    as TensorRT's parser takes it (stack.engine.trt_qdq): the TensorRT file can be fused."""
    from stack.engine.trt_qdq import check_qdq

    result = fuse(model_file("camera_detector_int8.onnx"), tmp_path / "tf.onnx",
                  model_file("camera_detector_int8.yaml"))  # fmt: skip
    model = onnx.load(result.model)
    assert sum(n.op_type == "DequantizeLinear" for n in model.graph.node) > 20
    assert check_qdq(model) == []


def test_fuse_run_method_checks_the_recipe(tmp_path):
    from tools.compress.fusion import run_method

    base = {"model": str(model_file("camera_detector.onnx"))}
    with pytest.raises(FusionError, match="recipe: speed: unknown key"):
        run_method({**base, "speed": 1}, tmp_path)
    with pytest.raises(FusionError, match="recipe: cleanup: expected true or false, got 'no'"):
        run_method({**base, "cleanup": "no"}, tmp_path)
    with pytest.raises(FusionError, match="top_k: expected an integer >= 1, got 0"):
        run_method({**base, "top_k": 0}, tmp_path)
    result = run_method(
        {**base, "method": "fuse", "name": "f", "cleanup": False, "top_k": 10}, tmp_path
    )
    assert result.model == tmp_path / "f.onnx" and load_card(result.card).decoder.options["k"] == 10


@pytest.mark.parametrize(
    ("plain", "fused"),
    [
        ("camera_detector_int8.yaml", "camera_detector_int8_fused.yaml"),
        ("compressed/p50_int8_fused/camera_detector_p50_int8/camera_detector_p50_int8.yaml",
         "compressed/p50_int8_fused/camera_detector_p50_int8_fused/camera_detector_p50_int8_fused.yaml"),
        ("compressed/camera_detector_p60/camera_detector_p60.yaml",
         "compressed/p60_fused/camera_detector_p60_fused/camera_detector_p60_fused.yaml"),
        ("compressed/s4h16/camera_detector_s4h16/camera_detector_s4h16.yaml",
         "compressed/s4h16_fused/camera_detector_s4h16_fused/camera_detector_s4h16_fused.yaml"),
    ],
)  # fmt: skip
def test_shipped_fused_variants_give_their_unfused_parents_detections(plain, fused, camera_frames):
    """The shipped fused files (dense INT8, p50 INT8, p60, s4h16) against the files they were
    fused from, through the node's pipeline."""
    models = CAMERA_DETECTOR_CARD.parent
    card = load_card(models / fused)
    assert card.input.fused and card.decoder.options["nms_iou"] == card.nms_threshold
    assert card.input.interpolation == load_card(models / plain).input.interpolation
    n = _assert_same(_detector(models / plain), _detector(models / fused), camera_frames)
    assert n >= 10


def test_degrade_order_in_the_replay_graph_is_the_shipped_family():
    """launch/replay.yaml's detector cards are perception.models' family, in its order, and
    every step after the first is a card whose held-out day vehicle AP is not above the one
    before by more than a point (most accurate first)."""
    import yaml

    from perception.models import CAMERA_DETECTOR_VARIANTS

    launch = yaml.safe_load(Path("launch/replay.yaml").read_text())
    cards = launch["nodes"]["camera_detector"]["params"]["cards"]
    models = CAMERA_DETECTOR_CARD.parent
    assert [models / c.removeprefix("models:") for c in cards] == list(CAMERA_DETECTOR_VARIANTS)
    ap = [
        load_card(c).provenance["accuracy_ap50"]["day"]["vehicle"] for c in CAMERA_DETECTOR_VARIANTS
    ]
    assert all(b <= a + 0.01 for a, b in itertools.pairwise(ap)), ap
    assert cards[0] == "models:camera_detector.yaml"  # FP32 first: lockstep outputs unchanged


def test_the_degrade_family_runs_in_the_node_one_step_at_a_time(scenario_bag):
    """The detector node with replay.yaml's cards: every switch down the family (fused and
    unfused, FP32 and INT8, dense and pruned) detects on a real frame and publishes both
    outputs; fused steps get the uint8 frame."""
    from perception.detector.node import CameraDetector, CameraDetectorParams
    from perception.models import CAMERA_DETECTOR_VARIANTS
    from stack import topics
    from tools.bench.detector import _BenchContext, _messages_of

    data = _messages_of(scenario_bag)
    ctx = _BenchContext(CameraDetectorParams(cards=[str(c) for c in CAMERA_DETECTOR_VARIANTS]))
    node = CameraDetector(ctx)
    for topic in (topics.TF_STATIC, topics.CAMERA_INFO):
        ctx.callbacks[topic](data[topic][0])
    image = data[topics.CAMERA_IMAGE][5]
    fused = []
    for i, card in enumerate(CAMERA_DETECTOR_VARIANTS):
        node.models.switch(i, "test")
        ctx.callbacks[topics.CAMERA_IMAGE](image)
        assert node.card.name == Path(card).stem and len(node.last_detections) > 0, card
        assert len(ctx.published[topics.CAMERA_OBJECTS]) == i + 1
        assert len(ctx.published[topics.CAMERA_DETECTIONS_2D][-1].detections) > 0
        fused.append(node.card.input.fused)
    assert fused == [False, True, True]
    assert [kind for kind, _ in ctx.events] == ["switch"] * 2  # no drops, no errors
