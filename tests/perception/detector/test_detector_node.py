"""The CameraDetector node end to end on real ONNX models with a fake context."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from perception.detector import CardError, iou_matrix
from perception.detector.node import CameraDetector, CameraDetectorParams
from perception.objects import Label, objects_from_msg
from stack import msgs, topics

STAMP = 1_700_000_000_123_000_000


def _tf_static(fake, det):
    x, y, z, roll, pitch, yaw = det.CAMERA_XYZRPY
    quat = Rotation.from_euler("xyz", [roll, pitch, yaw]).as_quat()
    return fake.tf_static("camera_front", (x, y, z), tuple(quat))


def _camera_info(det, width=640, height=384):
    return msgs.new(
        "sensor_msgs/msg/CameraInfo", width=width, height=height, k=det.K.ravel().copy()
    )


def _image(fake, width=640, height=384, encoding="bgr8", data=None):
    channels = 1 if encoding == "mono8" else 3
    if data is None:
        data = np.full(width * height * channels, 90, np.uint8)
    return msgs.new(
        "sensor_msgs/msg/Image",
        header=fake.header(STAMP, "camera_front"),
        width=width,
        height=height,
        encoding=encoding,
        step=width * channels,
        data=data,
    )


def _ready_node(make_ctx, fake, det, card_path, **params):
    ctx = make_ctx(card=str(card_path), **params)
    node = CameraDetector(ctx)
    ctx.deliver(topics.TF_STATIC, _tf_static(fake, det))
    ctx.deliver(topics.CAMERA_INFO, _camera_info(det))
    return node, ctx


def test_node_publishes_lifted_objects_with_the_image_stamp(make_ctx, fake, det, constant_detector):
    # A car peak at cell (row 14, col 20): image box (308, 220)-(348, 244); a bicycle at
    # (row 2, col 2) whose class the card does not publish.
    card = constant_detector(
        [(0, 14, 20, 0.9, (10.0, 6.0, 10.0, 6.0)), (3, 2, 2, 0.8, (4.0,) * 4)],
        {"labels": {"car": "CAR", "truck": "TRUCK", "pedestrian": "PEDESTRIAN"}},
    )
    _node, ctx = _ready_node(make_ctx, fake, det, card)
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    (out,) = ctx.sent(topics.CAMERA_OBJECTS)
    assert msgs.stamp_to_ns(out.header.stamp) == STAMP and out.header.frame_id == "base_link"
    objs = objects_from_msg(out)
    assert len(objs) == 1 and objs.label[0] == Label.CAR
    assert objs.score[0] == pytest.approx(0.9, abs=1e-6)
    # ground hit of the bottom edge (v = 244): 1.5 m * fx / 52 px ahead of the camera (x = 1.9)
    hit_x = 1.9 + 1.5 * det.FX / 52.0
    assert hit_x < objs.position[0, 0] < hit_x + 2.5
    assert abs(objs.position[0, 1]) < 0.3
    (boxes,) = ctx.sent(topics.CAMERA_DETECTIONS_2D)
    (d,) = boxes.detections
    assert d.results[0].hypothesis.class_id == "car"
    assert (d.bbox.center.position.x, d.bbox.center.position.y) == pytest.approx(
        (328, 232), abs=0.01
    )
    assert (d.bbox.size_x, d.bbox.size_y) == pytest.approx((40, 24), abs=0.01)
    assert not ctx.events


def test_node_uses_fallback_extrinsic_without_tf(make_ctx, fake, det, constant_detector):
    card = constant_detector([(0, 14, 20, 0.9, (10.0, 6.0, 10.0, 6.0))])
    ctx = make_ctx(card=str(card), fallback_extrinsic=list(det.CAMERA_XYZRPY), publish_2d=False)
    CameraDetector(ctx)
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))  # no camera_info yet: counted, nothing published
    assert (
        ctx.event_counts["drop"] == 1 and "no /sensing/camera/front/camera_info" in ctx.events[0][1]
    )
    assert ctx.sent(topics.CAMERA_OBJECTS) == []
    ctx.deliver(topics.CAMERA_INFO, _camera_info(det))
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    assert len(ctx.sent(topics.CAMERA_OBJECTS)[0].objects) == 1
    assert topics.CAMERA_DETECTIONS_2D not in ctx.publishers


def test_bad_images_are_counted_not_raised(make_ctx, fake, det, constant_detector):
    _node, ctx = _ready_node(make_ctx, fake, det, constant_detector([]))
    ctx.deliver(
        topics.CAMERA_IMAGE, _image(fake, encoding="32FC1", data=np.zeros(640 * 384 * 3, np.uint8))
    )
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake, data=np.zeros(100, np.uint8)))
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake, width=320, height=192))
    ctx.deliver(topics.CAMERA_INFO, msgs.new("sensor_msgs/msg/CameraInfo"))  # K all zeros
    reasons = [why for kind, why in ctx.events if kind == "drop"]
    assert len(reasons) == 4
    assert "encoding '32FC1' not supported" in reasons[0]
    assert "needs 737280 bytes, got 100" in reasons[1]
    assert "image 320x192 does not match camera_info 640x384" in reasons[2]
    assert "is not a pinhole matrix" in reasons[3]
    assert ctx.sent(topics.CAMERA_OBJECTS) == []
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake, encoding="mono8"))  # still served after bad input
    assert (
        len(ctx.sent(topics.CAMERA_OBJECTS)) == 1
        and ctx.sent(topics.CAMERA_OBJECTS)[0].objects == []
    )


def test_model_not_matching_its_card_fails_at_load(make_ctx, tmp_path, det):
    det.build_constant_onnx(
        tmp_path / "m.onnx",
        (1, 3, 192, 320),
        {"heatmap": np.zeros((1, 3, 24, 40)), "boxes": np.zeros((1, 4, 24, 40))},
    )
    (tmp_path / "m.json").write_text(json.dumps(det.centernet_card(model="m.onnx")))
    with pytest.raises(
        CardError,
        match=r"output 'heatmap' .*expected shape \[1,4,24,40\], the model has \[1,3,24,40\]",
    ):
        CameraDetector(make_ctx(card=str(tmp_path / "m.json")))
    (tmp_path / "n.json").write_text(
        json.dumps(det.centernet_card(model="m.onnx", input={"width": 640, "height": 384}))
    )
    with pytest.raises(
        CardError,
        match=r"input 'images': the card expects float32\[1,3,384,640\], the model has images: float32\[1,3,192,320\]",
    ):
        CameraDetector(make_ctx(card=str(tmp_path / "n.json")))
    (tmp_path / "o.json").write_text(
        json.dumps(
            det.centernet_card(
                model="m.onnx", decoder={"name": "centernet", "outputs": ["heat", "boxes"]}
            )
        )
    )
    with pytest.raises(
        CardError, match=r"'heat' is not an output of the model; outputs: \['heatmap', 'boxes'\]"
    ):
        CameraDetector(make_ctx(card=str(tmp_path / "o.json")))


def test_params_validate():
    with pytest.raises(ValueError, match="fallback_extrinsic"):
        CameraDetectorParams(fallback_extrinsic=[1.0, 2.0]).validate()
    with pytest.raises(ValueError, match="score_threshold"):
        CameraDetectorParams(score_threshold=2.0).validate()


def test_fastestdet_runs_through_the_node(make_ctx, fake, det, shared_data, tmp_path):
    """The real third-party COCO model, with a card written here (the model is not copied)."""
    model_dir = shared_data / "onnx" / "fastestdet"
    if not (model_dir / "FastestDet.onnx").exists():
        pytest.skip("FastestDet.onnx not in the shared data")
    card = {
        "model": str(model_dir / "FastestDet.onnx"),
        "input": {"width": 352, "height": 352, "resize": "stretch", "channel_order": "bgr"},
        "decoder": {"name": "fastestdet"},
        "classes": str(model_dir / "coco.names"),
        "labels": {
            "person": "PEDESTRIAN",
            "bicycle": "BICYCLE",
            "car": "CAR",
            "motorbike": "MOTORCYCLE",
            "bus": "BUS",
            "truck": "TRUCK",
        },
        "score_threshold": 0.65,
        "nms_threshold": 0.45,
    }
    (tmp_path / "fastestdet.yaml").write_text(json.dumps(card))
    node, ctx = _ready_node(make_ctx, fake, det, tmp_path / "fastestdet.yaml")
    assert node.card.num_classes == 80 and node.detector.input.name == "input.1"
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    assert len(ctx.sent(topics.CAMERA_OBJECTS)) == 1 and not ctx.events
    bad = dict(card, classes=["person", "car"], labels={"car": "CAR"})
    (tmp_path / "bad.yaml").write_text(json.dumps(bad))
    with pytest.raises(
        CardError,
        match=r"output '758' .*expected shape \[1,7,\?,\?\], the model has \[1,85,22,22\]",
    ):
        CameraDetector(make_ctx(card=str(tmp_path / "bad.yaml")))


def test_launch_file_parameters_are_typed_and_validated():
    from stack.graph import GraphError, parse_graph

    text = """
name: cam
executors: {main: {cores: [0]}}
nodes:
  detector:
    class: perception.detector.node:CameraDetector
    executor: main
    params: {score_threshold: 0.4, fallback_extrinsic: [1.9, 0, 1.5, -1.5708, 0, -1.5708]}
"""
    graph = parse_graph(text)
    params = graph.nodes["detector"].params
    assert params.score_threshold == 0.4 and params.card == "" and params.publish_2d
    with pytest.raises(GraphError, match="fallback_extrinsic must be"):
        parse_graph(text.replace("[1.9, 0, 1.5, -1.5708, 0, -1.5708]", "[1, 2]"))
    with pytest.raises(GraphError, match="score_threshold: expected"):
        parse_graph(text.replace("0.4", "high"))


def test_shipped_model_detects_scenario_vehicles(make_ctx, fake, tmp_path):
    """The packaged demo detector (default card) on a generated scenario: real data end to end."""
    from perception.models import CAMERA_DETECTOR_CARD
    from stack.replay import Bag
    from tools.scenario import make_scenario
    from tools.scenario import topics as bag_topics

    if not CAMERA_DETECTOR_CARD.exists():
        pytest.skip("the demo model is not trained yet")
    make_scenario(tmp_path / "bag", 0.5, 12, traffic="dense", progress=False)
    wanted = (
        bag_topics.TF_STATIC,
        bag_topics.CAMERA_INFO,
        bag_topics.CAMERA_IMAGE,
        bag_topics.GT_CAMERA_BOXES,
    )
    with Bag(tmp_path / "bag") as bag:
        found = [(c.topic, msgs.deserialize(raw, c.msgtype)) for c, _, raw in bag.messages(wanted)]
    node = CameraDetector(make_ctx())  # card "" = the shipped model
    assert node.card.decoder.name == "centernet"
    ctx = node.ctx
    for topic, msg in found:
        if topic != bag_topics.GT_CAMERA_BOXES:
            ctx.deliver(topic, msg)
    assert not ctx.events
    truth = [m for t, m in found if t == bag_topics.GT_CAMERA_BOXES][-1]
    gt_vehicles = [
        d
        for d in truth.detections
        if d.results[0].hypothesis.class_id in ("car", "truck")
        and d.bbox.size_y >= 30
        and d.results[0].hypothesis.score > 0.9
    ]
    objs = objects_from_msg(ctx.sent(topics.CAMERA_OBJECTS)[-1])
    assert (objs.label == Label.CAR).sum() >= 1
    assert np.all(objs.position[:, 0] > 1.9)  # everything lies ahead of the camera
    dets = node.last_detections
    vehicle_boxes = dets.boxes[np.isin(dets.labels, [Label.CAR, Label.TRUCK])]
    assert gt_vehicles
    for gt in gt_vehicles:  # every clearly visible vehicle is found, where the truth says
        c, sx, sy = gt.bbox.center.position, gt.bbox.size_x, gt.bbox.size_y
        box = np.array([[c.x - sx / 2, c.y - sy / 2, c.x + sx / 2, c.y + sy / 2]])
        assert iou_matrix(box, vehicle_boxes).max() >= 0.5


def test_node_holds_its_cards_as_variants_and_switches_between_them(
    make_ctx, fake, det, constant_detector
):
    dense = constant_detector([(0, 14, 20, 0.9, (10.0, 6.0, 10.0, 6.0))], name="dense")
    pruned = constant_detector([(1, 14, 20, 0.9, (10.0, 6.0, 10.0, 6.0))], name="pruned")
    ctx = make_ctx(cards=[str(dense), str(pruned)])
    node = CameraDetector(ctx)
    assert node.models.names == ("dense", "pruned") and node.models.name == "dense"
    ctx.deliver(topics.TF_STATIC, _tf_static(fake, det))
    ctx.deliver(topics.CAMERA_INFO, _camera_info(det))
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    assert (
        ctx.sent(topics.CAMERA_DETECTIONS_2D)[-1].detections[0].results[0].hypothesis.class_id
        == "car"
    )
    assert node.models.cost_ms[0] is not None and node.models.cost_ms[1] is None
    node.models.switch(1, "low slack")
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    assert (
        ctx.sent(topics.CAMERA_DETECTIONS_2D)[-1].detections[0].results[0].hypothesis.class_id
        == "truck"
    )
    assert node.models.cost_ms[1] is not None and node.card.model == "pruned.onnx"
    assert ctx.events == [
        ("switch", f"{node.models.names[0]} -> {node.models.names[1]}: low slack")
    ]


def test_cards_params_are_checked():
    with pytest.raises(ValueError, match=r"cards must not repeat a card \(got \['a', 'a'\]\)"):
        CameraDetectorParams(cards=["a", "a"]).validate()
    with pytest.raises(
        ValueError,
        match=r"cards and card are exclusive: list the card first in cards \(got \['b'\]\)",
    ):
        CameraDetectorParams(card="a", cards=["b"]).validate()


def test_shipped_cards_by_name():
    from perception.models import CAMERA_DETECTOR_CARD, resolve_card

    assert resolve_card(object(), "models:camera_detector.yaml") == CAMERA_DETECTOR_CARD
    assert resolve_card(object(), "") == CAMERA_DETECTOR_CARD


def test_a_card_asking_for_engine_options_gets_them_for_its_variant_only(
    constant_detector, make_ctx
):
    dense = constant_detector([], name="dense")
    sparse = constant_detector([], {"engine": {"sparse_weights": True}}, name="s24")
    ctx = make_ctx(cards=[str(dense), str(sparse)])
    asked = []
    load = ctx.engine

    def engine(model, **options):
        asked.append((Path(model).stem, options.get("sparse_weights", False)))
        return load(model, **options)

    ctx.engine = engine
    node = CameraDetector(ctx)
    assert asked == [("dense", False), ("s24", True)]
    assert node.models.names == ("dense", "s24")


def test_a_new_camera_info_or_tf_replaces_the_reused_geometry(
    make_ctx, fake, det, constant_detector
):
    """The node makes its camera geometry once and reuses it frame after frame, until a new
    camera_info (here a longer focal length: the car lands farther away) or tf_static comes."""
    card = constant_detector([(0, 14, 20, 0.9, (10.0, 6.0, 10.0, 6.0))])
    node, ctx = _ready_node(make_ctx, fake, det, card)
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    first = node._geometry("camera_front")
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    assert node._geometry("camera_front") is first
    a, b = (objects_from_msg(m).position[0, 0] for m in ctx.sent(topics.CAMERA_OBJECTS))
    assert a == b
    info = _camera_info(det)
    info.k[0] *= 2.0
    info.k[4] *= 2.0
    ctx.deliver(topics.CAMERA_INFO, info)
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    assert node._geometry("camera_front") is not first
    far = objects_from_msg(ctx.sent(topics.CAMERA_OBJECTS)[-1]).position[0, 0]
    assert far > a + 5.0  # twice the focal length: the bottom edge lies about twice as far
    ctx.deliver(
        topics.TF_STATIC, fake.tf_static("camera_front", (0.0, 0.0, 3.0), (0.5, -0.5, 0.5, -0.5))
    )
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    assert objects_from_msg(ctx.sent(topics.CAMERA_OBJECTS)[-1]).position[0, 0] != far


def test_2d_message_is_the_same_through_any_factory(make_ctx, fake, det, constant_detector):
    """detections_2d_msg's positional makers (rosbags) and a factory called by keyword (rclpy's
    route) give the same Detection2DArray."""
    from perception.detector.node import detections_2d_msg

    card = constant_detector(
        [(0, 14, 20, 0.9, (10.0, 6.0, 10.0, 6.0)), (1, 5, 30, 0.7, (3.0,) * 4)]
    )
    node, ctx = _ready_node(make_ctx, fake, det, card)
    ctx.deliver(topics.CAMERA_IMAGE, _image(fake))
    dets, header = node.last_detections, fake.header(STAMP, "camera_front")
    fast = detections_2d_msg(msgs.new, header, dets, node.card.classes)
    slow = detections_2d_msg(lambda t, **f: msgs.new(t, **f), header, dets, node.card.classes)
    assert len(fast.detections) == 2 and repr(fast) == repr(slow)
    assert msgs.serialize(fast) == msgs.serialize(slow)
    assert [d.results[0].hypothesis.class_id for d in fast.detections] == ["car", "truck"]
    assert fast.detections[0].results[0].pose.pose.orientation.w == 0.0  # ROS default, as new()
    assert fast.detections[0].results[0].pose is not fast.detections[1].results[0].pose
