"""ScanMatcher node: lidar sweep + map -> /localization/scan_pose for the EKF.

The initial guess is the EKF's own pose at the sweep's stamp (from /localization/odometry), so
the matcher only refines; the EKF fuses the result like any other measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.geometry import Pose2D, PoseHistory, RigidTransform, yaw_to_quaternion
from perception.lidar.pointcloud import POINTCLOUD2, PointCloudError, read_points
from perception.localization.scan_matching import ScanMatchConfig, ScanMatcher, ScanMatchError
from perception.tf import StaticTransforms
from stack import topics
from stack.events import EventKind
from stack.msgs import stamp_to_ns
from stack.node import Context, Node

POSE_WITH_COVARIANCE = "geometry_msgs/msg/PoseWithCovarianceStamped"


@dataclass
class ScanMatcherParams(ScanMatchConfig):
    map_path: str = ""  # .npz with `points` (and `point_material`), as tools/scenario writes
    map_frame: str = topics.FRAME_MAP
    base_frame: str = topics.FRAME_BASE
    pose_tolerance_s: float = 0.2


class ScanMatcherNode(Node):
    """Refines the ego pose by matching lidar structure (walls, poles) against the map."""

    Params = ScanMatcherParams

    def __init__(self, ctx: Context, matcher: ScanMatcher | None = None) -> None:
        super().__init__(ctx)
        self.params: ScanMatcherParams
        if matcher is None:
            if not self.params.map_path:
                raise ScanMatchError("scan matcher parameter map_path is empty: a map is required")
            matcher = ScanMatcher.from_map_file(self.params.map_path, self.params)
        self.matcher = matcher
        self.tf = StaticTransforms()
        self.poses = PoseHistory()
        self.pub = ctx.publisher(topics.SCAN_POSE, POSE_WITH_COVARIANCE)
        ctx.subscribe(topics.TF_STATIC, "tf2_msgs/msg/TFMessage", self.on_tf_static, depth=100)
        ctx.subscribe(
            topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry", self.on_odometry, depth=50
        )
        ctx.subscribe(topics.LIDAR_POINTS, POINTCLOUD2, self.on_points, depth=1)

    def on_tf_static(self, msg: Any) -> None:
        for problem in self.tf.add_message(msg):
            self.ctx.event(EventKind.DROP, f"tf_static: {problem}")

    def on_odometry(self, msg: Any) -> None:
        self.poses.add(stamp_to_ns(msg.header.stamp), Pose2D.from_pose_msg(msg.pose.pose))

    def _extrinsic(self, frame: str) -> RigidTransform | None:
        return self.tf.lookup(self.params.base_frame, frame or self.params.base_frame)

    def on_points(self, msg: Any) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        guess = self.poses.at(stamp, int(self.params.pose_tolerance_s * 1e9))
        if guess is None:
            return  # not localised yet: nothing to refine (not a bad input)
        try:
            points = read_points(msg)
        except PointCloudError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.LIDAR_POINTS}: {exc}")
            return
        extrinsic = self._extrinsic(msg.header.frame_id)
        if extrinsic is None:
            self.ctx.event(
                EventKind.DROP, f"{topics.LIDAR_POINTS}: no tf_static for {msg.header.frame_id!r}"
            )
            return
        result = self.matcher.match(self.matcher.scan_points(extrinsic.apply(points)), guess)
        if isinstance(result, str):
            self.ctx.event(EventKind.DROP, f"scan match failed: {result}")
            return
        self.pub.publish(self._pose_msg(msg.header.stamp, result.pose, result.covariance))

    def _pose_msg(self, stamp: Any, pose: Pose2D, cov3: np.ndarray) -> Any:
        new = self.ctx.new
        qx, qy, qz, qw = yaw_to_quaternion(pose.yaw)
        cov = np.zeros((6, 6))
        cov[np.ix_([0, 1, 5], [0, 1, 5])] = cov3
        return new(
            POSE_WITH_COVARIANCE,
            header=new("std_msgs/msg/Header", stamp=stamp, frame_id=self.params.map_frame),
            pose=new(
                "geometry_msgs/msg/PoseWithCovariance",
                pose=new(
                    "geometry_msgs/msg/Pose",
                    position=new("geometry_msgs/msg/Point", x=pose.x, y=pose.y, z=0.0),
                    orientation=new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
                ),
                covariance=cov.ravel(),
            ),
        )
