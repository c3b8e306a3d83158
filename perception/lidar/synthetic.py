"""Synthetic lidar sweeps with known obstacles, for tests and `l4 bench perception`.

Not a sensor simulator (tools/scenario renders real scans): just ground points plus points on the
faces of boxes, enough to exercise every stage of the pipeline with a known answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SceneBox:
    x: float
    y: float
    yaw: float
    length: float
    width: float
    height: float


def box_surface_points(box: SceneBox, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points spread over the four sides and the top of ``box`` (base on z = 0)."""
    face = rng.integers(0, 5, size=count)  # 0/1: front/back, 2/3: left/right, 4: top
    u, v, w = rng.random(count), rng.random(count), rng.random(count)
    along, across = (u - 0.5) * box.length, (u - 0.5) * box.width
    local = np.empty((count, 3))
    local[:, 0] = np.select([face == 0, face == 1], [box.length / 2, -box.length / 2], along)
    local[:, 1] = np.select(
        [face == 2, face == 3, face == 4],
        [box.width / 2, -box.width / 2, (w - 0.5) * box.width],
        across,
    )
    local[:, 2] = np.where(face == 4, box.height, v * box.height)
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    out = local.copy()
    out[:, 0] = c * local[:, 0] - s * local[:, 1] + box.x
    out[:, 1] = s * local[:, 0] + c * local[:, 1] + box.y
    return out


def synthetic_sweep(
    boxes: list[SceneBox],
    ground_points: int = 24_000,
    points_per_box: int = 600,
    radius: float = 60.0,
    ground_noise: float = 0.03,
    seed: int = 0,
) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity in base_link: a flat road at z = 0 plus the boxes."""
    rng = np.random.default_rng(seed)
    # Lidar rings are denser near the sensor: sample the radius with a sqrt-free law.
    r = 3.0 + (radius - 3.0) * rng.random(ground_points) ** 1.5
    phi = rng.uniform(-np.pi, np.pi, ground_points)
    ground = np.column_stack(
        [r * np.cos(phi), r * np.sin(phi), rng.normal(0.0, ground_noise, ground_points)]
    )
    parts = [ground] + [box_surface_points(b, points_per_box, rng) for b in boxes]
    xyz = np.concatenate(parts)
    intensity = rng.random((len(xyz), 1))
    return np.hstack([xyz, intensity]).astype(np.float32)
