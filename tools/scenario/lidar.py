"""Top lidar: a spinning multi-beam sensor ray cast against the ground, the static map and actors.

Rays are fixed in the lidar frame, so boxes are moved into that frame instead. Each box is tested
(slab test, vectorised over rays) only against the block of beams and columns that its angular
extent covers; the loop runs over boxes, never over rays or points.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tools.scenario import road as rd
from tools.scenario.boxes import INTENSITY, Boxes, Material
from tools.scenario.config import LidarModel, Weather
from tools.scenario.world import World

RASTER_REACH = 75.0  # metres around the sensor covered by the ground-material raster
RASTER_CELL = 0.1
SURFACE_MATERIAL = {
    rd.Surface.SIDEWALK: Material.KERB,
    rd.Surface.ASPHALT: Material.ROAD,
    rd.Surface.KERB: Material.KERB,
    rd.Surface.WHITE: Material.MARKING,
    rd.Surface.YELLOW: Material.MARKING,
}


@dataclass(frozen=True)
class WeatherEffect:
    max_range: float  # beyond this nothing returns
    extinction: float  # per metre; chance of a return falls as exp(-2 * extinction * r)
    dropout: float  # extra random dropouts
    clutter: int  # spurious near returns per scan (rain drops, fog)


EFFECTS = {
    Weather.DAY: WeatherEffect(100.0, 0.0, 0.0, 0),
    Weather.NIGHT: WeatherEffect(100.0, 0.0, 0.0, 0),
    Weather.FOG: WeatherEffect(70.0, 0.012, 0.03, 300),
    Weather.RAIN: WeatherEffect(90.0, 0.003, 0.06, 150),
}


@dataclass(frozen=True)
class Scan:
    """Points (N,4) float32 x, y, z, intensity in the lidar frame; owner (N,) actor id or -1."""

    points: np.ndarray
    owner: np.ndarray


class LidarSimulator:
    def __init__(self, model: LidarModel, weather: Weather, world: World, rng: np.random.Generator):
        self.model, self.world, self.rng = model, world, rng
        self.effect = EFFECTS[weather]
        elev, azim = model.elevations(), model.azimuths()
        self.elev, self.azim = elev, azim
        ce = np.cos(elev)[:, None]
        self.dirs = np.stack(
            [
                ce * np.cos(azim)[None],
                ce * np.sin(azim)[None],
                np.broadcast_to(np.sin(elev)[:, None], (len(elev), len(azim))),
            ],
            axis=-1,
        )
        height = model.mount.xyz[2]
        with np.errstate(divide="ignore"):
            ground = np.where(elev < 0, height / -np.sin(elev), np.inf)
        self.ground_range = np.broadcast_to(ground[:, None], (len(elev), len(azim)))
        self.height = height

    def scan(self, sensor_xy: np.ndarray, sensor_yaw: float, actors: Boxes) -> Scan:
        """One revolution from a lidar at world (x, y, mount height) with yaw ``sensor_yaw``."""
        self._s_sensor = float(self.world.road.to_frenet(np.asarray(sensor_xy)[None])[0][0])
        rng_img = self.ground_range.copy()
        owner = np.full(rng_img.shape, -2, np.int32)  # -2 ground, -1 static, >=0 actor
        material = np.full(rng_img.shape, -1, np.int8)
        boxes = Boxes.concat(
            [self._near(self.world.static, sensor_xy), self._near(actors, sensor_xy)]
        )
        if len(boxes):
            self._cast(boxes, sensor_xy, sensor_yaw, rng_img, owner, material)
        return self._returns(rng_img, owner, material, sensor_xy, sensor_yaw)

    def _near(self, boxes: Boxes, xy: np.ndarray) -> Boxes:
        reach = self.effect.max_range + 0.5 * np.linalg.norm(boxes.size[:, :2], axis=1)
        return boxes.take(np.flatnonzero(np.hypot(*(boxes.center[:, :2] - xy).T) < reach))

    def _cast(self, boxes, xy, yaw, rng_img, owner, material) -> None:
        c, s = np.cos(yaw), np.sin(yaw)
        rel = boxes.center - np.array([xy[0], xy[1], self.height])
        # Box centres and yaws in the lidar frame.
        center = np.column_stack(
            [c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]]
        )
        box_yaw = boxes.yaw - yaw
        box, beam, col = self._pairs(center, boxes.size, box_yaw)
        if not len(box):
            return
        t = _slab(self.dirs[beam, col], center[box], boxes.size[box] / 2, box_yaw[box])
        hit = np.isfinite(t)
        box, beam, col, t = box[hit], beam[hit], col[hit], t[hit]
        np.minimum.at(rng_img, (beam, col), t)
        # The box whose hit is the nearest on its ray owns the return.
        win = t <= rng_img[beam, col]
        owner[beam[win], col[win]] = boxes.owner[box[win]]
        material[beam[win], col[win]] = boxes.material[box[win]]

    def _pairs(self, center, size, yaw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(box, beam, column) for every ray inside each box's angular extent."""
        signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * 0.5
        c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
        lx, ly = signs[None, :, 0] * size[:, None, 0], signs[None, :, 1] * size[:, None, 1]
        cx = center[:, None, 0] + c * lx - s * ly
        cy = center[:, None, 1] + s * lx + c * ly
        mid = np.arctan2(center[:, 1], center[:, 0])
        ang = np.angle(np.exp(1j * (np.arctan2(cy, cx) - mid[:, None])))
        lo, hi = mid + ang.min(axis=1), mid + ang.max(axis=1)
        # Nearest and farthest horizontal distance of the footprint bound the elevations.
        local_x = c[:, 0] * center[:, 0] + s[:, 0] * center[:, 1]
        local_y = -s[:, 0] * center[:, 0] + c[:, 0] * center[:, 1]
        dmin = np.hypot(
            np.maximum(np.abs(local_x) - size[:, 0] / 2, 0.0),
            np.maximum(np.abs(local_y) - size[:, 1] / 2, 0.0),
        )
        dmax = np.hypot(cx, cy).max(axis=1)
        z0, z1 = center[:, 2] - size[:, 2] / 2, center[:, 2] + size[:, 2] / 2
        e_hi = np.arctan2(z1, np.where(z1 > 0, dmin, dmax))
        e_lo = np.arctan2(z0, np.where(z0 < 0, dmin, dmax))
        b0 = np.searchsorted(self.elev, e_lo - 1e-9)
        nb = np.maximum(np.searchsorted(self.elev, e_hi + 1e-9) - b0, 0)
        n = self.model.columns
        step = 2 * np.pi / n
        first = np.floor((lo + np.pi) / step).astype(np.int64)
        nc = np.ceil((hi + np.pi) / step).astype(np.int64) - first + 1
        wide = (dmin < 1e-6) | (hi - lo > np.pi)
        first[wide], nc[wide] = 0, n
        count = nb * nc
        box = np.repeat(np.arange(len(center)), count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        ncb = nc[box]
        return box, b0[box] + k // ncb, (first[box] + k % ncb) % n

    def _returns(self, rng_img, owner, material, xy, yaw) -> Scan:
        eff, model = self.effect, self.model
        r = rng_img + self.rng.normal(0.0, model.range_noise, rng_img.shape)
        r[~np.isfinite(rng_img)] = np.inf
        keep = (r > model.min_range) & (r < eff.max_range)
        keep &= self.rng.random(r.shape) >= model.dropout + eff.dropout
        if eff.extinction > 0:
            keep &= self.rng.random(r.shape) < np.exp(-2.0 * eff.extinction * r)
        ground = owner == -2
        material = np.where(ground, self._ground_material(r, xy, yaw, ground & keep), material)
        intensity = INTENSITY[np.clip(material, 0, None)] * self.rng.uniform(0.8, 1.2, r.shape)
        # Spinning order: column by column, beams bottom to top within a column.
        pts = self.dirs * np.where(keep, r, 0.0)[..., None]
        sel = keep.T
        xyz = np.transpose(pts, (1, 0, 2))[sel]
        out = np.column_stack([xyz, intensity.T[sel]]).astype(np.float32)
        own = np.where(owner < 0, -1, owner).T[sel]
        if eff.clutter:
            out, own = self._clutter(out, own)
        return Scan(points=out, owner=own)

    def _ground_material(self, r, xy, yaw, mask) -> np.ndarray:
        """Material of each ground return, looked up in a top-down raster of the road surface
        drawn around the sensor (road, marking, sidewalk; grass elsewhere)."""
        out = np.full(r.shape, Material.GRASS, np.int8)
        if not mask.any():
            return out
        raster = self._surface_raster(xy, yaw)
        local = self.dirs[mask] * r[mask][:, None]
        col = ((local[:, 0] + RASTER_REACH) / RASTER_CELL).astype(np.int64)
        row = ((local[:, 1] + RASTER_REACH) / RASTER_CELL).astype(np.int64)
        size = raster.shape[0]
        inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        mat = np.full(len(local), Material.GRASS, np.int8)
        mat[inside] = raster[row[inside], col[inside]]
        out[mask] = mat
        return out

    def _surface_raster(self, xy, yaw) -> np.ndarray:
        """Materials on a grid in the lidar frame: cell (row, col) covers
        y = row * RASTER_CELL - RASTER_REACH, x = col * RASTER_CELL - RASTER_REACH."""
        size = int(2 * RASTER_REACH / RASTER_CELL)
        raster = np.full((size, size), Material.GRASS, np.uint8)
        quads, _, surface = self.world.road.surface_quads(
            self._s_sensor - RASTER_REACH * 1.5, self._s_sensor + RASTER_REACH * 1.5, 2.0
        )
        c, s = np.cos(yaw), np.sin(yaw)
        rel = quads - xy
        local = np.stack(
            [c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]], -1
        )
        pix = np.round((local + RASTER_REACH) / RASTER_CELL * 16).astype(np.int32)
        for kind in rd.Surface:
            polys = list(pix[surface == kind])
            if polys:
                cv2.fillPoly(raster, polys, int(SURFACE_MATERIAL[kind]), cv2.LINE_8, 4)
        return raster

    def _clutter(self, pts: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spurious weak returns close to the sensor (drops, fog)."""
        n = self.effect.clutter
        r = self.rng.uniform(1.0, 12.0, n)
        az = self.rng.uniform(-np.pi, np.pi, n)
        el = self.rng.choice(self.elev, n)
        xyz = np.column_stack(
            [r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)]
        )
        extra = np.column_stack([xyz, self.rng.uniform(1.0, 8.0, n)]).astype(np.float32)
        return np.concatenate([pts, extra]), np.concatenate([owner, np.full(n, -1, np.int32)])


def _slab(dirs: np.ndarray, center: np.ndarray, half: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Distance along unit rays (M,3) from the origin to oriented boxes, one box per ray
    (centres (M,3), half sizes (M,3), yaws (M,)); inf where the ray misses."""
    c, s = np.cos(yaw), np.sin(yaw)
    ox = -(c * center[:, 0] + s * center[:, 1])
    oy = -(-s * center[:, 0] + c * center[:, 1])
    dx = c * dirs[:, 0] + s * dirs[:, 1]
    dy = -s * dirs[:, 0] + c * dirs[:, 1]
    near = np.full(len(dirs), -np.inf)
    far = np.full(len(dirs), np.inf)
    for o, d, h in (
        (ox, dx, half[:, 0]),
        (oy, dy, half[:, 1]),
        (-center[:, 2], dirs[:, 2], half[:, 2]),
    ):
        # A tiny direction instead of zero keeps the parallel case exact without NaNs.
        inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
        t1, t2 = (-h - o) * inv, (h - o) * inv
        np.maximum(near, np.minimum(t1, t2), out=near)
        np.minimum(far, np.maximum(t1, t2), out=far)
    return np.where((near <= far) & (near > 0), near, np.inf)
