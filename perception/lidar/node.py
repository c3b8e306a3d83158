"""LidarObstacles node: /sensing/lidar/top/points -> /perception/lidar/objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from perception.geometry import Pose2D, PoseHistory, RigidTransform
from perception.lidar.map_filter import StaticMapFilter
from perception.lidar.persistence import StructurePersistence
from perception.lidar.pipeline import ObstacleConfig, PipelineStats, Refine, detect_obstacles
from perception.lidar.pointcloud import POINTCLOUD2, PointCloudError, read_points
from perception.lidar.structure import StructureMode
from perception.lidar.weak_returns import WeakReturnFilter
from perception.objects import DETECTED_OBJECTS, detected_objects_msg
from perception.tf import StaticTransforms, in_frame
from stack import topics
from stack.events import EventKind
from stack.msgs import stamp_to_ns
from stack.node import Context, Node
from stack.params import EXTRINSIC, at_least, length, non_negative, positive


@dataclass
class LidarObstaclesParams(ObstacleConfig):
    base_frame: str = topics.FRAME_BASE
    # Used when /tf_static has no path from the cloud's frame: [x, y, z, roll, pitch, yaw].
    fallback_extrinsic: list[float] = field(default_factory=list)
    # With a map holding static structure (poles, signs, walls), points on it are removed before
    # clustering, placed with the ego pose from /localization/odometry; "" disables.
    map_path: str = ""
    map_cell: float = 0.2  # m, grid of the static map (a point within a cell of it is on it)
    map_z_margin: float = 0.2  # m, above and below the structure's height span
    map_frame: str = topics.FRAME_MAP
    pose_tolerance_s: float = 0.3  # how far an ego pose may be extrapolated to a cloud stamp
    # Sweeps kept waiting (keep-last). 1 loses a sweep whenever two arrive during one callback
    # of another node; with 2, the l4 policy still drops a sweep that can no longer make its
    # chain's budget (stack.scheduler.policy), so a deeper queue does not mean older objects.
    points_queue_depth: int = 1
    # Fog and rain backscatter dropped before clustering (see weak_returns; off by default).
    weak_returns: WeakReturnFilter = field(default_factory=WeakReturnFilter)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.weak_returns, dict):
            self.weak_returns = WeakReturnFilter(**self.weak_returns)
        at_least("points_queue_depth", self.points_queue_depth, 1)
        non_negative("pose_tolerance_s", self.pose_tolerance_s)
        positive("map_cell", self.map_cell)
        non_negative("map_z_margin", self.map_z_margin)
        if self.fallback_extrinsic:
            length("fallback_extrinsic", self.fallback_extrinsic, 6, EXTRINSIC)


class LidarObstacles(Node):
    """Clusters a lidar sweep into oriented, size-labelled obstacle boxes in base_link."""

    Params = LidarObstaclesParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: LidarObstaclesParams
        self.tf = StaticTransforms()
        self.fallback = (
            RigidTransform.from_xyzrpy(*self.params.fallback_extrinsic)
            if self.params.fallback_extrinsic
            else None
        )
        self.last_stats = PipelineStats()
        self.static_map = (
            StaticMapFilter.from_map(
                self.params.map_path, self.params.map_cell, self.params.map_z_margin
            )
            if self.params.map_path
            else None
        )
        self.poses = PoseHistory()
        self.unfiltered_clouds = 0  # clouds clustered without map filtering (no pose yet)
        structure = self.params.structure
        self.persistence = (
            StructurePersistence(structure.persistence)
            if structure.active(self.static_map is not None) is not StructureMode.OFF
            and structure.persistence.enabled
            else None
        )
        self.pub = ctx.publisher(topics.LIDAR_OBJECTS, DETECTED_OBJECTS)
        ctx.subscribe(topics.TF_STATIC, "tf2_msgs/msg/TFMessage", self.on_tf_static, depth=100)
        if self.static_map is not None or self.persistence is not None:
            ctx.subscribe(
                topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry", self.on_odometry, depth=50
            )
        ctx.subscribe(
            topics.LIDAR_POINTS, POINTCLOUD2, self.on_points, depth=self.params.points_queue_depth
        )

    def on_odometry(self, msg: Any) -> None:
        if not in_frame(self.ctx, topics.LOCALIZATION_ODOMETRY, msg, self.params.map_frame):
            return
        self.poses.add(stamp_to_ns(msg.header.stamp), Pose2D.from_pose_msg(msg.pose.pose))

    def _map_exclusion(self, stamp_ns: int) -> Callable[[np.ndarray], np.ndarray] | None:
        """The static-map mask for a cloud at ``stamp_ns``; None (cluster everything, obstacles
        are never dropped for want of a pose) without a map or a pose near the stamp."""
        if self.static_map is None:
            return None
        pose = self.poses.at(stamp_ns, int(self.params.pose_tolerance_s * 1e9))
        if pose is None:
            self.unfiltered_clouds += 1
            self.log.debug("no ego pose near the cloud stamp: static map points kept")
            return None
        static_map = self.static_map
        return lambda pts: static_map.on_map(pts, pose)

    def _persistence(self, stamp_ns: int) -> Refine | None:
        """Tracking persistence for the structure cues, placed with the ego pose at the cloud's
        stamp; None (shape cues alone) without one."""
        if self.persistence is None:
            return None
        pose = self.poses.at(stamp_ns, int(self.params.pose_tolerance_s * 1e9))
        return None if pose is None else partial(self.persistence.refine, stamp_ns, pose)

    def on_tf_static(self, msg: Any) -> None:
        for problem in self.tf.add_message(msg):
            self.ctx.event(EventKind.DROP, f"tf_static: {problem}")

    def _extrinsic(self, frame: str) -> RigidTransform | None:
        found = self.tf.lookup(self.params.base_frame, frame or self.params.base_frame)
        return self.fallback if found is None else found

    def _read(self, msg: Any) -> np.ndarray:
        """x, y, z of the cloud's points, weak near returns dropped when the filter is on."""
        weak = self.params.weak_returns
        if not weak.enabled:
            return read_points(msg)
        points = read_points(msg, ("x", "y", "z", "intensity"))
        return points[weak.keep(points), :3]

    def on_points(self, msg: Any) -> None:
        try:
            points = self._read(msg)
        except PointCloudError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.LIDAR_POINTS}: {exc}")
            return
        if len(points) == 0:
            # Publishing "no objects" here would make the tracker delete real obstacles.
            self.ctx.event(EventKind.DROP, f"{topics.LIDAR_POINTS}: empty point cloud")
            return
        extrinsic = self._extrinsic(msg.header.frame_id)
        if extrinsic is None:
            self.ctx.event(
                EventKind.DROP,
                f"{topics.LIDAR_POINTS}: no tf_static from {msg.header.frame_id!r} to "
                f"{self.params.base_frame!r}",
            )
            return
        stats = PipelineStats()
        stamp = stamp_to_ns(msg.header.stamp)
        objs = detect_obstacles(
            extrinsic.apply(points.astype(np.float32)),
            self.params,
            stats,
            self._map_exclusion(stamp),
            have_map=self.static_map is not None,
            refine=self._persistence(stamp),
        )
        self.last_stats = stats
        header = self.ctx.new(
            "std_msgs/msg/Header", stamp=msg.header.stamp, frame_id=self.params.base_frame
        )
        self.pub.publish(detected_objects_msg(self.ctx.new, header, objs))
