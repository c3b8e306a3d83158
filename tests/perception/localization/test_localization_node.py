from __future__ import annotations

import math

import numpy as np
import pytest

from perception.geometry import quaternion_to_yaw, wrap_angle
from perception.localization.geodesy import LocalTangentPlane
from perception.localization.node import EkfLocalizer, LocalizationError
from stack import msgs, topics
from stack.errors import ParamError
from tests.perception.localization import sim

ORIGIN = (48.1351, 11.5820, 520.0)
T0 = 1_700_000_000 * 1_000_000_000


def _imu(fake, stamp, yaw_rate, accel):
    return msgs.new(
        "sensor_msgs/msg/Imu",
        header=fake.header(stamp, "base_link"),
        angular_velocity=msgs.new("geometry_msgs/msg/Vector3", z=float(yaw_rate)),
        linear_acceleration=msgs.new("geometry_msgs/msg/Vector3", x=float(accel), z=9.81),
    )


def _wheel(fake, stamp, speed):
    twist = msgs.new(
        "geometry_msgs/msg/Twist", linear=msgs.new("geometry_msgs/msg/Vector3", x=float(speed))
    )
    return msgs.new(
        "nav_msgs/msg/Odometry",
        header=fake.header(stamp, "odom"),
        child_frame_id="base_link",
        twist=msgs.new("geometry_msgs/msg/TwistWithCovariance", twist=twist),
    )


def _fix(fake, stamp, plane, enu_xy, status=0):
    lat, lon, alt = plane.to_geodetic(np.array([enu_xy[0], enu_xy[1], 0.0]))
    return msgs.new(
        "sensor_msgs/msg/NavSatFix",
        header=fake.header(stamp, "gnss_link"),
        status=msgs.new("sensor_msgs/msg/NavSatStatus", status=status, service=1),
        latitude=float(lat),
        longitude=float(lon),
        altitude=float(alt),
        position_covariance=np.array([1.0, 0, 0, 0, 1.0, 0, 0, 0, 4.0]),
        position_covariance_type=2,
    )


def _drive(fake, ctx, seconds=20.0, jump_index=None, seed=0):
    plane = LocalTangentPlane(*ORIGIN)
    drive = sim.s_curve(seconds)
    for kind, i, stamp, value in sim.measurements(drive, np.random.default_rng(seed), sim.Noise()):
        stamp += T0
        if kind == "imu":
            ctx.deliver(topics.IMU, _imu(fake, stamp, *value))
        elif kind == "wheel":
            ctx.deliver(topics.VEHICLE_ODOMETRY, _wheel(fake, stamp, value))
        else:
            if i == jump_index:
                value = value + np.array([0.0, 50.0])
            ctx.deliver(topics.GNSS_FIX, _fix(fake, stamp, plane, value))
    return drive


def test_initialises_from_gnss_course_and_tracks_the_drive(fake):
    _, ctx = fake.make_node(
        EkfLocalizer, origin_lat=ORIGIN[0], origin_lon=ORIGIN[1], origin_alt=ORIGIN[2]
    )
    drive = _drive(fake, ctx, seconds=20.0)
    odom = ctx.sent(topics.LOCALIZATION_ODOMETRY)
    assert 1500 < len(odom) < len(drive.t)  # nothing before the 8 m course initialisation
    last = odom[-1]
    assert msgs.stamp_to_ns(last.header.stamp) == T0 + round(drive.t[-1] * 1e9)
    assert (last.header.frame_id, last.child_frame_id) == ("map", "base_link")
    pos = last.pose.pose.position
    assert math.hypot(pos.x - drive.x[-1], pos.y - drive.y[-1]) < 0.6
    assert abs(wrap_angle(quaternion_to_yaw(last.pose.pose.orientation) - drive.yaw[-1])) < 0.03
    assert last.twist.twist.linear.x == pytest.approx(drive.v[-1], abs=0.1)
    cov = np.asarray(last.pose.covariance).reshape(6, 6)
    assert 0 < cov[0, 0] < 1.0 and 0 < cov[5, 5] < 0.01
    tf = ctx.sent(topics.TF)[-1].transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("map", "base_link")
    assert tf.transform.translation.x == pytest.approx(pos.x)
    assert ctx.event_counts["drop"] <= 1  # at most a rare 99.9 % gate rejection


def test_gnss_jump_of_50m_is_gated_and_counted(fake):
    _, ctx = fake.make_node(
        EkfLocalizer, origin_lat=ORIGIN[0], origin_lon=ORIGIN[1], origin_alt=ORIGIN[2]
    )
    drive = _drive(fake, ctx, seconds=12.0, jump_index=1000)
    jumps = [d for _, d in ctx.events if "rejected as an outlier" in d]
    assert len(jumps) >= 1
    pos = ctx.sent(topics.LOCALIZATION_ODOMETRY)[-1].pose.pose.position
    assert math.hypot(pos.x - drive.x[-1], pos.y - drive.y[-1]) < 1.0


def test_bad_inputs_are_counted_not_crashing(fake):
    _, ctx = fake.make_node(
        EkfLocalizer, initial_pose=[0.0, 0.0, 0.0], origin_lat=ORIGIN[0], origin_lon=ORIGIN[1]
    )
    ctx.deliver(topics.IMU, _imu(fake, T0, float("nan"), 0.0))
    ctx.deliver(topics.VEHICLE_ODOMETRY, _wheel(fake, T0, float("inf")))
    plane = LocalTangentPlane(ORIGIN[0], ORIGIN[1])
    ctx.deliver(topics.GNSS_FIX, _fix(fake, T0, plane, (0.0, 0.0), status=-1))
    nan_fix = _fix(fake, T0, plane, (0.0, 0.0))
    nan_fix.latitude = float("nan")
    ctx.deliver(topics.GNSS_FIX, nan_fix)
    assert ctx.event_counts["drop"] == 4
    assert ctx.sent(topics.LOCALIZATION_ODOMETRY) == []
    ctx.deliver(topics.IMU, _imu(fake, T0 + 10_000_000, 0.0, 0.0))
    assert len(ctx.sent(topics.LOCALIZATION_ODOMETRY)) == 1  # initial_pose param: publishes at once
    ctx.deliver(topics.IMU, _imu(fake, T0 - 1_000_000_000, 0.0, 0.0))  # a second in the past
    assert "older than the filter" in ctx.events[-1][1]


def test_initial_pose_topic_initialises(fake):
    _, ctx = fake.make_node(EkfLocalizer)
    pose = msgs.new(
        "geometry_msgs/msg/PoseWithCovarianceStamped",
        header=fake.header(T0, "map"),
        pose=msgs.new("geometry_msgs/msg/PoseWithCovariance", pose=fake.pose(5.0, -2.0, 1.0)),
    )
    ctx.deliver(topics.INITIAL_POSE, pose)
    ctx.deliver(topics.IMU, _imu(fake, T0 + 10_000_000, 0.0, 0.0))
    out = ctx.sent(topics.LOCALIZATION_ODOMETRY)[-1].pose.pose
    assert (out.position.x, out.position.y) == (5.0, -2.0)
    assert quaternion_to_yaw(out.orientation) == pytest.approx(1.0)


def test_origin_is_read_from_the_scenario_map(fake, tmp_path):
    path = tmp_path / "map.npz"
    np.savez(path, centerline=np.zeros((2, 2)), enu_origin_lat_lon_alt=np.array(ORIGIN))
    node, _ = fake.make_node(EkfLocalizer, map_path=str(path))
    assert node.plane.origin == ORIGIN


def test_bad_map_and_params_are_named(fake, tmp_path):
    path = tmp_path / "map.npz"
    np.savez(path, origin=np.array([1.0]))
    with pytest.raises(LocalizationError, match=r"map\.npz: key 'origin'"):
        fake.make_node(EkfLocalizer, map_path=str(path))
    with pytest.raises(LocalizationError, match="cannot read map"):
        fake.make_node(EkfLocalizer, map_path=str(tmp_path / "missing.npz"))
    with pytest.raises(ParamError, match=r"initial_pose must be \[x, y, yaw\] \(got \[1.0\]\)"):
        fake.make_node(EkfLocalizer, initial_pose=[1.0])
    with pytest.raises(ParamError, match=r"^gnss_std must be > 0 \(got -1.0\)$"):
        fake.make_node(EkfLocalizer, gnss_std=-1.0)
