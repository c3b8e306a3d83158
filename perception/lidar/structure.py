"""Static structure without a map: poles, signs, walls, buildings and trees told from obstacles.

With a static map (map_filter) structure is removed before clustering. Without one, every wall,
pole and tree becomes an "obstacle". These shape cues mark a cluster's box as structure:

- **taller than any road user**: lidar returns above ``ceiling_z`` (above the obstacle crop, where
  no vehicle reaches: trucks stop at 4 m) over the box's footprint (building faces, poles,
  tree canopies);
- **tall and thin**: higher than ``pole_min_height`` with a footprint under ``pole_max_width`` on
  both sides (posts, sign poles; pedestrians and cyclists stay under 2.2 m);
- **long and thin**: longer than ``wall_min_length`` and thinner than ``wall_max_width`` (walls,
  fences, kerb-side barriers; a vehicle is never that thin).

Marked boxes are dropped (``drop``) or kept as UNKNOWN (``unknown``); ``auto`` drops them only
when no static map is given (with one, the map already removed them). A per-sweep cue also marks
a car under an overhanging tree, or a pedestrian merged with a pole; persistence.py corrects
that across sweeps (what has moved in the map frame is a road user).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from perception.lidar.boxes import BoxFit
from perception.lidar.persistence import PersistenceConfig
from perception.objects import Label, ObjectArray
from stack.params import at_least, parse_enum, positive


class StructureMode(str, enum.Enum):
    AUTO = "auto"  # DROP without a static map, OFF with one
    OFF = "off"
    UNKNOWN = "unknown"
    DROP = "drop"


@dataclass
class StructureConfig:
    mode: StructureMode = StructureMode.AUTO
    ceiling_z: float = 4.2  # m above base_link: returns up here are no road user's
    max_z: float = 20.0  # returns higher than this are ignored (overhead noise)
    min_above_points: int = 3
    footprint_margin: float = 0.3  # m around a box when looking for returns above it
    pole_min_height: float = 2.4
    pole_max_width: float = 1.0
    wall_min_length: float = 6.0
    wall_max_width: float = 0.8
    # Across sweeps, with the ego pose (perception/lidar/persistence.py): movers are no
    # structure, static tracks marked before stay structure.
    persistence: PersistenceConfig = field(default_factory=PersistenceConfig)

    def __post_init__(self) -> None:
        if isinstance(self.persistence, dict):
            self.persistence = PersistenceConfig(**self.persistence)
        self.mode = parse_enum(StructureMode, self.mode, "structure.mode")
        positive("structure.ceiling_z", self.ceiling_z)
        at_least("structure.min_above_points", self.min_above_points, 1)
        for name in ("pole_min_height", "pole_max_width", "wall_min_length", "wall_max_width"):
            positive(f"structure.{name}", getattr(self, name))

    def active(self, have_map: bool) -> StructureMode:
        if self.mode is StructureMode.AUTO:
            return StructureMode.OFF if have_map else StructureMode.DROP
        return self.mode


def above_ceiling(points: np.ndarray, cfg: StructureConfig) -> np.ndarray:
    """The (M, 2) x-y of returns between ``ceiling_z`` and ``max_z`` (base_link)."""
    z = points[:, 2]
    return np.asarray(points[(z > cfg.ceiling_z) & (z < cfg.max_z), :2], float)


def _returns_above(fit: BoxFit, above_xy: np.ndarray, margin: float) -> np.ndarray:
    """Per box, how many above-ceiling returns fall inside its footprint (+ margin)."""
    if len(above_xy) == 0 or len(fit.yaw) == 0:
        return np.zeros(len(fit.yaw), int)
    c, s = np.cos(fit.yaw)[:, None], np.sin(fit.yaw)[:, None]
    dx = above_xy[None, :, 0] - fit.center[:, None, 0]  # (K, M)
    dy = above_xy[None, :, 1] - fit.center[:, None, 1]
    half_l = fit.dims[:, 0:1] / 2 + margin
    half_w = fit.dims[:, 1:2] / 2 + margin
    inside = (np.abs(dx * c + dy * s) <= half_l) & (np.abs(dy * c - dx * s) <= half_w)
    return inside.sum(1)


def structure_mask(fit: BoxFit, above_xy: np.ndarray, cfg: StructureConfig) -> np.ndarray:
    """True for the cluster boxes (as fitted, before any vehicle completion) that are static
    structure by the cues above."""
    if len(fit.yaw) == 0:
        return np.zeros(0, bool)
    length, width = fit.dims[:, 0], fit.dims[:, 1]
    top = fit.center[:, 2] + fit.dims[:, 2] / 2
    tall = _returns_above(fit, above_xy, cfg.footprint_margin) >= cfg.min_above_points
    pole = (top >= cfg.pole_min_height) & (length <= cfg.pole_max_width)
    wall = (length >= cfg.wall_min_length) & (width <= cfg.wall_max_width)
    return tall | pole | wall


def as_unknown(objs: ObjectArray) -> ObjectArray:
    """The structure boxes, reported as UNKNOWN objects (mode ``unknown``)."""
    objs.label[:] = Label.UNKNOWN
    return objs
