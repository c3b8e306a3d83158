"""The reference lane: a centreline polyline with arc length, heading, curvature and projection.

Maps are .npz files. tools/scenario writes ``lane_centerlines`` (lanes, samples, 2) with
``lane_direction`` (+1 along increasing s, -1 oncoming); a plain map needs only ``centerline``
(N, 2), the polyline to follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from stack.errors import L4Error

CENTERLINE_KEY = "centerline"
LANES_KEY = "lane_centerlines"
LANE_DIRECTION_KEY = "lane_direction"


class MapError(L4Error, ValueError):
    """A map file or lane polyline that cannot be used."""


@dataclass(frozen=True)
class Lane:
    """A polyline with per-vertex arc length ``s``, heading and curvature."""

    xy: np.ndarray  # (N, 2)
    s: np.ndarray  # (N,)
    heading: np.ndarray  # (N,) unwrapped
    curvature: np.ndarray  # (N,)
    tree: cKDTree

    @classmethod
    def from_polyline(cls, xy: np.ndarray, source: str = "polyline") -> Lane:
        xy = np.asarray(xy, float)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise MapError(f"{source}: lane polyline must be (N, 2), got shape {xy.shape}")
        if not np.all(np.isfinite(xy)):
            raise MapError(f"{source}: lane polyline has non-finite points")
        step = np.hypot(*np.diff(xy, axis=0).T)
        xy = xy[np.r_[True, step > 1e-6]]  # repeated points have no heading
        if len(xy) < 2:
            raise MapError(f"{source}: lane polyline needs 2 distinct points, got {len(xy)}")
        seg = np.diff(xy, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        s = np.r_[0.0, np.cumsum(seg_len)]
        seg_heading = np.unwrap(np.arctan2(seg[:, 1], seg[:, 0]))
        heading = np.r_[seg_heading, seg_heading[-1]]
        curv_seg = np.diff(seg_heading) / (0.5 * (seg_len[1:] + seg_len[:-1]))
        curvature = np.r_[curv_seg[:1], curv_seg, curv_seg[-1:]] if len(curv_seg) else np.zeros(2)
        return cls(xy, s, heading, curvature, cKDTree(xy))

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s, d) of (M, 2) points: arc length of the nearest lane point and signed lateral offset
        (positive to the left). Beyond the ends, s extends along the end segments."""
        pts = np.atleast_2d(np.asarray(points, float))
        _, idx = self.tree.query(pts)
        n = len(self.xy)
        best_s = np.zeros(len(pts))
        best_d = np.zeros(len(pts))
        best_dist = np.full(len(pts), np.inf)
        for seg in (np.clip(idx - 1, 0, n - 2), np.clip(idx, 0, n - 2)):
            a, b = self.xy[seg], self.xy[seg + 1]
            ab = b - a
            length = np.hypot(ab[:, 0], ab[:, 1])
            u = ab / length[:, None]
            rel = pts - a
            t = np.einsum("ij,ij->i", rel, u)
            lo = np.where(seg == 0, -np.inf, 0.0)
            hi = np.where(seg == n - 2, np.inf, length)
            t_c = np.clip(t, lo, hi)
            d = u[:, 0] * rel[:, 1] - u[:, 1] * rel[:, 0]
            dist = np.hypot(t - t_c, d)
            better = dist < best_dist
            best_s = np.where(better, self.s[seg] + t_c, best_s)
            best_d = np.where(better, d, best_d)
            best_dist = np.where(better, dist, best_dist)
        return best_s, best_d

    def heading_at(self, s: np.ndarray | float) -> np.ndarray:
        return np.interp(s, self.s, self.heading)

    def curvature_at(self, s: np.ndarray | float) -> np.ndarray:
        return np.interp(s, self.s, self.curvature)

    def point(self, s: np.ndarray | float, d: np.ndarray | float = 0.0) -> np.ndarray:
        """(..., 2) map points at arc length ``s`` and lateral offset ``d`` (extrapolates ends)."""
        s = np.asarray(s, float)
        h = self.heading_at(s)
        base = np.stack(
            [np.interp(s, self.s, self.xy[:, 0]), np.interp(s, self.s, self.xy[:, 1])], -1
        )
        beyond = np.where(s > self.s[-1], s - self.s[-1], np.where(s < 0, s, 0.0))
        direction = np.stack([np.cos(h), np.sin(h)], -1)
        normal = np.stack([-np.sin(h), np.cos(h)], -1)
        return base + direction * beyond[..., None] + normal * np.asarray(d, float)[..., None]


def load_lane(path: str | Path, lane_index: int = 0) -> Lane:
    """The lane to follow from a map .npz: ``lane_centerlines[lane_index]`` (reversed for an
    oncoming lane) when present, else ``centerline``.

    Raises MapError naming the file and key.
    """
    file = Path(path)
    try:
        with np.load(file) as data:
            if LANES_KEY in data:
                lanes = np.asarray(data[LANES_KEY], float)
                if lanes.ndim != 3 or not 0 <= lane_index < len(lanes):
                    raise MapError(
                        f"{file}: key {LANES_KEY!r} has shape {lanes.shape}, no lane {lane_index}"
                    )
                xy = lanes[lane_index]
                if LANE_DIRECTION_KEY in data and data[LANE_DIRECTION_KEY][lane_index] < 0:
                    xy = xy[::-1]
                return Lane.from_polyline(xy, f"{file}:{LANES_KEY}[{lane_index}]")
            if CENTERLINE_KEY not in data:
                raise MapError(
                    f"{file}: no {CENTERLINE_KEY!r} or {LANES_KEY!r} key (keys: {sorted(data)})"
                )
            return Lane.from_polyline(data[CENTERLINE_KEY], f"{file}:{CENTERLINE_KEY}")
    except (OSError, ValueError) as exc:
        if isinstance(exc, MapError):
            raise
        raise MapError(f"{file}: cannot read map: {exc}") from exc
