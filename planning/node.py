"""Planner node: /localization/odometry + /perception/objects -> /planning/trajectory.

Plans on every TrackedObjects message (the output carries its sensor stamp, so the chain
camera/lidar -> control stays measurable); objects are first predicted forward to the ego
odometry stamp. With ``replan_period_s`` > 0 it also replans on a timer with the last objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perception.objects import TRACKED_OBJECTS, ObjectArray, objects_from_msg
from perception.tf import in_frame
from perception.traffic_light.lightmap import LightState, load_light_map
from planning.lane import Lane, MapError, load_lane
from planning.planner import EgoState, Plan, Planner, PlannerConfig
from planning.signals import SignalConfig, SignalRules
from planning.trajectory import TRAJECTORY, TrajectoryArrays, trajectory_msg
from planning.vehicle import odometry_state
from stack import topics
from stack.events import EventKind
from stack.msgs import ns_to_time, stamp_to_ns
from stack.node import Context, Node
from stack.params import at_least, non_negative, positive


@dataclass
class PlannerParams(PlannerConfig):
    map_path: str = ""  # .npz with `lane_centerlines` or `centerline` (see planning.lane)
    lane_index: int = 0
    # Plan only from a converged pose: position std (m) from the odometry covariance; 0: off.
    max_position_std: float = 0.0
    # ... and only once localization has run this long (s) since its first output; 0: off.
    localization_warmup_s: float = 0.0
    map_frame: str = topics.FRAME_MAP
    replan_period_s: float = 0.0
    max_odometry_age_s: float = 0.5  # older ego state than the objects: do not plan
    # Obey the light map's signals (map_path) from /perception/traffic_light_recognition.
    traffic_lights: bool = True
    signals: SignalConfig = field(default_factory=SignalConfig)

    def validate(self) -> None:
        if isinstance(self.signals, dict):
            self.signals = SignalConfig(**self.signals)
        at_least("lane_index", self.lane_index, 0)
        for name in ("max_position_std", "localization_warmup_s", "replan_period_s"):
            non_negative(name, getattr(self, name))
        positive("max_odometry_age_s", self.max_odometry_age_s)


class PlannerNode(Node):
    """Lane keeping with car following and stops, published as an Autoware Trajectory."""

    Params = PlannerParams

    def __init__(self, ctx: Context, lane: Lane | None = None) -> None:
        super().__init__(ctx)
        self.params: PlannerParams
        if lane is None:
            if not self.params.map_path:
                raise MapError("planner parameter map_path is empty: a lane map is required")
            lane = load_lane(self.params.map_path, self.params.lane_index)
        self.planner = Planner(lane, self.params)
        self.signals: SignalRules | None = None
        lights = (
            load_light_map(self.params.map_path)
            if self.params.traffic_lights and self.params.map_path
            else None
        )
        if lights is not None and len(lights):
            self.signals = SignalRules(lights, lane, self.params.lane_index, self.params.signals)
            ctx.subscribe(
                topics.TRAFFIC_SIGNALS,
                "autoware_perception_msgs/msg/TrafficLightGroupArray",
                self.on_signals,
                depth=1,
            )
        self.ego: EgoState | None = None
        self.first_odometry_ns: int | None = None
        self.ego_stamp_ns = 0
        self.objects: tuple[Any, ObjectArray] | None = None  # (header, objects in map)
        self.existence: np.ndarray | None = None  # their existence probabilities
        self.velocity_cov: np.ndarray | None = None  # their map-frame velocity covariances
        self.last_plan: Plan | None = None
        self.pub = ctx.publisher(topics.TRAJECTORY, TRAJECTORY)
        ctx.subscribe(
            topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry", self.on_odometry, depth=1
        )
        ctx.subscribe(topics.TRACKED_OBJECTS, TRACKED_OBJECTS, self.on_objects, depth=1)
        if self.params.replan_period_s > 0:
            ctx.timer(self.params.replan_period_s, self.on_timer)

    def on_odometry(self, msg: Any) -> None:
        state = odometry_state(msg)
        if state is None:
            self.ctx.event(
                EventKind.DROP, f"{topics.LOCALIZATION_ODOMETRY}: non-finite pose or speed"
            )
            return
        pose, v = state
        stamp = stamp_to_ns(msg.header.stamp)
        if self.first_odometry_ns is None:
            self.first_odometry_ns = stamp
        cov = np.asarray(msg.pose.covariance, float)
        std = float(np.sqrt(max(cov[0], cov[7]))) if cov.size == 36 else 0.0
        warming_up = stamp - self.first_odometry_ns < self.params.localization_warmup_s * 1e9
        if warming_up or (self.params.max_position_std > 0 and std > self.params.max_position_std):
            # Localization has not converged (just initialised from one GNSS fix, and its
            # covariance then is not to be trusted yet): a plan from this pose could be a lane
            # off. No plan; the watchdog holds the vehicle in a safe stop meanwhile.
            self.ego = None
            return
        self.ego = EgoState(pose.x, pose.y, pose.yaw, v)
        self.ego_stamp_ns = stamp

    def on_objects(self, msg: Any) -> None:
        if not in_frame(self.ctx, topics.TRACKED_OBJECTS, msg, self.params.map_frame):
            return
        try:
            objs = objects_from_msg(msg)
        except ValueError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.TRACKED_OBJECTS}: {exc}")
            return
        self.objects = (msg.header, objs)
        existence = np.array([float(o.existence_probability) for o in msg.objects])
        # 0 is the message default: a tracker that does not fill it in says nothing.
        self.existence = np.where(existence > 0.0, existence, 1.0)
        self.velocity_cov = velocity_covariance(msg, objs)
        self._plan(msg.header)

    def on_signals(self, msg: Any) -> None:
        stamp = stamp_to_ns(msg.stamp)
        for group in msg.traffic_light_groups:
            colors = [e.color for e in group.elements]
            try:
                state = LightState(colors[0]) if len(colors) == 1 else LightState.UNKNOWN
            except ValueError:  # WHITE or an unknown colour: not a vehicle signal we read
                state = LightState.UNKNOWN
            self.signals.update(int(group.traffic_light_group_id), state, stamp)

    def _stop_lines(self) -> tuple[float, ...]:
        if self.signals is None or self.ego is None:
            return ()
        front = self.planner.ego_s(self.ego) + self.params.vehicle.front
        stops = self.signals.stops(front, self.ego.v, self.ego_stamp_ns)
        return tuple(s.s for s in stops)

    def on_timer(self) -> None:
        if self.ego is None:
            return
        sec, nanosec = ns_to_time(self.ego_stamp_ns)
        stamp = self.ctx.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)
        self._plan(self.ctx.new("std_msgs/msg/Header", stamp=stamp, frame_id=self.params.map_frame))

    def _plan(self, header: Any) -> None:
        if self.ego is None:
            self.ctx.event(EventKind.DROP, "no ego odometry yet: cannot plan")
            return
        stamp_ns = stamp_to_ns(header.stamp)
        if stamp_ns - self.ego_stamp_ns > self.params.max_odometry_age_s * 1e9:
            self.ctx.event(
                EventKind.DROP,
                "ego odometry is older than the objects by more than "
                f"{self.params.max_odometry_age_s} s",
            )
            return
        objs = self.objects[1] if self.objects else ObjectArray.empty()
        if self.objects is not None:
            # Bring object positions to the time of the ego state.
            lead = (self.ego_stamp_ns - stamp_to_ns(self.objects[0].stamp)) * 1e-9
            if lead != 0.0 and len(objs):
                objs = objs.select(np.arange(len(objs)))
                objs.position[:, :2] += objs.velocity * lead
        plan = self.planner.plan(
            self.ego,
            objs,
            self._stop_lines(),
            self.params.signals.stop_gap,
            self.existence,
            self.velocity_cov,
        )
        self.last_plan = plan
        if plan.collision is not None:
            self.log.debug("plan %s: %s", plan.behavior.value, plan.reason)
        p = plan.path
        out = self.ctx.new(
            "std_msgs/msg/Header", stamp=header.stamp, frame_id=self.params.map_frame
        )
        arrays = TrajectoryArrays(p.x, p.y, p.yaw, p.v, p.a, p.t)
        self.pub.publish(trajectory_msg(self.ctx.new, out, arrays, p.curvature))


def velocity_covariance(msg: Any, objs: ObjectArray) -> np.ndarray:
    """(N, 2, 2) map-frame velocity covariances of a TrackedObjects message (the twist
    covariance is in each object's frame; all zeros where the tracker leaves it unset)."""
    n = len(msg.objects)
    cov = np.zeros((n, 2, 2))
    for i, o in enumerate(msg.objects):
        c = np.asarray(o.kinematics.twist_with_covariance.covariance, float)
        cov[i] = c[[0, 1, 6, 7]].reshape(2, 2) if c.size == 36 else 0.0
    cy, sy = np.cos(objs.yaw[:n]), np.sin(objs.yaw[:n])
    rot = np.stack([np.stack([cy, -sy], -1), np.stack([sy, cy], -1)], -2)
    return rot @ cov @ np.swapaxes(rot, -1, -2)
