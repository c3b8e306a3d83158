"""LidarObstacles node: /sensing/lidar/top/points -> /perception/lidar/objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perception.geometry import RigidTransform
from perception.lidar.pipeline import ObstacleConfig, PipelineStats, detect_obstacles
from perception.lidar.pointcloud import POINTCLOUD2, PointCloudError, read_points
from perception.objects import DETECTED_OBJECTS, detected_objects_msg
from perception.tf import StaticTransforms
from stack.node import Context, Node

POINTS_TOPIC = "/sensing/lidar/top/points"
TF_STATIC_TOPIC = "/tf_static"
OBJECTS_TOPIC = "/perception/lidar/objects"


@dataclass
class LidarObstaclesParams(ObstacleConfig):
    base_frame: str = "base_link"
    # Used when /tf_static has no path from the cloud's frame: [x, y, z, roll, pitch, yaw].
    fallback_extrinsic: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fallback_extrinsic and len(self.fallback_extrinsic) != 6:
            raise ValueError(
                f"fallback_extrinsic must be [x, y, z, roll, pitch, yaw], got {self.fallback_extrinsic}"
            )


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
        self.pub = ctx.publisher(OBJECTS_TOPIC, DETECTED_OBJECTS)
        ctx.subscribe(TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage", self.on_tf_static, depth=100)
        ctx.subscribe(POINTS_TOPIC, POINTCLOUD2, self.on_points, depth=1)

    def on_tf_static(self, msg: Any) -> None:
        for problem in self.tf.add_message(msg):
            self.ctx.event("drop", f"tf_static: {problem}")

    def _extrinsic(self, frame: str) -> RigidTransform | None:
        found = self.tf.lookup(self.params.base_frame, frame or self.params.base_frame)
        return self.fallback if found is None else found

    def on_points(self, msg: Any) -> None:
        try:
            points = read_points(msg)
        except PointCloudError as exc:
            self.ctx.event("drop", f"{POINTS_TOPIC}: {exc}")
            return
        if len(points) == 0:
            # Publishing "no objects" here would make the tracker delete real obstacles.
            self.ctx.event("drop", f"{POINTS_TOPIC}: empty point cloud")
            return
        extrinsic = self._extrinsic(msg.header.frame_id)
        if extrinsic is None:
            self.ctx.event(
                "drop",
                f"{POINTS_TOPIC}: no tf_static from {msg.header.frame_id!r} to "
                f"{self.params.base_frame!r}",
            )
            return
        stats = PipelineStats()
        objs = detect_obstacles(extrinsic.apply(points.astype(np.float32)), self.params, stats)
        self.last_stats = stats
        header = self.ctx.new(
            "std_msgs/msg/Header", stamp=msg.header.stamp, frame_id=self.params.base_frame
        )
        self.pub.publish(detected_objects_msg(self.ctx.new, header, objs))
