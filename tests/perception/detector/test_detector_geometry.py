"""NMS, letterbox round trip, image decoding and the ground-plane 3D lift."""

from __future__ import annotations

import numpy as np
import pytest

from perception.detector import (
    ImageError,
    InputSpec,
    LiftConfig,
    PadPosition,
    Resize,
    ResizeMode,
    image_to_bgr,
    iou_matrix,
    lift_boxes,
    nms,
    preprocess,
)
from perception.objects import Label
from stack import msgs
from stack.engine import ChannelOrder


def test_nms_suppresses_overlaps_within_a_class_only():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert nms(boxes, scores, 0.5, classes=np.array([0, 0, 1, 0])).tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.5, max_keep=1).tolist() == [0]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_iou_matrix_values():
    iou = iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]])


@pytest.mark.parametrize("position", [PadPosition.CENTER, PadPosition.TOP_LEFT])
def test_letterbox_round_trip(position):
    spec = InputSpec(320, 320, ResizeMode.LETTERBOX, pad_value=114, pad_position=position)
    plan = Resize.plan(spec, 640, 384)
    assert plan.sx == pytest.approx(0.5) and plan.sy == pytest.approx(0.5)
    assert plan.pad_y == (64.0 if position is PadPosition.CENTER else 0.0)
    boxes = np.array([[10, 20, 100, 200], [600, 300, 640, 384]], np.float32)
    np.testing.assert_allclose(plan.to_image(plan.to_input(boxes)), boxes, atol=1e-4)
    img = np.full((384, 640, 3), 200, np.uint8)
    tensor, _ = preprocess(img, spec)
    assert tensor.shape == (1, 3, 320, 320)
    pad_row = 10 if position is PadPosition.CENTER else 300
    assert tensor[0, 0, pad_row, 5] == pytest.approx(114 / 255)
    assert tensor[0, 0, 160, 160] == pytest.approx(200 / 255)


@pytest.mark.parametrize("resize", [ResizeMode.STRETCH, ResizeMode.LETTERBOX])
def test_to_image_clips_each_coordinate_to_the_image(resize):
    """Boxes mapped back are clipped per column (x to the width, y to the height), as np.clip
    of each column gives; a NaN stays NaN (the detector drops it before)."""
    plan = Resize.plan(InputSpec(320, 320, resize), 640, 384)
    rng = np.random.default_rng(3)
    boxes = (rng.random((500, 4)) * 500 - 100).astype(np.float32)
    boxes[0, 1] = np.nan
    scale = np.array([plan.sx, plan.sy] * 2, np.float32)
    want = (boxes - np.array([plan.pad_x, plan.pad_y] * 2, np.float32)) / scale
    want[:, 0::2] = np.clip(want[:, 0::2], 0, 640)
    want[:, 1::2] = np.clip(want[:, 1::2], 0, 384)
    got = plan.to_image(boxes)
    assert got.dtype == np.float32 and np.array_equal(got, want, equal_nan=True)
    assert np.nanmax(got[:, 0::2]) == 640.0 and np.nanmax(got[:, 1::2]) == 384.0  # both limits


def test_plans_are_shared_per_input_and_size_and_immutable():
    spec = InputSpec(320, 192)
    _, a = preprocess(np.zeros((384, 640, 3), np.uint8), spec)
    _, b = preprocess(np.ones((384, 640, 3), np.uint8), spec)
    _, c = preprocess(np.zeros((192, 320, 3), np.uint8), spec)
    assert a is b and c is not a and c.sx == 1.0
    with pytest.raises(ValueError):
        a._scale[0] = 2.0  # shared by every frame: read-only


def test_preprocess_channel_order_and_normalisation():
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255  # blue
    spec = InputSpec(
        4, 4, channel_order=ChannelOrder.RGB, scale=1.0, mean=(0, 0, 100), std=(1, 1, 2)
    )
    tensor, plan = preprocess(img, spec)
    assert plan.sx == 1.0
    assert tensor[0, 2, 0, 0] == pytest.approx((255 - 100) / 2)  # blue went last
    assert tensor[0, 0, 0, 0] == 0.0
    bgr_tensor, _ = preprocess(img, InputSpec(4, 4, channel_order=ChannelOrder.BGR, scale=1.0))
    assert bgr_tensor[0, 0, 0, 0] == 255.0


def _image(encoding, width, height, step, data):
    return msgs.new("sensor_msgs/msg/Image", encoding=encoding, width=width, height=height,
                    step=step, data=np.asarray(data, np.uint8))  # fmt: skip


def test_image_to_bgr_encodings_and_row_padding():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 9  # red
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = rgb.reshape(2, 9)
    bgr = image_to_bgr(_image("rgb8", 3, 2, 12, padded.ravel()))
    assert bgr.shape == (2, 3, 3) and bgr[0, 0].tolist() == [0, 0, 9]
    mono = image_to_bgr(_image("mono8", 3, 2, 3, np.arange(6)))
    assert mono[1, 2].tolist() == [5, 5, 5]


@pytest.mark.parametrize(
    ("encoding", "width", "height", "step", "size", "message"),
    [
        ("16UC1", 2, 2, 4, 8, "encoding '16UC1' not supported"),
        ("bgr8", 2, 2, 6, 11, "needs 12 bytes, got 11"),
        ("bgr8", 2, 2, 4, 8, "step 4 is less than width 2 x 3"),
        ("bgr8", 0, 2, 0, 0, "image size 0x2 is empty"),
    ],
)
def test_image_to_bgr_errors(encoding, width, height, step, size, message):
    with pytest.raises(ImageError, match=message):
        image_to_bgr(_image(encoding, width, height, step, np.zeros(size)))


def _projected_box(geom, centre, dims):
    """The image box of a yaw-0 3D box: the extent of its 8 projected corners."""
    signs = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    corners = np.asarray(centre) + signs * np.asarray(dims)
    uv = geom.project(corners)
    return np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])


@pytest.mark.parametrize(
    ("centre", "label"),
    [
        ((20.0, 2.0, 0.75), Label.CAR),
        ((45.0, -3.5, 0.75), Label.CAR),
        ((12.0, 1.0, 0.86), Label.PEDESTRIAN),
    ],
)
def test_lift_of_a_projected_box_recovers_its_position(camera_geometry, centre, label):
    dims = {Label.CAR: (4.5, 1.8, 1.5), Label.PEDESTRIAN: (0.35, 0.56, 1.72)}[label]
    box = _projected_box(camera_geometry, centre, dims)
    objs, idx = lift_boxes(camera_geometry, box[None], np.array([label]), np.array([0.9]))
    assert idx.tolist() == [0]
    got = objs.position[0]
    true_range, got_range = np.hypot(*centre[:2]), np.hypot(*got[:2])
    assert abs(got_range - true_range) < 0.03 * true_range + 0.3
    assert abs(got[1] - centre[1]) < 0.3
    assert got[2] == pytest.approx(dims[2] / 2)
    assert objs.label[0] == label and objs.score[0] == pytest.approx(0.9)
    assert objs.cov_xy[0, 0, 0] >= 0.3**2  # farther objects are less certain


def test_lift_skips_boxes_above_the_horizon_or_too_far(camera_geometry):
    above = np.array([[300, 100, 340, 150]])  # bottom above the principal row: sky
    far = np.array([[318, 180, 322, 192.5]])  # bottom just below the horizon: hundreds of m
    objs, idx = lift_boxes(camera_geometry, np.concatenate([above, far]), np.array([1, 1]),
                           np.array([0.5, 0.5]), LiftConfig(max_distance=100.0))  # fmt: skip
    assert len(objs) == 0 and idx.tolist() == []


def _ground_hits(geom, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the rays through pixels (u, v) meet z = 0: (N, 3) points and a valid mask (the ray
    points down; pixels at or above the horizon never reach the road)."""
    d = geom.rays(np.asarray(u, float), np.asarray(v, float))
    origin = geom.camera_to_base.translation
    down = d[:, 2] < -1e-9
    if down.all():  # the usual case: every box's bottom lies below the horizon
        s = -origin[2] / d[:, 2]
    else:
        s = np.where(down, -origin[2] / np.where(down, d[:, 2], -1.0), np.nan)
    valid = down & (s > 0)
    return origin + s[:, None] * d, valid


def _lift_reference(geom, boxes, labels, scores, config):
    """The array form of the lift (as it was before it went per box): the values to match."""
    from perception.detector.lift import SIZE_PRIORS

    priors = np.array([SIZE_PRIORS[Label(i)] for i in range(len(Label))])
    hit, valid = _ground_hits(geom, 0.5 * (boxes[:, 0] + boxes[:, 2]), boxes[:, 3])
    dims = priors[labels]
    ray = hit[:, :2] - geom.camera_to_base.translation[:2]
    dist = np.linalg.norm(ray, axis=1)
    heading = ray / np.maximum(dist, 1e-9)[:, None]
    extent = dims[:, 0] * np.abs(heading[:, 0]) + dims[:, 1] * np.abs(heading[:, 1])
    centre = hit[:, :2] + heading * (0.5 * extent)[:, None]
    valid &= np.linalg.norm(centre, axis=1) <= config.max_distance
    idx = np.flatnonzero(valid)
    cam_h = max(float(geom.camera_to_base.translation[2]), 0.1)
    std = np.maximum(
        config.min_pos_std, config.pixel_sigma * dist[idx] ** 2 / (geom.k[1, 1] * cam_h)
    )
    position = np.column_stack([centre[idx], 0.5 * dims[idx, 2]])
    return position, dims[idx], std, idx


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lift_gives_the_array_forms_values_bit_for_bit(camera_geometry, seed):
    """Per box in Python numbers, the lift gives exactly the array form's numbers (the same
    IEEE operations in the same order), drops the same boxes (sky, too far) and copies its
    inputs rather than keeping them."""
    from perception.detector.lift import CameraGeometry
    from perception.geometry import RigidTransform
    from tests.perception.detector.conftest import CAMERA_XYZRPY

    rng = np.random.default_rng(seed)
    k = camera_geometry.k.copy()
    k[0, 1] = 0.7 * seed  # a skewed camera on a rolled, pitched mount as well
    x, _, z, roll, pitch, yaw = CAMERA_XYZRPY
    xyzrpy = (x, 0.3 * seed, z, roll + 0.02 * seed, pitch + 0.01, yaw - 0.03 * seed)
    geom = CameraGeometry(k, RigidTransform.from_xyzrpy(*xyzrpy), 640, 384)
    x1, y1 = rng.uniform(0, 600, 40), rng.uniform(0, 380, 40)
    boxes = np.column_stack([x1, y1, x1 + rng.uniform(1, 80, 40), y1 + rng.uniform(0.5, 90, 40)])
    labels = rng.integers(0, len(Label), 40).astype(np.uint8)
    scores = rng.uniform(0.3, 1.0, 40).astype(np.float32)
    config = LiftConfig(max_distance=60.0)
    objs, idx = lift_boxes(geom, boxes, labels, scores, config)
    position, dims, std, want_idx = _lift_reference(geom, boxes, labels, scores, config)
    assert 0 < len(idx) < 40  # some dropped (sky, too far), some kept
    assert idx.tolist() == want_idx.tolist() and idx.dtype == want_idx.dtype
    assert objs.position.tobytes() == position.tobytes()
    assert objs.dims.tobytes() == dims.tobytes()
    assert objs.cov_xy.tobytes() == (np.eye(2)[None] * (std**2)[:, None, None]).tobytes()
    assert objs.label.tolist() == labels[idx].tolist() and objs.label.dtype == np.uint8
    assert objs.score.tolist() == scores[idx].astype(float).tolist()
    assert not objs.yaw.any() and not objs.velocity.any() and not objs.uuid.any()
    objs.label[:] = 0
    assert labels[idx].any()  # not a view of the caller's labels
    none, none_idx = lift_boxes(geom, np.zeros((0, 4)), np.zeros(0, np.uint8), np.zeros(0))
    assert len(none) == 0 and none.position.shape == (0, 3) and none_idx.tolist() == []
