"""EkfLocalizer's parameters, its error class and the map origin it reads from a map file."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.localization.ekf import EkfConfig
from perception.localization.gnss_anchor import AnchorConfig
from perception.localization.sensors import (
    IMU_USED,
    ODOM_USED,
    MissingTransform,
    default_config,
    parse_config,
)  # fmt: skip
from stack import topics
from stack.errors import L4Error
from stack.params import at_least, length, non_negative, parse_enum, positive

MAP_ORIGIN_KEYS = ("enu_origin_lat_lon_alt", "origin")  # tools/scenario writes the first


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
    init_distance_m: float = 8.0  # dead-reckoned path the initialising fixes must span
    init_min_fixes: int = 5  # fixes agreeing on the initial pose (outliers among them are fine)
    gnss_tolerance_m: float = 3.0  # a fix this close to the aligned path agrees with the run
    # GNSS rejected for this many fixes in a row, over at least gnss_reset_s, while the rejected
    # fixes agree among themselves: the filter has diverged and re-initialises on them.
    gnss_reset_after: int = 10
    gnss_reset_s: float = 4.0
    # > 0: no fix and no initial pose this long after the first IMU message: start where the
    # first IMU message was, at (0, 0) (as robot_localization does; heading from a valid AHRS
    # orientation, else 0), for logs without GNSS (0: wait for GNSS or an initial pose).
    no_gnss_start_s: float = 0.0
    # A scan-matched pose rejected by the gate this many times in a row re-initialises the
    # filter there: the matcher is precise, so a persistent disagreement means the EKF drifted.
    scan_reset_after: int = 10
    # Wheel speeds rejected this many times in a row reset the speed state to the wheel's (a
    # speed diverged on a biased accelerometer would otherwise lock every later one out).
    speed_reset_after: int = 10
    # robot_localization's [x y z roll pitch yaw vx vy vz vroll vpitch vyaw ax ay az]: the IMU's
    # yaw (orientation, where its covariance is valid), vyaw and ax; the odometry's vx and vyaw.
    imu_config: list[bool] = field(default_factory=lambda: default_config("yaw", "vyaw", "ax"))
    odom_config: list[bool] = field(default_factory=lambda: default_config("vx", "vyaw"))
    imu_yaw_offset: float = 0.0  # rad added to the IMU's yaw (REP 145: ENU, 0 = east)
    imu_yaw_max_var: float = 0.05  # rad^2: a larger orientation covariance is not used
    imu_without_transform: str = MissingTransform.LEVEL.value  # level | drop | raw
    imu_tf_wait_s: float = 0.5  # IMU time allowed for /tf_static to arrive before the warning
    # Skid-steer and slipping wheels: the wheel speed's std grows by this much per rad/s that
    # the odometry's yaw rate disagrees with the IMU's.
    slip_speed_std_per_rad_s: float = 0.2
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
        positive("gnss_tolerance_m", self.gnss_tolerance_m)
        at_least("init_min_fixes", self.init_min_fixes, 3)
        at_least("gnss_reset_after", self.gnss_reset_after, 3)
        non_negative("gnss_reset_s", self.gnss_reset_s)
        non_negative("no_gnss_start_s", self.no_gnss_start_s)
        at_least("scan_reset_after", self.scan_reset_after, 1)
        at_least("speed_reset_after", self.speed_reset_after, 1)
        positive("imu_yaw_max_var", self.imu_yaw_max_var)
        non_negative("imu_tf_wait_s", self.imu_tf_wait_s)
        non_negative("slip_speed_std_per_rad_s", self.slip_speed_std_per_rad_s)
        parse_config("imu_config", self.imu_config, IMU_USED)
        parse_config("odom_config", self.odom_config, ODOM_USED)
        parse_enum(MissingTransform, self.imu_without_transform, "imu_without_transform")

    def anchor_config(self) -> AnchorConfig:
        return AnchorConfig(
            tolerance_m=self.gnss_tolerance_m,
            min_span_m=self.init_distance_m,
            min_fixes=self.init_min_fixes,
            reset_after=self.gnss_reset_after,
            reset_s=self.gnss_reset_s,
        )


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
