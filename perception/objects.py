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

from perception.errors import PerceptionError
from perception.geometry import Pose2D, wrap_angle
from stack.msgs import maker

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


def _best_class(classification: Sequence[Any]) -> tuple[int, float]:
    if not classification:
        return int(Label.UNKNOWN), 0.0
    best = max(classification, key=lambda c: c.probability)
    return int(best.label), float(best.probability)


def _row(obj: Any) -> tuple:
    """The numbers of one object message, as plain floats (no per-object numpy work)."""
    kin = obj.kinematics
    pose_cov = kin.pose_with_covariance
    p, q = pose_cov.pose.position, pose_cov.pose.orientation
    d = obj.shape.dimensions
    v = kin.twist_with_covariance.twist.linear
    c = pose_cov.covariance
    has_cov = getattr(kin, "has_position_covariance", True)
    label, score = _best_class(obj.classification)
    return (
        p.x,
        p.y,
        p.z,
        q.x,
        q.y,
        q.z,
        q.w,
        d.x,
        d.y,
        d.z,
        v.x,
        v.y,
        label,
        score,
        c[0],
        c[1],
        c[6],
        c[7],
        1.0 if has_cov else 0.0,
    )


def objects_from_msg(msg: Any, default_pos_std: float = 0.5) -> ObjectArray:
    """Arrays from a DetectedObjects or TrackedObjects message.

    A missing or unusable position covariance becomes ``default_pos_std``. Raises PerceptionError
    naming the object index when a pose or size is not finite.
    """
    objs = list(msg.objects)
    n = len(objs)
    if n == 0:
        return ObjectArray.empty()
    rows = np.array([_row(obj) for obj in objs], dtype=float).reshape(n, 19)
    qx, qy, qz, qw = rows[:, 3], rows[:, 4], rows[:, 5], rows[:, 6]
    yaw = np.arctan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
    bad = ~(np.isfinite(rows[:, :3]).all(1) & np.isfinite(rows[:, 7:10]).all(1) & np.isfinite(yaw))
    if bad.any():
        raise PerceptionError(f"object {int(np.flatnonzero(bad)[0])} has a non-finite pose or size")
    cov = rows[:, 14:18].reshape(n, 2, 2)
    usable = (rows[:, 18] > 0) & np.isfinite(cov).all(axis=(1, 2))
    usable &= (cov[:, 0, 0] > 0) & (cov[:, 1, 1] > 0)
    cov = np.where(usable[:, None, None], cov, np.eye(2) * default_pos_std**2)
    # Twists are in the object frame: bring them into the message frame.
    c, s = np.cos(yaw), np.sin(yaw)
    vx, vy = rows[:, 10], rows[:, 11]
    velocity = np.column_stack([c * vx - s * vy, s * vx + c * vy])
    uuid = np.zeros((n, 16), np.uint8)
    if hasattr(objs[0], "object_id"):
        uuid[:] = [np.asarray(obj.object_id.uuid, np.uint8) for obj in objs]
    return ObjectArray(
        position=rows[:, :3].copy(),
        yaw=yaw,
        dims=rows[:, 7:10].copy(),
        label=rows[:, 12].astype(np.uint8),
        score=rows[:, 13].copy(),
        velocity=velocity,
        cov_xy=cov,
        uuid=uuid,
    )


# ---------------------------------------------------------------- arrays -> messages


@dataclass(frozen=True)
class _Rows:
    """An ObjectArray's per-object values as Python numbers, converted once per message rather
    than one numpy scalar at a time (the same values: ``tolist`` and ``float`` agree)."""

    position: list[list[float]]
    quaternion: list[tuple[float, float, float, float]]
    covariance: np.ndarray  # (N, 36), row i is object i's pose covariance
    dims: list[list[float]]
    label: list[int]
    score: list[float]

    @classmethod
    def of(cls, objs: ObjectArray) -> _Rows:
        n = len(objs)
        cov = np.zeros((n, 36))
        cov.reshape(n, 6, 6)[:, :2, :2] = objs.cov_xy  # x, y block (a slice: no fancy index)
        cov[:, 35] = 0.1
        # yaw_to_quaternion of each yaw, on the whole array: the same sin/cos values.
        half = 0.5 * np.asarray(objs.yaw, float)
        quaternion = [
            (0.0, 0.0, s, c) for s, c in zip(np.sin(half).tolist(), np.cos(half).tolist())
        ]
        return cls(objs.position.tolist(), quaternion, cov, objs.dims.tolist(),
                   objs.label.tolist(), objs.score.tolist())  # fmt: skip


@dataclass(frozen=True)
class _Makers:
    """Positional constructors (:func:`stack.msgs.factory.maker`) of the message types every
    object has, asked for once per message: ~15 messages an object."""

    point: Callable[..., Any]
    quaternion: Callable[..., Any]
    pose: Callable[..., Any]
    pose_cov: Callable[..., Any]
    vector3: Callable[..., Any]
    shape: Callable[..., Any]
    classification: Callable[..., Any]

    @classmethod
    def of(cls, new: MessageFactory) -> _Makers:
        return cls(
            maker(new, "geometry_msgs/msg/Point", "x", "y", "z"),
            maker(new, "geometry_msgs/msg/Quaternion", "x", "y", "z", "w"),
            maker(new, "geometry_msgs/msg/Pose", "position", "orientation"),
            maker(new, "geometry_msgs/msg/PoseWithCovariance", "pose", "covariance"),
            maker(new, "geometry_msgs/msg/Vector3", "x", "y", "z"),
            maker(new, "autoware_perception_msgs/msg/Shape", "type", "dimensions"),
            maker(new, "autoware_perception_msgs/msg/ObjectClassification", "label", "probability"),
        )

    def pose_with_covariance(self, rows: _Rows, i: int) -> Any:
        return self.pose_cov(
            self.pose(self.point(*rows.position[i]), self.quaternion(*rows.quaternion[i])),
            rows.covariance[i],
        )

    def box_shape(self, rows: _Rows, i: int) -> Any:
        return self.shape(0, self.vector3(*rows.dims[i]))  # length, width, height

    def classifications(self, rows: _Rows, i: int) -> list[Any]:
        return [self.classification(rows.label[i], rows.score[i])]


def detected_objects_msg(
    new: MessageFactory, header: Any, objs: ObjectArray, existence: float = 0.0
) -> Any:
    """A DetectedObjects message with ``header`` (keep the sensor stamp)."""
    rows = _Rows.of(objs)
    m = _Makers.of(new)
    kinematics = maker(
        new,
        "autoware_perception_msgs/msg/DetectedObjectKinematics",
        "pose_with_covariance",
        "has_position_covariance",
        "orientation_availability",
    )
    detected = maker(
        new,
        "autoware_perception_msgs/msg/DetectedObject",
        "existence_probability",
        "classification",
        "kinematics",
        "shape",
    )
    items = [
        detected(
            float(existence or rows.score[i]),
            m.classifications(rows, i),
            kinematics(m.pose_with_covariance(rows, i), True, _SIGN_UNKNOWN),
            m.box_shape(rows, i),
        )
        for i in range(len(objs))
    ]
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
    rows = _Rows.of(objs)
    m = _Makers.of(new)
    for i in range(len(objs)):
        kin = new(
            "autoware_perception_msgs/msg/TrackedObjectKinematics",
            pose_with_covariance=m.pose_with_covariance(rows, i),
            twist_with_covariance=_twist_in_object_frame(new, objs, i, vel_cov),
            orientation_availability=_AVAILABLE if speed[i] > stationary_speed else _SIGN_UNKNOWN,
            is_stationary=bool(speed[i] <= stationary_speed),
        )
        items.append(
            new(
                "autoware_perception_msgs/msg/TrackedObject",
                object_id=new("unique_identifier_msgs/msg/UUID", uuid=objs.uuid[i].copy()),
                existence_probability=float(rows.score[i] if existence is None else existence[i]),
                classification=m.classifications(rows, i),
                kinematics=kin,
                shape=m.box_shape(rows, i),
            )
        )
    return new(TRACKED_OBJECTS, header=header, objects=items)
