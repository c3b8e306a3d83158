"""ObjectTracker node: lidar + camera DetectedObjects -> /perception/objects (TrackedObjects, map).

The tracker steps on every lidar message, fused with the camera message nearest in time. When
lidar falls silent for ``lidar_timeout_s`` it steps on camera messages alone, so the planner still
sees objects. Detections in base_link are placed in the map with the ego pose at their own stamp
(from /localization/odometry), so ego motion does not leak into object velocities.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perception.geometry import Pose2D, PoseHistory
from perception.map_roi import RoadRoi, StaticStructure
from perception.objects import (
    DETECTED_OBJECTS,
    TRACKED_OBJECTS,
    ObjectArray,
    objects_from_msg,
    tracked_objects_msg,
)
from perception.tf import frame_of, in_frame
from perception.tracking.fusion import FusionConfig, fuse
from perception.tracking.tracker import MultiObjectTracker, TrackerConfig, TrackerError
from stack import topics
from stack.events import EventKind
from stack.msgs import stamp_to_ns
from stack.node import Context, Node
from stack.params import non_negative, positive


@dataclass
class ObjectTrackerParams:
    tracking_frame: str = topics.FRAME_MAP
    lidar_position_std: float = 0.3  # used when a lidar object carries no covariance
    camera_position_std: float = 1.5  # used when a camera object carries no covariance
    camera_window_s: float = 0.15  # a camera message this close to a lidar stamp is fused
    lidar_timeout_s: float = 0.5  # then the camera alone drives the tracker
    pose_tolerance_s: float = 0.3  # how far an ego pose may be extrapolated to a detection stamp
    # With a map, detections farther than roi_max_offset from every road polyline are dropped
    # as clutter (buildings, trees) before tracking.
    map_path: str = ""
    roi_max_offset: float = 11.0
    # With a map holding static structure, detections within this distance of it (poles,
    # signs, building walls) are the map, not objects; 0 disables.
    static_radius: float = 0.6
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)

    def __post_init__(self) -> None:
        if isinstance(self.tracker, dict):
            self.tracker = TrackerConfig(**self.tracker)
        if isinstance(self.fusion, dict):
            self.fusion = FusionConfig(**self.fusion)
        non_negative("camera_window_s", self.camera_window_s)
        non_negative("lidar_timeout_s", self.lidar_timeout_s)
        non_negative("pose_tolerance_s", self.pose_tolerance_s)
        positive("lidar_position_std", self.lidar_position_std)
        positive("camera_position_std", self.camera_position_std)
        positive("roi_max_offset", self.roi_max_offset)
        non_negative("static_radius", self.static_radius)  # 0 disables


class ObjectTracker(Node):
    """Fuses camera and lidar objects and tracks them with stable ids in the map frame."""

    Params = ObjectTrackerParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: ObjectTrackerParams
        self.tracker = MultiObjectTracker(self.params.tracker)
        self.roi = (
            RoadRoi.from_map(self.params.map_path, self.params.roi_max_offset)
            if self.params.map_path
            else None
        )
        self.static = (
            StaticStructure.from_map(self.params.map_path, self.params.static_radius)
            if self.params.map_path and self.params.static_radius > 0
            else None
        )
        self.poses = PoseHistory()
        self.camera: deque[tuple[int, ObjectArray]] = deque(maxlen=8)
        self.last_lidar_ns: int | None = None
        self.pub = ctx.publisher(topics.TRACKED_OBJECTS, TRACKED_OBJECTS)
        ctx.subscribe(
            topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry", self.on_odometry, depth=50
        )
        ctx.subscribe(topics.CAMERA_OBJECTS, DETECTED_OBJECTS, self.on_camera, depth=5)
        ctx.subscribe(topics.LIDAR_OBJECTS, DETECTED_OBJECTS, self.on_lidar, depth=1)

    def on_odometry(self, msg: Any) -> None:
        if not in_frame(self.ctx, topics.LOCALIZATION_ODOMETRY, msg, self.params.tracking_frame):
            return
        self.poses.add(stamp_to_ns(msg.header.stamp), Pose2D.from_pose_msg(msg.pose.pose))

    def _to_tracking_frame(self, topic: str, msg: Any, std: float) -> ObjectArray | None:
        try:
            objs = objects_from_msg(msg, default_pos_std=std)
        except ValueError as exc:
            self.ctx.event(EventKind.DROP, f"{topic}: {exc}")
            return None
        if frame_of(msg) != self.params.tracking_frame:
            # Objects in the vehicle frame: place them with the ego pose at their stamp.
            tolerance = int(self.params.pose_tolerance_s * 1e9)
            pose = self.poses.at(stamp_to_ns(msg.header.stamp), tolerance)
            if pose is None:
                self.ctx.event(
                    EventKind.DROP,
                    f"{topic}: no ego pose near the stamp to place objects in "
                    f"{self.params.tracking_frame!r}",
                )
                return None
            objs = objs.transformed(pose)
        if self.roi is not None:
            objs = objs.select(self.roi.contains(objs.position[:, :2]))
        if self.static is not None:
            objs = objs.select(~self.static.on_structure(objs.position[:, :2]))
        return objs

    def _nearest_camera(self, stamp_ns: int) -> ObjectArray:
        window = int(self.params.camera_window_s * 1e9)
        best = min(self.camera, key=lambda item: abs(item[0] - stamp_ns), default=None)
        if best is None or abs(best[0] - stamp_ns) > window:
            return ObjectArray.empty()
        return best[1]

    def on_lidar(self, msg: Any) -> None:
        lidar = self._to_tracking_frame(topics.LIDAR_OBJECTS, msg, self.params.lidar_position_std)
        if lidar is None:
            return
        stamp = stamp_to_ns(msg.header.stamp)
        self.last_lidar_ns = stamp
        fused = fuse(lidar, self._nearest_camera(stamp), self.params.fusion)
        self._step_and_publish(msg.header, fused.objects)

    def on_camera(self, msg: Any) -> None:
        camera = self._to_tracking_frame(
            topics.CAMERA_OBJECTS, msg, self.params.camera_position_std
        )
        if camera is None:
            return
        stamp = stamp_to_ns(msg.header.stamp)
        self.camera.append((stamp, camera))
        timeout = int(self.params.lidar_timeout_s * 1e9)
        if self.last_lidar_ns is None or stamp - self.last_lidar_ns > timeout:
            self._step_and_publish(msg.header, camera)

    def _step_and_publish(self, header: Any, detections: ObjectArray) -> None:
        stamp = stamp_to_ns(header.stamp)
        # The ego (sensor) position, for the tracker's clutter density by range.
        pose = self.poses.at(stamp, int(self.params.pose_tolerance_s * 1e9))
        sensor = None if pose is None else np.array([pose.x, pose.y])
        try:
            self.tracker.step(stamp, detections, sensor)
        except TrackerError as exc:
            self.ctx.event(EventKind.DROP, str(exc))
            return
        objs, existence, vel_cov = self.tracker.confirmed_objects()
        out_header = self.ctx.new(
            "std_msgs/msg/Header", stamp=header.stamp, frame_id=self.params.tracking_frame
        )
        self.pub.publish(
            tracked_objects_msg(
                self.ctx.new, out_header, objs, existence=existence, vel_cov=vel_cov
            )
        )
