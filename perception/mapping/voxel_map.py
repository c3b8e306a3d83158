"""A rolling voxel map: the occupied voxels of every sweep merged, kept within a radius of the
vehicle. Vectorised: voxel keys packed into int64 and merged with sorted-array set operations."""

from __future__ import annotations

import numpy as np

from stack.errors import L4Error

_BITS = 21  # per axis: +-1M voxels, +-100 km at 0.1 m
_OFFSET = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1
PRUNE_EVERY = 10  # sweeps between forgetting far voxels (a pass over the whole map)


class VoxelMapError(L4Error, ValueError):
    """A bad voxel size or radius, or points of the wrong shape."""


def pack(ijk: np.ndarray) -> np.ndarray:
    """(N, 3) integer voxel indices -> one int64 key each."""
    u = (ijk.astype(np.int64) + _OFFSET) & _MASK
    return (u[:, 0] << (2 * _BITS)) | (u[:, 1] << _BITS) | u[:, 2]


def unpack(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, np.int64)
    cols = [(keys >> (2 * _BITS)) & _MASK, (keys >> _BITS) & _MASK, keys & _MASK]
    return np.stack(cols, axis=1) - _OFFSET


class VoxelMap:
    def __init__(self, voxel: float = 0.2, radius: float = 80.0) -> None:
        if not voxel > 0:
            raise VoxelMapError(f"voxel size must be > 0 m, got {voxel}")
        if not radius > 0:
            raise VoxelMapError(f"radius must be > 0 m, got {radius}")
        self.voxel = voxel
        self.radius = radius
        self.keys = np.zeros(0, np.int64)  # sorted, unique
        self._inserts = 0

    def __len__(self) -> int:
        return len(self.keys)

    def insert(self, points: np.ndarray, center: np.ndarray) -> np.ndarray:
        """Merge map-frame ``points`` (N, >=3) and, every few sweeps, forget voxels farther
        than the radius from ``center`` (x, y); returns the centres of the voxels that were new."""
        points = np.asarray(points, np.float64)
        if points.ndim != 2 or points.shape[1] < 3:
            raise VoxelMapError(f"points must be (N, 3), got shape {points.shape}")
        finite = np.isfinite(points[:, :3]).all(axis=1)
        keys = np.unique(pack(np.floor(points[finite, :3] / self.voxel)))
        # Sorted keys: membership by binary search, and the new ones slot in without a re-sort.
        at = np.searchsorted(self.keys, keys)
        known = at < len(self.keys)
        known[known] = self.keys[at[known]] == keys[known]
        new = keys[~known]
        self.keys = np.insert(self.keys, at[~known], new)
        self._inserts += 1
        if self._inserts % PRUNE_EVERY == 0:
            self._forget_far(np.asarray(center, np.float64)[:2])
        return self.centers(new)

    def centers(self, keys: np.ndarray | None = None) -> np.ndarray:
        keys = self.keys if keys is None else keys
        return (unpack(keys) + 0.5) * self.voxel

    def _forget_far(self, center: np.ndarray) -> None:
        xy = self.centers()[:, :2]
        near = np.hypot(*(xy - center).T) <= self.radius
        if not near.all():
            self.keys = self.keys[near]
