"""Collision check of the ego's planned motion against objects' predicted motion.

Both footprints are covered by a row of circles along their length, so a check over K time steps,
N objects and their circles is one broadcast distance computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planning.vehicle import VehicleShape


@dataclass(frozen=True)
class Collision:
    step: int  # first time step index in collision
    obj: int  # the object's row


def circle_cover(length: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(offsets (N, C), radius (N,), C): circle centres along each rectangle's length axis and
    the radius that covers the rectangle; C is the largest count any rectangle needs."""
    length = np.maximum(np.asarray(length, float), 1e-3)
    width = np.maximum(np.asarray(width, float), 1e-3)
    # Two circles per width of length keep the bulge past the long sides under ~8 % of the width.
    count = np.maximum(1, np.ceil(2.0 * length / width)).astype(int)
    c = int(count.max()) if len(count) else 1
    # Every rectangle gets C circles; for those needing fewer, circles overlap (harmless).
    frac = (np.arange(c) + 0.5) / c - 0.5
    offsets = length[:, None] * frac[None, :]
    radius = np.hypot(length / (2 * c), width / 2)
    return offsets, radius, c


def ego_circles(pose: np.ndarray, shape: VehicleShape) -> tuple[np.ndarray, float]:
    """Circle centres (K, C, 2) of the ego footprint at poses (K, 3) [x, y, yaw], and radius."""
    offsets, radius, _ = circle_cover(np.array([shape.length]), np.array([shape.width]))
    along = offsets[0] + shape.center_offset
    c, s = np.cos(pose[:, 2]), np.sin(pose[:, 2])
    centers = pose[:, None, :2] + along[None, :, None] * np.stack([c, s], -1)[:, None, :]
    return centers, float(radius[0])


def first_collision(
    ego_pose: np.ndarray,
    shape: VehicleShape,
    obj_xy: np.ndarray,
    obj_yaw: np.ndarray,
    obj_dims: np.ndarray,
    margin: np.ndarray,
) -> Collision | None:
    """The earliest step at which the ego overlaps an object inflated by ``margin``.

    ego_pose (K, 3); obj_xy (K, N, 2) predicted object centres; obj_yaw (K, N) or (N,);
    obj_dims (N, 3); margin (K,) or (K, N): inflation distance (grows with prediction time).
    """
    k, n = obj_xy.shape[:2]
    if n == 0 or k == 0:
        return None
    margin = np.broadcast_to(np.asarray(margin, float).reshape(k, -1), (k, n))
    # Cheap prefilter on centre distances: only objects that come within reach of the ego
    # footprint at some step need the circle test.
    heading = np.column_stack([np.cos(ego_pose[:, 2]), np.sin(ego_pose[:, 2])])
    ego_center = ego_pose[:, :2] + shape.center_offset * heading
    rel = obj_xy - ego_center[:, None, :]
    centre_dist = np.hypot(rel[..., 0], rel[..., 1])
    bound = 0.5 * (np.hypot(shape.length, shape.width) + np.hypot(obj_dims[:, 0], obj_dims[:, 1]))
    near = np.flatnonzero((centre_dist < bound[None, :] + margin).any(axis=0))
    if len(near) == 0:
        return None
    obj_xy, obj_dims, margin = obj_xy[:, near], obj_dims[near], margin[:, near]
    obj_yaw = np.broadcast_to(obj_yaw, (k, n))[:, near]
    n = len(near)
    ego_c, ego_r = ego_circles(ego_pose, shape)
    offsets, obj_r, _ = circle_cover(obj_dims[:, 0], obj_dims[:, 1])
    yaw = np.broadcast_to(obj_yaw, (k, n))
    direction = np.stack([np.cos(yaw), np.sin(yaw)], -1)  # (K, N, 2)
    obj_c = obj_xy[:, :, None, :] + offsets[None, :, :, None] * direction[:, :, None, :]
    # (K, N, C_obj, C_ego)
    diff = obj_c[:, :, :, None, :] - ego_c[:, None, None, :, :]
    dist = np.sqrt(np.einsum("knabi,knabi->knab", diff, diff))
    hit = dist.min(axis=(2, 3)) < ego_r + obj_r[None, :] + margin  # (K, N)
    if not hit.any():
        return None
    step = int(np.argmax(hit.any(axis=1)))
    return Collision(step, int(near[np.argmax(hit[step])]))
