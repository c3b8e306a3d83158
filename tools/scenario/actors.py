"""Actor kinds, their sizes and their look: each actor is a few coloured boxes (its parts).

Parts make the classes distinguishable in the camera (a car has a cabin and wheels, a truck a cab
and a cargo box, a pedestrian legs/torso/head, a cyclist a bike and a rider) and give the lidar a
realistic silhouette. The ground-truth 3D box is the envelope of the parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from tools.scenario.boxes import Boxes, Material

# Autoware ObjectClassification labels.
LABEL_CAR, LABEL_TRUCK, LABEL_BICYCLE, LABEL_PEDESTRIAN = 1, 2, 6, 7


class Kind(IntEnum):
    CAR = 0
    TRUCK = 1
    PEDESTRIAN = 2
    CYCLIST = 3

    @property
    def label(self) -> int:
        return (LABEL_CAR, LABEL_TRUCK, LABEL_PEDESTRIAN, LABEL_BICYCLE)[self]

    @property
    def class_name(self) -> str:
        return ("car", "truck", "pedestrian", "bicycle")[self]

    @property
    def is_vehicle(self) -> bool:
        return self in (Kind.CAR, Kind.TRUCK)


# BGR paints.
CAR_PAINTS = np.array(
    [
        [235, 235, 235],
        [30, 30, 30],
        [180, 180, 185],
        [40, 40, 190],
        [150, 80, 20],
        [100, 100, 105],
        [40, 90, 40],
        [30, 150, 220],
        [120, 30, 30],
    ],
    dtype=np.uint8,
)
TRUCK_CABS = np.array([[30, 30, 200], [200, 120, 30], [30, 170, 240], [230, 230, 230]], np.uint8)
CLOTHES = np.array(
    [[40, 40, 180], [180, 60, 40], [40, 160, 40], [30, 200, 230], [200, 60, 180], [230, 230, 230]],
    dtype=np.uint8,
)
TROUSERS = np.array([[60, 40, 30], [30, 30, 30], [120, 90, 50]], np.uint8)
SKIN = np.array([[140, 170, 220], [90, 120, 170], [60, 80, 120]], np.uint8)
DARK = np.array([25, 25, 25], np.uint8)
GLASS = np.array([80, 60, 40], np.float64)


@dataclass(frozen=True)
class ActorShape:
    """An actor's envelope size and its parts in the actor frame (origin: footprint centre)."""

    kind: Kind
    length: float
    width: float
    height: float
    parts: Boxes
    # Painter's layer per part: lower layers are drawn first, equal layers far-to-near.
    layers: tuple[int, ...]

    @property
    def dimensions(self) -> tuple[float, float, float]:
        return (self.length, self.width, self.height)


def _parts(rows: list[tuple], material: Material) -> Boxes:
    """Rows of (x, y, z_bottom, length, width, height, colour)."""
    n = len(rows)
    geom = np.array([r[:6] for r in rows], dtype=np.float64)
    center = np.column_stack([geom[:, 0], geom[:, 1], geom[:, 2] + geom[:, 5] / 2])
    return Boxes(
        center=center,
        size=geom[:, 3:6].copy(),
        yaw=np.zeros(n),
        color=np.array([r[6] for r in rows], dtype=np.uint8),
        material=np.full(n, material, np.int8),
        owner=np.zeros(n, np.int32),
    )


def _wheels(xs: list[float], half_track: float, diameter: float, width: float) -> list[tuple]:
    return [(x, y * half_track, 0.0, diameter, width, diameter, DARK) for x in xs for y in (-1, 1)]


def _car(rng: np.random.Generator) -> ActorShape:
    length, width, height = rng.uniform(4.1, 4.9), rng.uniform(1.72, 1.9), rng.uniform(1.42, 1.62)
    paint = CAR_PAINTS[rng.integers(len(CAR_PAINTS))]
    glass = (0.35 * paint + 0.65 * GLASS).astype(np.uint8)
    rows = [
        *_wheels([0.31 * length, -0.31 * length], width / 2 - 0.14, 0.64, 0.26),
        (0.0, 0.0, 0.22, length, width, 0.62, paint),
        (-0.06 * length, 0.0, 0.84, 0.52 * length, 0.9 * width, height - 0.84, glass),
    ]
    parts = _parts(rows, Material.VEHICLE)
    return ActorShape(Kind.CAR, length, width, height, parts, (0, 0, 0, 0, 1, 2))


def _truck(rng: np.random.Generator) -> ActorShape:
    length, width, height = rng.uniform(7.5, 10.0), rng.uniform(2.4, 2.55), rng.uniform(3.2, 3.8)
    cab = TRUCK_CABS[rng.integers(len(TRUCK_CABS))]
    cargo = np.full(3, rng.integers(170, 240), np.uint8)
    box_len = length - 2.5
    rows = [
        *_wheels(
            [length / 2 - 1.4, -length / 2 + 1.8, -length / 2 + 3.0], width / 2 - 0.3, 0.95, 0.5
        ),
        (0.0, 0.0, 0.45, length, 0.8 * width, 0.5, DARK),
        (length / 2 - 1.1, 0.0, 0.5, 2.2, width, 2.5, cab),
        (-length / 2 + box_len / 2, 0.0, 0.95, box_len, width, height - 0.95, cargo),
    ]
    parts = _parts(rows, Material.VEHICLE)
    return ActorShape(Kind.TRUCK, length, width, height, parts, (0,) * 6 + (1, 2, 2))


def _pedestrian(rng: np.random.Generator) -> ActorShape:
    height, width, depth = rng.uniform(1.55, 1.92), rng.uniform(0.5, 0.62), rng.uniform(0.3, 0.4)
    legs, torso_top = 0.47 * height, 0.86 * height
    rows = [
        (0.0, 0.0, 0.0, 0.8 * depth, 0.6 * width, legs, TROUSERS[rng.integers(len(TROUSERS))]),
        (0.0, 0.0, legs, depth, width, torso_top - legs, CLOTHES[rng.integers(len(CLOTHES))]),
        (0.0, 0.0, torso_top, 0.22, 0.2, height - torso_top, SKIN[rng.integers(len(SKIN))]),
    ]
    parts = _parts(rows, Material.PERSON)
    return ActorShape(Kind.PEDESTRIAN, depth, width, height, parts, (0, 1, 2))


def _cyclist(rng: np.random.Generator) -> ActorShape:
    length, height = rng.uniform(1.65, 1.85), rng.uniform(1.65, 1.85)
    jersey = CLOTHES[rng.integers(len(CLOTHES))]
    frame = np.array([[20, 20, 200], [200, 200, 30], [30, 30, 30]], np.uint8)[rng.integers(3)]
    bike = [
        (length / 2 - 0.35, 0.0, 0.0, 0.7, 0.08, 0.7, DARK),
        (-length / 2 + 0.35, 0.0, 0.0, 0.7, 0.08, 0.7, DARK),
        (0.0, 0.0, 0.45, 0.9, 0.1, 0.3, frame),
    ]
    rider = [
        (-0.1, 0.0, 0.5, 0.35, 0.34, 0.5, TROUSERS[rng.integers(len(TROUSERS))]),
        (0.05, 0.0, 1.0, 0.45, 0.45, height - 1.23, jersey),
        (0.12, 0.0, height - 0.23, 0.22, 0.2, 0.23, SKIN[rng.integers(len(SKIN))]),
    ]
    parts = Boxes.concat([_parts(bike, Material.BICYCLE), _parts(rider, Material.PERSON)])
    return ActorShape(Kind.CYCLIST, length, 0.62, height, parts, (0, 0, 0, 1, 2, 3))


_MAKERS = {Kind.CAR: _car, Kind.TRUCK: _truck, Kind.PEDESTRIAN: _pedestrian, Kind.CYCLIST: _cyclist}


def make_shape(kind: Kind, rng: np.random.Generator) -> ActorShape:
    return _MAKERS[kind](rng)


def posed_parts(shapes: list[ActorShape], ids: np.ndarray, pose: np.ndarray) -> Boxes:
    """All parts of the given actors placed at poses (N,3) = x, y, yaw in the world."""
    if not shapes:
        return Boxes.empty()
    parts = Boxes.concat([s.parts for s in shapes])
    counts = np.array([len(s.parts) for s in shapes])
    rep = np.repeat(np.arange(len(shapes)), counts)
    x, y, yaw = pose[rep, 0], pose[rep, 1], pose[rep, 2]
    c, s = np.cos(yaw), np.sin(yaw)
    px, py = parts.center[:, 0], parts.center[:, 1]
    parts.center = np.column_stack([x + c * px - s * py, y + s * px + c * py, parts.center[:, 2]])
    parts.yaw = parts.yaw + yaw
    parts.owner = np.asarray(ids)[rep].astype(np.int32)
    return parts
