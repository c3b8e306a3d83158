"""Lane-keeping planner: behaviour, velocity profile and collision check -> a trajectory.

1. Project the ego and every object onto the reference lane.
2. Objects in the ego corridor ahead become IDM obstacles: a moving one is a lead vehicle to
   follow, a standing or crossing one a stop.
3. Roll out the jerk-limited longitudinal motion and lay it on the lane (blending the ego's
   current lateral offset back to the centreline, and moving over within the lane to pass
   pedestrians and cyclists beside the path wide: planning.lateral).
4. Check the rollout against every object's predicted motion with inflated footprints. A conflict
   ahead of the ego (a pedestrian about to cross) adds a stop point before it and the rollout is
   repeated; a conflict that braking cannot fix (hit from behind) is reported, not acted on,
   and does not hide a later conflict ahead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from perception.objects import ObjectArray
from planning.collision import Collision, Footprints
from planning.lane import Lane
from planning.lateral import LateralConfig, Shift, VruClearance, shift_profile
from planning.prediction import (
    Prediction,
    PredictionConfig,
    approach_in_doubt,
    predict_objects,
)
from planning.vehicle import VehicleShape
from planning.velocity import LongitudinalConfig, Obstacle, Profile, rollout, speed_limit_profile
from stack.params import at_least, in_range, non_negative, positive

SIGNAL_ROW = -2  # Plan.target of a stop for a traffic light


class Behavior(enum.Enum):
    CRUISE = "cruise"
    FOLLOW = "follow"  # a moving lead vehicle limits the speed
    STOP = "stop"  # a standing obstacle, a crossing object or the end of the lane
    EMERGENCY = "emergency"  # a conflict remains that comfortable braking cannot resolve


@dataclass
class PlannerConfig:
    speed_limit: float = 13.9  # m/s
    horizon_s: float = 8.0
    time_step: float = 0.1
    path_spacing: float = 1.0  # m between trajectory points
    min_path_length: float = 30.0  # m, so steering has a target even at standstill
    # An object blocks the ego's path when its near side comes within half the ego width plus
    # this margin of the centreline (passing a parked bicycle on the kerb is fine).
    corridor_margin: float = 0.5
    moving_speed: float = 1.0  # m/s along the lane: slower objects in the lane are stops
    # m/s across the lane: objects moving across faster than this (and than along) are crossing,
    # i.e. stops. Lidar boxes of passing vehicles jitter sideways, hence "than along".
    crossing_speed: float = 0.5
    collision_margin: float = 0.3  # m footprint inflation now
    # Prediction uncertainty: the inflation grows by this fraction of the object's speed per
    # second of prediction, at most max_margin_growth m/s (a standing object stays put).
    margin_growth: float = 0.1
    max_margin_growth: float = 0.15
    offset_blend_length: float = 10.0  # m (at least) to return to the centreline
    max_replans: int = 3
    # A track's predicted motion stops the ego only while its existence probability (from the
    # tracker) holds this, its confirmation level: a track whose detections stopped landing
    # where it predicted -- a person at the kerb dragged into the lane by fog returns, moving
    # 2 m/s toward it on paper -- no longer triggers emergency stops. In the lane ahead such a
    # track is still an obstacle, braked for at most at comfort deceleration. Vehicles following
    # the lane are exempt (a lead coasting through fog keeps its RSS stop).
    min_existence_to_stop: float = 0.9
    # A conflict with a person whose speed across the lane is within this many standard
    # deviations (the track's own velocity covariance) of zero is braked for at comfort
    # deceleration only: a slow-down, not a hard stop, for a kerb track drifting in rain
    # (seed 1002: 0.81 m/s, std 0.8). Walking clearly faster keeps the hard stop. 0 disables.
    approach_sigmas: float = 1.5
    vehicle: VehicleShape = field(default_factory=VehicleShape)
    longitudinal: LongitudinalConfig = field(default_factory=LongitudinalConfig)
    prediction: PredictionConfig = field(default_factory=PredictionConfig)
    lateral: LateralConfig = field(default_factory=LateralConfig)

    def __post_init__(self) -> None:
        for name, cls in (
            ("vehicle", VehicleShape),
            ("longitudinal", LongitudinalConfig),
            ("prediction", PredictionConfig),
            ("lateral", LateralConfig),
        ):
            if isinstance(getattr(self, name), dict):
                setattr(self, name, cls(**getattr(self, name)))
        positive("horizon_s", self.horizon_s)
        positive("time_step", self.time_step)
        positive("path_spacing", self.path_spacing)
        non_negative("speed_limit", self.speed_limit)
        at_least("max_replans", self.max_replans, 0)
        in_range("min_existence_to_stop", self.min_existence_to_stop, 0.0, 1.0)
        non_negative("approach_sigmas", self.approach_sigmas)


@dataclass(frozen=True)
class EgoState:
    x: float
    y: float
    yaw: float
    v: float
    a: float = 0.0


@dataclass(frozen=True)
class Path:
    """The published trajectory: points every ``path_spacing`` metres with the planned speed."""

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray
    a: np.ndarray
    t: np.ndarray  # time from start at which the ego reaches each point (horizon if never)
    curvature: np.ndarray


@dataclass(frozen=True)
class Plan:
    path: Path
    profile: Profile
    behavior: Behavior
    reason: str
    target: int = -1  # the object row that decided the behaviour, -1 if none
    # A predicted conflict left in the plan: ahead of the ego (EMERGENCY), or one that braking
    # cannot avoid (a vehicle closing from behind), reported for the caller to log.
    collision: Collision | None = None


class Planner:
    """Plans along one lane; call :meth:`plan` with the ego state and map-frame objects."""

    def __init__(self, lane: Lane, config: PlannerConfig | None = None) -> None:
        self.lane = lane
        self.cfg = config or PlannerConfig()
        self.times = np.arange(0.0, self.cfg.horizon_s + 1e-9, self.cfg.time_step)

    # ------------------------------------------------------------ behaviour

    def _corridor_obstacles(
        self, objs: ObjectArray, pred: Prediction, s_ego: float, firm: np.ndarray | None = None
    ) -> tuple[list[Obstacle], list[int]]:
        cfg, front = self.cfg, self.cfg.vehicle.front
        rel_yaw = objs.yaw - self.lane.heading_at(pred.s)
        half_extent = 0.5 * (
            np.abs(np.sin(rel_yaw)) * objs.dims[:, 0] + np.abs(np.cos(rel_yaw)) * objs.dims[:, 1]
        )
        half_length = 0.5 * (
            np.abs(np.cos(rel_yaw)) * objs.dims[:, 0] + np.abs(np.sin(rel_yaw)) * objs.dims[:, 1]
        )
        in_lane = np.abs(pred.d) - half_extent < 0.5 * cfg.vehicle.width + cfg.corridor_margin
        ahead = pred.s + half_length > s_ego + front
        obstacles, kept = [], []
        for i in np.flatnonzero(in_lane & ahead):
            across = abs(pred.v_across[i])
            crossing = across > cfg.crossing_speed and across > abs(pred.v_along[i])
            moving = pred.v_along[i] > cfg.moving_speed and not crossing
            if moving and pred.s[i] - half_length[i] <= s_ego + front:
                # Its rear is beside the ego, not ahead: a vehicle overtaking or alongside is
                # no lead to keep a gap to (the IDM would brake at its limit for a gap of
                # nothing); the collision check still sees it if it comes our way.
                continue
            obstacles.append(
                Obstacle(
                    s=float(pred.s[i] - half_length[i]),
                    v=float(pred.v_along[i]) if moving else 0.0,
                    gap=cfg.longitudinal.min_gap if moving else cfg.longitudinal.stop_margin,
                    firm=True if firm is None else bool(firm[i]),
                )
            )
            kept.append(int(i))
        return obstacles, kept

    def _stops(
        self,
        objs: ObjectArray,
        pred: Prediction,
        s_ego: float,
        firm: np.ndarray | None,
        stop_lines: tuple[float, ...],
        stop_gap: float,
    ) -> tuple[list[Obstacle], list[int]]:
        """The corridor obstacles, the red lights' stop lines and the end of the lane, with the
        row each came from (SIGNAL_ROW for a light, -1 for the end of the lane)."""
        cfg = self.cfg
        obstacles, rows = self._corridor_obstacles(objs, pred, s_ego, firm)
        for line in stop_lines:
            limit = cfg.longitudinal.limit_time_gap
            obstacles.append(Obstacle(float(line), 0.0, stop_gap, time_gap=limit))
            rows.append(SIGNAL_ROW)
        # The end of the lane is a stop point.
        obstacles.append(Obstacle(self.lane.length, 0.0, cfg.longitudinal.stop_margin))
        rows.append(-1)
        return obstacles, rows

    def _offset(
        self, profile: Profile, s: np.ndarray, s_ego: float, d_ego: float, shifts: list[Shift]
    ) -> np.ndarray:
        """Lateral offset at arc lengths ``s``: the ego's, fading (smoothstep) to the target
        (the centreline, or a shift past a person) over at least offset_blend_length, longer
        at speed."""
        blend_len = max(self.cfg.offset_blend_length, 2.0 * profile.v[0])
        u = np.clip((s - s_ego) / blend_len, 0.0, 1.0)
        ramp = max(self.cfg.lateral.ramp_length, 1.5 * profile.v[0])
        limit = self.cfg.lateral.max_offset
        target = shift_profile(shifts, s, ramp, limit)
        start = shift_profile(shifts, np.array([s_ego]), ramp, limit)[0]
        return target + (d_ego - start) * (1.0 - u * u * (3.0 - 2.0 * u))

    def _lay_on_lane(
        self, profile: Profile, s_ego: float, d_ego: float, shifts: list[Shift]
    ) -> np.ndarray:
        """Poses (K, 3) along the rollout at the planned lateral offset."""
        offset = self._offset(profile, profile.s, s_ego, d_ego, shifts)
        xy = self.lane.point(profile.s, offset)
        # Heading follows the offset's slope, so a shifted path leans the way it moves.
        ds = np.maximum(np.gradient(profile.s), 1e-6)
        yaw = self.lane.heading_at(profile.s) + np.arctan(np.gradient(offset) / ds)
        return np.column_stack([xy, yaw])

    def _footprints(self, pred: Prediction, objs: ObjectArray) -> Footprints:
        speed = np.hypot(objs.velocity[:, 0], objs.velocity[:, 1])
        rate = np.minimum(self.cfg.margin_growth * speed, self.cfg.max_margin_growth)
        margin = self.cfg.collision_margin + np.outer(self.times, rate)
        return Footprints(pred.xy, pred.yaw, objs.dims, margin)

    def _unavoidable(self, footprints: Footprints, ego: EgoState) -> set[int]:
        """Rows of the objects that would hit the ego within the horizon even if it stood still
        where it is now (Autoware's dynamic_obstacle_stop: ignore_unavoidable_collisions): a
        person stepping into the ego's flank, a track overlapping it already (fog clutter on
        its side). Stopping cannot prevent such a conflict, only invite the car behind; the
        corridor obstacles still stop the ego for what is in its lane ahead."""
        standing = np.tile([ego.x, ego.y, ego.yaw], (len(self.times), 1))
        return {h.obj for h in footprints.hits(standing, self.cfg.vehicle)}

    def _ahead_of_ego(self, hit: Collision, poses: np.ndarray, pred: Prediction) -> bool:
        x, y, yaw = poses[hit.step]
        dx, dy = pred.xy[hit.step, hit.obj] - (x, y)
        return dx * np.cos(yaw) + dy * np.sin(yaw) > self.cfg.vehicle.center_offset

    # ------------------------------------------------------------ plan

    def ego_s(self, ego: EgoState) -> float:
        """The ego's (base_link) arc length on the lane."""
        return float(self.lane.project(np.array([[ego.x, ego.y]]))[0][0])

    def plan(
        self,
        ego: EgoState,
        objs: ObjectArray,
        stop_lines: tuple[float, ...] = (),
        stop_gap: float = 1.0,
        existence: np.ndarray | None = None,
        velocity_cov: np.ndarray | None = None,
    ) -> Plan:
        """``stop_lines``: lane arc lengths of lines to stop at (red lights), ``stop_gap``
        metres before them; ``existence``: the objects' existence probabilities (None: all
        certain); ``velocity_cov``: their (N, 2, 2) map-frame velocity covariances (None: every
        velocity is taken as certain)."""
        cfg = self.cfg
        s_ego, d_ego = (float(v[0]) for v in self.lane.project(np.array([[ego.x, ego.y]])))
        pred = predict_objects(objs, self.lane, self.times, cfg.prediction)
        # A vehicle following the lane stays firm whatever its existence: in fog a real lead
        # coasts through missed sweeps, and the RSS stop behind it is what keeps the plan safe.
        firm = (
            None
            if existence is None
            else (existence >= cfg.min_existence_to_stop) | pred.follows_lane
        )
        obstacles, rows = self._stops(objs, pred, s_ego, firm, stop_lines, stop_gap)
        soft = approach_in_doubt(
            objs, pred, self.lane, velocity_cov, cfg.approach_sigmas, cfg.prediction
        )
        reach = s_ego + ego.v * cfg.horizon_s + cfg.min_path_length + 50.0
        limit_s = np.arange(s_ego, reach, cfg.path_spacing)
        limit_v = speed_limit_profile(
            limit_s, cfg.speed_limit, self.lane.curvature_at(limit_s), cfg.longitudinal
        )
        # What replans do not change: the clearance people ask for, the objects' footprints.
        clearance = VruClearance(objs, pred, self.lane, self.times, cfg.vehicle, cfg.lateral)
        footprints = self._footprints(pred, objs)
        # Conflicts not to brake for: unavoidable ones, and those of doubtful tracks.
        ignored = self._unavoidable(footprints, ego)
        if firm is not None:
            ignored |= set(np.flatnonzero(~firm).tolist())
        for attempt in range(cfg.max_replans + 1):
            profile = rollout(
                s_ego,
                ego.v,
                ego.a,
                cfg.vehicle.front,
                limit_s,
                limit_v,
                obstacles,
                self.times,
                cfg.longitudinal,
            )
            shifts = clearance.shifts(profile.s)
            poses = self._lay_on_lane(profile, s_ego, d_ego, shifts)
            hits = footprints.hits(poses, cfg.vehicle)
            # Braking cannot help against a conflict from behind or the side: such a hit is
            # reported, and the first one ahead of the ego, even if later, is still acted on.
            ahead = next(
                (h for h in hits if self._ahead_of_ego(h, poses, pred) and h.obj not in ignored),
                None,
            )
            collision = ahead or (hits[0] if hits else None)
            if ahead is None:
                break
            if attempt == cfg.max_replans:
                return self._finish(
                    profile,
                    s_ego,
                    d_ego,
                    shifts,
                    Behavior.EMERGENCY,
                    "conflict ahead remains after braking",
                    collision,
                )
            # Stop short of where the conflict would happen.
            stop_s = float(profile.s[collision.step]) + cfg.vehicle.front
            limit = cfg.longitudinal.limit_time_gap
            margin = cfg.longitudinal.stop_margin
            firm_stop = not soft[collision.obj]
            obstacles.append(Obstacle(stop_s, 0.0, margin, time_gap=limit, firm=firm_stop))
            rows.append(collision.obj)
        behavior, reason, target = self._classify(profile, obstacles, rows)
        path = self._path(profile, s_ego, d_ego, shifts)
        return Plan(path, profile, behavior, reason, target, collision)

    def _finish(
        self,
        profile: Profile,
        s_ego: float,
        d_ego: float,
        shifts: list[Shift],
        behavior: Behavior,
        reason: str,
        collision: Collision,
    ) -> Plan:
        path = self._path(profile, s_ego, d_ego, shifts)
        return Plan(path, profile, behavior, reason, collision.obj, collision)

    def _classify(
        self, profile: Profile, obstacles: list[Obstacle], rows: list[int]
    ) -> tuple[Behavior, str, int]:
        t_end = self.times[-1]
        front = self.cfg.vehicle.front
        # The obstacle the ego ends up closest to (in time-gap terms) decided the plan.
        gaps = [o.s + o.v * t_end - (profile.s[-1] + front) for o in obstacles]
        influence = [
            g - (o.gap + self.cfg.longitudinal.time_gap * max(o.v, 0.0) + 5.0)
            for g, o in zip(gaps, obstacles)
        ]
        i = int(np.argmin(influence))
        if influence[i] > 0.0 and profile.v.min() > 0.1:
            return Behavior.CRUISE, "free lane", -1
        if obstacles[i].v > 0.0:
            return Behavior.FOLLOW, "lead vehicle", rows[i]
        reason = {-1: "end of lane", SIGNAL_ROW: "traffic light"}.get(
            rows[i], "obstacle or crossing object"
        )
        return Behavior.STOP, reason, rows[i]

    def _path(self, profile: Profile, s_ego: float, d_ego: float, shifts: list[Shift]) -> Path:
        cfg = self.cfg
        travel = float(profile.s[-1] - s_ego)
        # Every path_spacing metres, plus the exact end of the rollout (where a stop ends).
        grid = np.arange(0.0, max(travel, cfg.min_path_length) + 1e-9, cfg.path_spacing)
        grid = grid[np.abs(grid - travel) > 0.1 * cfg.path_spacing]
        s = s_ego + np.sort(np.r_[grid, travel])
        xy = self.lane.point(s, self._offset(profile, s, s_ego, d_ego, shifts))
        heading = np.unwrap(np.arctan2(*np.gradient(xy, axis=0)[:, ::-1].T))
        v = np.interp(s, profile.s, profile.v, right=0.0)
        # Past the point where the rollout stops, the ego is not meant to go: speed 0.
        v[s > profile.s[-1] + 1e-6] = 0.0 if profile.v[-1] < 0.1 else profile.v[-1]
        a = np.interp(s, profile.s, profile.a)
        t = np.interp(s, profile.s, profile.t, right=profile.t[-1])
        ds = np.maximum(np.gradient(s), 1e-6)
        curvature = np.gradient(heading) / ds
        return Path(xy[:, 0], xy[:, 1], heading, v, a, t, curvature)
