"""Remove lidar points that lie on the static point-cloud map before clustering.

A pedestrian waiting at a crossing sign, or a cyclist next to a lamp post, is one cluster with
the pole: its box is metres tall, is completed to a truck footprint or lands on the pole (where
the object-level static filter then drops it). Autoware removes such points first
(compare_map_segmentation, voxel-based); this is the same idea on a 2D grid that keeps, per
cell, the height span of the map's structure there, so a person standing under a sign plate or
a tree canopy keeps their points while the post beside them goes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.geometry import Pose2D
from perception.map_roi import load_static_points
from stack.errors import L4Error

_OFFSET = 1 << 30  # cell indices are shifted positive before packing two into one int64


class MapFilterError(L4Error, ValueError):
    """A map that cannot be used to filter points (unreadable, or bad settings)."""


class StaticMapFilter:
    """Static map structure as grid cells of ``cell`` metres, each with the height span (map z)
    of the structure within ``cell`` (one neighbouring cell) of it."""

    def __init__(self, points_xyz: np.ndarray, cell: float = 0.2, z_margin: float = 0.2) -> None:
        if cell <= 0 or z_margin < 0:
            raise MapFilterError(f"cell ({cell}) must be > 0 and z_margin ({z_margin}) >= 0")
        pts = np.asarray(points_xyz, float).reshape(-1, 3)
        self.cell = float(cell)
        ij = np.floor(pts[:, :2] / self.cell).astype(np.int64)
        # Dilate by one cell: map points are surface samples, a query point next to them is on
        # the same structure.
        shifts = np.array([(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)], np.int64)
        keys = self._keys((ij[None] + shifts[:, None]).reshape(-1, 2))
        z = np.tile(pts[:, 2], len(shifts))
        order = np.argsort(keys, kind="stable")
        keys, z = keys[order], z[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys
        self._keys_sorted = keys[starts]
        self._z_lo = np.minimum.reduceat(z, starts) - z_margin if len(keys) else z
        self._z_hi = np.maximum.reduceat(z, starts) + z_margin if len(keys) else z

    @staticmethod
    def _keys(ij: np.ndarray) -> np.ndarray:
        return ((ij[:, 0] + _OFFSET) << 32) | (ij[:, 1] + _OFFSET)

    @classmethod
    def from_map(
        cls, path: str | Path, cell: float = 0.2, z_margin: float = 0.2
    ) -> StaticMapFilter | None:
        """From a map .npz with ``points`` (N, 3) and ``point_material``: the static materials
        (poles, signs, buildings, vegetation). None when the map has no such points."""
        try:
            points = load_static_points(path)
        except ValueError as exc:
            raise MapFilterError(str(exc)) from exc
        return None if points is None else cls(points, cell, z_margin)

    def on_map(self, points: np.ndarray, pose: Pose2D) -> np.ndarray:
        """Mask of the (N, 3) base_link ``points`` that lie on static structure, with the ego at
        ``pose`` in the map (flat ground: base_link z is map z)."""
        if len(points) == 0 or len(self._keys_sorted) == 0:
            return np.zeros(len(points), bool)
        xy = pose.apply(points[:, :2])
        keys = self._keys(np.floor(xy / self.cell).astype(np.int64))
        idx = np.clip(np.searchsorted(self._keys_sorted, keys), 0, len(self._keys_sorted) - 1)
        z = points[:, 2]
        return (self._keys_sorted[idx] == keys) & (z >= self._z_lo[idx]) & (z <= self._z_hi[idx])
