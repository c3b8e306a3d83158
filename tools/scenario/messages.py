"""ROS messages of a scenario, built with stack.msgs.new defaults from the simulated data."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

import numpy as np

from perception.geometry import yaw_to_quaternion
from stack.msgs import MessageError, new, typestore
from stack.msgs.stamps import ns_to_time
from tools.scenario import topics
from tools.scenario.camera import CameraBox
from tools.scenario.config import CameraModel, Mount, Rig

_UUID_NAMESPACE = uuid.UUID("5b0c5a3e-6c1a-4a8e-9e4b-4c34a7d1f0a1")
FLOAT32 = 7


@cache
def _defaults(typename: str) -> tuple[type, dict[str, Any]]:
    msg = new(typename)
    names = [name for name, _ in typestore().fielddefs[typename][1]]
    return type(msg), {name: getattr(msg, name) for name in names}


def _new(typename: str, **fields: Any) -> Any:
    """stack.msgs.new with its defaults cached per type: a frame builds hundreds of messages.
    Default field values are shared between messages, which are never mutated after building."""
    cls, defaults = _defaults(typename)
    unknown = fields.keys() - defaults.keys()
    if unknown:
        raise MessageError(f"{typename} has no field(s) {sorted(unknown)}")
    return cls(**{**defaults, **fields})


def actor_uuid(actor_id: int) -> np.ndarray:
    """The 16 uuid bytes of an actor (TrackedObject.object_id), stable for an actor id."""
    return np.frombuffer(uuid.uuid5(_UUID_NAMESPACE, f"actor-{actor_id}").bytes, np.uint8).copy()


def header(ns: int, frame: str) -> Any:
    sec, nanosec = ns_to_time(ns)
    stamp = _new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)
    return _new("std_msgs/msg/Header", stamp=stamp, frame_id=frame)


def _quat_yaw(yaw: float) -> Any:
    x, y, z, w = yaw_to_quaternion(yaw)
    return _new("geometry_msgs/msg/Quaternion", x=x, y=y, z=z, w=w)


def _pose(x: float, y: float, z: float, yaw: float) -> Any:
    return _new(
        "geometry_msgs/msg/Pose",
        position=_new("geometry_msgs/msg/Point", x=float(x), y=float(y), z=float(z)),
        orientation=_quat_yaw(yaw),
    )


def _vec(x: float, y: float, z: float) -> Any:
    return _new("geometry_msgs/msg/Vector3", x=float(x), y=float(y), z=float(z))


def _diag(values: list[float], size: int) -> np.ndarray:
    out = np.zeros(size * size)
    out[:: size + 1][: len(values)] = values
    return out


def tf_static(rig: Rig, ns: int, mounts: tuple[Mount, ...] | None = None) -> Any:
    """The rig's extrinsics (or only ``mounts``) as one TFMessage."""
    transforms = []
    for mount in rig.mounts() if mounts is None else mounts:
        q = mount.quaternion_xyzw
        transforms.append(
            _new(
                "geometry_msgs/msg/TransformStamped",
                header=header(ns, topics.FRAME_BASE),
                child_frame_id=mount.frame,
                transform=_new(
                    "geometry_msgs/msg/Transform",
                    translation=_vec(*mount.xyz),
                    rotation=_new("geometry_msgs/msg/Quaternion", x=q[0], y=q[1], z=q[2], w=q[3]),
                ),
            )
        )
    return _new("tf2_msgs/msg/TFMessage", transforms=transforms)


def image(img: np.ndarray, ns: int) -> Any:
    h, w = img.shape[:2]
    return _new(
        "sensor_msgs/msg/Image",
        header=header(ns, topics.FRAME_CAMERA),
        height=h,
        width=w,
        encoding="bgr8",
        is_bigendian=0,
        step=w * 3,
        data=np.ascontiguousarray(img).reshape(-1),
    )


def camera_info(model: CameraModel, ns: int) -> Any:
    k = model.k
    p = np.zeros((3, 4))
    p[:, :3] = k
    return _new(
        "sensor_msgs/msg/CameraInfo",
        header=header(ns, topics.FRAME_CAMERA),
        height=model.height,
        width=model.width,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=p.reshape(-1),
    )


def pointcloud(points: np.ndarray, ns: int) -> Any:
    """PointCloud2 of (N,4) float32 x, y, z, intensity in lidar_top."""
    fields = [
        _new("sensor_msgs/msg/PointField", name=name, offset=4 * i, datatype=FLOAT32, count=1)
        for i, name in enumerate(("x", "y", "z", "intensity"))
    ]
    data = np.ascontiguousarray(points, dtype=np.float32)
    return _new(
        "sensor_msgs/msg/PointCloud2",
        header=header(ns, topics.FRAME_LIDAR),
        height=1,
        width=len(data),
        fields=fields,
        is_bigendian=False,
        point_step=16,
        row_step=16 * len(data),
        data=data.view(np.uint8).reshape(-1),
        is_dense=True,
    )


def imu(gyro: np.ndarray, accel: np.ndarray, ns: int, gyro_var: float, accel_var: float) -> Any:
    orientation_cov = np.zeros(9)
    orientation_cov[0] = -1.0  # a raw 6-axis IMU: no orientation estimate
    return _new(
        "sensor_msgs/msg/Imu",
        header=header(ns, topics.FRAME_IMU),
        orientation=_new("geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0),
        orientation_covariance=orientation_cov,
        angular_velocity=_vec(*gyro),
        angular_velocity_covariance=_diag([gyro_var] * 3, 3),
        linear_acceleration=_vec(*accel),
        linear_acceleration_covariance=_diag([accel_var] * 3, 3),
    )


def navsat(lat_lon_alt: np.ndarray, sigma: tuple[float, float, float], ns: int) -> Any:
    status = _new("sensor_msgs/msg/NavSatStatus", status=0, service=1)  # STATUS_FIX, SERVICE_GPS
    lat, lon, alt = (float(v) for v in lat_lon_alt)
    return _new(
        "sensor_msgs/msg/NavSatFix",
        header=header(ns, topics.FRAME_GNSS),
        status=status,
        latitude=lat,
        longitude=lon,
        altitude=alt,
        position_covariance=_diag([s * s for s in sigma], 3),
        position_covariance_type=2,  # COVARIANCE_TYPE_DIAGONAL_KNOWN
    )


def odometry(pose: np.ndarray, speed: float, yaw_rate: float, ns: int) -> Any:
    return _new(
        "nav_msgs/msg/Odometry",
        header=header(ns, topics.FRAME_ODOM),
        child_frame_id=topics.FRAME_BASE,
        pose=_new(
            "geometry_msgs/msg/PoseWithCovariance",
            pose=_pose(pose[0], pose[1], 0.0, pose[2]),
            covariance=_diag([0.05, 0.05, 1e-6, 1e-6, 1e-6, 0.01], 6),
        ),
        twist=_new(
            "geometry_msgs/msg/TwistWithCovariance",
            twist=_new(
                "geometry_msgs/msg/Twist", linear=_vec(speed, 0, 0), angular=_vec(0, 0, yaw_rate)
            ),
            covariance=_diag([0.03**2, 1e-4, 1e-6, 1e-6, 1e-6, 0.005**2], 6),
        ),
    )


def ego_pose(x: float, y: float, yaw: float, ns: int) -> Any:
    return _new(
        "geometry_msgs/msg/PoseStamped",
        header=header(ns, topics.FRAME_MAP),
        pose=_pose(x, y, 0.0, yaw),
    )


def tracked_objects(
    ns: int,
    ids: np.ndarray,
    labels: list[int],
    dims: list[tuple[float, float, float]],
    poses: np.ndarray,
    velocities: np.ndarray,
    yaw_rates: np.ndarray,
) -> Any:
    objects = []
    for i, actor_id in enumerate(ids):
        length, width, height = dims[i]
        vx, vy = velocities[i]
        kinematics = _new(
            "autoware_perception_msgs/msg/TrackedObjectKinematics",
            pose_with_covariance=_new(
                "geometry_msgs/msg/PoseWithCovariance",
                pose=_pose(poses[i, 0], poses[i, 1], height / 2, poses[i, 2]),
            ),
            twist_with_covariance=_new(
                "geometry_msgs/msg/TwistWithCovariance",
                twist=_new(
                    "geometry_msgs/msg/Twist",
                    linear=_vec(vx, vy, 0),
                    angular=_vec(0, 0, yaw_rates[i]),
                ),
            ),
            orientation_availability=2,  # AVAILABLE
            is_stationary=bool(np.hypot(vx, vy) < 0.1),
        )
        objects.append(
            _new(
                "autoware_perception_msgs/msg/TrackedObject",
                object_id=_new("unique_identifier_msgs/msg/UUID", uuid=actor_uuid(int(actor_id))),
                existence_probability=1.0,
                classification=[
                    _new(
                        "autoware_perception_msgs/msg/ObjectClassification",
                        label=labels[i],
                        probability=1.0,
                    )
                ],
                kinematics=kinematics,
                shape=_new(
                    "autoware_perception_msgs/msg/Shape",
                    type=0,
                    dimensions=_vec(length, width, height),
                ),
            )
        )
    return _new(
        "autoware_perception_msgs/msg/TrackedObjects",
        header=header(ns, topics.FRAME_MAP),
        objects=objects,
    )


def _detection(
    head: Any,
    class_id: str,
    score: float,
    position: dict[str, float],
    center: tuple[float, float],
    size: tuple[float, float],
    det_id: int,
) -> Any:
    """vision_msgs/Detection2D with one hypothesis (class, score, 3D position) and a 2D box."""
    hypothesis = _new(
        "vision_msgs/msg/ObjectHypothesisWithPose",
        hypothesis=_new("vision_msgs/msg/ObjectHypothesis", class_id=class_id, score=score),
        pose=_new(
            "geometry_msgs/msg/PoseWithCovariance",
            pose=_new(
                "geometry_msgs/msg/Pose", position=_new("geometry_msgs/msg/Point", **position)
            ),
        ),
    )
    bbox = _new(
        "vision_msgs/msg/BoundingBox2D",
        center=_new(
            "vision_msgs/msg/Pose2D",
            position=_new("vision_msgs/msg/Point2D", x=center[0], y=center[1]),
            theta=0.0,
        ),
        size_x=size[0],
        size_y=size[1],
    )
    return _new(
        "vision_msgs/msg/Detection2D", header=head, results=[hypothesis], bbox=bbox, id=str(det_id)
    )


def camera_boxes(boxes: list[CameraBox], ns: int) -> Any:
    head = header(ns, topics.FRAME_CAMERA)
    detections = []
    for b in boxes:
        position = {"x": b.position[0], "y": b.position[1], "z": b.position[2]}
        center, size = (
            (float(b.center[0]), float(b.center[1])),
            (float(b.size[0]), float(b.size[1])),
        )
        detections.append(
            _detection(
                head, b.kind.class_name, b.visible_fraction, position, center, size, b.actor_id
            )
        )
    return _new("vision_msgs/msg/Detection2DArray", header=head, detections=detections)


def traffic_signals(group_ids: np.ndarray, states: np.ndarray, ns: int) -> Any:
    """autoware_perception_msgs/TrafficLightGroupArray: one solid circle per group, as the
    true state (confidence 1)."""
    sec, nanosec = ns_to_time(ns)
    groups = [
        _new(
            "autoware_perception_msgs/msg/TrafficLightGroup",
            traffic_light_group_id=int(g),
            elements=[
                _new(
                    "autoware_perception_msgs/msg/TrafficLightElement",
                    color=int(state),
                    shape=1,  # CIRCLE
                    status=2,  # SOLID_ON
                    confidence=1.0,
                )
            ],
        )
        for g, state in zip(group_ids.tolist(), states.tolist())
    ]
    return _new(
        "autoware_perception_msgs/msg/TrafficLightGroupArray",
        stamp=_new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec),
        traffic_light_groups=groups,
    )


def traffic_light_rois(views: list, group_ids: np.ndarray, states: np.ndarray, ns: int) -> Any:
    """vision_msgs/Detection2DArray of the heads the camera sees: id = group id, class_id =
    the state's name, score = the housing's visible share, pose z = distance (m); a head whose
    lit lamp is hidden gets class_id UNKNOWN."""
    from perception.traffic_light.lightmap import LightState

    head = header(ns, topics.FRAME_CAMERA)
    detections = []
    for v in views:
        state = LightState(int(states[v.head])) if v.lamp_visible else LightState.UNKNOWN
        u0, v0, u1, v1 = v.box
        center, size = ((u0 + u1) / 2, (v0 + v1) / 2), (u1 - u0, v1 - v0)
        position = {"z": float(v.distance)}
        group = int(group_ids[v.head])
        detections.append(
            _detection(head, state.name, v.visible_fraction, position, center, size, group)
        )
    return _new("vision_msgs/msg/Detection2DArray", header=head, detections=detections)
