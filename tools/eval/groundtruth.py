"""Read a bag's topics into arrays: ground-truth actors, ego pose, camera boxes, and run outputs."""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader

from perception.geometry import Pose2D, quaternion_to_yaw
from stack.errors import L4Error
from stack.msgs import stamp_to_ns, typestore


class EvalError(L4Error):
    """A run or bag cannot be scored; the message names the file and what is missing."""


def read_topics(bag: Path, topics: Iterable[str]) -> dict[str, list[tuple[int, Any]]]:
    """Messages of ``topics`` as (header stamp ns or log time, message), in log order."""
    wanted = dict.fromkeys(topics)  # the caller's order, so the result's key order is stable
    out: dict[str, list[tuple[int, Any]]] = {t: [] for t in wanted}
    try:
        with AnyReader([Path(bag)], default_typestore=typestore()) as reader:
            conns = [c for c in reader.connections if c.topic in wanted]
            if not conns:  # rosbags reads every connection when given none
                return out
            for conn, t_log, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                header = getattr(msg, "header", None)
                stamp = stamp_to_ns(header.stamp) if header is not None else t_log
                out[conn.topic].append((stamp, msg))
    except Exception as exc:
        raise EvalError(f"{bag}: cannot read bag: {exc}") from exc
    return out


def uuid_int(uuid: Any) -> int:
    return int.from_bytes(bytes(np.asarray(uuid.uuid, dtype=np.uint8)), "little")


def uuid_text(value: int) -> str:
    """The standard text form of an id that ``uuid_int`` made (the object_id's 16 bytes)."""
    return str(uuid_module.UUID(bytes=value.to_bytes(16, "little")))


@dataclass
class ActorTrack:
    """One ground-truth actor over time (map frame); arrays are converted once, yaw unwrapped."""

    label: int
    t: np.ndarray  # (N,) ns
    xyyaw: np.ndarray  # (N, 3)
    size: tuple[float, float] = (0.0, 0.0)  # length, width
    speed: np.ndarray | None = None  # (N,) m/s from the recorded twist; None: from the poses

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.int64)
        self.xyyaw = np.array(self.xyyaw, dtype=np.float64).reshape(-1, 3)
        self.xyyaw[:, 2] = np.unwrap(self.xyyaw[:, 2])
        if self.speed is None:
            self.speed = self._speed_from_poses()
        self.speed = np.asarray(self.speed, dtype=np.float64).reshape(len(self.t))

    def _speed_from_poses(self) -> np.ndarray:
        if len(self.t) < 2:
            return np.zeros(len(self.t))
        seconds = (self.t - self.t[0]) * 1e-9
        vx = np.gradient(self.xyyaw[:, 0], seconds)
        vy = np.gradient(self.xyyaw[:, 1], seconds)
        return np.hypot(vx, vy)

    def speeds(self, t_ns: np.ndarray, tolerance_ns: int = 60_000_000) -> np.ndarray:
        """(K,) speeds interpolated at ``t_ns``; NaN outside the track."""
        t_ns = np.asarray(t_ns)
        out = np.full(len(t_ns), np.nan)
        if not len(self.t):
            return out
        ok = (t_ns >= self.t[0] - tolerance_ns) & (t_ns <= self.t[-1] + tolerance_ns)
        out[ok] = np.interp(t_ns[ok], self.t, self.speed)
        return out

    def poses(self, t_ns: np.ndarray, tolerance_ns: int = 60_000_000) -> np.ndarray:
        """(K, 3) poses interpolated at ``t_ns``; NaN rows outside the track."""
        t_ns = np.asarray(t_ns)
        out = np.full((len(t_ns), 3), np.nan)
        if not len(self.t):
            return out
        ok = (t_ns >= self.t[0] - tolerance_ns) & (t_ns <= self.t[-1] + tolerance_ns)
        for i in range(3):
            out[ok, i] = np.interp(t_ns[ok], self.t, self.xyyaw[:, i])
        return out

    def at(self, t_ns: int, tolerance_ns: int = 60_000_000) -> np.ndarray | None:
        """Pose interpolated at ``t_ns``; None outside the track (beyond ``tolerance_ns``)."""
        ts = self.t
        if not len(ts) or t_ns < ts[0] - tolerance_ns or t_ns > ts[-1] + tolerance_ns:
            return None
        return np.array([np.interp(t_ns, ts, self.xyyaw[:, i]) for i in range(3)])


@dataclass
class GroundTruth:
    actors: dict[int, ActorTrack]
    ego_t: np.ndarray  # (N,) ns
    ego_xyyaw: np.ndarray  # (N, 3)
    camera_boxes: dict[
        int, list[tuple[str, str, np.ndarray, float]]
    ]  # stamp -> (id, class, cxcywh, visible)

    def __post_init__(self) -> None:
        self._ego_yaw = np.unwrap(self.ego_xyyaw[:, 2])

    def ego_at(self, t_ns: int | np.ndarray) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t_ns, dtype=np.float64))
        out = np.column_stack(
            [np.interp(t, self.ego_t, self.ego_xyyaw[:, i]) for i in range(2)]
            + [np.interp(t, self.ego_t, self._ego_yaw)]
        )
        return out[0] if np.ndim(t_ns) == 0 else out

    def actors_at(self, t_ns: int) -> list[tuple[int, int, np.ndarray, tuple[float, float]]]:
        """(id, label, x/y/yaw, (length, width)) of every actor present at ``t_ns``."""
        out = []
        for aid, track in self.actors.items():
            pose = track.at(t_ns)
            if pose is not None:
                out.append((aid, track.label, pose, track.size))
        return out


def load_ground_truth(
    bag: Path, objects: str, ego: str, boxes: str, data: dict[str, list] | None = None
) -> GroundTruth:
    """Ground truth of a scenario bag; ``data`` is its already read topics (read_topics), if any."""
    if data is None:
        data = read_topics(bag, [objects, ego, boxes])
    if not data[ego]:
        raise EvalError(f"{bag}: no ground-truth ego pose on {ego}; is this a scenario bag?")
    tracks: dict[int, dict[str, Any]] = {}  # ActorTrack fields, lists until all are read
    for stamp, msg in data[objects]:
        for obj in msg.objects:
            aid = uuid_int(obj.object_id)
            label = obj.classification[0].label if len(obj.classification) else 0
            track = tracks.setdefault(aid, {"label": label, "t": [], "xyyaw": [], "speed": []})
            pose = obj.kinematics.pose_with_covariance.pose
            twist = obj.kinematics.twist_with_covariance.twist.linear
            track["t"].append(stamp)
            track["speed"].append(float(np.hypot(twist.x, twist.y)))
            track["xyyaw"].append(
                (pose.position.x, pose.position.y, quaternion_to_yaw(pose.orientation))
            )
            track["size"] = (obj.shape.dimensions.x, obj.shape.dimensions.y)
    for fields in tracks.values():
        if not any(fields["speed"]):  # no twist recorded: ActorTrack takes it from the poses
            fields["speed"] = None
    actors = {aid: ActorTrack(**fields) for aid, fields in tracks.items()}
    ego_t = np.array([s for s, _ in data[ego]], dtype=np.int64)
    ego_xyyaw = np.array(
        [
            (m.pose.position.x, m.pose.position.y, quaternion_to_yaw(m.pose.orientation))
            for _, m in data[ego]
        ]
    )
    cam: dict[int, list] = {}
    for stamp, msg in data[boxes]:
        rows = []
        for det in msg.detections:
            hyp = det.results[0].hypothesis if len(det.results) else None
            box = np.array(
                [
                    det.bbox.center.position.x,
                    det.bbox.center.position.y,
                    det.bbox.size_x,
                    det.bbox.size_y,
                ]
            )
            rows.append((det.id, hyp.class_id if hyp else "", box, hyp.score if hyp else 1.0))
        cam[stamp] = rows
    return GroundTruth(actors, ego_t, ego_xyyaw, cam)


def to_map(xy: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Points in base_link -> map, with the ego pose (x, y, yaw)."""
    return Pose2D(*pose).apply(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
