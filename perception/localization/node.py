"""EkfLocalizer node: IMU + wheel odometry + GNSS -> /localization/odometry and map->base_link /tf.

Initialisation, in order of preference: the ``initial_pose`` parameter, a message on
/initialpose, or GNSS once a run of fixes spanning ``init_distance_m`` of dead-reckoned path
agrees on where that path lies (gnss_anchor: a bad first fix or a 500 m jump among them is an
outlier, not the anchor). Nothing is published before that. When GNSS is rejected persistently
while the fixes agree among themselves, or scan matching is, the filter re-initialises there.
Sensor use follows robot_localization's 15-boolean ``imu_config`` / ``odom_config`` (sensors.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from perception.geometry import quaternion_to_yaw
from perception.localization import outputs
from perception.localization.ekf import BIAS, YAW, PoseEkf, Update, V
from perception.localization.geodesy import LocalTangentPlane
from perception.localization.gnss_anchor import Anchor, DeadReckoning, GnssAnchor
from perception.localization.params import EkfLocalizerParams, LocalizationError, origin_from_map
from perception.localization.sensors import (
    IMU_USED,
    ODOM_USED,
    ImuFrames,
    ImuReading,
    MissingTransform,
    parse_config,
)  # fmt: skip
from perception.tf import StaticTransforms
from stack import topics
from stack.events import EventKind
from stack.msgs import stamp_to_ns
from stack.node import Context, Node
from stack.params import parse_enum

_NO_FIX = -1
_COVARIANCE_UNKNOWN = 0
_YAW_DISAGREE_LIMIT = 50  # consecutive rejected AHRS headings before they are no longer used
__all__ = ["EkfLocalizer", "EkfLocalizerParams", "LocalizationError", "origin_from_map"]


class EkfLocalizer(Node):
    """Fuses IMU, wheel speed and GNSS into the map->base_link pose."""

    Params = EkfLocalizerParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        p: EkfLocalizerParams = self.params
        self.ekf = PoseEkf(p.ekf)
        self.plane = self._configured_plane()
        self.tf = StaticTransforms()
        self.imu_use, ignored_imu = parse_config("imu_config", p.imu_config, IMU_USED)
        self.odom_use, ignored_odom = parse_config("odom_config", p.odom_config, ODOM_USED)
        for name, ignored in (("imu_config", ignored_imu), ("odom_config", ignored_odom)):
            if ignored:
                self.log.info("%s: %s not estimated by this planar filter, ignored", name, ignored)
        missing = parse_enum(MissingTransform, p.imu_without_transform, "imu_without_transform")
        self.imu_frames = ImuFrames(p.base_frame, self.tf, missing, p.imu_yaw_max_var)
        self.imu_warned = False
        self.yaw_disagreements = 0
        self.anchor = GnssAnchor(p.anchor_config(), DeadReckoning(p.ekf))
        self.wheel_speed = 0.0
        self.imu_yaw_rate: float | None = None
        self.first_imu_ns: int | None = None
        self.gnss_seen = False
        self.scan_rejections = 0
        self.speed_rejections = 0
        self.resets = 0  # re-initialisations after the filter diverged (GNSS or scan matching)
        self.odom_pub = ctx.publisher(topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry")
        self.tf_pub = ctx.publisher(topics.TF, "tf2_msgs/msg/TFMessage")
        ctx.subscribe(topics.TF_STATIC, "tf2_msgs/msg/TFMessage", self.on_tf_static, depth=100)
        ctx.subscribe(
            topics.INITIAL_POSE,
            "geometry_msgs/msg/PoseWithCovarianceStamped",
            self.on_initial_pose,
            depth=1,
        )
        ctx.subscribe(topics.GNSS_FIX, "sensor_msgs/msg/NavSatFix", self.on_gnss, depth=5)
        ctx.subscribe(
            topics.SCAN_POSE,
            "geometry_msgs/msg/PoseWithCovarianceStamped",
            self.on_scan_pose,
            depth=5,
        )
        ctx.subscribe(topics.VEHICLE_ODOMETRY, "nav_msgs/msg/Odometry", self.on_wheel, depth=10)
        ctx.subscribe(topics.IMU, "sensor_msgs/msg/Imu", self.on_imu, depth=10)
        self._pending_initial_pose = list(p.initial_pose)

    def _configured_plane(self) -> LocalTangentPlane | None:
        p = self.params
        if math.isfinite(p.origin_lat) and math.isfinite(p.origin_lon):
            return LocalTangentPlane(p.origin_lat, p.origin_lon, p.origin_alt)
        if p.map_path:
            origin = origin_from_map(p.map_path)
            if origin is not None:
                return LocalTangentPlane(*origin)
        return None

    # ------------------------------------------------------------ inputs

    def on_tf_static(self, msg: Any) -> None:
        for problem in self.tf.add_message(msg):
            self.ctx.event(EventKind.DROP, f"tf_static: {problem}")

    def on_initial_pose(self, msg: Any) -> None:
        pose = msg.pose.pose
        yaw = quaternion_to_yaw(pose.orientation)
        cov = np.asarray(msg.pose.covariance, float).reshape(6, 6)
        std_xy = math.sqrt(cov[0, 0]) if cov[0, 0] > 0 else 1.0
        std_yaw = math.sqrt(cov[5, 5]) if cov[5, 5] > 0 else 0.2
        stamp = stamp_to_ns(msg.header.stamp)
        x, y = pose.position.x, pose.position.y
        self.ekf.initialize(stamp, x, y, yaw, self.wheel_speed, std_xy, std_yaw)

    def on_imu(self, msg: Any) -> None:
        rate, acc = msg.angular_velocity, msg.linear_acceleration
        if not np.all(np.isfinite([rate.x, rate.y, rate.z, acc.x, acc.y, acc.z])):
            self.ctx.event(
                EventKind.DROP, f"{topics.IMU}: non-finite angular velocity or acceleration"
            )
            return
        stamp = stamp_to_ns(msg.header.stamp)
        reading = self._imu_reading(msg, stamp)
        if reading is None:
            return
        self._initialize_from_param(stamp)
        yaw_rate = reading.yaw_rate if "vyaw" in self.imu_use else self.ekf.yaw_rate
        known = "ax" in self.imu_use and not reading.levelled
        accel = reading.accel if known else 0.0
        self.imu_yaw_rate = yaw_rate
        self.anchor.dr.imu(stamp, yaw_rate, accel, known)
        if self.ekf.set_imu(stamp, yaw_rate, accel, known) is Update.STALE:
            self.ctx.event(EventKind.DROP, f"{topics.IMU}: {Update.STALE.value}")
            return
        if not self.ekf.initialized:
            self._start_without_gnss(stamp, reading)
        elif reading.yaw is not None and "yaw" in self.imu_use:
            self._imu_heading(stamp, reading)
        self._publish(msg.header.stamp)

    def _imu_reading(self, msg: Any, stamp: int) -> ImuReading | None:
        frame = msg.header.frame_id
        rot = self.imu_frames.rotation(frame)
        if rot is None:
            waited = self.imu_frames.missing_for_ns(stamp)
            if waited >= self.params.imu_tf_wait_s * 1e9 and not self.imu_warned:
                self.imu_warned = True
                how = self.imu_frames.missing.value
                detail = (
                    f"{topics.IMU}: no transform {self.params.base_frame} <- {frame!r} on "
                    f"{topics.TF_STATIC}; IMU handled as imu_without_transform={how!r} "
                    "(give the mounting, e.g. with stack.nodes.static_tf:StaticTransformPublisher)"
                )
                self.log.warning(detail)
                self.ctx.event(EventKind.MISSING_TRANSFORM, detail)
        reading = self.imu_frames.read(msg, rot)
        if reading is None:
            self.ctx.event(EventKind.DROP, f"{topics.IMU}: no transform for frame {frame!r}")
        return reading

    def _start_without_gnss(self, stamp: int, reading: ImuReading) -> None:
        """no_gnss_start_s: the dead-reckoned path so far, anchored at (0, 0)."""
        if self.first_imu_ns is None:
            self.first_imu_ns = stamp
        wait = self.params.no_gnss_start_s
        if wait <= 0 or self.gnss_seen or stamp - self.first_imu_ns < wait * 1e9:
            return
        x, y, dr_yaw = self.anchor.dr.ekf.x[:3]
        yaw = dr_yaw
        if reading.yaw is not None and "yaw" in self.imu_use:
            yaw = reading.yaw + self.params.imu_yaw_offset
        c, s = math.cos(yaw - dr_yaw), math.sin(yaw - dr_yaw)
        self.ekf.initialize(stamp, c * x - s * y, s * x + c * y, yaw, self.wheel_speed, 0.1, 0.05)
        self.log.warning(
            "no GNSS fix nor initial pose in %.1f s: started at the first IMU message's place, "
            "(0, 0) in %s", wait, self.params.map_frame,
        )  # fmt: skip

    def _imu_heading(self, stamp: int, reading: ImuReading) -> None:
        if self.yaw_disagreements >= _YAW_DISAGREE_LIMIT:
            return
        assert reading.yaw is not None
        yaw = reading.yaw + self.params.imu_yaw_offset
        result = self.ekf.update_yaw(stamp, yaw, reading.yaw_var)
        if result is Update.OUTLIER:
            self.yaw_disagreements += 1
            if self.yaw_disagreements == _YAW_DISAGREE_LIMIT:
                detail = (
                    f"{topics.IMU}: orientation yaw {yaw:.2f} rad disagrees with the filter's "
                    f"{self.ekf.x[YAW]:.2f} rad {_YAW_DISAGREE_LIMIT} times in a row; no longer "
                    "used (set imu_yaw_offset, or imu_config[5] false)"
                )
                self.log.warning(detail)
                self.ctx.event(EventKind.DROP, detail)
        elif result is Update.ACCEPTED:
            self.yaw_disagreements = 0

    def on_wheel(self, msg: Any) -> None:
        twist = msg.twist.twist
        speed = float(twist.linear.x)
        if not math.isfinite(speed):
            self.ctx.event(EventKind.DROP, f"{topics.VEHICLE_ODOMETRY}: non-finite speed")
            return
        stamp = stamp_to_ns(msg.header.stamp)
        self.wheel_speed = speed
        std = self._wheel_std(msg)
        self._initialize_from_param(stamp)
        if "vyaw" not in self.imu_use and "vyaw" in self.odom_use:
            self.ekf.set_imu(stamp, float(twist.angular.z), self.ekf.accel)
            self.anchor.dr.imu(stamp, float(twist.angular.z), self.ekf.accel)
        if "vx" not in self.odom_use:
            return
        self.anchor.dr.wheel(stamp, speed, std)
        result = self.ekf.update_speed(stamp, speed, std)
        self.speed_rejections = self.speed_rejections + 1 if result is Update.OUTLIER else 0
        if self.speed_rejections >= self.params.speed_reset_after:
            self.ekf.reset_speed(speed, std)
            self.speed_rejections = 0
            self.log.warning("wheel speed rejected persistently: speed reset to %.2f m/s", speed)
        if result in (Update.OUTLIER, Update.STALE):
            self.ctx.event(
                EventKind.DROP, f"{topics.VEHICLE_ODOMETRY}: speed {speed:.2f} m/s {result.value}"
            )

    def _wheel_std(self, msg: Any) -> float:
        """The speed's std: the message's covariance (or wheel_speed_std), grown with the slip
        that the odometry's and the IMU's yaw rates disagree by (skid-steer turns)."""
        var = float(msg.twist.covariance[0])
        std = math.sqrt(var) if math.isfinite(var) and var > 0 else self.params.wheel_speed_std
        wheel_rate = float(msg.twist.twist.angular.z)
        if "vyaw" in self.odom_use and self.imu_yaw_rate is not None and math.isfinite(wheel_rate):
            slip = abs(wheel_rate - (self.imu_yaw_rate - float(self.ekf.x[BIAS])))
            std = math.hypot(std, self.params.slip_speed_std_per_rad_s * slip)
        return std

    def on_gnss(self, msg: Any) -> None:
        fix = np.array([msg.latitude, msg.longitude, msg.altitude], float)
        if msg.status.status <= _NO_FIX or not np.all(np.isfinite(fix[:2])):
            self.ctx.event(EventKind.DROP, f"{topics.GNSS_FIX}: no fix")
            return
        alt = fix[2] if math.isfinite(fix[2]) else 0.0
        if self.plane is None:
            self.plane = LocalTangentPlane(fix[0], fix[1], alt)
            self.log.warning("no GNSS origin configured: the first fix %s is the map origin", fix)
        enu = self.plane.to_enu(fix[0], fix[1], alt)[:2]
        self.gnss_seen = True
        cov = self._gnss_covariance(msg)
        stamp = stamp_to_ns(msg.header.stamp)
        lever = self._lever_arm(msg.header.frame_id)
        if not self.ekf.initialized:
            self._reinitialize(stamp, self.anchor.initial_fix(stamp, enu, lever), cov, "")
            return
        result = self.ekf.update_position(stamp, enu, cov, lever)
        if result is Update.ACCEPTED:
            self.anchor.accepted_fix()
            return
        self.ctx.event(
            EventKind.DROP,
            f"{topics.GNSS_FIX}: fix at ({enu[0]:.1f}, {enu[1]:.1f}) m {result.value}",
        )
        if result is Update.OUTLIER:
            found = self.anchor.rejected_fix(stamp, enu, lever)
            self._reinitialize(stamp, found, cov, "GNSS rejected persistently")

    def _reinitialize(self, stamp: int, found: Anchor | None, cov: np.ndarray, why: str) -> None:
        if found is None:
            return
        std_xy = max(math.sqrt(max(cov[0, 0], cov[1, 1])), found.alignment.rms_m)
        std_yaw = 2.0 * std_xy / found.alignment.span_m
        self.ekf.initialize(stamp, found.x, found.y, found.yaw, self.wheel_speed, std_xy, std_yaw)
        self.anchor.reset()
        if why:
            self.resets += 1
            self.log.warning(
                "%s: re-initialised on %d agreeing fixes at x=%.1f y=%.1f yaw=%.2f",
                why, found.fixes, found.x, found.y, found.yaw,
            )  # fmt: skip
        else:
            self.log.info(
                "initialised from %d agreeing GNSS fixes: x=%.1f y=%.1f yaw=%.2f",
                found.fixes, found.x, found.y, found.yaw,
            )  # fmt: skip

    def on_scan_pose(self, msg: Any) -> None:
        pose = msg.pose.pose
        xyyaw = np.array([pose.position.x, pose.position.y, quaternion_to_yaw(pose.orientation)])
        cov = np.asarray(msg.pose.covariance, float).reshape(6, 6)[np.ix_([0, 1, 5], [0, 1, 5])]
        if not (
            np.all(np.isfinite(xyyaw)) and np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0)
        ):
            self.ctx.event(EventKind.DROP, f"{topics.SCAN_POSE}: non-finite pose or covariance")
            return
        stamp = stamp_to_ns(msg.header.stamp)
        result = self.ekf.update_pose(stamp, xyyaw, cov)
        if result is Update.OUTLIER:
            self.scan_rejections += 1
            if self.scan_rejections >= self.params.scan_reset_after:
                std = np.sqrt(np.diag(cov))
                self.ekf.initialize(
                    stamp, *xyyaw, float(self.ekf.x[V]), float(max(std[:2])), float(std[2])
                )
                self.scan_rejections = 0
                self.resets += 1
                self.log.warning("re-initialised at the scan-matched pose %s", xyyaw)
                return
        else:
            self.scan_rejections = 0
        if result is not Update.ACCEPTED:
            self.ctx.event(EventKind.DROP, f"{topics.SCAN_POSE}: {result.value}")

    def _lever_arm(self, frame: str) -> tuple[float, float]:
        """The GNSS antenna's (x, y) in base_link from tf_static; (0, 0) when unknown."""
        if not frame or frame == self.params.base_frame:
            return 0.0, 0.0
        link = self.tf.lookup(self.params.base_frame, frame)
        return (
            (0.0, 0.0) if link is None else (float(link.translation[0]), float(link.translation[1]))
        )

    def _gnss_covariance(self, msg: Any) -> np.ndarray:
        cov = np.asarray(msg.position_covariance, float).reshape(3, 3)[:2, :2]
        known = msg.position_covariance_type != _COVARIANCE_UNKNOWN
        if known and np.all(np.isfinite(cov)) and cov[0, 0] > 0 and cov[1, 1] > 0:
            return cov
        return np.eye(2) * self.params.gnss_std**2

    def _initialize_from_param(self, stamp: int) -> None:
        if self._pending_initial_pose and not self.ekf.initialized:
            x, y, yaw = self._pending_initial_pose
            self.ekf.initialize(stamp, x, y, yaw, self.wheel_speed, 0.5, 0.05)
            self._pending_initial_pose = []

    # ------------------------------------------------------------ outputs

    def _publish(self, stamp: Any) -> None:
        if not self.ekf.initialized:
            return
        frames = (self.params.map_frame, self.params.base_frame)
        self.odom_pub.publish(outputs.odometry_msg(self.ctx.new, self.ekf, stamp, frames))
        if self.params.publish_tf:
            self.tf_pub.publish(outputs.tf_msg(self.ctx.new, self.ekf, stamp, frames))
