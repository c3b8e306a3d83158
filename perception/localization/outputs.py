"""The EKF's output messages: nav_msgs/Odometry and the map->base_link TFMessage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from perception.geometry import yaw_to_quaternion
from perception.localization.ekf import BIAS, YAW, PoseEkf, V, X, Y

New = Callable[..., Any]


def pose_parts(new: New, ekf: PoseEkf, stamp: Any, map_frame: str) -> tuple[Any, Any, Any]:
    """Fresh (header, position, orientation) messages of the current state."""
    state = ekf.x
    qx, qy, qz, qw = yaw_to_quaternion(state[YAW])
    return (
        new("std_msgs/msg/Header", stamp=stamp, frame_id=map_frame),
        new("geometry_msgs/msg/Point", x=float(state[X]), y=float(state[Y]), z=0.0),
        new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
    )


def odometry_msg(new: New, ekf: PoseEkf, stamp: Any, frames: tuple[str, str]) -> Any:
    """nav_msgs/Odometry of the state; ``frames`` is (map, base_link)."""
    cov5 = ekf.p
    header, position, orientation = pose_parts(new, ekf, stamp, frames[0])
    pose_cov = np.zeros((6, 6))
    pose_cov[np.ix_([0, 1, 5], [0, 1, 5])] = cov5[np.ix_([X, Y, YAW], [X, Y, YAW])]
    twist_cov = np.zeros((6, 6))
    twist_cov[0, 0] = cov5[V, V]
    twist_cov[5, 5] = cov5[BIAS, BIAS] + ekf.cfg.gyro_noise**2
    twist = new(
        "geometry_msgs/msg/Twist",
        linear=new("geometry_msgs/msg/Vector3", x=float(ekf.x[V])),
        angular=new("geometry_msgs/msg/Vector3", z=ekf.body_yaw_rate),
    )
    return new(
        "nav_msgs/msg/Odometry",
        header=header,
        child_frame_id=frames[1],
        pose=new(
            "geometry_msgs/msg/PoseWithCovariance",
            pose=new("geometry_msgs/msg/Pose", position=position, orientation=orientation),
            covariance=pose_cov.ravel(),
        ),
        twist=new(
            "geometry_msgs/msg/TwistWithCovariance", twist=twist, covariance=twist_cov.ravel()
        ),
    )


def tf_msg(new: New, ekf: PoseEkf, stamp: Any, frames: tuple[str, str]) -> Any:
    """tf2_msgs/TFMessage with the map->base_link transform of the state."""
    header, position, orientation = pose_parts(new, ekf, stamp, frames[0])
    translation = new("geometry_msgs/msg/Vector3", x=position.x, y=position.y, z=0.0)
    transform = new(
        "geometry_msgs/msg/TransformStamped",
        header=header,
        child_frame_id=frames[1],
        transform=new("geometry_msgs/msg/Transform", translation=translation, rotation=orientation),
    )
    return new("tf2_msgs/msg/TFMessage", transforms=[transform])
