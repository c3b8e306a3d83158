"""Ego vehicle geometry (base_link at the rear axle centre, as in Autoware)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.geometry import Pose2D
from stack.params import in_range, positive


@dataclass(frozen=True)
class VehicleShape:
    wheelbase: float = 2.7
    length: float = 4.7
    width: float = 1.85
    rear_overhang: float = 1.0  # base_link to the rear bumper
    max_steer: float = 0.6  # rad

    def __post_init__(self) -> None:
        for name in ("wheelbase", "length", "width", "max_steer"):
            positive(name, getattr(self, name))
        in_range("rear_overhang", self.rear_overhang, 0.0, self.length, high_open=True)

    @property
    def front(self) -> float:
        """base_link to the front bumper."""
        return self.length - self.rear_overhang

    @property
    def center_offset(self) -> float:
        """base_link to the footprint centre, along x."""
        return 0.5 * self.length - self.rear_overhang


def odometry_state(msg: Any) -> tuple[Pose2D, float] | None:
    """The ego pose and forward speed of a nav_msgs/Odometry; None if any of them is not finite."""
    pose = Pose2D.from_pose_msg(msg.pose.pose)
    v = float(msg.twist.twist.linear.x)
    if not np.all(np.isfinite([pose.x, pose.y, pose.yaw, v])):
        return None
    return pose, v
