"""Ground truth agrees with the sensors: an actor ahead is in the lidar points and in the camera
image at its projected box; the ego's GT motion agrees with GNSS and odometry and never collides."""

from __future__ import annotations

import numpy as np
import pymap3d
import pytest
import yaml
from scipy.spatial.transform import Rotation

from stack.msgs import stamp_to_ns
from tools.scenario import topics
from tools.scenario.boxes import footprint, footprints_overlap
from tools.scenario.messages import actor_uuid

TRUCK_OR_CAR = {1, 2}


def _rot(q) -> Rotation:
    return Rotation.from_quat([q.x, q.y, q.z, q.w])


def _yaw(q) -> float:
    return float(_rot(q).as_euler("xyz")[2])


def _at(stamped, ns):
    for t, msg in stamped:
        if t == ns:
            return msg
    raise AssertionError(f"no message at {ns}")


def _extrinsic(messages, frame):
    [(_, tf)] = messages[topics.TF_STATIC]
    [x] = [t for t in tf.transforms if t.child_frame_id == frame]
    tr = x.transform.translation
    return _rot(x.transform.rotation), np.array([tr.x, tr.y, tr.z])


def _world_to_sensor(messages, ns, frame):
    """A function mapping world points (N,3) into a sensor frame at stamp ns."""
    pose = _at(messages[topics.GT_EGO_POSE], ns).pose
    r_wb = _rot(pose.orientation)
    p_wb = np.array([pose.position.x, pose.position.y, pose.position.z])
    r_bs, p_bs = _extrinsic(messages, frame)

    def apply(points):
        base = r_wb.inv().apply(points - p_wb)
        return r_bs.inv().apply(base - p_bs)

    return apply


def _box_corners(obj) -> np.ndarray:
    pose = obj.kinematics.pose_with_covariance.pose
    d = obj.shape.dimensions
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * 0.5
    local = signs * [d.x, d.y, d.z]
    center = np.array([pose.position.x, pose.position.y, pose.position.z])
    return _rot(pose.orientation).apply(local) + center


def _ids_by_uuid(bag) -> dict[bytes, int]:
    doc = yaml.safe_load((bag / "scenario.yaml").read_text())
    return {actor_uuid(a["id"]).tobytes(): a["id"] for a in doc["actors"]}


def _lead_vehicle(messages, ns):
    """The nearest car/truck ahead of the ego in its lane at stamp ns."""
    to_base = _world_to_sensor(messages, ns, topics.FRAME_IMU)  # imu_link == base_link axes
    best, best_x = None, np.inf
    for obj in _at(messages[topics.GT_OBJECTS], ns).objects:
        if obj.classification[0].label not in TRUCK_OR_CAR:
            continue
        p = obj.kinematics.pose_with_covariance.pose.position
        x, y, _ = to_base(np.array([[p.x, p.y, p.z]]))[0]
        if 4.0 < x < best_x and abs(y) < 2.0:
            best, best_x = obj, x
    assert best is not None, "the scenario starts with a leader ahead"
    return best


@pytest.mark.parametrize("frame", [0, 10, 20])
def test_lead_vehicle_is_in_the_lidar_points(mcap_messages, frame):
    ns = stamp_to_ns(mcap_messages[topics.LIDAR_POINTS][frame][1].header.stamp)
    lead = _lead_vehicle(mcap_messages, ns)
    cloud = _at(mcap_messages[topics.LIDAR_POINTS], ns)
    pts = np.frombuffer(cloud.data, np.float32).reshape(-1, 4)[:, :3].astype(float)
    corners = _world_to_sensor(mcap_messages, ns, topics.FRAME_LIDAR)(_box_corners(lead))
    # Points inside the box (in the box frame, a little margin for range noise).
    pose = lead.kinematics.pose_with_covariance.pose
    to_lidar = _world_to_sensor(mcap_messages, ns, topics.FRAME_LIDAR)
    center = to_lidar(np.array([[pose.position.x, pose.position.y, pose.position.z]]))[0]
    yaw = np.arctan2(*(corners[4] - corners[0])[[1, 0]])  # box x axis in the lidar frame
    c, s = np.cos(yaw), np.sin(yaw)
    rel = pts - center
    local = np.column_stack(
        [c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]]
    )
    d = lead.shape.dimensions
    half = np.array([d.x, d.y, d.z]) / 2 + 0.1
    inside = np.all(np.abs(local) <= half, axis=1) & (local[:, 2] > -d.z / 2 + 0.15)
    assert inside.sum() >= 10
    # Its points face the ego: their range matches the box's near side.
    dist = np.linalg.norm(pts[inside, :2], axis=1)
    assert dist.min() == pytest.approx(np.linalg.norm(center[:2]) - d.x / 2, abs=0.6)


@pytest.mark.parametrize("frame", [0, 10, 20])
def test_lead_vehicle_is_in_the_camera_at_its_projected_box(mcap_bag, mcap_messages, frame):
    ns = stamp_to_ns(mcap_messages[topics.CAMERA_IMAGE][frame][1].header.stamp)
    lead = _lead_vehicle(mcap_messages, ns)
    actor_id = _ids_by_uuid(mcap_bag)[bytes(lead.object_id.uuid)]
    info = _at(mcap_messages[topics.CAMERA_INFO], ns)
    k = np.asarray(info.k).reshape(3, 3)
    pc = _world_to_sensor(mcap_messages, ns, topics.FRAME_CAMERA)(_box_corners(lead))
    assert np.all(pc[:, 2] > 0)
    uv = (pc @ k.T)[:, :2] / pc[:, 2:3]
    u0, v0 = np.clip(uv.min(axis=0), 0, [info.width, info.height])
    u1, v1 = np.clip(uv.max(axis=0), 0, [info.width, info.height])
    boxes = _at(mcap_messages[topics.GT_CAMERA_BOXES], ns)
    [det] = [d for d in boxes.detections if d.id == str(actor_id)]
    assert det.results[0].hypothesis.class_id in ("car", "truck")
    assert det.results[0].hypothesis.score > 0.5  # the leader is mostly visible
    b = det.bbox
    du0, du1 = b.center.position.x - b.size_x / 2, b.center.position.x + b.size_x / 2
    dv0, dv1 = b.center.position.y - b.size_y / 2, b.center.position.y + b.size_y / 2
    inter = max(0, min(u1, du1) - max(u0, du0)) * max(0, min(v1, dv1) - max(v0, dv0))
    union = (u1 - u0) * (v1 - v0) + (du1 - du0) * (dv1 - dv0) - inter
    assert inter / union > 0.7
    # The actor is in the pixels: its box differs from the road just below it.
    image = _at(mcap_messages[topics.CAMERA_IMAGE], ns)
    img = np.asarray(image.data).reshape(image.height, image.width, 3).astype(float)
    inside = img[int(dv0) : int(dv1), int(du0) : int(du1)].reshape(-1, 3)
    h = int(dv1 - dv0)
    below = img[
        int(dv1) + 2 : min(int(dv1) + 2 + h // 2, image.height), int(du0) : int(du1)
    ].reshape(-1, 3)
    assert np.linalg.norm(inside.mean(0) - below.mean(0)) > 10 or inside.std() > 2 * below.std()


def test_camera_boxes_are_inside_the_image_and_scored(mcap_messages):
    seen = 0
    for _, arr in mcap_messages[topics.GT_CAMERA_BOXES]:
        for det in arr.detections:
            b = det.bbox
            assert (
                b.center.position.x - b.size_x / 2 >= 0
                and b.center.position.x + b.size_x / 2 <= 640
            )
            assert (
                b.center.position.y - b.size_y / 2 >= 0
                and b.center.position.y + b.size_y / 2 <= 384
            )
            assert 0 < det.results[0].hypothesis.score <= 1
            assert det.results[0].hypothesis.class_id in {"car", "truck", "pedestrian", "bicycle"}
            assert det.results[0].pose.pose.position.z > 0  # in front of the camera
            seen += 1
    assert seen > 20


def test_gnss_and_odometry_agree_with_the_ego_pose(mcap_messages):
    _r_bg, p_bg = _extrinsic(mcap_messages, topics.FRAME_GNSS)
    errors = []
    for t, fix in mcap_messages[topics.GNSS_FIX]:
        pose = _at(mcap_messages[topics.GT_EGO_POSE], t).pose
        antenna = _rot(pose.orientation).apply(p_bg) + np.array(
            [pose.position.x, pose.position.y, 0.0]
        )
        e, n, _ = pymap3d.geodetic2enu(
            fix.latitude, fix.longitude, fix.altitude, 48.1351, 11.582, 520.0
        )
        errors.append(np.hypot(e - antenna[0], n - antenna[1]))
    assert 0.1 < np.sqrt(np.mean(np.square(errors))) < 4.0  # noisy, ~1 m
    poses = mcap_messages[topics.GT_EGO_POSE]
    xy = np.array([[p.pose.position.x, p.pose.position.y] for _, p in poses])
    gt_speed = np.hypot(*np.diff(xy, axis=0).T) / 0.02
    odo_speed = np.array([m.twist.twist.linear.x for _, m in mcap_messages[topics.ODOMETRY]])
    assert abs(np.mean(odo_speed[1:]) - np.mean(gt_speed)) < 0.3


def test_objects_carry_labels_sizes_and_motion(mcap_messages):
    _, arr = mcap_messages[topics.GT_OBJECTS][5]
    labels = {o.classification[0].label for o in arr.objects}
    assert labels <= {1, 2, 6, 7} and 1 in labels
    for o in arr.objects:
        d = o.shape.dimensions
        if o.classification[0].label == 1:
            assert 3.5 < d.x < 5.5 and 1.5 < d.y < 2.1 and 1.3 < d.z < 1.8
        if o.classification[0].label == 7:
            assert d.z > 1.4 and d.y < 0.8
        assert o.kinematics.orientation_availability == 2
    moving = [o for o in arr.objects if not o.kinematics.is_stationary]
    assert moving and all(o.kinematics.twist_with_covariance.twist.linear.x > -0.5 for o in moving)


def test_ego_never_overlaps_an_actor(mcap_messages):
    for t, arr in mcap_messages[topics.GT_OBJECTS]:
        pose = _at(mcap_messages[topics.GT_EGO_POSE], t).pose
        yaw = _yaw(pose.orientation)
        cx, cy = pose.position.x + 1.4 * np.cos(yaw), pose.position.y + 1.4 * np.sin(yaw)
        ego = footprint(cx, cy, yaw, 4.7, 1.85)
        for o in arr.objects:
            p = o.kinematics.pose_with_covariance.pose
            d = o.shape.dimensions
            other = footprint(p.position.x, p.position.y, _yaw(p.orientation), d.x, d.y)
            assert not footprints_overlap(ego, other)
