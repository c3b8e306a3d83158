"""Image boxes -> 3D objects on the ground plane (monocular, flat-road assumption).

The ray through a box's bottom-centre pixel is intersected with z = 0 of base_link (base_link
lies on the ground). That point is where the object touches the road on the side facing the
camera, so the object's centre sits half its depth further along the ray; the depth and the size
come from per-class priors, with the object assumed aligned with the ego lane (yaw 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.detector.errors import DetectorError
from perception.geometry import RigidTransform
from perception.objects import Label, ObjectArray

# Typical (length, width, height) in metres per Autoware label.
SIZE_PRIORS: Mapping[Label, tuple[float, float, float]] = {
    Label.UNKNOWN: (1.0, 1.0, 1.0),
    Label.CAR: (4.5, 1.8, 1.5),
    Label.TRUCK: (8.5, 2.5, 3.4),
    Label.BUS: (12.0, 2.55, 3.2),
    Label.TRAILER: (8.0, 2.5, 3.5),
    Label.MOTORCYCLE: (2.1, 0.8, 1.5),
    Label.BICYCLE: (1.75, 0.62, 1.75),
    Label.PEDESTRIAN: (0.35, 0.56, 1.72),
}
_PRIOR_ROWS = [tuple(map(float, SIZE_PRIORS[Label(i)])) for i in range(len(Label))]


@dataclass(frozen=True)
class CameraGeometry:
    """Pinhole intrinsics ``k`` of an image of ``width`` x ``height`` and the camera's pose in
    the base frame (camera frame: the ROS optical frame, z forward, x right, y down)."""

    k: np.ndarray
    camera_to_base: RigidTransform
    width: int
    height: int

    @classmethod
    def from_camera_info(cls, info: Any, camera_to_base: RigidTransform) -> CameraGeometry:
        k = np.asarray(info.k, float).reshape(3, 3)
        if not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
            raise DetectorError(f"camera_info K {k.ravel().tolist()} is not a pinhole matrix")
        return cls(k, camera_to_base, int(info.width), int(info.height))

    def rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(N, 3) unnormalized ray directions in the base frame through pixels (u, v)."""
        fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
        skew = self.k[0, 1]
        # Filled in place (the same values as stacking x, y, 1): few numpy calls per frame.
        cam = np.empty((len(u), 3))
        y = np.subtract(v, cy, out=cam[:, 1])
        y /= fy
        x = np.subtract(u, cx, out=cam[:, 0])
        x -= skew * y
        x /= fx
        cam[:, 2] = 1.0
        return cam @ self.camera_to_base.rotation.T

    def project(self, points_base: np.ndarray) -> np.ndarray:
        """(N, 2) pixels of (N, 3) base-frame points (in front of the camera)."""
        rot, t = self.camera_to_base.rotation, self.camera_to_base.translation
        cam = (np.asarray(points_base, float) - t) @ rot
        uvw = cam @ self.k.T
        return uvw[:, :2] / uvw[:, 2:3]


@dataclass(frozen=True)
class LiftConfig:
    max_distance: float = 120.0  # m; farther ground hits are not published
    pixel_sigma: float = 2.0  # px; uncertainty of a box's bottom edge, for the position std
    min_pos_std: float = 0.3  # m


def lift_boxes(
    geom: CameraGeometry,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    config: LiftConfig | None = None,
) -> tuple[ObjectArray, np.ndarray]:
    """Objects in the base frame for the boxes whose bottom-centre ray hits the road within
    ``max_distance``; returns them and the indices of the boxes they came from."""
    config = config or LiftConfig()
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    labels = np.asarray(labels, np.uint8)
    rays = geom.rays(0.5 * (boxes[:, 0] + boxes[:, 2]), boxes[:, 3])
    # Per box in Python numbers from here: a frame has ~10 boxes, and ~40 numpy calls on arrays
    # that small cost more than the arithmetic (most of all on the caches the network just
    # evicted). Each step is the same IEEE operation, in the same order, as the array form
    # (ray-plane hits, then the norm as np.linalg.norm sums it): the same values; the test keeps
    # the array form as its reference.
    ox, oy, oz = geom.camera_to_base.translation.tolist()
    # A bottom-edge error of dv pixels moves the ground hit by ~ range^2 * dv / (fy * height).
    spread = float(geom.k[1, 1]) * max(oz, 0.1)
    kept: list[int] = []
    rows: list[tuple[float, ...]] = []
    for i, ((dx, dy, dz), label) in enumerate(zip(rays.tolist(), labels.tolist())):
        s = -oz / dz if dz < -1e-9 else -1.0  # rays at or above the horizon never land
        if not s > 0:
            continue
        hx, hy = ox + s * dx, oy + s * dy
        rx, ry = hx - ox, hy - oy
        dist = math.sqrt(rx * rx + ry * ry)
        reach = max(dist, 1e-9)
        ex, ey = rx / reach, ry / reach
        length, width, height = _PRIOR_ROWS[label]
        # Depth of a yaw-0 box seen along the ray: its extent along it.
        half = 0.5 * (length * abs(ex) + width * abs(ey))
        cx, cy = hx + ex * half, hy + ey * half
        if not math.sqrt(cx * cx + cy * cy) <= config.max_distance:
            continue
        std = max(config.min_pos_std, config.pixel_sigma * (dist * dist) / spread)
        kept.append(i)
        rows.append((cx, cy, 0.5 * height, length, width, height, std * std))
    return _objects(rows, labels[kept], np.asarray(scores, float)[kept]), np.array(kept, int)


def _objects(rows: list[tuple[float, ...]], labels: np.ndarray, scores: np.ndarray) -> ObjectArray:
    """An ObjectArray of lifted rows (x, y, z, length, width, height, variance): what
    ObjectArray.create makes of them, without its conversions."""
    n = len(rows)
    table = np.array(rows, float).reshape(n, 7)
    cov = np.zeros((n, 2, 2))
    cov[:, 0, 0] = cov[:, 1, 1] = table[:, 6]
    return ObjectArray(
        position=table[:, :3].copy(),
        yaw=np.zeros(n),
        dims=table[:, 3:6].copy(),
        label=labels,
        score=scores,
        velocity=np.zeros((n, 2)),
        cov_xy=cov,
        uuid=np.zeros((n, 16), np.uint8),
    )
