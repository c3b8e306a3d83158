"""Tracking and geometry metrics on plain arrays (no messages). Detection AP lives in
perception.detector.metrics, shared with the detector's model card."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_by_distance(
    gt_xy: np.ndarray, pred_xy: np.ndarray, max_dist: float
) -> list[tuple[int, int]]:
    """Optimal one-to-one matching of points within ``max_dist`` (Hungarian on distance)."""
    gt_xy = np.asarray(gt_xy, dtype=np.float64).reshape(-1, 2)
    pred_xy = np.asarray(pred_xy, dtype=np.float64).reshape(-1, 2)
    if not len(gt_xy) or not len(pred_xy):
        return []
    dist = np.linalg.norm(gt_xy[:, None] - pred_xy[None], axis=2)
    cost = np.where(dist <= max_dist, dist, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if dist[r, c] <= max_dist]


@dataclass
class MotAccumulator:
    """CLEAR-MOT counts over frames: MOTA = 1 - (misses + false positives + ID switches) / GT."""

    max_dist: float = 2.0
    gt_count: int = 0
    misses: int = 0
    false_positives: int = 0
    id_switches: int = 0
    matches: int = 0

    def __post_init__(self) -> None:
        self._last: dict[int, int] = {}  # gt id -> track id it was last matched to

    def update(
        self,
        gt_ids: list[int],
        gt_xy: np.ndarray,
        trk_ids: list[int],
        trk_xy: np.ndarray,
        gt_ignore: np.ndarray | None = None,
    ) -> None:
        """One frame. Ignored ground truth (out of range, unseen) costs nothing either way."""
        ignore = np.zeros(len(gt_ids), bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
        pairs = match_by_distance(gt_xy, trk_xy, self.max_dist)
        counted = [(g, t) for g, t in pairs if not ignore[g]]
        self.gt_count += int((~ignore).sum())
        self.matches += len(counted)
        self.misses += int((~ignore).sum()) - len(counted)
        self.false_positives += len(trk_ids) - len(pairs)
        for g, t in counted:
            gid, tid = gt_ids[g], trk_ids[t]
            prev = self._last.get(gid)
            if prev is not None and prev != tid:
                self.id_switches += 1
            self._last[gid] = tid

    @property
    def mota(self) -> float:
        if self.gt_count == 0:
            return float("nan")
        return 1.0 - (self.misses + self.false_positives + self.id_switches) / self.gt_count


def rectangle(x: float, y: float, yaw: float, length: float, width: float) -> np.ndarray:
    """Footprint corners (4, 2) of a box centred at x, y."""
    c, s = np.cos(yaw), np.sin(yaw)
    half = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) * [length / 2, width / 2]
    return half @ np.array([[c, s], [-s, c]]) + [x, y]


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(
        np.einsum("...i,...i", p - a, ab) / np.maximum(np.einsum("...i,...i", ab, ab), 1e-12), 0, 1
    )
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    edges = np.roll(poly, -1, axis=0) - poly
    rel = points[:, None, :] - poly[None]
    cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]
    return np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1)


def _edges_cross(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether an edge of polygon ``a`` properly crosses an edge of ``b``."""
    p, q = a[:, None], np.roll(a, -1, axis=0)[:, None]
    r, s = b[None], np.roll(b, -1, axis=0)[None]

    def cross(o: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (u[..., 0] - o[..., 0]) * (v[..., 1] - o[..., 1]) - (u[..., 1] - o[..., 1]) * (
            v[..., 0] - o[..., 0]
        )

    return bool(
        np.any((cross(r, s, p) * cross(r, s, q) < 0) & (cross(p, q, r) * cross(p, q, s) < 0))
    )


def polygon_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two convex polygons (0 when they overlap, also when they cross like a
    plus sign with no corner inside the other)."""
    if _inside(a, b).any() or _inside(b, a).any() or _edges_cross(a, b):
        return 0.0
    best = np.inf
    for p, q in ((a, b), (b, a)):
        starts, ends = q, np.roll(q, -1, axis=0)
        d = _point_segment_distance(p[:, None, :], starts[None], ends[None])
        best = min(best, float(d.min()))
    return best


def rmse(err: np.ndarray) -> float:
    err = np.asarray(err, dtype=np.float64)
    return float(np.sqrt(np.mean(err**2))) if err.size else float("nan")
