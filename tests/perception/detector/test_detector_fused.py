"""Fused models (uint8 frame in, top-K head out) through the card, the pipeline and the node."""

from __future__ import annotations

import numpy as np
import pytest

from perception.detector import CardError
from perception.detector.card import card_from_dict
from perception.detector.decoders import make_decoder
from perception.detector.node import CameraDetector
from perception.models import MODELS_DIR
from stack import msgs, topics
from stack.engine import TensorSpec


def _card(**input_overrides):
    return card_from_dict({
        "model": "m.onnx", "classes": ["car", "truck"], "labels": {"car": "CAR", "truck": "TRUCK"},
        "input": {"width": 64, "height": 32, **input_overrides},
        "decoder": {"name": "topk", "k": 5},
    }, "card.yaml")  # fmt: skip


def test_card_fused_flag_round_trips_and_is_checked():
    card = _card(fused=True)
    assert card.input.fused and card.to_dict()["input"]["fused"] is True
    assert "fused" not in _card().to_dict()["input"]
    with pytest.raises(
        CardError, match=r"card.yaml: input.fused: expected true or false, got 'yes'"
    ):
        _card(fused="yes")


def test_topk_decoder_reads_the_kept_prefix_and_checks_shapes():
    dec = make_decoder(_card(fused=True))
    boxes = np.arange(20, dtype=np.float32).reshape(1, 5, 4)
    scores = np.array([[0.9, 0.5, 0.31, 0.2, -1.0]], np.float32)
    classes = np.array([[1, 0, 7, 0, 0]], np.int64)  # 7: not a class of the card, dropped
    c = dec.decode([boxes, scores, classes], 0.3)
    assert c.scores.tolist() == pytest.approx([0.9, 0.5]) and c.classes.tolist() == [1, 0]
    np.testing.assert_array_equal(c.boxes, boxes[0, :2])
    spec = TensorSpec("det_scores", (1, 7), np.dtype(np.float32))
    with pytest.raises(
        CardError, match=r"output 'det_scores' \(scores \[1, K\]\): expected shape \[1,5\]"
    ):
        dec.check([TensorSpec("b", (1, 5, 4), np.dtype(np.float32)), spec, spec])


@pytest.mark.parametrize(
    ("box_type", "class_type"),
    [(np.float32, np.int64), (np.float64, np.int32), (np.float16, np.int64)],
)
def test_topk_candidates_are_float32_and_int64_whatever_the_head_gives(box_type, class_type):
    """The head's usual types pass through without copies; any other is converted as before."""
    dec = make_decoder(_card(fused=True))
    boxes = np.arange(20, dtype=box_type).reshape(1, 5, 4)
    scores = np.array([[0.9, 0.2, 0.5, 0.2, 0.1]], box_type)
    c = dec.decode([boxes, scores, np.array([[1, 0, 0, 1, 0]], class_type)], 0.3)
    assert (c.boxes.dtype, c.scores.dtype, c.classes.dtype) == (np.float32, np.float32, np.int64)
    assert c.boxes.shape == (2, 4) and c.classes.tolist() == [1, 0]
    np.testing.assert_array_equal(c.boxes, boxes[0, [0, 2]].astype(np.float32))
    assert c.scores.tolist() == pytest.approx([0.9, 0.5], abs=1e-3)


def _canonical(d):
    """Detections in a fixed order (equal scores, as INT8 gives, may come out in any order)."""
    order = np.lexsort((d.boxes[:, 1], d.boxes[:, 0], d.classes)) if len(d) else np.zeros(0, int)
    return type(d)(d.boxes[order], d.scores[order], d.classes[order], d.labels[order])


@pytest.mark.parametrize("variant", ["camera_detector_fused", "camera_detector_int8_fused"])
def test_node_runs_a_fused_variant_like_its_unfused_model(make_ctx, tmp_path, variant):
    from stack.replay import Bag
    from tools.scenario import make_scenario
    from tools.scenario import topics as bag_topics

    fused_card = MODELS_DIR / f"{variant}.yaml"
    plain_card = MODELS_DIR / f"{variant.replace('_fused', '')}.yaml"
    make_scenario(tmp_path / "bag", 0.3, 12, traffic="dense", progress=False)
    wanted = (bag_topics.TF_STATIC, bag_topics.CAMERA_INFO, bag_topics.CAMERA_IMAGE)
    with Bag(tmp_path / "bag") as bag:
        found = [(c.topic, msgs.deserialize(raw, c.msgtype)) for c, _, raw in bag.messages(wanted)]
    nodes = [CameraDetector(make_ctx(card=str(c))) for c in (plain_card, fused_card)]
    assert nodes[1].card.input.fused and nodes[1].detector.input.dtype == np.uint8
    seen = 0
    for topic, msg in found:
        for node in nodes:
            node.ctx.deliver(topic, msg)
        if topic == bag_topics.CAMERA_IMAGE:
            a, b = (_canonical(n.last_detections) for n in nodes)
            assert len(a) == len(b) and (a.classes == b.classes).all()
            assert len(a) == 0 or np.abs(a.boxes - b.boxes).max() <= 0.5
            seen += len(a)
    assert seen > 0 and not any(n.ctx.events for n in nodes)
    sent = [n.ctx.sent(topics.CAMERA_OBJECTS) for n in nodes]
    assert len(sent[0]) == len(sent[1]) > 0


def test_fused_preprocess_hands_over_the_uint8_frame():
    from perception.detector.errors import ImageError
    from perception.detector.preprocess import preprocess

    bgr = np.random.default_rng(1).integers(0, 256, (40, 128, 3), np.uint8)
    x, plan = preprocess(bgr, _card(fused=True, resize="letterbox", pad_value=114).input)
    assert x.dtype == np.uint8 and x.shape == (1, 32, 64, 3)
    assert plan.pad_y > 0 and (x[0, : int(plan.pad_y)] == 114).all()
    # the same pixels as the float path before its cast and normalisation
    want, _ = preprocess(
        bgr, _card(resize="letterbox", pad_value=114, channel_order="bgr", scale=1.0).input
    )
    np.testing.assert_array_equal(x[0].transpose(2, 0, 1).astype(np.float32), want[0])
    for bad in (114.5, 256.0, -1.0):
        with pytest.raises(ImageError, match=rf"pad_value {bad} is not a uint8 value"):
            preprocess(bgr, _card(fused=True, resize="letterbox", pad_value=bad).input)
    x, _ = preprocess(bgr, _card(fused=True, resize="letterbox", pad_value=255.0).input)
    assert (x[0, 0] == 255).all()


class _RowsEngine:
    """An engine whose top-K head returns fixed rows (a fused model with its NMS)."""

    def __init__(self, rows):
        self.rows = rows
        self.inputs = (TensorSpec("image", (1, 32, 64, 3), np.dtype(np.uint8)),)
        self.outputs = (TensorSpec("b", (1, 5, 4), np.dtype(np.float32)),
                        TensorSpec("s", (1, 5), np.dtype(np.float32)),
                        TensorSpec("c", (1, 5), np.dtype(np.int64)))  # fmt: skip

    def run(self, feeds):
        return dict(zip(("b", "s", "c"), self.rows))


@pytest.mark.parametrize("max_detections", [100, 2])
def test_fused_rows_drop_non_finite_and_empty_boxes_and_keep_the_best(max_detections):
    from perception.detector.pipeline import Detector

    card = card_from_dict({
        "model": "m.onnx", "classes": ["car", "truck"], "labels": {"car": "CAR", "truck": "TRUCK"},
        "input": {"width": 64, "height": 32, "fused": True}, "max_detections": max_detections,
        "decoder": {"name": "topk", "k": 5, "nms_iou": 0.5}, "nms_threshold": 0.5,
    }, "card.yaml")  # fmt: skip
    boxes = np.array([[[1, 1, 9, 9], [2, 2, np.nan, 8], [5, 5, 5, 9], [-4, 3, 70, 40],
                       [0, 0, 4, 4]]], np.float32)  # fmt: skip
    scores = np.array([[0.9, 0.8, 0.7, np.inf, 0.6]], np.float32)
    classes = np.array([[0, 1, 0, 1, 1]], np.int64)
    det = Detector(_RowsEngine([boxes, scores, classes]), card)
    got = det.detect(np.zeros((64, 128, 3), np.uint8))  # the image is twice the input size
    # NaN box and infinite score dropped; the zero-width box dropped after the mapping
    want = [0, 4][:max_detections] if max_detections > 2 else [0]
    assert got.scores.tolist() == pytest.approx(scores[0, want].tolist())
    np.testing.assert_array_equal(got.boxes, boxes[0, want] * 2)
    assert got.classes.tolist() == classes[0, want].tolist()
    scores[0, 3] = 0.65  # finite now: kept, its box clipped to the 128 x 64 image
    got = det.detect(np.zeros((64, 128, 3), np.uint8))
    want_boxes = [[2, 2, 18, 18], [0, 6, 128, 64], [0, 0, 8, 8]][: max(max_detections - 1, 1)]
    np.testing.assert_array_equal(got.boxes, np.array(want_boxes, np.float32))
