"""EkfLocalizer node: IMU + wheel odometry + GNSS -> /localization/odometry and map->base_link /tf.

Initialisation, in order of preference: the ``initial_pose`` parameter, a message on
/initialpose, or GNSS alone once the vehicle has driven ``init_distance_m`` (heading from the
course between the first and the current fix). Nothing is published before that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.geometry import quaternion_to_yaw, yaw_to_quaternion
from perception.localization.ekf import BIAS, YAW, EkfConfig, PoseEkf, Update, V, X, Y
from perception.localization.geodesy import LocalTangentPlane
from perception.tf import StaticTransforms
from stack import topics
from stack.errors import L4Error
from stack.events import EventKind
from stack.msgs import stamp_to_ns
from stack.node import Context, Node
from stack.params import at_least, length, positive

MAP_ORIGIN_KEYS = ("enu_origin_lat_lon_alt", "origin")  # tools/scenario writes the first
_NO_FIX = -1
_COVARIANCE_UNKNOWN = 0


class LocalizationError(L4Error, ValueError):
    """Bad localization configuration (origin, map file, initial pose)."""


@dataclass
class EkfLocalizerParams:
    origin_lat: float = math.nan  # GNSS datum of the map frame; NaN: read map_path or first fix
    origin_lon: float = math.nan
    origin_alt: float = 0.0
    map_path: str = ""  # an .npz holding the map frame's [lat, lon(, alt)] (see MAP_ORIGIN_KEYS)
    map_frame: str = topics.FRAME_MAP
    base_frame: str = topics.FRAME_BASE
    gnss_std: float = 1.0  # m, when the fix carries no covariance
    wheel_speed_std: float = 0.1  # m/s, when the odometry carries no covariance
    initial_pose: list[float] = field(default_factory=list)  # [x, y, yaw] in the map frame
    init_distance_m: float = 8.0
    # A scan-matched pose rejected by the gate this many times in a row re-initialises the
    # filter there: the matcher is precise, so a persistent disagreement means the EKF drifted.
    scan_reset_after: int = 10
    publish_tf: bool = True
    ekf: EkfConfig = field(default_factory=EkfConfig)

    def __post_init__(self) -> None:
        if isinstance(self.ekf, dict):
            self.ekf = EkfConfig(**self.ekf)
        if self.initial_pose:
            length("initial_pose", self.initial_pose, 3, "[x, y, yaw]")
        positive("gnss_std", self.gnss_std)
        positive("wheel_speed_std", self.wheel_speed_std)
        positive("init_distance_m", self.init_distance_m)
        at_least("scan_reset_after", self.scan_reset_after, 1)


def origin_from_map(path: str) -> tuple[float, float, float] | None:
    """The geodetic origin of the map frame stored in a map .npz, if any."""
    file = Path(path)
    try:
        with np.load(file) as data:
            key = next((k for k in MAP_ORIGIN_KEYS if k in data), None)
            if key is None:
                return None
            origin = np.asarray(data[key], float).ravel()
    except (OSError, ValueError) as exc:
        raise LocalizationError(f"{file}: cannot read map: {exc}") from exc
    if len(origin) not in (2, 3) or not np.all(np.isfinite(origin)):
        raise LocalizationError(f"{file}: key {key!r} must be [lat, lon(, alt)], got {origin}")
    return float(origin[0]), float(origin[1]), float(origin[2]) if len(origin) == 3 else 0.0


class EkfLocalizer(Node):
    """Fuses IMU, wheel speed and GNSS into the map->base_link pose."""

    Params = EkfLocalizerParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: EkfLocalizerParams
        self.ekf = PoseEkf(self.params.ekf)
        self.plane = self._configured_plane()
        self.tf = StaticTransforms()
        self.first_fix: np.ndarray | None = None
        self.wheel_speed = 0.0
        self.scan_rejections = 0
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
        self._pending_initial_pose = list(self.params.initial_pose)

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
        self.ekf.initialize(
            stamp_to_ns(msg.header.stamp),
            pose.position.x,
            pose.position.y,
            yaw,
            self.wheel_speed,
            std_xy,
            std_yaw,
        )

    def on_imu(self, msg: Any) -> None:
        rate = msg.angular_velocity
        acc = msg.linear_acceleration
        vec = np.array([[rate.x, rate.y, rate.z], [acc.x, acc.y, acc.z]], float)
        if not np.all(np.isfinite(vec)):
            self.ctx.event(
                EventKind.DROP, f"{topics.IMU}: non-finite angular velocity or acceleration"
            )
            return
        frame = msg.header.frame_id
        if frame and frame != self.params.base_frame:
            link = self.tf.lookup(self.params.base_frame, frame)
            if link is not None:
                vec = vec @ link.rotation.T  # a mounted IMU: rotate into base_link
        stamp = stamp_to_ns(msg.header.stamp)
        self._initialize_from_param(stamp)
        if self.ekf.set_imu(stamp, vec[0, 2], vec[1, 0]) is Update.STALE:
            self.ctx.event(EventKind.DROP, f"{topics.IMU}: {Update.STALE.value}")
            return
        self._publish(msg.header.stamp)

    def on_wheel(self, msg: Any) -> None:
        speed = float(msg.twist.twist.linear.x)
        if not math.isfinite(speed):
            self.ctx.event(EventKind.DROP, f"{topics.VEHICLE_ODOMETRY}: non-finite speed")
            return
        self.wheel_speed = speed
        var = float(msg.twist.covariance[0])
        std = math.sqrt(var) if math.isfinite(var) and var > 0 else self.params.wheel_speed_std
        stamp = stamp_to_ns(msg.header.stamp)
        self._initialize_from_param(stamp)
        result = self.ekf.update_speed(stamp, speed, std)
        if result in (Update.OUTLIER, Update.STALE):
            self.ctx.event(
                EventKind.DROP, f"{topics.VEHICLE_ODOMETRY}: speed {speed:.2f} m/s {result.value}"
            )

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
        cov = self._gnss_covariance(msg)
        stamp = stamp_to_ns(msg.header.stamp)
        lever = self._lever_arm(msg.header.frame_id)
        if not self.ekf.initialized:
            self._initialize_from_gnss(stamp, enu, cov, lever)
            return
        result = self.ekf.update_position(stamp, enu, cov, lever)
        if result is not Update.ACCEPTED:
            self.ctx.event(
                EventKind.DROP,
                f"{topics.GNSS_FIX}: fix at ({enu[0]:.1f}, {enu[1]:.1f}) m {result.value}",
            )

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

    # ------------------------------------------------------------ initialisation

    def _initialize_from_param(self, stamp: int) -> None:
        if self._pending_initial_pose and not self.ekf.initialized:
            x, y, yaw = self._pending_initial_pose
            self.ekf.initialize(stamp, x, y, yaw, self.wheel_speed, 0.5, 0.05)
            self._pending_initial_pose = []

    def _initialize_from_gnss(
        self, stamp: int, enu: np.ndarray, cov: np.ndarray, lever: tuple[float, float]
    ) -> None:
        if self.first_fix is None:
            self.first_fix = enu
            return
        course = enu - self.first_fix
        distance = float(np.hypot(*course))
        if distance < self.params.init_distance_m:
            return
        std_xy = math.sqrt(max(cov[0, 0], cov[1, 1]))
        yaw = math.atan2(course[1], course[0])
        c, s = math.cos(yaw), math.sin(yaw)
        x, y = enu[0] - c * lever[0] + s * lever[1], enu[1] - s * lever[0] - c * lever[1]
        self.ekf.initialize(stamp, x, y, yaw, self.wheel_speed, std_xy, 2.0 * std_xy / distance)
        self.log.info("initialised from GNSS course: x=%.1f y=%.1f yaw=%.2f", x, y, yaw)

    # ------------------------------------------------------------ outputs

    def _publish(self, stamp: Any) -> None:
        if not self.ekf.initialized:
            return
        self.odom_pub.publish(self._odometry_msg(stamp))
        if self.params.publish_tf:
            self.tf_pub.publish(self._tf_msg(stamp))

    def _pose_parts(self, stamp: Any) -> tuple[Any, Any, Any]:
        """Fresh (header, position, orientation) messages of the current state."""
        new, state = self.ctx.new, self.ekf.x
        qx, qy, qz, qw = yaw_to_quaternion(state[YAW])
        return (
            new("std_msgs/msg/Header", stamp=stamp, frame_id=self.params.map_frame),
            new("geometry_msgs/msg/Point", x=float(state[X]), y=float(state[Y]), z=0.0),
            new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
        )

    def _odometry_msg(self, stamp: Any) -> Any:
        new, cov5 = self.ctx.new, self.ekf.p
        header, position, orientation = self._pose_parts(stamp)
        pose_cov = np.zeros((6, 6))
        pose_cov[np.ix_([0, 1, 5], [0, 1, 5])] = cov5[np.ix_([X, Y, YAW], [X, Y, YAW])]
        twist_cov = np.zeros((6, 6))
        twist_cov[0, 0] = cov5[V, V]
        twist_cov[5, 5] = cov5[BIAS, BIAS] + self.params.ekf.gyro_noise**2
        twist = new(
            "geometry_msgs/msg/Twist",
            linear=new("geometry_msgs/msg/Vector3", x=float(self.ekf.x[V])),
            angular=new("geometry_msgs/msg/Vector3", z=self.ekf.body_yaw_rate),
        )
        return new(
            "nav_msgs/msg/Odometry",
            header=header,
            child_frame_id=self.params.base_frame,
            pose=new(
                "geometry_msgs/msg/PoseWithCovariance",
                pose=new("geometry_msgs/msg/Pose", position=position, orientation=orientation),
                covariance=pose_cov.ravel(),
            ),
            twist=new(
                "geometry_msgs/msg/TwistWithCovariance", twist=twist, covariance=twist_cov.ravel()
            ),
        )

    def _tf_msg(self, stamp: Any) -> Any:
        new = self.ctx.new
        header, position, orientation = self._pose_parts(stamp)
        translation = new("geometry_msgs/msg/Vector3", x=position.x, y=position.y, z=0.0)
        transform = new(
            "geometry_msgs/msg/TransformStamped",
            header=header,
            child_frame_id=self.params.base_frame,
            transform=new(
                "geometry_msgs/msg/Transform", translation=translation, rotation=orientation
            ),
        )
        return new("tf2_msgs/msg/TFMessage", transforms=[transform])
