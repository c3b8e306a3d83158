"""Per-input sensor configuration with robot_localization's meaning, and the IMU's frame.

``imu_config`` and ``odom_config`` are robot_localization's 15-boolean vectors
``[x, y, z, roll, pitch, yaw, vx, vy, vz, vroll, vpitch, vyaw, ax, ay, az]``: which of the
message's quantities the filter fuses. This filter is planar, so it uses the IMU's yaw
(orientation), vyaw (gyro z) and ax, and the wheel odometry's vx and vyaw; any other true entry is
ignored and named once in the log (a config copied from a 3-D robot_localization setup works).

The IMU's axes reach base_link through its transform on /tf_static. A frame with no transform is
never read as base_link silently: after ``wait_s`` of IMU messages the node warns once and counts
one ``EventKind.MISSING_TRANSFORM``; until the transform arrives the IMU is levelled from gravity
(the accelerometer's mean is "up"; the yaw rate is the gyro along it) and its forward
acceleration and orientation are not used, or it is dropped or read raw if so configured.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.geometry import quaternion_to_matrix
from perception.tf import StaticTransforms
from stack.errors import ParamError

GRAVITY = 9.80665
STATE_NAMES = (
    "x", "y", "z", "roll", "pitch", "yaw", "vx", "vy", "vz",
    "vroll", "vpitch", "vyaw", "ax", "ay", "az",
)  # fmt: skip
IMU_USED = frozenset({"yaw", "vyaw", "ax"})
ODOM_USED = frozenset({"vx", "vyaw"})


def default_config(*names: str) -> list[bool]:
    return [n in names for n in STATE_NAMES]


def parse_config(name: str, values: Any, used: frozenset[str]) -> tuple[frozenset[str], list[str]]:
    """(the quantities fused, the true entries this planar filter ignores) of a 15-bool vector."""
    if not isinstance(values, (list, tuple)) or len(values) != len(STATE_NAMES):
        raise ParamError(f"{name} must be 15 booleans {list(STATE_NAMES)} (got {values!r})")
    bad = [i for i, v in enumerate(values) if not isinstance(v, bool)]
    if bad:
        raise ParamError(f"{name}[{bad[0]}] must be true or false (got {values[bad[0]]!r})")
    chosen = {n for n, v in zip(STATE_NAMES, values) if v}
    return frozenset(chosen & used), sorted(chosen - used, key=STATE_NAMES.index)


class MissingTransform(str, enum.Enum):
    """What to do with IMU data in a frame /tf_static does not connect to base_link."""

    LEVEL = "level"  # gravity-levelled yaw rate; no forward acceleration, no orientation
    DROP = "drop"
    RAW = "raw"  # the IMU's axes taken as base_link's (what the node did before; not advised)


@dataclass(frozen=True)
class ImuReading:
    """One IMU message in base_link terms."""

    yaw_rate: float
    accel: float  # forward, m/s^2 (0 when the forward axis is unknown)
    yaw: float | None  # vehicle yaw in the IMU's world frame, when its orientation is valid
    yaw_var: float
    levelled: bool = False  # no transform: levelled from gravity


class ImuFrames:
    """Rotates IMU messages into base_link; tracks a frame without a transform."""

    def __init__(
        self, base_frame: str, tf: StaticTransforms, missing: MissingTransform, max_yaw_var: float
    ) -> None:
        self.base_frame, self.tf, self.missing = base_frame, tf, missing
        self.max_yaw_var = max_yaw_var
        self.up_sum = np.zeros(3)
        self.first_missing_ns: int | None = None

    def rotation(self, frame: str) -> np.ndarray | None:
        if not frame or frame.lstrip("/") == self.base_frame:
            return np.eye(3)
        link = self.tf.lookup(self.base_frame, frame)
        return None if link is None else link.rotation

    def missing_for_ns(self, stamp: int) -> int:
        """How long (ns) this IMU frame has been without a transform, counting this message."""
        if self.first_missing_ns is None:
            self.first_missing_ns = stamp
        return stamp - self.first_missing_ns

    def read(self, msg: Any, rot: np.ndarray | None) -> ImuReading | None:
        """The reading in base_link; None when it must be dropped (no transform, DROP)."""
        g, a = msg.angular_velocity, msg.linear_acceleration
        gyro, acc = np.array([g.x, g.y, g.z], float), np.array([a.x, a.y, a.z], float)
        if rot is None and self.missing is MissingTransform.RAW:
            rot = np.eye(3)
        if rot is None:
            if self.missing is MissingTransform.DROP:
                return None
            self.up_sum += acc
            norm = float(np.linalg.norm(self.up_sum))
            up = self.up_sum / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
            return ImuReading(float(gyro @ up), 0.0, None, 0.0, levelled=True)
        world_imu = self._orientation(msg)
        if world_imu is not None:  # an AHRS: remove gravity along its own vertical
            acc = acc - world_imu.T @ np.array([0.0, 0.0, GRAVITY])
        gyro, acc = rot @ gyro, rot @ acc
        yaw, var = self._yaw(msg, rot, world_imu)
        return ImuReading(float(gyro[2]), float(acc[0]), yaw, var)

    @staticmethod
    def _orientation(msg: Any) -> np.ndarray | None:
        """world <- imu rotation of an IMU that reports its orientation (REP 145:
        orientation_covariance[0] == -1 means it does not)."""
        cov = np.asarray(msg.orientation_covariance, float)
        q = msg.orientation
        quat = np.array([q.x, q.y, q.z, q.w], float)
        norm = float(np.linalg.norm(quat))
        if cov.size != 9 or cov[0] < 0 or not np.isfinite(norm) or abs(norm - 1.0) > 0.1:
            return None
        return quaternion_to_matrix(*(quat / norm))

    def _yaw(
        self, msg: Any, rot: np.ndarray, world_imu: np.ndarray | None
    ) -> tuple[float | None, float]:
        """The vehicle's yaw from the IMU orientation where its yaw variance says it is valid."""
        cov = np.asarray(msg.orientation_covariance, float)
        var = float(cov[8]) if cov.size == 9 else -1.0
        if world_imu is None or not (0 < var <= self.max_yaw_var):
            return None, 0.0
        world_base = world_imu @ rot.T
        return float(np.arctan2(world_base[1, 0], world_base[0, 0])), var
