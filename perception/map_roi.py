"""A region of interest around the road from a map .npz: objects far off the road are clutter.

Autoware drops detections outside the lanelets' drivable area (object_lanelet_filter); here the
map holds polylines only, so the region is every point within ``max_offset`` of one of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

# The road centre line when the map has it (tools/scenario writes it), else the lane centres.
POLYLINE_KEYS = ("centerline", "lane_centerlines")


class RoadRoi:
    def __init__(self, polylines: list[np.ndarray], max_offset: float, spacing: float = 0.5):
        if max_offset <= 0:
            raise ValueError(f"max_offset must be > 0, got {max_offset}")
        samples = [_densify(np.asarray(p, float), spacing) for p in polylines if len(p) >= 2]
        if not samples:
            raise ValueError("the region of interest needs at least one polyline of 2 points")
        self.max_offset = max_offset
        self._tree = cKDTree(np.concatenate(samples))

    @classmethod
    def from_map(cls, path: str | Path, max_offset: float) -> RoadRoi:
        """From the first of the ``centerline`` / ``lane_centerlines`` keys the map has: the
        offset is from the road centre when there is one. ValueError names file and key."""
        file = Path(path)
        try:
            with np.load(file) as data:
                lines = []
                key = next((k for k in POLYLINE_KEYS if k in data), None)
                if key is not None:
                    arr = np.asarray(data[key], float)
                    lines.extend(arr if arr.ndim == 3 else [arr])
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: cannot read map: {exc}") from exc
        if not lines:
            raise ValueError(f"{file}: no {' or '.join(map(repr, POLYLINE_KEYS))} key")
        return cls(lines, max_offset)

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Boolean mask of the (N, 2) map points within max_offset of the road polylines."""
        if len(xy) == 0:
            return np.zeros(0, bool)
        dist, _ = self._tree.query(xy, distance_upper_bound=self.max_offset + 1.0)
        return dist <= self.max_offset


def _densify(line: np.ndarray, spacing: float) -> np.ndarray:
    seg = np.diff(line, axis=0)
    length = np.r_[0.0, np.cumsum(np.hypot(seg[:, 0], seg[:, 1]))]
    s = np.arange(0.0, length[-1] + spacing, spacing)
    return np.column_stack([np.interp(s, length, line[:, 0]), np.interp(s, length, line[:, 1])])
