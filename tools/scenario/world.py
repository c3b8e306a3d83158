"""The static world along the road: kerbs, poles, signs, trees, buildings, and its point-cloud map."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tools.scenario import road as rd
from tools.scenario.boxes import Boxes, Material
from tools.scenario.config import ENU_ORIGIN
from tools.scenario.signals import Signals, light_map_arrays

KERB_SEGMENT = 5.0
MAP_SPACING = 0.5  # metres between map points on structure faces
GROUND_SPACING = 1.0


@dataclass(frozen=True)
class World:
    road: rd.Road
    static: Boxes
    map_points: np.ndarray  # (N,3) float32 in map
    map_material: np.ndarray  # (N,) uint8 Material
    signals: Signals | None = None  # signalised crossings (None: a road without lights)


def _boxes_along(road: rd.Road, s, d, z, size, yaw_offset, color, material) -> Boxes:
    """Boxes at Frenet (s, d), bottom at height z, yawed with the road."""
    s = np.asarray(s, dtype=np.float64)
    n = len(s)
    xy = road.point(s, d)
    size = np.broadcast_to(np.asarray(size, dtype=np.float64), (n, 3)).copy()
    center = np.column_stack([xy, np.broadcast_to(z, n) + size[:, 2] / 2])
    return Boxes(
        center=center,
        size=size,
        yaw=road.heading_at(s) + yaw_offset,
        color=np.broadcast_to(np.asarray(color, np.uint8), (n, 3)).copy(),
        material=np.full(n, material, np.int8),
        owner=np.full(n, -1, np.int32),
    )


def _kerbs(road: rd.Road) -> list[Boxes]:
    s = np.arange(KERB_SEGMENT / 2, road.length, KERB_SEGMENT)
    d = rd.HALF_WIDTH + 0.125
    size = (KERB_SEGMENT, 0.25, 0.15)
    grey = (150, 150, 150)
    return [
        _boxes_along(road, s, side * d, 0.0, size, 0.0, grey, Material.KERB) for side in (-1, 1)
    ]


def _poles_and_signs(road: rd.Road, rng: np.random.Generator) -> list[Boxes]:
    out = []
    for side in (-1, 1):
        s = np.arange(rng.uniform(0, 40), road.length, 40.0)
        out.append(
            _boxes_along(
                road, s, side * 10.0, 0.0, (0.25, 0.25, 7.0), 0.0, (90, 90, 95), Material.POLE
            )
        )
        sign_s = s[rng.random(len(s)) < 0.3] + 12.0
        sign_s = sign_s[sign_s < road.length]
        out.append(
            _boxes_along(
                road, sign_s, side * 8.2, 0.0, (0.1, 0.1, 2.2), 0.0, (120, 120, 120), Material.POLE
            )
        )
        colors = np.where(rng.random((len(sign_s), 1)) < 0.5, [[40, 40, 200]], [[160, 90, 20]])
        out.append(
            _boxes_along(
                road, sign_s, side * 8.2, 2.2, (0.08, 0.75, 0.75), 0.0, colors, Material.SIGN
            )
        )
    return out


def _buildings_and_trees(road: rd.Road, rng: np.random.Generator) -> list[Boxes]:
    blds, trees = [], []
    for side in (-1, 1):
        cursor = rng.uniform(0.0, 20.0)
        while cursor < road.length:
            if rng.random() < 0.25:  # a tree in a gap
                trees.append((cursor + 2.0, side * rng.uniform(11.5, 13.0)))
                cursor += 6.0
                continue
            length, depth = rng.uniform(10, 30), rng.uniform(8, 20)
            setback = rng.uniform(13.0, 18.0) + depth / 2
            height = rng.uniform(5.0, 22.0)
            tone = rng.uniform(0.45, 0.85)
            tint = rng.uniform(0.85, 1.1, 3)
            color = np.clip(255 * tone * tint, 0, 255)
            blds.append((cursor + length / 2, side * setback, length, depth, height, *color))
            cursor += length + rng.uniform(3.0, 15.0)
    out = []
    if blds:
        b = np.array(blds)
        out.append(
            _boxes_along(road, b[:, 0], b[:, 1], 0.0, b[:, 2:5], 0.0, b[:, 5:8], Material.BUILDING)
        )
    if trees:
        t = np.array(trees)
        for z0, size, color in (
            (0.0, (0.35, 0.35, 2.5), (30, 60, 90)),  # trunk
            (2.5, (3.2, 3.2, 3.0), (40, 120, 50)),  # canopy
        ):
            out.append(
                _boxes_along(road, t[:, 0], t[:, 1], z0, size, 0.0, color, Material.VEGETATION)
            )
    return out


def _face_grid(a: float, b: float, spacing: float) -> np.ndarray:
    """Unit-square coordinates (-0.5..0.5) of a grid on a face of size a x b."""
    u = (np.arange(max(1, round(a / spacing))) + 0.5) / max(1, round(a / spacing)) - 0.5
    v = (np.arange(max(1, round(b / spacing))) + 0.5) / max(1, round(b / spacing)) - 0.5
    uu, vv = np.meshgrid(u, v)
    return np.column_stack([uu.ravel(), vv.ravel()])


def _box_surface_points(boxes: Boxes) -> tuple[np.ndarray, np.ndarray]:
    """Points on the four sides and the top of every box (one small grid per box face)."""
    pts, mats = [], []
    rot = boxes.rotations()
    for i in range(len(boxes)):
        lx, ly, lz = boxes.size[i]
        local = []
        for axis, extent in ((0, lx), (1, ly)):
            other = ly if axis == 0 else lx
            grid = _face_grid(other, lz, MAP_SPACING)
            for sign in (-0.5, 0.5):
                p = np.empty((len(grid), 3))
                p[:, axis] = sign * extent
                p[:, 1 - axis] = grid[:, 0] * other
                p[:, 2] = grid[:, 1] * lz
                local.append(p)
        top = _face_grid(lx, ly, MAP_SPACING)
        local.append(np.column_stack([top[:, 0] * lx, top[:, 1] * ly, np.full(len(top), lz / 2)]))
        local = np.concatenate(local)
        pts.append(local @ rot[i].T + boxes.center[i])
        mats.append(np.full(len(local), boxes.material[i], np.uint8))
    return np.concatenate(pts), np.concatenate(mats)


def _ground_points(road: rd.Road) -> np.ndarray:
    s = np.arange(0.0, road.length, GROUND_SPACING)
    d = np.arange(-rd.SIDEWALK[1], rd.SIDEWALK[1] + 1e-6, GROUND_SPACING)
    ss, dd = np.meshgrid(s, d)
    xy = road.point(ss.ravel(), dd.ravel())
    return np.column_stack([xy, np.zeros(len(xy))])


def make_world(rng: np.random.Generator, length: float) -> World:
    road = rd.make_road(rng, length)
    static = Boxes.concat(
        _kerbs(road) + _poles_and_signs(road, rng) + _buildings_and_trees(road, rng)
    )
    structure, material = _box_surface_points(static)
    ground = _ground_points(road)
    points = np.concatenate([structure, ground]).astype(np.float32)
    mats = np.concatenate([material, np.full(len(ground), Material.ROAD, np.uint8)])
    return World(road=road, static=static, map_points=points, map_material=mats)


def with_signals(world: World, signals: Signals) -> World:
    """The world with signalised crossings: their poles join the static boxes and the map."""
    poles = signals.pole_boxes(world.road)
    points, mats = _box_surface_points(poles)  # heads: camera only (too small for the lidar)
    return replace(
        world,
        static=Boxes.concat([world.static, poles]),
        map_points=np.concatenate([world.map_points, points.astype(np.float32)]),
        map_material=np.concatenate([world.map_material, mats]),
        signals=signals,
    )


def save_map(world: World, path: Path) -> None:
    """The localization map: static points, lane centre polylines, ENU origin, static boxes."""
    road = world.road
    # Uncompressed: compressing a long road's map costs more than its disk space is worth.
    lights = light_map_arrays(world.signals, road) if world.signals is not None else {}
    np.savez(
        path,
        **lights,
        points=world.map_points,
        point_material=world.map_material,
        centerline=road.xy.astype(np.float32),
        centerline_s=road.s.astype(np.float32),
        lane_offsets=rd.LANE_OFFSETS,
        lane_direction=rd.LANE_DIRECTION,
        lane_centerlines=road.lane_centerlines().astype(np.float32),
        enu_origin_lat_lon_alt=np.array(ENU_ORIGIN),
        box_center=world.static.center.astype(np.float32),
        box_size=world.static.size.astype(np.float32),
        box_yaw=world.static.yaw.astype(np.float32),
        box_material=world.static.material,
    )
