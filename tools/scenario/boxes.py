"""Oriented boxes on flat ground: the geometry shared by the world, actors, camera and lidar."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

# Corner signs in box coordinates, ordered bottom face (z-) then top face (z+), counter-clockwise.
_CORNER_SIGNS = (
    np.array(
        [
            [1, 1, -1],
            [-1, 1, -1],
            [-1, -1, -1],
            [1, -1, -1],
            [1, 1, 1],
            [-1, 1, 1],
            [-1, -1, 1],
            [1, -1, 1],
        ],
        dtype=np.float64,
    )
    * 0.5
)
# Faces as corner indices (outward normal by right-hand rule) and their normals in box coordinates.
FACES = np.array(
    [[0, 3, 7, 4], [2, 1, 5, 6], [1, 0, 4, 5], [3, 2, 6, 7], [4, 7, 6, 5], [0, 1, 2, 3]]
)
FACE_NORMALS = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64
)


class Material(IntEnum):
    """What a lidar return hit; sets its intensity."""

    ROAD = 0
    GRASS = 1
    MARKING = 2
    KERB = 3
    POLE = 4
    SIGN = 5
    BUILDING = 6
    VEGETATION = 7
    VEHICLE = 8
    PERSON = 9
    BICYCLE = 10


# Mean lidar intensity (0..255) per material.
INTENSITY = np.array([12.0, 25.0, 110.0, 40.0, 60.0, 200.0, 45.0, 30.0, 70.0, 35.0, 55.0])


@dataclass
class Boxes:
    """N oriented boxes: centre (N,3), size (N,3) = length/width/height along the box axes,
    yaw (N,), colour (N,3) BGR uint8, material (N,), owner (N,) actor id or -1 for static."""

    center: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    color: np.ndarray
    material: np.ndarray
    owner: np.ndarray

    @classmethod
    def empty(cls) -> Boxes:
        return cls(
            np.zeros((0, 3)),
            np.zeros((0, 3)),
            np.zeros(0),
            np.zeros((0, 3), np.uint8),
            np.zeros(0, np.int8),
            np.zeros(0, np.int32),
        )

    def __len__(self) -> int:
        return len(self.yaw)

    def take(self, index: np.ndarray) -> Boxes:
        return Boxes(
            self.center[index],
            self.size[index],
            self.yaw[index],
            self.color[index],
            self.material[index],
            self.owner[index],
        )

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        parts = [p for p in parts if len(p)] or [Boxes.empty()]
        return Boxes(
            np.concatenate([p.center for p in parts]),
            np.concatenate([p.size for p in parts]),
            np.concatenate([p.yaw for p in parts]),
            np.concatenate([p.color for p in parts]).astype(np.uint8),
            np.concatenate([p.material for p in parts]).astype(np.int8),
            np.concatenate([p.owner for p in parts]).astype(np.int32),
        )

    def rotations(self) -> np.ndarray:
        """(N,3,3) box-to-world rotations (yaw only)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        rot = np.zeros((len(self), 3, 3))
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = c, -s, s, c
        rot[:, 2, 2] = 1.0
        return rot

    def corners(self) -> np.ndarray:
        """(N,8,3) world corners."""
        local = _CORNER_SIGNS[None] * self.size[:, None, :]
        return np.einsum("nij,nkj->nki", self.rotations(), local) + self.center[:, None, :]


def footprints_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two convex footprints (4,2) intersect (separating axis test)."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        pa, pb = a @ normals.T, b @ normals.T
        if np.any((pa.max(0) < pb.min(0)) | (pb.max(0) < pa.min(0))):
            return False
    return True


def footprint(x: float, y: float, yaw: float, length: float, width: float) -> np.ndarray:
    """The 4 ground corners of a box footprint."""
    c, s = np.cos(yaw), np.sin(yaw)
    local = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * 0.5 * np.array([length, width])
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])
