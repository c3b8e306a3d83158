from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import Pose2D, quaternion_to_yaw
from perception.lidar.pointcloud import make_pointcloud2
from perception.localization.node import EkfLocalizer
from perception.localization.scan_matching import ScanMatcher, ScanMatchError
from perception.localization.scan_node import ScanMatcherNode
from stack import msgs, topics

T0 = 1_700_000_000_000_000_000


def _map_xy() -> np.ndarray:
    x = np.arange(-60.0, 60.0, 0.1)
    walls = [np.column_stack([x, np.full(len(x), y)]) for y in (-10.0, 10.0)]
    poles = [
        np.array([[px, py]]) + np.random.default_rng(0).normal(0, 0.1, (10, 2))
        for px in range(-50, 60, 10)
        for py in (-6.0, 6.0)
    ]
    return np.concatenate(walls + poles)


def _odometry(fake, stamp, pose: Pose2D):
    return fake.odometry(stamp, pose.x, pose.y, pose.yaw)


def _sweep(fake, stamp, truth: Pose2D):
    local = truth.inverse().apply(_map_xy())
    pts = np.column_stack([local, np.full(len(local), 1.5), np.zeros(len(local))])
    return make_pointcloud2(msgs.new, fake.header(stamp, "base_link"), pts)


def test_refines_the_odometry_pose_and_feeds_the_ekf(fake):
    matcher = ScanMatcher(_map_xy())
    ctx = fake.FakeContext(ScanMatcherNode.Params(), "scan")
    ScanMatcherNode(ctx, matcher=matcher)
    truth, guess = Pose2D(3.0, 0.5, 0.02), Pose2D(4.0, -0.3, 0.0)
    ctx.deliver(topics.LIDAR_POINTS, _sweep(fake, T0, truth))
    assert ctx.sent(topics.SCAN_POSE) == []  # no pose to refine yet, and that is not an error
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, guess))
    ctx.deliver(topics.LIDAR_POINTS, _sweep(fake, T0, truth))
    (out,) = ctx.sent(topics.SCAN_POSE)
    assert msgs.stamp_to_ns(out.header.stamp) == T0 and out.header.frame_id == "map"
    pose = out.pose.pose
    assert (pose.position.x, pose.position.y) == pytest.approx((3.0, 0.5), abs=0.05)
    assert quaternion_to_yaw(pose.orientation) == pytest.approx(0.02, abs=0.003)

    _, ectx = fake.make_node(EkfLocalizer, initial_pose=[4.0, -0.3, 0.0])
    ectx.deliver(topics.IMU, msgs.new("sensor_msgs/msg/Imu", header=fake.header(T0, "base_link")))
    ectx.deliver(topics.SCAN_POSE, out)
    ectx.deliver(
        topics.IMU,
        msgs.new("sensor_msgs/msg/Imu", header=fake.header(T0 + 10_000_000, "base_link")),
    )
    est = ectx.sent(topics.LOCALIZATION_ODOMETRY)[-1].pose.pose.position
    assert (est.x, est.y) == pytest.approx((3.0, 0.5), abs=0.1)


def test_persistent_scan_disagreement_reinitialises_the_ekf(fake):
    ekf, ctx = fake.make_node(EkfLocalizer, initial_pose=[0.0, 0.0, 0.0], scan_reset_after=3)
    ctx.deliver(topics.IMU, msgs.new("sensor_msgs/msg/Imu", header=fake.header(T0, "base_link")))
    ekf.ekf.p[:3, :3] = np.diag([1e-4, 1e-4, 1e-6])  # a (wrongly) confident filter
    far = msgs.new(
        "geometry_msgs/msg/PoseWithCovarianceStamped",
        header=fake.header(T0, "map"),
        pose=msgs.new(
            "geometry_msgs/msg/PoseWithCovariance",
            covariance=np.diag([0.01, 0.01, 0, 0, 0, 1e-4]).ravel(),
            pose=fake.pose(20.0),
        ),
    )
    for _ in range(2):
        ctx.deliver(topics.SCAN_POSE, far)
    assert ekf.ekf.x[0] == pytest.approx(0.0) and ctx.event_counts["drop"] == 2
    ctx.deliver(topics.SCAN_POSE, far)
    assert ekf.ekf.x[0] == pytest.approx(20.0)
    far.pose.covariance[0] = float("nan")
    ctx.deliver(topics.SCAN_POSE, far)
    assert "non-finite" in ctx.events[-1][1]


def test_bad_clouds_and_missing_map_are_reported(fake):
    ctx = fake.FakeContext(ScanMatcherNode.Params(), "scan")
    ScanMatcherNode(ctx, matcher=ScanMatcher(_map_xy()))
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, Pose2D()))
    ctx.deliver(
        topics.LIDAR_POINTS,
        make_pointcloud2(msgs.new, fake.header(T0, "lidar_top"), np.ones((50, 4))),
    )
    assert "no tf_static" in ctx.events[-1][1]
    empty = make_pointcloud2(msgs.new, fake.header(T0, "base_link"), np.zeros((0, 4)))
    ctx.deliver(topics.LIDAR_POINTS, empty)
    assert "scan match failed" in ctx.events[-1][1]
    with pytest.raises(ScanMatchError, match="map_path"):
        fake.make_node(ScanMatcherNode)
