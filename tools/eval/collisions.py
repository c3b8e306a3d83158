"""Plan clearance against the true actors, with nuPlan's collision types and fault (`l4 eval`).

Conventions (score.py puts them in the JSON under "conventions"):
- min clearance is the smallest gap between the ego footprint (4.7 x 1.9 m, its centre 1.4 m
  ahead of base_link, the rear axle that trajectory poses give) placed along each planned
  trajectory (5 s horizon) and every actor's true footprint at that future time
  (``min_clearance_m``: all actors, all gaps);
- a plan pose whose footprint touches an actor (gap <= 0) is a contact, typed as nuPlan types a
  collision (nuplan-devkit ``no_ego_at_fault_collisions._get_collision_type``), in this order:
  STOPPED_EGO_COLLISION when the plan's speed there is <= 0.05 m/s; STOPPED_TRACK_COLLISION when
  the actor's true speed is <= 0.005 m/s; ACTIVE_REAR_COLLISION when the actor's centre lies more
  than 150 deg off the ego's heading, seen from the rear axle; ACTIVE_FRONT_COLLISION when the
  ego's front edge touches the actor; ACTIVE_LATERAL_COLLISION otherwise. As nuPlan counts a
  collided track once, the first touching pose of a plan with an actor decides the type, and the
  plan's later poses touching that actor keep it;
- at fault, as nuPlan's ``_classify_at_fault_collisions``: ACTIVE_FRONT and STOPPED_TRACK always;
  ACTIVE_LATERAL only when the ego's four corners are not all in one lane (between lanes or
  off the road, by the map's lane strips; with no lane map every lateral contact counts as at
  fault); STOPPED_EGO and ACTIVE_REAR never;
- ``min_clearance_at_fault_m`` is ``min_clearance_m`` without the contacts that are not at fault
  (gaps above 0 all count). The actors are open loop: they replay the recorded drive and never
  react to our plan, so a car behind keeps its recorded speed into a plan that slows more than
  the recorded ego did. nuPlan scores its non-reactive (log-replay) agents the same way: it
  counts as at fault only collisions "that could have been prevented if planner performed
  differently";
- ``contacts``: every (plan, actor) contact is counted (``count``, ``at_fault``); ``by_actor``
  groups them by actor, type and fault (plans, first plan stamp, earliest horizon), and
  ``first`` lists the first few.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from perception.geometry import quaternion_to_yaw
from perception.objects import Label
from planning.lane import Lane, MapError
from tools.eval.groundtruth import GroundTruth, to_map, uuid_text
from tools.eval.metrics import polygon_distance, rectangle

EGO_LENGTH, EGO_WIDTH = 4.7, 1.9
EGO_CENTER_AHEAD = 1.4  # base_link (rear axle) to the footprint centre, as in the scenario
HORIZON_S = 5.0
NEAR_M = 15.0  # footprint centres further apart than this are never scored
EGO_STOPPED_MPS = 0.05  # nuPlan: stopped_speed_threshold of _get_collision_type
TRACK_STOPPED_MPS = 0.005  # nuPlan: is_track_stopped
BEHIND_DEG = 150.0  # nuPlan: is_agent_behind angle_tolerance
MAX_CONTACTS_LISTED = 20  # contacts named in the JSON's "first" (all are counted)
log = logging.getLogger(__name__)


class CollisionType(IntEnum):
    """nuPlan's collision types (nuplan-devkit ``collision_utils.CollisionType``), same values."""

    STOPPED_EGO_COLLISION = 0
    STOPPED_TRACK_COLLISION = 1
    ACTIVE_FRONT_COLLISION = 2
    ACTIVE_REAR_COLLISION = 3
    ACTIVE_LATERAL_COLLISION = 4


@dataclass(frozen=True)
class PlanPoses:
    """One plan in the map frame: rear-axle poses (K, 3), time from start (K,), speed (K,)."""

    xyyaw: np.ndarray
    tau: np.ndarray
    speed: np.ndarray


@dataclass(frozen=True)
class Contact:
    """A plan whose ego footprint touches an actor: the first touching pose decides the type."""

    actor_id: int  # uuid_int of the actor's object_id
    label: int  # the actor's ObjectClassification label
    stamp_ns: int  # the plan's stamp
    horizon_s: float  # time from the plan's start of its first touching pose
    type: CollisionType
    at_fault: bool
    poses: int  # poses of this plan touching this actor

    def as_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), **_actor_json(self), "type": self.type.name}


def _actor_json(contact: Contact) -> dict[str, Any]:
    """The actor as JSON shows it: its object_id's uuid text and its label's name."""
    label = Label(contact.label).name if contact.label in set(Label) else str(contact.label)
    return {"actor_id": uuid_text(contact.actor_id), "label": label}


@dataclass
class Clearance:
    """Smallest gap per whole second of horizon (0: the first second, ...), and the contacts."""

    all_m: dict[int, float] = field(default_factory=dict)
    at_fault_m: dict[int, float] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)


@dataclass(frozen=True)
class LaneStrips:
    """The map's lanes as strips along its reference line (``centerline`` + ``lane_offsets``)."""

    reference: Lane
    offsets: np.ndarray  # lateral offset of each lane centre, positive to the left
    half_width: float

    @classmethod
    def from_map(cls, path: Path) -> LaneStrips | None:
        """The lanes of a scenario map .npz; None when it has no ``centerline``/``lane_offsets``
        (then every lateral contact counts as at fault)."""
        try:
            with np.load(path) as data:
                if "centerline" not in data or "lane_offsets" not in data:
                    raise MapError(f"no 'centerline' and 'lane_offsets' (keys: {sorted(data)})")
                line, offsets = np.asarray(data["centerline"], float), np.sort(data["lane_offsets"])
            if len(offsets) < 2:
                raise MapError(f"'lane_offsets' has {len(offsets)} lane(s), 2 or more needed")
            reference = Lane.from_polyline(line, f"{path}:centerline")
        except (OSError, ValueError) as exc:  # MapError is a ValueError
            log.warning("%s: no lane strips (%s); every lateral contact counts as at fault",
                        path, exc)  # fmt: skip
            return None
        return cls(reference, offsets.astype(float), float(np.min(np.diff(offsets))) / 2)

    def lane_of(self, xy: np.ndarray) -> np.ndarray:
        """Index of the lane holding each point (M,), -1 off every lane."""
        _, d = self.reference.project(np.asarray(xy, float).reshape(-1, 2))
        off = np.abs(d[:, None] - self.offsets[None])
        lane = np.argmin(off, axis=1)
        return np.where(off[np.arange(len(d)), lane] <= self.half_width, lane, -1)

    def holds(self, corners: np.ndarray) -> bool:
        """True when all corners lie in one lane (nuPlan: in a common lane)."""
        lanes = self.lane_of(corners)
        return bool(lanes[0] >= 0 and np.all(lanes == lanes[0]))


def ego_footprint_centers(xyyaw: np.ndarray) -> np.ndarray:
    """Footprint centres (K, 3) of base_link poses (K, 3): trajectories give the rear axle."""
    out = np.array(xyyaw, dtype=np.float64).reshape(-1, 3)
    out[:, 0] += EGO_CENTER_AHEAD * np.cos(out[:, 2])
    out[:, 1] += EGO_CENTER_AHEAD * np.sin(out[:, 2])
    return out


def plan_poses(gt: GroundTruth, stamp: int, msg: Any) -> PlanPoses:
    """A Trajectory message's poses in the map frame (a base_link plan is placed on the true
    ego pose at its stamp)."""
    pts = msg.points
    xyyaw = np.array(
        [(p.pose.position.x, p.pose.position.y, quaternion_to_yaw(p.pose.orientation)) for p in pts]
    ).reshape(-1, 3)
    tau = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in pts])
    speed = np.abs(np.array([p.longitudinal_velocity_mps for p in pts], dtype=np.float64))
    if msg.header.frame_id != "map" and len(xyyaw):
        ego = gt.ego_at(stamp)
        xyyaw[:, :2] = to_map(xyyaw[:, :2], ego)
        xyyaw[:, 2] += ego[2]
    return PlanPoses(xyyaw, tau, speed)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _segments_meet(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> bool:
    """Whether segments pq and rs share a point (touching counts)."""
    d1, d2 = _cross(r, s, p), _cross(r, s, q)
    d3, d4 = _cross(p, q, r), _cross(p, q, s)
    if (d1 * d2 < 0) and (d3 * d4 < 0):
        return True
    lo, hi = np.minimum, np.maximum
    for d, a, b, c in ((d1, r, s, p), (d2, r, s, q), (d3, p, q, r), (d4, p, q, s)):
        if abs(d) <= 1e-12 and np.all(lo(a, b) - 1e-12 <= c) and np.all(c <= hi(a, b) + 1e-12):
            return True
    return False


def segment_touches(a: np.ndarray, b: np.ndarray, polygon: np.ndarray) -> bool:
    """Whether segment ab meets a convex polygon (4, 2): an end inside, or an edge crossed."""
    signs = [_cross(polygon[i], polygon[(i + 1) % len(polygon)], a) for i in range(len(polygon))]
    if all(s >= 0 for s in signs) or all(s <= 0 for s in signs):
        return True
    n = len(polygon)
    return any(_segments_meet(a, b, polygon[i], polygon[(i + 1) % n]) for i in range(n))


def is_behind(rear_axle: np.ndarray, point: np.ndarray) -> bool:
    """nuPlan's is_agent_behind: ``point`` more than BEHIND_DEG off the heading at the rear axle."""
    rel = np.asarray(point[:2], float) - rear_axle[:2]
    norm = float(np.hypot(*rel))
    if norm == 0.0:
        return False
    cos = (np.cos(rear_axle[2]) * rel[0] + np.sin(rear_axle[2]) * rel[1]) / norm
    return bool(np.arccos(np.clip(cos, -1.0, 1.0)) > np.deg2rad(BEHIND_DEG))


def collision_type(
    rear_axle: np.ndarray,
    ego_speed: float,
    ego_corners: np.ndarray,
    actor_pose: np.ndarray,
    actor_corners: np.ndarray,
    actor_speed: float,
) -> CollisionType:
    """nuPlan's type of a touching ego footprint (corners as ``metrics.rectangle`` gives them:
    front-left, front-right, rear-right, rear-left) and actor."""
    if ego_speed <= EGO_STOPPED_MPS:
        return CollisionType.STOPPED_EGO_COLLISION
    if not actor_speed > TRACK_STOPPED_MPS:  # an unknown (NaN) speed counts as stopped
        return CollisionType.STOPPED_TRACK_COLLISION
    if is_behind(rear_axle, actor_pose):
        return CollisionType.ACTIVE_REAR_COLLISION
    if segment_touches(ego_corners[0], ego_corners[1], actor_corners):
        return CollisionType.ACTIVE_FRONT_COLLISION
    return CollisionType.ACTIVE_LATERAL_COLLISION


def is_at_fault(kind: CollisionType, ego_in_one_lane: bool) -> bool:
    """nuPlan's fault: front and stopped-track contacts always; lateral ones only with the ego
    between lanes or off the road; a stopped ego or a rear contact never."""
    if kind in (CollisionType.ACTIVE_FRONT_COLLISION, CollisionType.STOPPED_TRACK_COLLISION):
        return True
    return kind is CollisionType.ACTIVE_LATERAL_COLLISION and not ego_in_one_lane


def _plan_clearance(
    gt: GroundTruth, stamp: int, plan: PlanPoses, lanes: LaneStrips | None, out: Clearance
) -> None:
    keep = plan.tau <= HORIZON_S
    rear, tau, speed = plan.xyyaw[keep], plan.tau[keep], plan.speed[keep]
    centres = ego_footprint_centers(rear)
    t_ns = stamp + (tau * 1e9).astype(np.int64)
    ego_fps: dict[int, np.ndarray] = {}
    for aid, track in gt.actors.items():
        poses = track.poses(t_ns)  # NaN where the actor is absent: never near
        near = np.hypot(poses[:, 0] - centres[:, 0], poses[:, 1] - centres[:, 1]) <= NEAR_M
        length, width = track.size
        contact: Contact | None = None
        touching = 0
        for k in np.flatnonzero(near):
            if k not in ego_fps:
                ego_fps[k] = rectangle(*centres[k], EGO_LENGTH, EGO_WIDTH)
            actor_fp = rectangle(*poses[k], length, width)
            gap = polygon_distance(ego_fps[k], actor_fp)
            bucket = min(int(tau[k]), int(HORIZON_S) - 1)
            out.all_m[bucket] = min(out.all_m.get(bucket, np.inf), gap)
            if gap <= 0.0:
                touching += 1
                if contact is None:  # the first touching pose decides the type
                    speeds = (float(speed[k]), float(track.speeds(t_ns[k : k + 1])[0]))
                    kind = collision_type(rear[k], speeds[0], ego_fps[k], poses[k], actor_fp,
                                          speeds[1])  # fmt: skip
                    in_lane = lanes.holds(ego_fps[k]) if lanes is not None else False
                    fault = is_at_fault(kind, in_lane)
                    contact = Contact(aid, track.label, stamp, float(tau[k]), kind, fault, 0)
                if not contact.at_fault:
                    continue
            out.at_fault_m[bucket] = min(out.at_fault_m.get(bucket, np.inf), gap)
        if contact is not None:
            out.contacts.append(dataclasses.replace(contact, poses=touching))


def plan_clearance(
    gt: GroundTruth, trajs: Iterable[tuple[int, Any]], lanes: LaneStrips | None = None
) -> Clearance:
    """Gaps of every plan to every actor's true future footprint, and the plans' contacts."""
    out = Clearance()
    for stamp, msg in trajs:
        _plan_clearance(gt, stamp, plan_poses(gt, stamp, msg), lanes, out)
    return out


def min_clearance(gt: GroundTruth, trajs: Iterable[tuple[int, Any]]) -> dict[int, float]:
    """Smallest gap per whole second of plan horizon (0: the first second, ...), all actors."""
    return plan_clearance(gt, trajs).all_m


def clearance_scores(result: Clearance) -> dict[str, Any]:
    """The JSON fields of ``l4 eval`` for a Clearance."""
    groups: dict[tuple[int, str, bool], dict[str, Any]] = {}
    for c in result.contacts:
        row = groups.setdefault(
            (c.actor_id, c.type.name, c.at_fault),
            {**_actor_json(c), "type": c.type.name, "at_fault": c.at_fault, "plans": 0,
             "first_stamp_ns": c.stamp_ns, "earliest_horizon_s": c.horizon_s},
        )  # fmt: skip
        row["plans"] += 1
        row["earliest_horizon_s"] = min(row["earliest_horizon_s"], c.horizon_s)
    return {
        "min_clearance_m": min(result.all_m.values(), default=float("nan")),
        "min_clearance_at_fault_m": min(result.at_fault_m.values(), default=float("nan")),
        "min_clearance_by_horizon_m": {f"{k}-{k + 1}s": v for k, v in sorted(result.all_m.items())},
        "min_clearance_at_fault_by_horizon_m": {
            f"{k}-{k + 1}s": v for k, v in sorted(result.at_fault_m.items())
        },
        "contacts": {
            "count": len(result.contacts),
            "at_fault": sum(c.at_fault for c in result.contacts),
            "by_actor": list(groups.values()),
            "first": [c.as_json() for c in result.contacts[:MAX_CONTACTS_LISTED]],
        },
    }
