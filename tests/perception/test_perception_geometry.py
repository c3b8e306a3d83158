from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import (
    Pose2D,
    PoseHistory,
    RigidTransform,
    quaternion_to_matrix,
    quaternion_to_yaw,
    wrap_angle,
    yaw_to_quaternion,
)
from perception.tf import StaticTransforms
from stack import msgs


def _quat(yaw: float):
    x, y, z, w = yaw_to_quaternion(yaw)
    return msgs.new("geometry_msgs/msg/Quaternion", x=x, y=y, z=z, w=w)


def test_wrap_angle_maps_into_half_open_interval():
    angles = np.array([0.0, np.pi, -np.pi, 3 * np.pi / 2, -7.0])
    wrapped = wrap_angle(angles)
    assert np.all((wrapped >= -np.pi) & (wrapped < np.pi))
    assert np.allclose(np.cos(wrapped), np.cos(angles)) and np.allclose(
        np.sin(wrapped), np.sin(angles)
    )


@pytest.mark.parametrize("yaw", [0.0, 0.5, -2.0, 3.1])
def test_yaw_quaternion_round_trip(yaw):
    assert quaternion_to_yaw(_quat(yaw)) == pytest.approx(yaw)


def test_quaternion_matrix_rejects_zero_quaternion():
    with pytest.raises(ValueError, match="no rotation"):
        quaternion_to_matrix(0.0, 0.0, 0.0, 0.0)


def test_rigid_transform_from_xyzrpy_matches_quaternion():
    yaw = 0.7
    t = RigidTransform.from_xyzrpy(1.0, 2.0, 3.0, 0.0, 0.0, yaw)
    assert np.allclose(t.rotation, quaternion_to_matrix(*yaw_to_quaternion(yaw)))
    pts = np.array([[1.0, 0.0, 0.0]], np.float32)
    out = t.apply(pts)
    assert out.dtype == np.float32
    assert np.allclose(out, [[1 + np.cos(yaw), 2 + np.sin(yaw), 3.0]], atol=1e-6)


def test_pose2d_inverse_undoes_apply():
    pose = Pose2D(3.0, -1.0, 0.9)
    pts = np.array([[1.0, 2.0], [-4.0, 0.5]])
    assert np.allclose(pose.inverse().apply(pose.apply(pts)), pts)


def test_pose_history_interpolates_and_refuses_far_stamps():
    hist = PoseHistory()
    hist.add(0, Pose2D(0.0, 0.0, np.pi - 0.1))
    hist.add(1_000_000_000, Pose2D(10.0, 0.0, -np.pi + 0.1))  # yaw crosses +-pi
    mid = hist.at(500_000_000, 0)
    assert mid.x == pytest.approx(5.0)
    assert abs(wrap_angle(mid.yaw - np.pi)) < 1e-9
    assert hist.at(2_000_000_000, 100_000_000) is None
    assert hist.at(1_050_000_000, 100_000_000).x == pytest.approx(10.0)


def _tf(parent: str, child: str, xyz, yaw: float):
    x, y, z = xyz
    return msgs.new(
        "geometry_msgs/msg/TransformStamped",
        header=msgs.new("std_msgs/msg/Header", frame_id=parent),
        child_frame_id=child,
        transform=msgs.new(
            "geometry_msgs/msg/Transform",
            translation=msgs.new("geometry_msgs/msg/Vector3", x=x, y=y, z=z),
            rotation=_quat(yaw),
        ),
    )


def test_static_transforms_compose_chains_and_siblings():
    tree = StaticTransforms()
    msg = msgs.new(
        "tf2_msgs/msg/TFMessage",
        transforms=[
            _tf("base_link", "sensor_kit", (1.0, 0.0, 2.0), 0.0),
            _tf("sensor_kit", "lidar_top", (0.0, 0.0, 0.5), np.pi / 2),
            _tf("base_link", "camera", (2.0, 0.0, 1.0), 0.0),
        ],
    )
    assert tree.add_message(msg) == []
    lidar_to_base = tree.lookup("base_link", "lidar_top")
    assert np.allclose(lidar_to_base.apply(np.array([[1.0, 0.0, 0.0]])), [[1.0, 1.0, 2.5]])
    lidar_to_camera = tree.lookup("camera", "lidar_top")
    assert np.allclose(lidar_to_camera.apply(np.array([[0.0, 0.0, 0.0]])), [[-1.0, 0.0, 1.5]])
    assert tree.lookup("base_link", "unknown_frame") is None
    assert np.allclose(tree.lookup("camera", "camera").rotation, np.eye(3))


def test_static_transforms_report_bad_rotation():
    tree = StaticTransforms()
    bad = _tf("base_link", "imu", (0, 0, 0), 0.0)
    bad.transform.rotation.w = 0.0
    problems = tree.add_message(msgs.new("tf2_msgs/msg/TFMessage", transforms=[bad]))
    assert len(problems) == 1 and "imu" in problems[0]
    assert tree.lookup("base_link", "imu") is None
