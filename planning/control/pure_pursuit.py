"""Pure pursuit lateral control (Coulter 1992) about the rear axle (base_link)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stack.params import at_least, non_negative, positive


@dataclass
class PurePursuitConfig:
    wheelbase: float = 2.7
    lookahead_time: float = 0.8  # s: lookahead grows with speed
    min_lookahead: float = 4.0  # m
    max_lookahead: float = 25.0  # m
    max_steer: float = 0.6  # rad

    def __post_init__(self) -> None:
        positive("wheelbase", self.wheelbase)
        non_negative("lookahead_time", self.lookahead_time)
        positive("min_lookahead", self.min_lookahead)
        at_least("max_lookahead", self.max_lookahead, self.min_lookahead)
        positive("max_steer", self.max_steer)


@dataclass(frozen=True)
class Steering:
    angle: float  # rad, positive to the left
    closest: int  # index of the path point nearest the rear axle
    target: np.ndarray  # (2,) the lookahead point in the map frame
    lateral_error: float  # m, signed distance of base_link to the path (positive: path left)


def closest_index(x: float, y: float, path_xy: np.ndarray) -> int:
    return int(np.argmin(np.einsum("ij,ij->i", path_xy - (x, y), path_xy - (x, y))))


def pure_pursuit(
    x: float, y: float, yaw: float, speed: float, path_xy: np.ndarray, cfg: PurePursuitConfig
) -> Steering:
    """Steering toward the path point one lookahead distance from the rear axle.

    The target is interpolated on the path segment the lookahead circle crosses; past the end of
    the path it extends along the last segment, so a short path still gives a target.
    """
    lookahead = float(
        np.clip(cfg.lookahead_time * abs(speed), cfg.min_lookahead, cfg.max_lookahead)
    )
    i0 = closest_index(x, y, path_xy)
    rel = path_xy[i0:] - (x, y)
    beyond = np.flatnonzero(np.hypot(rel[:, 0], rel[:, 1]) >= lookahead)
    if len(beyond) and beyond[0] > 0:
        j = i0 + int(beyond[0])  # the lookahead circle crosses segment j-1 -> j
        target = _circle_hit(path_xy[j - 1], path_xy[j], (x, y), lookahead)
    elif len(beyond):
        target = path_xy[i0]
    elif len(path_xy) > 1:
        target = _circle_hit(path_xy[-2], path_xy[-1], (x, y), lookahead)
    else:
        target = path_xy[-1]
    dx, dy = target - (x, y)
    c, s = np.cos(yaw), np.sin(yaw)
    local_x, local_y = c * dx + s * dy, -s * dx + c * dy
    dist_sq = max(local_x * local_x + local_y * local_y, 1e-9)
    curvature = 2.0 * local_y / dist_sq
    angle = float(np.clip(np.arctan(cfg.wheelbase * curvature), -cfg.max_steer, cfg.max_steer))
    lateral = _lateral_error(x, y, path_xy, i0)
    return Steering(angle, i0, np.asarray(target, float), lateral)


def _circle_hit(a: np.ndarray, b: np.ndarray, center: tuple, radius: float) -> np.ndarray:
    """The point beyond ``a`` on the line a -> b (extended past b) at ``radius`` from ``center``."""
    seg = b - a
    seg = seg / max(float(np.hypot(*seg)), 1e-9)
    rel = a - np.asarray(center, float)
    half_b = float(rel @ seg)
    c = float(rel @ rel) - radius**2
    t = -half_b + np.sqrt(max(half_b * half_b - c, 0.0))
    return a + max(t, 0.0) * seg


def _lateral_error(x: float, y: float, path_xy: np.ndarray, i: int) -> float:
    j = min(max(i, 0), len(path_xy) - 2)
    if len(path_xy) < 2:
        return 0.0
    a, b = path_xy[j], path_xy[j + 1]
    seg = b - a
    norm = max(float(np.hypot(*seg)), 1e-9)
    rel = np.array([x, y]) - a
    return float(-(seg[0] * rel[1] - seg[1] * rel[0]) / norm)
