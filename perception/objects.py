"""Object lists as arrays, and their conversion to and from Autoware object messages.

Algorithms work on :class:`ObjectArray` (one row per object); node wrappers convert at the edge.
Message conversion goes through a ``new(typename, **fields)`` factory (``ctx.new``) so the same
code builds rosbags dataclasses (embedded, replay) and rosidl messages (rclpy).

Conventions follow Autoware: ``shape.dimensions`` is (length, width, height) with the length along
the object's heading; a TrackedObject's twist is expressed in the object's own frame (linear.x
along its heading), so it is rotated by the yaw on the way in and out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from perception.geometry import Pose2D, quaternion_to_yaw, wrap_angle, yaw_to_quaternion

MessageFactory = Callable[..., Any]

DETECTED_OBJECTS = "autoware_perception_msgs/msg/DetectedObjects"
TRACKED_OBJECTS = "autoware_perception_msgs/msg/TrackedObjects"


class Label(IntEnum):
    """autoware_perception_msgs/ObjectClassification labels."""

    UNKNOWN = 0
    CAR = 1
    TRUCK = 2
    BUS = 3
    TRAILER = 4
    MOTORCYCLE = 5
    BICYCLE = 6
    PEDESTRIAN = 7


NUM_LABELS = len(Label)
_SIGN_UNKNOWN = 1
_AVAILABLE = 2


@dataclass
class ObjectArray:
    """N objects as parallel arrays (all in one frame, stated by whoever holds the array)."""

    position: np.ndarray  # (N, 3) box centre
    yaw: np.ndarray  # (N,)
    dims: np.ndarray  # (N, 3) length, width, height
    label: np.ndarray  # (N,) uint8, a Label
    score: np.ndarray  # (N,) probability of the label
    velocity: np.ndarray  # (N, 2) in the frame of the array
    cov_xy: np.ndarray  # (N, 2, 2) position covariance
    uuid: np.ndarray  # (N, 16) uint8; zeros for untracked detections

    def __len__(self) -> int:
        return len(self.yaw)

    @classmethod
    def empty(cls) -> ObjectArray:
        return cls.create(np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)))

    @classmethod
    def create(
        cls,
        position: np.ndarray,
        yaw: np.ndarray,
        dims: np.ndarray,
        label: Sequence[int] | np.ndarray | None = None,
        score: Sequence[float] | np.ndarray | None = None,
        velocity: np.ndarray | None = None,
        pos_std: float | np.ndarray = 0.5,
    ) -> ObjectArray:
        """Build from the geometric fields; the rest get neutral defaults."""
        position = np.asarray(position, float).reshape(-1, 3)
        n = len(position)
        std = np.broadcast_to(np.asarray(pos_std, float), (n,))
        return cls(
            position=position,
            yaw=np.asarray(yaw, float).reshape(n),
            dims=np.asarray(dims, float).reshape(n, 3),
            label=np.zeros(n, np.uint8) if label is None else np.asarray(label, np.uint8),
            score=np.ones(n) if score is None else np.asarray(score, float).reshape(n),
            velocity=np.zeros((n, 2)) if velocity is None else np.asarray(velocity, float),
            cov_xy=np.eye(2)[None] * (std**2)[:, None, None],
            uuid=np.zeros((n, 16), np.uint8),
        )

    def select(self, index: np.ndarray | Sequence[int]) -> ObjectArray:
        """The objects at ``index`` (an index array or a boolean mask)."""
        return ObjectArray(
            **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)}
        )

    @staticmethod
    def concat(parts: Sequence[ObjectArray]) -> ObjectArray:
        if not parts:
            return ObjectArray.empty()
        names = [f.name for f in dataclasses.fields(ObjectArray)]
        return ObjectArray(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def transformed(self, pose: Pose2D) -> ObjectArray:
        """The same objects expressed in the parent frame of ``pose``."""
        if len(self) == 0:
            return self
        rot = np.array(
            [[np.cos(pose.yaw), -np.sin(pose.yaw)], [np.sin(pose.yaw), np.cos(pose.yaw)]]
        )
        position = self.position.copy()
        position[:, :2] = pose.apply(self.position[:, :2])
        return dataclasses.replace(
            self,
            position=position,
            yaw=wrap_angle(self.yaw + pose.yaw),
            velocity=pose.rotate(self.velocity),
            cov_xy=rot @ self.cov_xy @ rot.T,
        )


# ---------------------------------------------------------------- messages -> arrays


def _covariance_xy(cov36: Any, fallback_std: float) -> np.ndarray:
    cov = np.asarray(cov36, float).reshape(6, 6)[:2, :2]
    if not np.all(np.isfinite(cov)) or cov[0, 0] <= 0.0 or cov[1, 1] <= 0.0:
        return np.eye(2) * fallback_std**2
    return cov


def _best_class(classification: Sequence[Any]) -> tuple[int, float]:
    if not classification:
        return int(Label.UNKNOWN), 0.0
    best = max(classification, key=lambda c: c.probability)
    return int(best.label), float(best.probability)


def objects_from_msg(msg: Any, default_pos_std: float = 0.5) -> ObjectArray:
    """Arrays from a DetectedObjects or TrackedObjects message.

    Raises ValueError naming the object index when a pose or size is not finite.
    """
    objs = list(msg.objects)
    n = len(objs)
    out = ObjectArray.create(np.zeros((n, 3)), np.zeros(n), np.zeros((n, 3)))
    for i, obj in enumerate(objs):
        pose_cov = obj.kinematics.pose_with_covariance
        pose = pose_cov.pose
        out.position[i] = (pose.position.x, pose.position.y, pose.position.z)
        out.yaw[i] = quaternion_to_yaw(pose.orientation)
        dim = obj.shape.dimensions
        out.dims[i] = (dim.x, dim.y, dim.z)
        out.label[i], out.score[i] = _best_class(obj.classification)
        has_cov = getattr(obj.kinematics, "has_position_covariance", True)
        if has_cov:
            out.cov_xy[i] = _covariance_xy(pose_cov.covariance, default_pos_std)
        else:
            out.cov_xy[i] = np.eye(2) * default_pos_std**2
        twist = obj.kinematics.twist_with_covariance.twist.linear
        out.velocity[i] = (twist.x, twist.y)
        if hasattr(obj, "object_id"):
            out.uuid[i] = np.frombuffer(bytes(bytearray(obj.object_id.uuid)), np.uint8)
    bad = ~(np.isfinite(out.position).all(1) & np.isfinite(out.dims).all(1) & np.isfinite(out.yaw))
    if bad.any():
        raise ValueError(f"object {int(np.flatnonzero(bad)[0])} has a non-finite pose or size")
    # Twists are in the object frame: bring them into the message frame.
    c, s = np.cos(out.yaw), np.sin(out.yaw)
    vx, vy = out.velocity[:, 0].copy(), out.velocity[:, 1].copy()
    out.velocity[:, 0], out.velocity[:, 1] = c * vx - s * vy, s * vx + c * vy
    return out


# ---------------------------------------------------------------- arrays -> messages


def _pose_with_covariance(new: MessageFactory, objs: ObjectArray, i: int) -> Any:
    qx, qy, qz, qw = yaw_to_quaternion(objs.yaw[i])
    px, py, pz = (float(v) for v in objs.position[i])
    cov = np.zeros(36)
    cov[[0, 1, 6, 7]] = objs.cov_xy[i].ravel()
    cov[35] = 0.1
    return new(
        "geometry_msgs/msg/PoseWithCovariance",
        pose=new(
            "geometry_msgs/msg/Pose",
            position=new("geometry_msgs/msg/Point", x=px, y=py, z=pz),
            orientation=new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
        ),
        covariance=cov,
    )


def _shape(new: MessageFactory, objs: ObjectArray, i: int) -> Any:
    length, width, height = (float(v) for v in objs.dims[i])
    return new(
        "autoware_perception_msgs/msg/Shape",
        type=0,
        dimensions=new("geometry_msgs/msg/Vector3", x=length, y=width, z=height),
    )


def _classification(new: MessageFactory, objs: ObjectArray, i: int) -> list[Any]:
    return [
        new(
            "autoware_perception_msgs/msg/ObjectClassification",
            label=int(objs.label[i]),
            probability=float(objs.score[i]),
        )
    ]


def detected_objects_msg(
    new: MessageFactory, header: Any, objs: ObjectArray, existence: float = 0.0
) -> Any:
    """A DetectedObjects message with ``header`` (keep the sensor stamp)."""
    items = []
    for i in range(len(objs)):
        kin = new(
            "autoware_perception_msgs/msg/DetectedObjectKinematics",
            pose_with_covariance=_pose_with_covariance(new, objs, i),
            has_position_covariance=True,
            orientation_availability=_SIGN_UNKNOWN,
        )
        items.append(
            new(
                "autoware_perception_msgs/msg/DetectedObject",
                existence_probability=float(existence or objs.score[i]),
                classification=_classification(new, objs, i),
                kinematics=kin,
                shape=_shape(new, objs, i),
            )
        )
    return new(DETECTED_OBJECTS, header=header, objects=items)


def _twist_in_object_frame(new: MessageFactory, objs: ObjectArray, i: int, vel_cov: Any) -> Any:
    c, s = np.cos(objs.yaw[i]), np.sin(objs.yaw[i])
    vx, vy = objs.velocity[i]
    rot = np.array([[c, s], [-s, c]])
    cov = np.zeros(36)
    if vel_cov is not None:
        cov[[0, 1, 6, 7]] = (rot @ vel_cov[i] @ rot.T).ravel()
    return new(
        "geometry_msgs/msg/TwistWithCovariance",
        twist=new(
            "geometry_msgs/msg/Twist",
            linear=new(
                "geometry_msgs/msg/Vector3",
                x=float(c * vx + s * vy),
                y=float(-s * vx + c * vy),
                z=0.0,
            ),
        ),
        covariance=cov,
    )


def tracked_objects_msg(
    new: MessageFactory,
    header: Any,
    objs: ObjectArray,
    existence: np.ndarray | None = None,
    vel_cov: np.ndarray | None = None,
    stationary_speed: float = 0.3,
) -> Any:
    """A TrackedObjects message; ``objs.uuid`` carries the stable object ids."""
    items = []
    speed = np.hypot(objs.velocity[:, 0], objs.velocity[:, 1])
    for i in range(len(objs)):
        kin = new(
            "autoware_perception_msgs/msg/TrackedObjectKinematics",
            pose_with_covariance=_pose_with_covariance(new, objs, i),
            twist_with_covariance=_twist_in_object_frame(new, objs, i, vel_cov),
            orientation_availability=_AVAILABLE if speed[i] > stationary_speed else _SIGN_UNKNOWN,
            is_stationary=bool(speed[i] <= stationary_speed),
        )
        items.append(
            new(
                "autoware_perception_msgs/msg/TrackedObject",
                object_id=new("unique_identifier_msgs/msg/UUID", uuid=objs.uuid[i].copy()),
                existence_probability=float(objs.score[i] if existence is None else existence[i]),
                classification=_classification(new, objs, i),
                kinematics=kin,
                shape=_shape(new, objs, i),
            )
        )
    return new(TRACKED_OBJECTS, header=header, objects=items)
