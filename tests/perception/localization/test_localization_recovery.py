"""The EKF recovers: bad first fixes, a poisoned heading, an IMU mounted without a transform."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from perception.geometry import quaternion_to_yaw, wrap_angle
from perception.localization.gnss_align import align
from perception.localization.node import EkfLocalizer
from stack import msgs, topics
from stack.errors import ParamError
from tests.perception.localization import sim
from tests.perception.localization.test_localization_node import ORIGIN, T0, _fix, _wheel

PLANE_PARAMS = {"origin_lat": ORIGIN[0], "origin_lon": ORIGIN[1], "origin_alt": ORIGIN[2]}


def _imu(fake, stamp, gyro, accel, frame="base_link", yaw=None, yaw_var=1e-4):
    cov = np.zeros(9)
    if yaw is None:
        cov[0] = -1.0
        q = (0.0, 0.0, 0.0, 1.0)
    else:
        cov[8] = yaw_var
        q = Rotation.from_euler("z", yaw).as_quat()
    return msgs.new(
        "sensor_msgs/msg/Imu",
        header=fake.header(stamp, frame),
        orientation=msgs.new("geometry_msgs/msg/Quaternion", x=q[0], y=q[1], z=q[2], w=q[3]),
        orientation_covariance=cov,
        angular_velocity=msgs.new("geometry_msgs/msg/Vector3", **dict(zip("xyz", gyro))),
        linear_acceleration=msgs.new("geometry_msgs/msg/Vector3", **dict(zip("xyz", accel))),
    )


def _run(fake, ctx, seconds, bad=None, mount=None, frame="base_link", ahrs=False, seed=1):
    """Drive an s-curve; ``bad(i, xy)`` may replace a fix; ``mount`` rotates the IMU's axes."""
    from perception.localization.geodesy import LocalTangentPlane

    plane = LocalTangentPlane(*ORIGIN)
    drive = sim.s_curve(seconds, yaw0=1.2)
    rot = np.eye(3) if mount is None else mount.as_matrix()
    errors = []
    for kind, i, stamp, value in sim.measurements(drive, np.random.default_rng(seed), sim.Noise()):
        stamp += T0
        if kind == "imu":
            gyro = rot.T @ np.array([0.0, 0.0, value[0]])
            accel = rot.T @ np.array([value[1], 0.0, 9.81])
            yaw = drive.yaw[i] if ahrs else None
            ctx.deliver(topics.IMU, _imu(fake, stamp, gyro, accel, frame, yaw))
            odom = ctx.sent(topics.LOCALIZATION_ODOMETRY)
            if odom and msgs.stamp_to_ns(odom[-1].header.stamp) == stamp:
                p = odom[-1].pose.pose.position
                errors.append((drive.t[i], math.hypot(p.x - drive.x[i], p.y - drive.y[i])))
        elif kind == "wheel":
            ctx.deliver(topics.VEHICLE_ODOMETRY, _wheel(fake, stamp, value))
        else:
            xy = value if bad is None else bad(i // 10, value)
            ctx.deliver(topics.GNSS_FIX, _fix(fake, stamp, plane, xy))
    return drive, np.array(errors)


def _recovered_by(errors: np.ndarray, within_m: float = 1.0) -> float:
    """The time after which the error stays within ``within_m``."""
    bad = errors[errors[:, 1] > within_m]
    return float(bad[-1, 0]) if len(bad) else float(errors[0, 0])


def test_align_rejects_outlier_fixes_and_recovers_rotation():
    t = np.linspace(0, 5, 51)
    path = np.c_[10 * t, 0.5 * t**2]
    rng = np.random.default_rng(0)
    c, s = math.cos(1.0), math.sin(1.0)
    fixes = path @ np.array([[c, s], [-s, c]]) + [30.0, -4.0] + rng.normal(0, 0.5, path.shape)
    fixes[:3] += 500.0
    found = align(path, fixes, 3.0, 8.0)
    assert found is not None
    assert found.yaw == pytest.approx(1.0, abs=0.02)
    assert not found.inliers[:3].any() and found.inliers[3:].all()
    assert align(path[:2], fixes[:2], 3.0, 100.0) is None  # no pair spans 100 m


@pytest.mark.parametrize(
    "name, bad",
    [
        ("first fix 30 m off", lambda k, xy: np.add(xy, [30.0, 0.0]) if k == 0 else xy),
        ("first three 500 m off", lambda k, xy: np.add(xy, [0.0, 500.0]) if k < 3 else xy),
    ],
)
def test_bad_first_fixes_do_not_poison_the_initial_pose(fake, name, bad):
    node, ctx = fake.make_node(EkfLocalizer, **PLANE_PARAMS)
    drive, errors = _run(fake, ctx, 20.0, bad=bad)
    assert len(errors) > 1500, name
    assert _recovered_by(errors) - errors[0, 0] <= 10.0, name  # within 1 m in 10 s of good fixes
    last = ctx.sent(topics.LOCALIZATION_ODOMETRY)[-1].pose.pose
    assert abs(wrap_angle(quaternion_to_yaw(last.orientation) - drive.yaw[-1])) < 0.03
    assert node.resets == 0


def test_poisoned_heading_is_reinitialised_from_agreeing_fixes(fake):
    # A wrong /initialpose-like start: 90 degrees off, tight covariance; every fix disagrees.
    node, ctx = fake.make_node(
        EkfLocalizer, initial_pose=[0.0, 0.0, 1.2 + math.pi / 2], **PLANE_PARAMS
    )
    _drive, errors = _run(fake, ctx, 20.0)
    assert node.resets == 1
    assert _recovered_by(errors) <= 10.0
    assert errors[-1, 1] < 1.0


def test_imu_mounting_from_tf_static_is_applied(fake):
    mount = Rotation.from_euler("xyz", [90.0, 0.0, -90.0], degrees=True)
    _node, ctx = fake.make_node(EkfLocalizer, **PLANE_PARAMS)
    q = mount.as_quat()
    tf = msgs.new(
        "tf2_msgs/msg/TFMessage",
        transforms=[
            msgs.new(
                "geometry_msgs/msg/TransformStamped",
                header=fake.header(T0, "base_link"),
                child_frame_id="imu_link",
                transform=msgs.new(
                    "geometry_msgs/msg/Transform",
                    rotation=msgs.new(
                        "geometry_msgs/msg/Quaternion", x=q[0], y=q[1], z=q[2], w=q[3]
                    ),
                ),
            )
        ],
    )
    ctx.deliver(topics.TF_STATIC, tf)
    _, errors = _run(fake, ctx, 20.0, mount=mount, frame="imu_link")
    assert errors[-1, 1] < 1.0
    assert ctx.event_counts["missing_transform"] == 0


def test_imu_without_transform_warns_once_counts_once_and_levels(fake, caplog):
    mount = Rotation.from_euler("xyz", [90.0, 0.0, -90.0], degrees=True)
    _node, ctx = fake.make_node(EkfLocalizer, **PLANE_PARAMS)
    with caplog.at_level("WARNING"):
        _, errors = _run(fake, ctx, 20.0, mount=mount, frame="imu_link")
    assert ctx.event_counts["missing_transform"] == 1
    warnings = [r for r in caplog.records if "no transform base_link <- 'imu_link'" in r.message]
    assert len(warnings) == 1 and "imu_without_transform='level'" in warnings[0].message
    assert errors[-1, 1] < 1.0  # levelled from gravity: the yaw rate is still right


def test_imu_without_transform_raw_drifts_and_drop_counts(fake):
    mount = Rotation.from_euler("xyz", [90.0, 0.0, -90.0], degrees=True)
    _, ctx = fake.make_node(EkfLocalizer, imu_without_transform="raw", **PLANE_PARAMS)
    _, errors = _run(fake, ctx, 20.0, mount=mount, frame="imu_link")
    assert ctx.event_counts["missing_transform"] == 1
    assert errors[-1, 1] > 5.0  # the raw axes: no yaw rate, the pose leaves the fixes
    _, ctx = fake.make_node(EkfLocalizer, imu_without_transform="drop", **PLANE_PARAMS)
    _run(fake, ctx, 2.0, mount=mount, frame="imu_link")
    assert ctx.event_counts["drop"] >= 200 and ctx.sent(topics.LOCALIZATION_ODOMETRY) == []


def test_ahrs_heading_is_fused_where_its_covariance_is_valid(fake):
    node, ctx = fake.make_node(EkfLocalizer, initial_pose=[0.0, 0.0, 1.2])
    _run(fake, ctx, 5.0, ahrs=True)
    assert node.yaw_disagreements == 0
    yaw_var = np.asarray(ctx.sent(topics.LOCALIZATION_ODOMETRY)[-1].pose.covariance)[35]
    _node2, ctx2 = fake.make_node(EkfLocalizer, initial_pose=[0.0, 0.0, 1.2])
    _run(fake, ctx2, 5.0, ahrs=False)
    yaw_var2 = np.asarray(ctx2.sent(topics.LOCALIZATION_ODOMETRY)[-1].pose.covariance)[35]
    assert yaw_var < 0.2 * yaw_var2  # the heading is held by the AHRS, not only integrated


def test_ahrs_in_another_yaw_frame_is_dropped_after_a_warning(fake):
    node, ctx = fake.make_node(EkfLocalizer, initial_pose=[0.0, 0.0, 1.2], imu_yaw_offset=2.0)
    _run(fake, ctx, 3.0, ahrs=True)
    assert node.yaw_disagreements == 50
    assert sum("orientation yaw" in d for _, d in ctx.events) == 1


def test_slip_grows_the_wheel_speed_std(fake):
    node, ctx = fake.make_node(EkfLocalizer, slip_speed_std_per_rad_s=2.0)
    ctx.deliver(topics.IMU, _imu(fake, T0, (0.0, 0.0, 0.0), (0.0, 0.0, 9.81)))
    msg = _wheel(fake, T0, 5.0)
    msg.twist.twist.angular.z = 0.5  # the wheels say turning, the gyro says straight
    assert node._wheel_std(msg) == pytest.approx(math.hypot(0.1, 1.0))
    msg.twist.twist.angular.z = 0.0
    assert node._wheel_std(msg) == pytest.approx(0.1)


def test_sensor_configs_are_checked_and_named(fake):
    with pytest.raises(ParamError, match=r"imu_config must be 15 booleans"):
        fake.make_node(EkfLocalizer, imu_config=[True])
    with pytest.raises(ParamError, match=r"odom_config\[6\] must be true or false \(got 1\)"):
        fake.make_node(EkfLocalizer, odom_config=[False] * 6 + [1] + [False] * 8)
    with pytest.raises(ParamError, match=r"imu_without_transform='guess' is not one of"):
        fake.make_node(EkfLocalizer, imu_without_transform="guess")
    # robot_localization's Jackal config (3-D entries among them) is accepted; 3-D parts ignored
    rl_imu = [False] * 3 + [True] * 3 + [False] * 3 + [True] * 6
    node, _ = fake.make_node(EkfLocalizer, imu_config=rl_imu)
    assert node.imu_use == {"yaw", "vyaw", "ax"}


def test_a_500m_jump_of_2s_mid_drive_is_gated_not_followed(fake):
    node, ctx = fake.make_node(EkfLocalizer, **PLANE_PARAMS)
    _, errors = _run(
        fake, ctx, 20.0, bad=lambda k, xy: np.add(xy, [0.0, 500.0]) if 100 <= k < 120 else xy
    )
    assert node.resets == 0  # 2 s of agreeing bad fixes: shorter than gnss_reset_s
    assert sum("rejected as an outlier" in d for _, d in ctx.events) >= 20
    assert errors[errors[:, 0] > 10.0, 1].max() < 1.0
