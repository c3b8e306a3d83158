"""Map-based regions of interest, as Autoware's traffic_light_map_based_detector.

Every head of the light map within range whose lamps face the camera is projected into the image
with the ego pose (map -> base_link), the camera extrinsic (base_link -> optical frame) and the
intrinsics K; the region is a square around the housing, widened by a margin that covers pose
error (metres at the head's depth, so it shrinks in pixels with distance). A head whose centre
falls behind the camera or outside the image gives no region and is counted as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from perception.geometry import Pose2D, RigidTransform
from perception.traffic_light.lightmap import LightMap


@dataclass(frozen=True)
class RoiConfig:
    max_range: float = 80.0  # m, camera to head
    margin: float = 0.6  # m of pose error the region covers on every side
    min_size: float = 12.0  # px: the smallest region side
    near: float = 1.0  # m: heads closer than this in depth are not projected


@dataclass(frozen=True)
class Roi:
    head: int  # index into the light map
    group: int  # traffic_light_group_id
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels (square, may reach past the image)
    distance: float


@dataclass(frozen=True)
class Projection:
    rois: list[Roi]
    in_range: int  # heads in range facing the camera
    skipped_groups: tuple[int, ...] = ()  # the groups of the heads outside the image

    @property
    def outside(self) -> int:
        """Heads in range and facing the camera whose centre is outside the image."""
        return len(self.skipped_groups)


def camera_in_map(ego: Pose2D, extrinsic: RigidTransform) -> RigidTransform:
    """map <- camera optical frame, from the ego's planar pose and base_link <- camera."""
    c, s = np.cos(ego.yaw), np.sin(ego.yaw)
    r_mb = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return RigidTransform(
        r_mb @ extrinsic.rotation, np.array([ego.x, ego.y, 0.0]) + r_mb @ extrinsic.translation
    )


def project_heads(
    lights: LightMap,
    camera: RigidTransform,
    k: np.ndarray,
    size: tuple[int, int],
    cfg: RoiConfig = RoiConfig(),
) -> Projection:
    """The regions of the heads in range facing the camera (``camera``: map <- optical)."""
    pos = camera.translation
    rel = lights.head_xyz - pos
    dist = np.linalg.norm(rel, axis=1)
    facing = np.column_stack([np.cos(lights.head_yaw), np.sin(lights.head_yaw)])
    toward = np.einsum("ij,ij->i", facing, -rel[:, :2]) > 0
    cand = np.flatnonzero((dist < cfg.max_range) & toward)
    pc = (lights.head_xyz[cand] - pos) @ camera.rotation  # into the optical frame
    w, h = size
    f = float(k[0, 0])
    rois, skipped = [], []
    for i, p in zip(cand.tolist(), pc):
        if p[2] < cfg.near:
            skipped.append(int(lights.head_group[i]))
            continue
        u = f * p[0] / p[2] + k[0, 2]
        v = float(k[1, 1]) * p[1] / p[2] + k[1, 2]
        if not (0.0 <= u < w and 0.0 <= v < h):
            skipped.append(int(lights.head_group[i]))
            continue
        extent = max(lights.head_size[i, 1:].max() / 2 + cfg.margin, 0.0)
        half = max(f * extent / p[2], cfg.min_size / 2)
        box = (int(u - half), int(v - half), int(np.ceil(u + half)), int(np.ceil(v + half)))
        rois.append(Roi(i, int(lights.head_group[i]), box, float(dist[i])))
    return Projection(rois, len(cand), tuple(skipped))


def crop(image: np.ndarray, box: tuple[int, int, int, int], side: int) -> np.ndarray:
    """The region resized to side x side (BGR uint8), padded with black past the image."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    patch = image[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if patch.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(patch, (side, side), interpolation=interp)
