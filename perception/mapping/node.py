"""MapRecorder node: lidar sweeps -> /mapping/voxel_updates, the voxels each sweep adds to a
rolling map in the map frame, placed with the latest localization pose.

Mapping is useful but not safety-critical: its chain runs at a low priority and is what the
scheduler sheds first when the CPU is short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.geometry import Pose2D
from perception.lidar.pointcloud import POINTCLOUD2, PointCloudError, make_pointcloud2, read_points
from perception.mapping.voxel_map import VoxelMap
from perception.tf import StaticTransforms, in_frame
from stack import topics
from stack.events import EventKind
from stack.node import Context, Node
from stack.params import positive


@dataclass
class MapRecorderParams:
    voxel: float = 0.4
    radius: float = 60.0
    map_frame: str = topics.FRAME_MAP
    base_frame: str = topics.FRAME_BASE

    def validate(self) -> None:
        positive("voxel", self.voxel)
        positive("radius", self.radius)


class MapRecorder(Node):
    Params = MapRecorderParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: MapRecorderParams
        self.map = VoxelMap(self.params.voxel, self.params.radius)
        self.tf = StaticTransforms()
        self.pose: Pose2D | None = None
        self.pub = ctx.publisher(topics.VOXEL_UPDATES, POINTCLOUD2)
        ctx.subscribe(topics.TF_STATIC, "tf2_msgs/msg/TFMessage", self.on_tf_static, depth=100)
        ctx.subscribe(
            topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry", self.on_odometry, depth=1
        )
        ctx.subscribe(topics.LIDAR_POINTS, POINTCLOUD2, self.on_points, depth=1)

    def on_tf_static(self, msg: Any) -> None:
        for problem in self.tf.add_message(msg):
            self.ctx.event(EventKind.DROP, f"tf_static: {problem}")

    def on_odometry(self, msg: Any) -> None:
        if not in_frame(self.ctx, topics.LOCALIZATION_ODOMETRY, msg, self.params.map_frame):
            return
        self.pose = Pose2D.from_pose_msg(msg.pose.pose)

    def on_points(self, msg: Any) -> None:
        if self.pose is None:
            self.ctx.event(EventKind.DROP, f"{topics.LIDAR_POINTS}: no pose yet to place the sweep")
            return
        extrinsic = self.tf.lookup(self.params.base_frame, msg.header.frame_id or "")
        if extrinsic is None:
            self.ctx.event(EventKind.DROP, f"{topics.LIDAR_POINTS}: no tf_static from {msg.header.frame_id!r} "
                           f"to {self.params.base_frame!r}")  # fmt: skip
            return
        try:
            points = extrinsic.apply(read_points(msg))
        except PointCloudError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.LIDAR_POINTS}: {exc}")
            return
        in_map = np.column_stack([self.pose.apply(points[:, :2]), points[:, 2]])
        new = self.map.insert(in_map, np.array([self.pose.x, self.pose.y]))
        header = self.ctx.new("std_msgs/msg/Header", stamp=msg.header.stamp,
                              frame_id=self.params.map_frame)  # fmt: skip
        self.pub.publish(make_pointcloud2(self.ctx.new, header, new, names=("x", "y", "z")))
