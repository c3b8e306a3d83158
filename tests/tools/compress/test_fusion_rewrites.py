"""The in-model NMS keeps what the node's NMS keeps; sibling convolutions merge exactly; a fused
card's NMS settings must match the card."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from perception.detector.card import DecoderSpec, card_from_dict
from perception.detector.decoders import make_decoder
from perception.detector.errors import CardError
from perception.detector.nms import nms
from tools.compress.fusion.gathered import gather_branch
from tools.compress.fusion.graph import GraphEditor
from tools.compress.fusion.heads import add_head
from tools.compress.fusion.nms import SUPPRESSED, add_nms, nms_applies
from tools.compress.fusion.siblings import merge_siblings

K = 60
CLASSES = ["car", "truck", "pedestrian"]


def _card(**kw):
    doc = {"model": "m.onnx", "decoder": "centernet", "classes": CLASSES,
           "labels": {"car": "CAR", "truck": "TRUCK", "pedestrian": "PEDESTRIAN"},
           "input": {"width": 64, "height": 64}, "nms_threshold": 0.5, **kw}  # fmt: skip
    return card_from_dict(doc, "card.yaml")


def _nms_model(card, opset: int = 17) -> bytes:
    graph = helper.make_graph(
        [], "nms",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [K, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [K]),
         helper.make_tensor_value_info("classes", TensorProto.INT64, [K])],
        [],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    ed = GraphEditor(model)
    out = add_nms(ed, "boxes", "scores", "classes", K, card)
    model.graph.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, [K]))
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _candidates(seed: int):
    """K boxes sorted best first, many overlapping, with runs of equal scores (as INT8 gives)."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(10, 50, (K, 2))
    centre[1::2] = centre[::2] + rng.uniform(-2, 2, (K // 2, 2))  # overlapping pairs
    half = rng.uniform(3, 8, (K, 2))
    boxes = np.concatenate([centre - half, centre + half], 1).astype(np.float32)
    scores = np.sort(np.round(rng.uniform(0, 1, K), 1))[::-1].astype(np.float32)  # ties
    classes = rng.integers(0, len(CLASSES), K).astype(np.int64)
    return boxes, scores, classes


@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_in_model_nms_keeps_what_the_node_keeps(agnostic, seed):
    card = _card(class_agnostic_nms=agnostic)
    sess = ort.InferenceSession(_nms_model(card), providers=["CPUExecutionProvider"])
    boxes, scores, classes = _candidates(seed)
    (out,) = sess.run(None, {"boxes": boxes, "scores": scores, "classes": classes})
    want = nms(boxes, scores, 0.5, None if agnostic else classes)
    kept = np.flatnonzero(out != SUPPRESSED)
    assert 5 < len(kept) < K  # the case really suppresses something
    np.testing.assert_array_equal(kept, np.sort(want))  # the same rows, ties included
    np.testing.assert_array_equal(out[kept], scores[kept])  # kept rows keep their scores


def test_in_model_nms_only_where_it_equals_the_node():
    assert nms_applies(_card(), 17)
    assert not nms_applies(_card(), 10)  # NonMaxSuppression with inputs needs opset 11
    assert nms_applies(_card(class_agnostic_nms=True), 17)
    # Class-agnostic with an unpublished class: the node drops that class before its NMS.
    hidden = _card(class_agnostic_nms=True, labels={"car": "CAR", "truck": "TRUCK"})
    assert not nms_applies(hidden, 17)
    assert nms_applies(replace(hidden, class_agnostic_nms=False), 17)


def _topk_card(**options):
    card = _card()
    return replace(card, decoder=DecoderSpec("topk", (), {"k": 10, **options}))


def test_topk_card_nms_settings_must_match_the_card():
    assert make_decoder(_topk_card(nms_iou=0.5)).suppressed
    assert not make_decoder(_topk_card()).suppressed
    with pytest.raises(
        CardError,
        match=r"card.yaml: decoder.nms_iou: the model's NMS uses IoU 0.4, the card's nms_threshold is 0.5",
    ):
        make_decoder(_topk_card(nms_iou=0.4))
    with pytest.raises(CardError, match=r"decoder.nms_iou: expected a number, got 'high'"):
        make_decoder(_topk_card(nms_iou="high"))
    with pytest.raises(
        CardError, match=r"decoder.nms_class_agnostic: the model's NMS is class-agnostic"
    ):
        make_decoder(_topk_card(nms_iou=0.5, nms_class_agnostic=True))


def _siblings_model(strides_b: int = 1, heads: bool = True) -> onnx.ModelProto:
    """x [1, 8, 10, 12] -> two 3x3 convolutions -> Relu -> (1x1 convolutions) -> outputs."""
    rng = np.random.default_rng(5)

    def init(name, *shape):
        return numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)

    inits = [init("wa", 6, 8, 3, 3), init("ba", 6), init("wb", 5, 8, 3, 3), init("bb", 5),
             init("wc", 2, 6, 1, 1), init("bc", 2), init("wd", 3, 5, 1, 1)]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "wa", "ba"], ["a"], pads=[1] * 4),
        helper.make_node("Conv", ["x", "wb", "bb"], ["b"], pads=[1] * 4, strides=[strides_b] * 2),
        helper.make_node("Relu", ["a"], ["ra"]),
        helper.make_node("Relu", ["b"], ["rb"]),
    ]
    outs = ["ra", "rb"]
    if heads:
        nodes += [helper.make_node("Conv", ["ra", "wc", "bc"], ["c"]),
                  helper.make_node("Conv", ["rb", "wd"], ["d"])]  # fmt: skip
        outs = ["c", "d"]
    graph = helper.make_graph(
        nodes, "siblings", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 12])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


@pytest.mark.parametrize("heads", [True, False])
def test_sibling_convolutions_merge_exactly(heads):
    x = np.random.default_rng(1).normal(size=(1, 8, 10, 12)).astype(np.float32)
    model = _siblings_model(heads=heads)
    want = _run(model, x)
    assert merge_siblings(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Relu") == 1  # hoisted before the split
    if heads:  # the 1x1 heads read the merged tensor: no Split
        assert ops == ["Conv", "Relu", "Conv", "Conv"]
    else:
        assert ops == ["Conv", "Relu", "Split"]
    for got, ref in zip(_run(model, x), want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_siblings_with_other_strides_stay_apart():
    model = _siblings_model(strides_b=2)
    assert merge_siblings(model) == 0
    assert [n.op_type for n in model.graph.node].count("Conv") == 4


def _branch_model(out_3x3: bool = False, stride: int = 1) -> onnx.ModelProto:
    """x [1, 8, 10, 12] -> 3x3 Conv (zero padding 1) -> Relu -> 1x1 Conv -> d [1, 4, H, W]."""
    rng = np.random.default_rng(7)

    def init(name, *shape):
        return numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "wa", "ba"], ["a"], pads=[1] * 4, strides=[stride] * 2),
        helper.make_node("Relu", ["a"], ["ra"]),
        helper.make_node("Conv", ["ra", "wd", "bd"], ["d"]),
    ]
    outs = ["d", "a"] if out_3x3 else ["d"]
    graph = helper.make_graph(
        nodes, "branch", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 12])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
        [init("wa", 6, 8, 3, 3), init("ba", 6), init("wd", 4, 6, 1, 1), init("bd", 4)],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _rows_at(model: onnx.ModelProto, cells: np.ndarray):
    """gather_branch on ``d`` at ``cells``: (branch, rows from the rewritten model, dense d)."""
    x = np.random.default_rng(3).normal(size=(1, 8, 10, 12)).astype(np.float32)
    dense = _run(model, x)[0]
    ed = GraphEditor(model)
    branch = gather_branch(ed, "d", ed.const(cells, "cells"))
    if branch is None:
        return None, None, dense
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(branch.rows, TensorProto.FLOAT, None))
    return branch, _run(model, x)[0], dense


def test_a_branch_read_at_some_cells_is_computed_at_those_cells_exactly():
    # Every cell of the 10 x 12 map (corners and edges read the zero padding), some twice.
    cells = np.concatenate([np.arange(120), [0, 11, 119, 60]]).astype(np.int64)
    branch, rows, dense = _rows_at(_branch_model(), cells)
    assert (branch.dense_nodes, rows.shape) == (3, (124, 4))
    want = dense[0].reshape(4, -1)[:, cells].T
    np.testing.assert_allclose(rows, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["3x3 output read elsewhere", "strided 3x3"])
def test_a_branch_stops_at_a_convolution_it_cannot_compute_by_rows(case):
    # The 3x3 convolution stays dense; only the 1x1 convolution after it is computed by rows.
    cells = np.array([0, 5, 17, 29], np.int64)
    model = _branch_model(out_3x3=case.startswith("3x3"), stride=2 if "strided" in case else 1)
    branch, rows, dense = _rows_at(model, cells)
    assert branch.dense_nodes == 1
    assert [n.op_type for n in model.graph.node].count("Conv") == 2  # nothing pruned here
    np.testing.assert_allclose(rows, dense[0].reshape(4, -1)[:, cells].T, rtol=1e-5, atol=1e-5)


def test_a_branch_without_a_convolution_is_left_alone():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["d"])], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, None)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ed = GraphEditor(model)
    assert gather_branch(ed, "d", ed.const(np.array([0, 1], np.int64), "cells")) is None
    assert len(model.graph.node) == 1


def test_centernet_head_keeps_exactly_the_decoders_peaks_at_threshold_zero():
    # Plateaus (equal neighbours are all peaks), zeros, denormals and saturated scores: every
    # peak keeps its score bit for bit, every other cell scores below zero.
    rng = np.random.default_rng(11)
    heat = rng.random((1, 2, 6, 8)).astype(np.float32)
    heat[0, 0, :2, :3] = 0.75  # a plateau
    heat[0, 1, 3:, 4:] = 0.0
    heat[0, 1, 3, 4] = np.float32(1e-44)  # a denormal peak next to zeros
    heat[0, 1, 0, :2] = 1.0
    heat[0, 0, 3:, :4] = 0.25
    heat[0, 0, 4, 1] = np.nextafter(np.float32(0.5), np.float32(1))  # a peak one ulp above
    heat[0, 0, 4, 2] = 0.5  # a neighbour that is not one
    boxes = rng.random((1, 4, 6, 8)).astype(np.float32) * 8
    doc = {"model": "m.onnx", "decoder": {"name": "centernet", "stride": 4}, "classes": ["a", "b"],
           "labels": {"a": "CAR", "b": "TRUCK"}, "input": {"width": 32, "height": 24}}  # fmt: skip
    card = card_from_dict(doc)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["h"], ["heatmap"]),
         helper.make_node("Identity", ["b"], ["boxes"])], "cn",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 2, 6, 8]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4, 6, 8])],
        [helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, [1, 2, 6, 8]),
         helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4, 6, 8])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    add_head(model, card, 96)  # every cell of both classes
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got_boxes, got_scores, got_cls = (o[0] for o in sess.run(None, {"h": heat, "b": boxes}))
    want = make_decoder(card).decode([heat, boxes], 0.0)
    keep = got_scores >= 0.0
    assert keep.sum() == len(want) and (got_scores[~keep] < 0).all()
    ours = sorted(zip(got_cls[keep].tolist(), got_scores[keep].tolist(), got_boxes[keep].tolist()))
    theirs = sorted(zip(want.classes.tolist(), want.scores.tolist(), want.boxes.tolist()))
    assert [(c, s) for c, s, _ in ours] == [(c, s) for c, s, _ in theirs]  # scores bit for bit
    np.testing.assert_allclose([b for *_, b in ours], [b for *_, b in theirs], atol=1e-5)
