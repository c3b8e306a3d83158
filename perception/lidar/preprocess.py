"""Point cloud preprocessing: crop, ego removal, voxel downsampling, ground segmentation.

All steps are whole-array numpy operations; per-point Python work would blow the lidar budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box3:
    """An axis-aligned box in the base_link frame."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    z_min: float
    z_max: float

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask of the (N, 3) points inside the box."""
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        return (
            (x >= self.x_min)
            & (x <= self.x_max)
            & (y >= self.y_min)
            & (y <= self.y_max)
            & (z >= self.z_min)
            & (z <= self.z_max)
        )


def group_by_key(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, starts, inverse): ``keys[order]`` is sorted, groups begin at ``starts`` in it, and
    ``inverse`` gives each input element its group number. A stable argsort is the fastest
    grouping numpy has for int64 keys (faster than np.unique with return_inverse)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    group_sorted = np.cumsum(np.r_[False, sorted_keys[1:] != sorted_keys[:-1]])
    inverse = np.empty_like(group_sorted)
    inverse[order] = group_sorted
    return order, starts, inverse


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """The centroid of the points in each occupied cubic voxel of edge ``voxel``."""
    if len(points) == 0 or voxel <= 0.0:
        return points
    cells = np.floor(points[:, :3] * (1.0 / voxel)).astype(np.int64)
    cells -= cells.min(axis=0)
    extent = cells.max(axis=0) + 1
    keys = (cells[:, 0] * extent[1] + cells[:, 1]) * extent[2] + cells[:, 2]
    _, starts, inverse = group_by_key(keys)
    counts = np.bincount(inverse, minlength=len(starts))
    out = np.empty((len(starts), points.shape[1]), dtype=points.dtype)
    for dim in range(points.shape[1]):
        out[:, dim] = np.bincount(inverse, weights=points[:, dim], minlength=len(starts)) / counts
    return out


@dataclass(frozen=True)
class GroundPlane:
    """z = a*x + b*y + c in base_link."""

    a: float = 0.0
    b: float = 0.0
    c: float = 0.0

    def height_above(self, points: np.ndarray) -> np.ndarray:
        return points[:, 2] - (self.a * points[:, 0] + self.b * points[:, 1] + self.c)


@dataclass(frozen=True)
class GroundConfig:
    expected_z: float = 0.0  # ground height in base_link (0 when base_link sits on the road)
    candidate_band: float = 0.6  # only points this close to expected_z may define the plane
    inlier_distance: float = 0.15  # RANSAC inlier band
    height_threshold: float = 0.25  # points lower than this above the plane are ground
    max_tilt_deg: float = 10.0
    iterations: int = 48
    sample_size: int = 2048  # points used to score hypotheses
    seed: int = 0  # fixed: replay must be deterministic


def fit_ground_plane(points: np.ndarray, cfg: GroundConfig) -> GroundPlane:
    """Batched RANSAC for the road plane, refined by least squares on its inliers.

    Falls back to the flat plane z = expected_z when too few low points exist (e.g. a cloud
    that sees only a wall).
    """
    flat = GroundPlane(c=cfg.expected_z)
    cand = points[np.abs(points[:, 2] - cfg.expected_z) < cfg.candidate_band, :3].astype(np.float64)
    if len(cand) < 30:
        return flat
    rng = np.random.default_rng(cfg.seed)
    if len(cand) > cfg.sample_size:
        cand = cand[rng.choice(len(cand), cfg.sample_size, replace=False)]
    tri = cand[rng.integers(0, len(cand), size=(cfg.iterations, 3))]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(normal, axis=1)
    ok = norm > 1e-6
    normal[ok] /= norm[ok, None]
    ok &= np.abs(normal[:, 2]) > np.cos(np.deg2rad(cfg.max_tilt_deg))
    if not ok.any():
        return flat
    normal, tri = normal[ok], tri[ok]
    offset = -np.einsum("kd,kd->k", normal, tri[:, 0])
    dist = np.abs(cand @ normal.T + offset)  # (M, K)
    inliers = (
        dist[:, int(np.argmax((dist < cfg.inlier_distance).sum(axis=0)))] < cfg.inlier_distance
    )
    if inliers.sum() < 3:
        return flat
    pts = cand[inliers]
    design = np.column_stack([pts[:, 0], pts[:, 1], np.ones(len(pts))])
    (a, b, c), *_ = np.linalg.lstsq(design, pts[:, 2], rcond=None)
    return GroundPlane(float(a), float(b), float(c))


def segment_ground(points: np.ndarray, cfg: GroundConfig) -> tuple[np.ndarray, GroundPlane]:
    """(ground mask, plane): ground are the points less than height_threshold above the plane."""
    plane = fit_ground_plane(points, cfg)
    return plane.height_above(points) < cfg.height_threshold, plane
