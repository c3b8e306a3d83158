"""A region of interest around the road from a map .npz: objects far off the road are clutter.

Autoware drops detections outside the lanelets' drivable area (object_lanelet_filter); here the
map holds polylines only, so the region is every point within ``max_offset`` of one of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from perception.errors import PerceptionError

# The road centre line when the map has it (tools/scenario writes it), else the lane centres.
POLYLINE_KEYS = ("centerline", "lane_centerlines")


class RoadRoi:
    def __init__(self, polylines: list[np.ndarray], max_offset: float, spacing: float = 0.5):
        if not max_offset > 0:
            raise PerceptionError(f"max_offset must be > 0 (got {max_offset!r})")
        samples = [_densify(np.asarray(p, float), spacing) for p in polylines if len(p) >= 2]
        if not samples:
            raise PerceptionError("the region of interest needs at least one polyline of 2 points")
        self.max_offset = max_offset
        self._tree = cKDTree(np.concatenate(samples))

    @classmethod
    def from_map(cls, path: str | Path, max_offset: float) -> RoadRoi:
        """From the first of the ``centerline`` / ``lane_centerlines`` keys the map has: the
        offset is from the road centre when there is one. PerceptionError names file and key."""
        file = Path(path)
        try:
            with np.load(file) as data:
                lines = []
                key = next((k for k in POLYLINE_KEYS if k in data), None)
                if key is not None:
                    arr = np.asarray(data[key], float)
                    lines.extend(arr if arr.ndim == 3 else [arr])
        except (OSError, ValueError) as exc:
            raise PerceptionError(f"{file}: cannot read map: {exc}") from exc
        if not lines:
            raise PerceptionError(f"{file}: no {' or '.join(map(repr, POLYLINE_KEYS))} key")
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


# Material codes of map.npz `point_material` (tools/scenario/boxes.py Material) that are static
# structure a tracker must not report as objects: poles, signs, buildings, vegetation.
STATIC_MATERIALS = (4, 5, 6, 7)


class StaticStructure:
    """Static map structure: detections sitting on it are the map, not objects.

    Autoware removes lidar points that match the point-cloud map before clustering
    (compare_map_segmentation); this is the object-level equivalent for detections already
    placed in the map frame.
    """

    def __init__(self, points_xy: np.ndarray, radius: float) -> None:
        if not radius > 0:
            raise PerceptionError(f"radius must be > 0 (got {radius!r})")
        self.radius = radius
        self._tree = cKDTree(np.asarray(points_xy, float).reshape(-1, 2))

    @classmethod
    def from_map(cls, path: str | Path, radius: float) -> StaticStructure | None:
        """None when the map has no `points` + `point_material` (a lane-only map)."""
        points = load_static_points(path)
        return None if points is None else cls(points[:, :2], radius)

    def on_structure(self, xy: np.ndarray) -> np.ndarray:
        """Boolean mask of the (N, 2) map-frame points within ``radius`` of static structure."""
        if len(xy) == 0:
            return np.zeros(0, bool)
        dist, _ = self._tree.query(xy, distance_upper_bound=self.radius + 1.0)
        return dist <= self.radius


def load_static_points(path: str | Path) -> np.ndarray | None:
    """The (N, 3) points of a map .npz whose ``point_material`` is static structure (poles,
    signs, buildings, vegetation); None when the map has no such points (a lane-only map).
    Raises PerceptionError naming the file when it cannot be read or its arrays do not match."""
    file = Path(path)
    try:
        with np.load(file) as data:
            if "points" not in data or "point_material" not in data:
                return None
            points = np.asarray(data["points"], float)
            material = np.asarray(data["point_material"])
    except (OSError, ValueError) as exc:
        raise PerceptionError(f"{file}: cannot read map: {exc}") from exc
    if points.ndim != 2 or points.shape[1] != 3 or len(points) != len(material):
        raise PerceptionError(
            f"{file}: points must be (N, 3) with one point_material each, got "
            f"{points.shape} and {material.shape}"
        )
    keep = np.isin(material, STATIC_MATERIALS)
    return points[keep] if keep.any() else None
