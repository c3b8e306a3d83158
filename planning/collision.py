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


class Footprints:
    """Objects' predicted footprints, inflated by ``margin``, to check ego motions against.

    obj_xy (K, N, 2) predicted object centres; obj_yaw (K, N) or (N,); obj_dims (N, 3);
    margin (K,) or (K, N): inflation distance (grows with prediction time). A planner that
    replans checks each rollout against the same objects: their circles are laid out once per
    set of objects near the ego.
    """

    def __init__(
        self, obj_xy: np.ndarray, obj_yaw: np.ndarray, obj_dims: np.ndarray, margin: np.ndarray
    ) -> None:
        k, n = obj_xy.shape[:2]
        self.xy, self.dims = obj_xy, obj_dims
        self.yaw = np.broadcast_to(obj_yaw, (k, n))
        self.margin = np.broadcast_to(np.asarray(margin, float).reshape(k, -1), (k, n))
        self.half_diagonal = 0.5 * np.hypot(obj_dims[:, 0], obj_dims[:, 1])
        self._circles: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _circles_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Circle centres (K, R, C, 2), radii (R,) and reach (R,: how far past its centre a
        circle extends) of the objects ``rows``."""
        key = rows.tobytes()
        if key not in self._circles:
            offsets, radius, _ = circle_cover(self.dims[rows, 0], self.dims[rows, 1])
            yaw = self.yaw[:, rows]
            direction = np.stack([np.cos(yaw), np.sin(yaw)], -1)  # (K, R, 2)
            centres = (
                self.xy[:, rows, None, :] + offsets[None, :, :, None] * direction[:, :, None, :]
            )
            reach = np.abs(offsets).max(axis=1) + radius
            self._circles[key] = (centres, radius, reach)
        return self._circles[key]

    def first_hit(self, ego_pose: np.ndarray, shape: VehicleShape) -> Collision | None:
        """The earliest step at which the ego at ``ego_pose`` (K, 3) overlaps an object."""
        hits = self.hits(ego_pose, shape)
        return hits[0] if hits else None

    def hits(self, ego_pose: np.ndarray, shape: VehicleShape) -> list[Collision]:
        """Every object the ego at ``ego_pose`` (K, 3) overlaps, at its first such step, in
        time order (a tie: lower row first). A caller that cannot act on the earliest (a car
        closing from behind) still sees the later ones."""
        k, n = self.xy.shape[:2]
        if n == 0 or k == 0:
            return []
        # Cheap prefilter on centre distances: only objects that come within reach of the ego
        # footprint at some step need the circle test.
        heading = np.column_stack([np.cos(ego_pose[:, 2]), np.sin(ego_pose[:, 2])])
        ego_center = ego_pose[:, :2] + shape.center_offset * heading
        rel = self.xy - ego_center[:, None, :]
        centre_dist = np.hypot(rel[..., 0], rel[..., 1])
        bound = 0.5 * np.hypot(shape.length, shape.width) + self.half_diagonal
        near = np.flatnonzero((centre_dist < bound[None, :] + self.margin).any(axis=0))
        if len(near) == 0:
            return []
        obj_c, obj_r, obj_reach = self._circles_of(near)
        ego_c, ego_r = ego_circles(ego_pose, shape)
        margin = self.margin[:, near]
        # Only the steps at which the circles can touch at all: beyond the sum of both reaches
        # (plus a hair for rounding) no pair of circles is within ego_r + obj_r + margin.
        ego_reach = float(np.hypot(*(ego_c[0] - ego_center[0]).T).max()) + ego_r
        steps, objs = np.nonzero(
            centre_dist[:, near] < ego_reach + obj_reach[None, :] + margin + 1e-6
        )
        if len(steps) == 0:
            return []
        diff = obj_c[steps, objs][:, :, None, :] - ego_c[steps][:, None, :, :]  # (P, C, Ce, 2)
        dist = np.sqrt(np.einsum("pabi,pabi->pab", diff, diff))
        touch = dist.min(axis=(1, 2)) < ego_r + obj_r[objs] + margin[steps, objs]
        hit = np.zeros(margin.shape, bool)  # (K, N)
        hit[steps[touch], objs[touch]] = True
        rows = np.flatnonzero(hit.any(axis=0))
        first = np.argmax(hit[:, rows], axis=0)
        order = np.lexsort((rows, first))
        return [Collision(int(first[i]), int(near[rows[i]])) for i in order]


def first_collision(
    ego_pose: np.ndarray,
    shape: VehicleShape,
    obj_xy: np.ndarray,
    obj_yaw: np.ndarray,
    obj_dims: np.ndarray,
    margin: np.ndarray,
) -> Collision | None:
    """The earliest step at which the ego overlaps an object inflated by ``margin``.

    ego_pose (K, 3); the objects as for :class:`Footprints`.
    """
    return Footprints(obj_xy, obj_yaw, obj_dims, margin).first_hit(ego_pose, shape)
