"""Planar and 3D rigid-body helpers shared by perception and planning nodes.

Everything on the road is handled in 2D (x, y, yaw) plus a height; full 3D rotations appear only
for sensor extrinsics (tf_static), where a mounted lidar may be pitched or rolled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.errors import PerceptionError


def wrap_angle(angle: np.ndarray | float) -> np.ndarray | float:
    """Wrap angles to [-pi, pi)."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def yaw_to_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by ``yaw`` about z."""
    half = 0.5 * float(yaw)
    return 0.0, 0.0, float(np.sin(half)), float(np.cos(half))


def quaternion_to_yaw(q: Any) -> float:
    """Yaw (rotation about z) of a geometry_msgs/Quaternion-like object."""
    siny = 2.0 * (q.w * q.z + q.x * q.y)
    cosy = 1.0 - 2.0 * (q.y * q.y + q.z * q.z)
    return float(np.arctan2(siny, cosy))


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3x3 rotation matrix of a (not necessarily unit) quaternion."""
    norm = np.sqrt(x * x + y * y + z * z + w * w)
    if norm == 0.0 or not np.isfinite(norm):
        raise PerceptionError(f"quaternion ({x}, {y}, {z}, {w}) has no rotation")
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@dataclass(frozen=True)
class RigidTransform:
    """p_parent = rotation @ p_child + translation."""

    rotation: np.ndarray
    translation: np.ndarray

    @classmethod
    def identity(cls) -> RigidTransform:
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_msg(cls, transform: Any) -> RigidTransform:
        """From a geometry_msgs/Transform."""
        r = transform.rotation
        t = transform.translation
        return cls(quaternion_to_matrix(r.x, r.y, r.z, r.w), np.array([t.x, t.y, t.z], float))

    @classmethod
    def from_xyzrpy(cls, x: float, y: float, z: float, roll: float, pitch: float, yaw: float):
        cr, sr, cp, sp, cy, sy = (
            np.cos(roll),
            np.sin(roll),
            np.cos(pitch),
            np.sin(pitch),
            np.cos(yaw),
            np.sin(yaw),
        )
        rot = np.array(
            [
                [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                [-sp, cp * sr, cp * cr],
            ]
        )
        return cls(rot, np.array([x, y, z], float))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform (N, 3) points, keeping their dtype."""
        rot = self.rotation.astype(points.dtype, copy=False)
        return points @ rot.T + self.translation.astype(points.dtype, copy=False)


@dataclass(frozen=True)
class Pose2D:
    """A planar pose: the child frame's origin and heading in the parent frame."""

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0

    @classmethod
    def from_pose_msg(cls, pose: Any) -> Pose2D:
        """From a geometry_msgs/Pose."""
        return cls(
            float(pose.position.x), float(pose.position.y), quaternion_to_yaw(pose.orientation)
        )

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Map (N, 2) points from the child frame to the parent frame."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        xy = np.asarray(xy, float)
        return np.stack(
            [c * xy[:, 0] - s * xy[:, 1] + self.x, s * xy[:, 0] + c * xy[:, 1] + self.y], 1
        )

    def rotate(self, vec: np.ndarray) -> np.ndarray:
        """Rotate (N, 2) vectors (velocities) from the child frame into the parent frame."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        vec = np.asarray(vec, float)
        return np.stack([c * vec[:, 0] - s * vec[:, 1], s * vec[:, 0] + c * vec[:, 1]], 1)

    def inverse(self) -> Pose2D:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return Pose2D(-(c * self.x + s * self.y), s * self.x - c * self.y, -self.yaw)


class PoseHistory:
    """A short history of timestamped planar poses, interpolated at a query time.

    Detections are stamped at sensor time while the ego keeps moving, so they are placed in the
    map with the ego pose at their own stamp, not with the latest one.
    """

    def __init__(self, capacity: int = 200) -> None:
        self._capacity = capacity
        self._t: list[int] = []
        self._poses: list[tuple[float, float, float]] = []

    def __len__(self) -> int:
        return len(self._t)

    def add(self, stamp_ns: int, pose: Pose2D) -> None:
        if self._t and stamp_ns <= self._t[-1]:
            if stamp_ns == self._t[-1]:
                self._poses[-1] = (pose.x, pose.y, pose.yaw)
            return
        self._t.append(stamp_ns)
        self._poses.append((pose.x, pose.y, pose.yaw))
        if len(self._t) > self._capacity:
            del self._t[0], self._poses[0]

    def at(self, stamp_ns: int, max_extrapolation_ns: int) -> Pose2D | None:
        """The pose at ``stamp_ns``; None when no pose lies within ``max_extrapolation_ns``."""
        if not self._t:
            return None
        t = np.asarray(self._t)
        if stamp_ns < t[0] - max_extrapolation_ns or stamp_ns > t[-1] + max_extrapolation_ns:
            return None
        poses = np.asarray(self._poses)
        x = np.interp(stamp_ns, t, poses[:, 0])
        y = np.interp(stamp_ns, t, poses[:, 1])
        yaw_unwrapped = np.unwrap(poses[:, 2])
        yaw = np.interp(stamp_ns, t, yaw_unwrapped)
        return Pose2D(float(x), float(y), float(wrap_angle(yaw)))


def dominated_by_footprint(
    center_xy: np.ndarray,
    yaw: np.ndarray,
    length_width: np.ndarray,
    strength: np.ndarray,
    margin: float = 0.3,
    compatible: np.ndarray | None = None,
) -> np.ndarray:
    """Mask of boxes whose centre lies inside the footprint (grown by ``margin``) of a stronger
    box: duplicates of one object (a split cluster, a second track on it). Ties keep the first.
    ``compatible[i, j]`` (optional) must also hold for box i to absorb box j."""
    k = len(strength)
    if k < 2:
        return np.zeros(k, bool)
    rel = center_xy[None, :, :2] - center_xy[:, None, :2]  # [i, j]: j's centre from box i
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    along = rel[..., 0] * c + rel[..., 1] * s
    across = -rel[..., 0] * s + rel[..., 1] * c
    inside = (np.abs(along) <= length_width[:, 0:1] / 2 + margin) & (
        np.abs(across) <= length_width[:, 1:2] / 2 + margin
    )
    np.fill_diagonal(inside, False)
    if compatible is not None:
        inside &= compatible
    strength = np.asarray(strength)
    stronger = strength[:, None] > strength[None, :]
    tie = (strength[:, None] == strength[None, :]) & (np.arange(k)[:, None] < np.arange(k)[None, :])
    return (inside & (stronger | tie)).any(axis=0)
