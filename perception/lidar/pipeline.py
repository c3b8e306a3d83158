"""The lidar obstacle pipeline: points in base_link -> labelled oriented boxes."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from perception.lidar.boxes import (
    BoxFit,
    SizeClasses,
    VehiclePriors,
    boxes_to_objects,
    complete_vehicle_faces,
    fit_boxes,
    suppress_contained,
)
from perception.lidar.cluster import euclidean_clusters, grid_clusters
from perception.lidar.preprocess import Box3, GroundConfig, segment_ground, voxel_downsample
from perception.lidar.structure import (
    StructureConfig,
    StructureMode,
    above_ceiling,
    as_unknown,
    structure_mask,
)  # fmt: skip
from perception.objects import ObjectArray
from stack.params import at_least, interval, non_negative, parse_enum, positive

# (points, cluster labels, boxes, shape-cue structure mask) -> structure mask
Refine = Callable[[np.ndarray, np.ndarray, BoxFit, np.ndarray], np.ndarray]


class ClusterMode(str, enum.Enum):
    GRID_2D = "2d"  # occupied x-y cells linked within the tolerance (default)
    POINTS_3D = "3d"  # points linked within the tolerance in 3D


@dataclass
class ObstacleConfig:
    """Tuning of the lidar obstacle pipeline (lengths in metres, base_link frame)."""

    crop_x: tuple[float, float] = (-40.0, 80.0)
    crop_y: tuple[float, float] = (-30.0, 30.0)
    crop_z: tuple[float, float] = (-2.0, 4.0)
    # The ego body (base_link at the rear axle): lidar returns from it are not obstacles.
    ego_x: tuple[float, float] = (-1.2, 4.0)
    ego_y: tuple[float, float] = (-1.1, 1.1)
    voxel_size: float = 0.2
    ground: GroundConfig = field(default_factory=GroundConfig)
    cluster_mode: ClusterMode = ClusterMode.GRID_2D
    cluster_tolerance: float = 0.6
    min_cluster_points: int = 4
    max_cluster_points: int = 20_000
    max_box_length: float = 20.0  # larger clusters are walls/buildings, not obstacles
    position_std: float = 0.3
    sizes: SizeClasses = field(default_factory=SizeClasses)
    # Grow boxes of vehicles seen by one face only to a prior footprint (None: off).
    vehicle_priors: VehiclePriors | None = field(default_factory=VehiclePriors)
    sensor_xy: tuple[float, float] = (0.0, 0.0)  # where the lidar sits in base_link
    # Static structure told by shape (perception/lidar/structure.py): auto drops it when no
    # static map is given.
    structure: StructureConfig = field(default_factory=StructureConfig)

    def __post_init__(self) -> None:
        non_negative("voxel_size", self.voxel_size)
        positive("cluster_tolerance", self.cluster_tolerance)
        at_least("min_cluster_points", self.min_cluster_points, 1)
        at_least("max_cluster_points", self.max_cluster_points, self.min_cluster_points)
        positive("max_box_length", self.max_box_length)
        for name in ("crop_x", "crop_y", "crop_z", "ego_x", "ego_y"):
            interval(name, getattr(self, name))
        self.cluster_mode = parse_enum(ClusterMode, self.cluster_mode, "cluster_mode")
        if isinstance(self.ground, dict):
            self.ground = GroundConfig(**self.ground)
        if isinstance(self.sizes, dict):
            self.sizes = SizeClasses(**self.sizes)
        if isinstance(self.vehicle_priors, dict):
            self.vehicle_priors = VehiclePriors(**self.vehicle_priors)
        if isinstance(self.structure, dict):
            self.structure = StructureConfig(**self.structure)


@dataclass
class PipelineStats:
    """Point counts and per-stage wall time (ms) of one run, for profiling."""

    counts: dict[str, int] = field(default_factory=dict)
    ms: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    def __init__(self, stats: PipelineStats) -> None:
        self.stats = stats
        self.t = time.perf_counter()

    def lap(self, stage: str, count: int) -> None:
        now = time.perf_counter()
        self.stats.ms[stage] = (now - self.t) * 1e3
        self.stats.counts[stage] = count
        self.t = now


def detect_obstacles(
    points: np.ndarray,
    cfg: ObstacleConfig,
    stats: PipelineStats | None = None,
    exclude: Callable[[np.ndarray], np.ndarray] | None = None,
    have_map: bool = False,
    refine: Refine | None = None,
) -> ObjectArray:
    """Obstacle boxes from (N, 3) float points already in base_link.

    ``exclude`` maps the non-ground points to a mask of points that are no obstacle (those on
    the static map); they are removed before clustering. ``have_map``: a static map is
    configured (cfg.structure's ``auto`` then leaves structure to it). ``refine`` maps the
    clustered points, their labels, the fitted boxes and the boxes' shape-cue structure mask to
    the final mask (tracking persistence, perception/lidar/persistence.py).
    """
    stats = stats if stats is not None else PipelineStats()
    watch = _Stopwatch(stats)
    crop = Box3(*cfg.crop_x, *cfg.crop_y, *cfg.crop_z)
    ego = Box3(*cfg.ego_x, *cfg.ego_y, -np.inf, np.inf)
    structure = cfg.structure.active(have_map)
    if structure is not StructureMode.OFF:
        columns = Box3(*cfg.crop_x, *cfg.crop_y, -np.inf, np.inf)
        above = above_ceiling(points[columns.contains(points)], cfg.structure)
    pts = points[crop.contains(points) & ~ego.contains(points)]
    watch.lap("crop", len(pts))
    pts = voxel_downsample(pts, cfg.voxel_size)
    watch.lap("voxel", len(pts))
    ground, plane = segment_ground(pts, cfg.ground)
    pts = pts[~ground]
    watch.lap("ground", len(pts))
    if exclude is not None:
        pts = pts[~exclude(pts)]
        watch.lap("map", len(pts))
    if cfg.cluster_mode is ClusterMode.GRID_2D:
        labels = grid_clusters(
            pts,
            cfg.voxel_size or 0.2,
            cfg.cluster_tolerance,
            cfg.min_cluster_points,
            cfg.max_cluster_points,
        )
    else:
        labels = euclidean_clusters(
            pts, cfg.cluster_tolerance, cfg.min_cluster_points, cfg.max_cluster_points
        )
    watch.lap("cluster", int(labels.max()) + 1 if len(labels) else 0)
    fit = fit_boxes(pts, labels, plane)
    structure_fit = None
    if structure is not StructureMode.OFF:
        watch.lap("fit", len(fit.yaw))  # with the cues on, fitting is timed apart from "boxes"
        mask = structure_mask(fit, above, cfg.structure)
        if refine is not None:
            mask = refine(pts, labels, fit, mask)
        structure_fit, fit = fit.select(mask), fit.select(~mask)
        watch.lap("structure", int(mask.sum()))
    if cfg.vehicle_priors is not None:
        fit = suppress_contained(complete_vehicle_faces(fit, cfg.sensor_xy, cfg.vehicle_priors))
    objs = boxes_to_objects(fit, cfg.sizes, cfg.position_std)
    objs = objs.select(objs.dims[:, 0] <= cfg.max_box_length)
    if structure is StructureMode.UNKNOWN and structure_fit is not None:
        unknown = boxes_to_objects(structure_fit, cfg.sizes, cfg.position_std)
        objs = ObjectArray.concat([objs, as_unknown(unknown)])
    watch.lap("boxes", len(objs))
    return objs
