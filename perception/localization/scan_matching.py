"""2D scan matching of lidar structure against the map's static points (point-to-line ICP).

The map and the scan are cut to a height band above the road (walls, poles, trunks) and
flattened to x-y. Each iteration pairs scan points with their nearest map points and takes a
Gauss-Newton step on (x, y, yaw): point-to-line residuals where the map is locally a line (a wall,
kerb-side façade), point-to-point where it is not (a pole). The covariance comes from the same
normal equations, so a long featureless wall yields a large along-wall variance and the EKF
trusts the match only across it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from perception.geometry import Pose2D, wrap_angle
from perception.lidar.preprocess import group_by_key
from stack.errors import L4Error

ROAD_MATERIALS = (0, 1, 2)  # tools/scenario Material ROAD, GRASS, MARKING: ground, not structure


class ScanMatchError(L4Error, ValueError):
    """A map that cannot be used for scan matching."""


@dataclass
class ScanMatchConfig:
    min_height: float = 0.5  # base_link z band of structure points (above kerbs and the road)
    max_height: float = 3.0
    max_range: float = 60.0
    map_voxel: float = 0.25
    scan_voxel: float = 0.5
    max_scan_points: int = 1200
    iterations: int = 15
    correspondence_start: float = 3.0  # m; shrinks to correspondence_end over the iterations
    correspondence_end: float = 0.6
    normal_neighbors: int = 8
    line_planarity: float = 0.8  # 1 - l_min / l_max above which a map point is a line
    min_inliers: int = 60
    min_inlier_ratio: float = 0.3
    robust_scale: float = 0.15  # m, Cauchy loss scale of the residuals
    residual_floor: float = 0.05  # m, so a perfect fit does not claim zero covariance
    covariance_scale: float = 4.0  # matches are not independent: inflate the GN covariance
    seed: int = 0


@dataclass(frozen=True)
class MatchResult:
    pose: Pose2D
    covariance: np.ndarray  # (3, 3) over x, y, yaw
    inliers: int
    inlier_ratio: float
    rmse: float


def _voxel_2d(xy: np.ndarray, voxel: float) -> np.ndarray:
    """One point (the first) per occupied 2D cell."""
    if len(xy) == 0:
        return xy
    ij = np.floor(xy / voxel).astype(np.int64)
    ij -= ij.min(axis=0)
    order, starts, _ = group_by_key(ij[:, 0] * (int(ij[:, 1].max()) + 1) + ij[:, 1])
    return xy[order[starts]]


def _normals(xy: np.ndarray, tree: cKDTree, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (N, 2) and planarity (N,) from the PCA of each point's k neighbours."""
    _, idx = tree.query(xy, k=min(k, len(xy)))
    nb = xy[idx] - xy[idx].mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", nb, nb)
    evals, evecs = np.linalg.eigh(cov)  # ascending
    planarity = 1.0 - evals[:, 0] / np.maximum(evals[:, 1], 1e-12)
    return evecs[:, :, 0], planarity


class ScanMatcher:
    def __init__(self, map_xy: np.ndarray, config: ScanMatchConfig | None = None) -> None:
        self.cfg = config or ScanMatchConfig()
        pts = _voxel_2d(np.asarray(map_xy, float), self.cfg.map_voxel)
        if len(pts) < self.cfg.normal_neighbors:
            raise ScanMatchError(f"map has {len(pts)} structure points, too few to match against")
        self.map_xy = pts
        self.tree = cKDTree(pts)
        self.normals, planarity = _normals(pts, self.tree, self.cfg.normal_neighbors)
        self.is_line = planarity >= self.cfg.line_planarity

    @classmethod
    def from_map_file(cls, path: str | Path, config: ScanMatchConfig | None = None) -> ScanMatcher:
        """From the ``points`` (and optional ``point_material``) keys of a map .npz."""
        cfg = config or ScanMatchConfig()
        file = Path(path)
        try:
            with np.load(file) as data:
                if "points" not in data:
                    raise ScanMatchError(f"{file}: no 'points' key (keys: {sorted(data)})")
                points = np.asarray(data["points"], float)
                material = data.get("point_material")
        except (OSError, ValueError) as exc:
            if isinstance(exc, ScanMatchError):
                raise
            raise ScanMatchError(f"{file}: cannot read map: {exc}") from exc
        if points.ndim != 2 or points.shape[1] < 3:
            raise ScanMatchError(f"{file}: key 'points' must be (N, 3), got {points.shape}")
        keep = (points[:, 2] >= cfg.min_height) & (points[:, 2] <= cfg.max_height)
        if material is not None:
            keep &= ~np.isin(material, ROAD_MATERIALS)
        return cls(points[keep, :2], cfg)

    def scan_points(self, points_base: np.ndarray) -> np.ndarray:
        """The (M, 2) structure points of a base_link scan that take part in matching."""
        c = self.cfg
        z = points_base[:, 2]
        rng = np.hypot(points_base[:, 0], points_base[:, 1])
        xy = points_base[(z >= c.min_height) & (z <= c.max_height) & (rng <= c.max_range), :2]
        xy = _voxel_2d(xy.astype(float), c.scan_voxel)
        if len(xy) > c.max_scan_points:
            pick = np.random.default_rng(c.seed).choice(len(xy), c.max_scan_points, replace=False)
            xy = xy[np.sort(pick)]
        return xy

    def match(self, scan_xy: np.ndarray, guess: Pose2D) -> MatchResult | str:
        """The map pose of the scan's frame, refined from ``guess``; a reason string on failure."""
        c = self.cfg
        if len(scan_xy) < c.min_inliers:
            return f"only {len(scan_xy)} structure points in the scan"
        state = np.array([guess.x, guess.y, guess.yaw])
        radii = np.geomspace(c.correspondence_start, c.correspondence_end, c.iterations)
        for radius in radii:
            step = self._gauss_newton(scan_xy, state, radius)
            if isinstance(step, str):
                return step
            state += step[0]
            state[2] = wrap_angle(state[2])
            if np.abs(step[0]).max() < 1e-4:
                break
        final = self._gauss_newton(scan_xy, state, c.correspondence_end)
        if isinstance(final, str):
            return final
        _, hessian, inliers, rmse = final
        ratio = inliers / len(scan_xy)
        if inliers < c.min_inliers or ratio < c.min_inlier_ratio:
            return f"{inliers} of {len(scan_xy)} scan points match the map"
        sigma2 = max(rmse, c.residual_floor) ** 2
        cov = c.covariance_scale * sigma2 * np.linalg.inv(hessian + 1e-9 * np.eye(3))
        return MatchResult(Pose2D(*state), cov, inliers, ratio, rmse)

    def _gauss_newton(self, scan_xy: np.ndarray, state: np.ndarray, radius: float):
        cs, sn = np.cos(state[2]), np.sin(state[2])
        world = scan_xy @ np.array([[cs, sn], [-sn, cs]]) + state[:2]
        dist, idx = self.tree.query(world, distance_upper_bound=radius)
        ok = np.isfinite(dist)
        if ok.sum() < 3:
            return f"no map points within {radius:.1f} m of the scan"
        p, q, i = scan_xy[ok], self.map_xy[idx[ok]], idx[ok]
        w = world[ok]
        # d(world)/d(yaw) for each point.
        dyaw = np.column_stack([-sn * p[:, 0] - cs * p[:, 1], cs * p[:, 0] - sn * p[:, 1]])
        line = self.is_line[i]
        n = self.normals[i[line]]
        r_line = np.einsum("ij,ij->i", w[line] - q[line], n)
        j_line = np.column_stack([n, np.einsum("ij,ij->i", dyaw[line], n)])
        e = w[~line] - q[~line]
        j_pt = np.concatenate(
            [
                np.column_stack([np.ones(len(e)), np.zeros(len(e)), dyaw[~line, 0]]),
                np.column_stack([np.zeros(len(e)), np.ones(len(e)), dyaw[~line, 1]]),
            ]
        )
        r = np.concatenate([r_line, e[:, 0], e[:, 1]])
        jac = np.concatenate([j_line, j_pt])
        # Cauchy weights: a car parked next to a pole must not pull the pose towards it.
        # The scale follows the search radius so that early, coarse iterations still move.
        scale = max(self.cfg.robust_scale, 0.5 * radius)
        w = 1.0 / (1.0 + (r / scale) ** 2)
        hessian = jac.T @ (w[:, None] * jac)
        step = -np.linalg.solve(hessian + 1e-6 * np.eye(3), jac.T @ (w * r))
        rmse = float(np.sqrt(np.sum(w * r * r) / np.sum(w)))
        return step, hessian, int(ok.sum()), rmse
