"""Detection, tracking and geometry metrics on plain arrays (no messages)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes given as (cx, cy, w, h) rows: shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    a1, a2 = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b1, b2 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    lo = np.maximum(a1[:, None], b1[None])
    hi = np.minimum(a2[:, None], b2[None])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(a[:, 2:], axis=1)
    area_b = np.prod(b[:, 2:], axis=1)
    union = area_a[:, None] + area_b[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@dataclass(frozen=True)
class FrameDetections:
    """One image's detections (boxes cx,cy,w,h + scores) and ground truth boxes.

    ``ignore`` marks ground truth that a detector is not required to find (mostly occluded or
    tiny): a detection on it is neither a true nor a false positive.
    """

    boxes: np.ndarray
    scores: np.ndarray
    gt: np.ndarray
    ignore: np.ndarray | None = None


def average_precision(
    frames: list[FrameDetections], iou_threshold: float = 0.5
) -> tuple[float, float]:
    """VOC-style AP (all-point interpolated) and recall at the lowest score, over all frames."""
    scores, hits, n_gt = [], [], 0
    for f in frames:
        gt = np.asarray(f.gt, dtype=np.float64).reshape(-1, 4)
        ignore = np.zeros(len(gt), bool) if f.ignore is None else np.asarray(f.ignore, bool)
        n_gt += int((~ignore).sum())
        boxes = np.asarray(f.boxes, dtype=np.float64).reshape(-1, 4)
        order = np.argsort(-np.asarray(f.scores, dtype=np.float64), kind="stable")
        taken = np.zeros(len(gt), bool)
        iou = iou_xywh(boxes, gt) if len(gt) else np.zeros((len(boxes), 0))
        for i in order:
            best = -1
            if len(gt):
                cand = np.where(taken, -1.0, iou[i])
                j = int(np.argmax(cand))
                best = j if cand[j] >= iou_threshold else -1
            if best >= 0 and ignore[best]:
                taken[best] = True
                continue  # neither a hit nor a false alarm
            scores.append(float(f.scores[i]))
            hits.append(best >= 0)
            if best >= 0:
                taken[best] = True
    if n_gt == 0:
        return float("nan"), float("nan")
    if not scores:
        return 0.0, 0.0
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.cumsum(np.asarray(hits)[order])
    fp = np.cumsum(~np.asarray(hits)[order])
    recall = tp / n_gt
    precision = tp / np.maximum(tp + fp, 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    ap = float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    return ap, float(recall[-1])


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


def polygon_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two convex polygons (0 when they overlap)."""
    if _inside(a, b).any() or _inside(b, a).any():
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
