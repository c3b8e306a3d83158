"""Robust rigid 2-D alignment of a relative path (dead reckoning) to GNSS fixes.

A run of fixes taken while the vehicle drove a known relative path (IMU + wheel odometry) fixes
the map pose of that path: a rotation and a translation. Every pair of fixes far enough apart
proposes one; the proposal most fixes agree with (within ``tolerance_m``) wins and is refined by
least squares over those inliers (2-D Kabsch). A bad first fix, or a few fixes hundreds of metres
off, are outliers of the winning proposal instead of its anchor. Deterministic (no random
sampling): the same inputs give the same pose in lockstep replays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_POINTS = 40  # longer runs are subsampled evenly: 780 pair proposals at most


@dataclass(frozen=True)
class Alignment:
    """map = R(yaw) @ path + t, fitted on ``inliers`` of the fixes."""

    yaw: float
    t: np.ndarray  # (2,)
    inliers: np.ndarray  # bool mask over the fixes
    rms_m: float  # residual RMS over the inliers
    span_m: float  # the largest path distance between two inliers

    def apply(self, xy: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.asarray(xy, float) @ np.array([[c, s], [-s, c]]) + self.t


def _kabsch(path: np.ndarray, fixes: np.ndarray) -> tuple[float, np.ndarray]:
    pc, fc = path.mean(axis=0), fixes.mean(axis=0)
    a, b = path - pc, fixes - fc
    yaw = float(np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b)))
    c, s = np.cos(yaw), np.sin(yaw)
    return yaw, fc - np.array([c * pc[0] - s * pc[1], s * pc[0] + c * pc[1]])


def _span(path: np.ndarray) -> float:
    d = path[:, None, :] - path[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).max()) if len(path) > 1 else 0.0


def align(
    path: np.ndarray, fixes: np.ndarray, tolerance_m: float, min_span_m: float
) -> Alignment | None:
    """The best rigid alignment of ``path`` (n,2) onto ``fixes`` (n,2), or None when no pair of
    fixes is ``min_span_m`` apart along the path."""
    path, fixes = np.asarray(path, float), np.asarray(fixes, float)
    keep = np.unique(np.linspace(0, len(path) - 1, min(len(path), MAX_POINTS)).round().astype(int))
    proposal = _best_proposal(path[keep], fixes[keep], tolerance_m, min_span_m)
    if proposal is None:
        return None
    yaw, t = proposal
    for _ in range(2):  # least squares over the inliers of all fixes, twice
        fitted = Alignment(yaw, t, np.ones(len(path), bool), 0.0, 0.0)
        inliers = np.hypot(*(fitted.apply(path) - fixes).T) <= tolerance_m
        if inliers.sum() < 2:
            break
        yaw, t = _kabsch(path[inliers], fixes[inliers])
    resid = np.hypot(*(Alignment(yaw, t, inliers, 0.0, 0.0).apply(path) - fixes).T)
    inliers = resid <= tolerance_m
    rms = float(np.sqrt(np.mean(resid[inliers] ** 2))) if inliers.any() else float("inf")
    return Alignment(yaw, t, inliers, rms, _span(path[inliers][:: max(1, len(path) // 60)]))


def _best_proposal(
    path: np.ndarray, fixes: np.ndarray, tolerance_m: float, min_span_m: float
) -> tuple[float, np.ndarray] | None:
    """The (yaw, t) of the pair proposal most fixes agree with; None without a long pair."""
    i, j = np.triu_indices(len(path), k=1)
    dp, df = path[j] - path[i], fixes[j] - fixes[i]
    ok = np.hypot(*dp.T) >= min_span_m
    if not ok.any():
        return None
    i, dp, df = i[ok], dp[ok], df[ok]
    yaw = np.arctan2(df[:, 1], df[:, 0]) - np.arctan2(dp[:, 1], dp[:, 0])
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (p,2,2)
    t = fixes[i] - np.einsum("pab,pb->pa", rot, path[i])
    mapped = np.einsum("pab,nb->pna", rot, path) + t[:, None, :]
    err = np.hypot(*(mapped - fixes[None]).transpose(2, 0, 1))  # (p, n)
    inliers = err <= tolerance_m
    score = inliers.sum(1) - 1e-3 * np.where(inliers, err, 0.0).sum(1)  # ties: smaller error
    best = int(np.argmax(score))
    return float(yaw[best]), t[best]
