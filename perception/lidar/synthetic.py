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
    # Denser near the sensor, as the rings of a spinning lidar are.
    r = 3.0 + (radius - 3.0) * rng.random(ground_points) ** 1.5
    phi = rng.uniform(-np.pi, np.pi, ground_points)
    ground = np.column_stack(
        [r * np.cos(phi), r * np.sin(phi), rng.normal(0.0, ground_noise, ground_points)]
    )
    parts = [ground] + [box_surface_points(b, points_per_box, rng) for b in boxes]
    xyz = np.concatenate(parts)
    intensity = rng.random((len(xyz), 1))
    return np.hstack([xyz, intensity]).astype(np.float32)


def ray_cast_sweep(
    boxes: list[SceneBox],
    beams: int = 32,
    columns: int = 1024,
    mount: tuple[float, float, float] = (1.0, 0.0, 1.95),
    elevation_deg: tuple[float, float] = (-22.0, 8.0),
    max_range: float = 100.0,
    range_noise: float = 0.02,
    seed: int = 0,
) -> np.ndarray:
    """(N, 4) x, y, z, intensity in the lidar frame of a spinning lidar over a flat road.

    Every ray hits the nearest of the ground (z = 0 in base_link) and the boxes, so objects show
    only their near faces, as in a real scan; rays that hit nothing within ``max_range`` are lost.
    """
    rng = np.random.default_rng(seed)
    el = np.deg2rad(np.linspace(*elevation_deg, beams))
    az = np.linspace(-np.pi, np.pi, columns, endpoint=False)
    el, az = np.meshgrid(el, az, indexing="ij")
    d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1).reshape(-1, 3)
    origin = np.asarray(mount, float)
    t = np.full(len(d), np.inf)
    down = d[:, 2] < -1e-6
    t[down] = -origin[2] / d[down, 2]
    for box in boxes:
        t = np.minimum(t, _ray_box(origin, d, box))
    hit = t < max_range
    t = t[hit] + rng.normal(0.0, range_noise, int(hit.sum()))
    points = d[hit] * t[:, None]  # lidar frame: axis-aligned with base_link, origin at the mount
    intensity = rng.random((len(points), 1))
    return np.hstack([points, intensity]).astype(np.float32)


def _ray_box(origin: np.ndarray, d: np.ndarray, box: SceneBox) -> np.ndarray:
    """Distance along each ray to ``box`` (inf where missed), by the slab method in box axes."""
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    rel = origin - np.array([box.x, box.y, box.height / 2])
    o = np.array([c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2]])
    dl = np.column_stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]])
    half = np.array([box.length, box.width, box.height]) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-half - o) / dl, (half - o) / dl
    near = np.nanmax(np.minimum(t1, t2), axis=1)
    far = np.nanmin(np.maximum(t1, t2), axis=1)
    return np.where((far >= near) & (near > 0.0), near, np.inf)


def street_scene(seed: int = 0, cars: int = 10, pedestrians: int = 4, trucks: int = 2):
    """A plausible street around the ego: vehicles in lanes, people on the sidewalks, buildings."""
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(cars):
        lane = rng.choice([-5.25, -1.75, 1.75, 5.25])
        boxes.append(SceneBox(rng.uniform(-30, 70), lane, rng.normal(0, 0.05), 4.5, 1.8, 1.5))
    for _ in range(trucks):
        boxes.append(SceneBox(rng.uniform(15, 70), rng.choice([-1.75, 1.75]), 0.0, 10.0, 2.5, 3.4))
    for _ in range(pedestrians):
        side = rng.choice([-1.0, 1.0])
        boxes.append(SceneBox(rng.uniform(-10, 50), side * rng.uniform(8, 10), 0.0, 0.5, 0.5, 1.75))
    for x in np.arange(-40.0, 90.0, 25.0):  # building fronts along both sides
        for side in (-1.0, 1.0):
            boxes.append(SceneBox(x, side * 16.0, 0.0, 20.0, 6.0, 8.0))
    return boxes
