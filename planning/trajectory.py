"""autoware_planning_msgs/Trajectory <-> arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.geometry import quaternion_to_yaw, yaw_to_quaternion
from stack.errors import L4Error
from stack.msgs.stamps import NS_PER_S

TRAJECTORY = "autoware_planning_msgs/msg/Trajectory"


class TrajectoryError(L4Error, ValueError):
    """A trajectory message that cannot be followed."""


@dataclass(frozen=True)
class TrajectoryArrays:
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray
    a: np.ndarray
    t: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def trajectory_msg(
    new: Callable[..., Any],
    header: Any,
    traj: TrajectoryArrays,
    curvature: np.ndarray | None = None,
) -> Any:
    """A Trajectory message (``header`` keeps the sensor stamp of the inputs)."""
    points = []
    for i in range(len(traj)):
        qx, qy, qz, qw = yaw_to_quaternion(traj.yaw[i])
        ns = round(float(traj.t[i]) * NS_PER_S)
        points.append(
            new(
                "autoware_planning_msgs/msg/TrajectoryPoint",
                time_from_start=new(
                    "builtin_interfaces/msg/Duration", sec=ns // NS_PER_S, nanosec=ns % NS_PER_S
                ),
                pose=new(
                    "geometry_msgs/msg/Pose",
                    position=new(
                        "geometry_msgs/msg/Point", x=float(traj.x[i]), y=float(traj.y[i]), z=0.0
                    ),
                    orientation=new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
                ),
                longitudinal_velocity_mps=float(traj.v[i]),
                acceleration_mps2=float(traj.a[i]),
                heading_rate_rps=float(traj.v[i] * curvature[i]) if curvature is not None else 0.0,
            )
        )
    return new(TRAJECTORY, header=header, points=points)


def trajectory_from_msg(msg: Any) -> TrajectoryArrays:
    """Arrays of a Trajectory message; raises TrajectoryError for an empty or non-finite one."""
    pts = list(msg.points)
    if not pts:
        raise TrajectoryError("trajectory has no points")
    rows = np.array(
        [
            (
                p.pose.position.x,
                p.pose.position.y,
                quaternion_to_yaw(p.pose.orientation),
                p.longitudinal_velocity_mps,
                p.acceleration_mps2,
                p.time_from_start.sec + p.time_from_start.nanosec * 1e-9,
            )
            for p in pts
        ],
        float,
    )
    if not np.all(np.isfinite(rows)):
        bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
        raise TrajectoryError(f"trajectory point {bad} is not finite")
    return TrajectoryArrays(*rows.T)
