"""Object-level camera-lidar fusion in a common frame.

Lidar gives precise position, extent and heading; the camera gives the better class. A matched
pair keeps the lidar geometry and the camera class; unmatched camera objects (beyond lidar range,
or missed by clustering) are kept with their larger position uncertainty.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from perception.objects import Label, ObjectArray
from perception.tracking.association import gated_assignment
from perception.tracking.kalman import mahalanobis_sq


@dataclass
class FusionConfig:
    gate_chi2: float = 9.21  # 99 % of a 2-dof chi-square
    max_distance: float = 3.0  # m; a hard cap on top of the statistical gate
    keep_camera_only: bool = True


@dataclass(frozen=True)
class FusedObjects:
    objects: ObjectArray
    lidar_index: np.ndarray  # (N,) source lidar row or -1
    camera_index: np.ndarray  # (N,) source camera row or -1


def _pair_cost(lidar: ObjectArray, camera: ObjectArray, cfg: FusionConfig) -> np.ndarray:
    resid = camera.position[None, :, :2] - lidar.position[:, None, :2]
    cov = lidar.cov_xy[:, None] + camera.cov_xy[None, :]
    cost = mahalanobis_sq(resid, cov)
    cost[np.hypot(resid[..., 0], resid[..., 1]) > cfg.max_distance] = np.inf
    return cost


def fuse(lidar: ObjectArray, camera: ObjectArray, cfg: FusionConfig) -> FusedObjects:
    """Lidar objects with camera classes where a camera object matches, plus unmatched camera."""
    match = gated_assignment(_pair_cost(lidar, camera, cfg), cfg.gate_chi2)
    label, score = lidar.label.copy(), lidar.score.copy()
    cam_label = camera.label[match.cols]
    use_camera = cam_label != Label.UNKNOWN
    label[match.rows[use_camera]] = cam_label[use_camera]
    score[match.rows[use_camera]] = camera.score[match.cols[use_camera]]
    matched = dataclasses.replace(lidar, label=label, score=score)
    camera_index = np.full(len(lidar), -1)
    camera_index[match.rows] = match.cols
    parts, lidar_index = [matched], [np.arange(len(lidar))]
    if cfg.keep_camera_only and len(match.unmatched_cols):
        parts.append(camera.select(match.unmatched_cols))
        lidar_index.append(np.full(len(match.unmatched_cols), -1))
        camera_index = np.concatenate([camera_index, match.unmatched_cols])
    return FusedObjects(ObjectArray.concat(parts), np.concatenate(lidar_index), camera_index)
