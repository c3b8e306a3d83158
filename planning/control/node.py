"""Controller node: /planning/trajectory + /localization/odometry -> /control/command.

A command is computed on every trajectory (keeping its sensor stamp) and, with
``on_odometry``, also on every ego odometry message (a higher-rate loop, stamped with the
odometry time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perception.geometry import Pose2D
from planning.control.controller import ControllerConfig, TrajectoryFollower
from planning.control.safe_stop import ACKERMANN, drive_command
from planning.trajectory import TRAJECTORY, TrajectoryArrays, TrajectoryError, trajectory_from_msg
from planning.vehicle import odometry_state
from stack import topics
from stack.events import EventKind
from stack.msgs import stamp_to_ns
from stack.node import Context, Node
from stack.params import non_negative, positive


@dataclass
class ControllerParams(ControllerConfig):
    on_odometry: bool = False
    base_frame: str = topics.FRAME_BASE
    max_dt_s: float = 0.2  # longer gaps between cycles do not feed the PID integral/derivative

    def validate(self) -> None:
        positive("max_dt_s", self.max_dt_s)
        non_negative("speed_preview_s", self.speed_preview_s)


class Controller(Node):
    """Follows the planned trajectory with pure pursuit and a PID speed loop."""

    Params = ControllerParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: ControllerParams
        self.follower = TrajectoryFollower(self.params)
        self.trajectory: TrajectoryArrays | None = None
        self.ego: tuple[Pose2D, float] | None = None
        self.last_cycle_ns: int | None = None
        self.last_steering = 0.0
        self.pub = ctx.publisher(topics.CONTROL_COMMAND, ACKERMANN)
        ctx.subscribe(
            topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry", self.on_odometry, depth=1
        )
        ctx.subscribe(topics.TRAJECTORY, TRAJECTORY, self.on_trajectory, depth=1)

    def on_odometry(self, msg: Any) -> None:
        state = odometry_state(msg)
        if state is None:
            self.ctx.event(
                EventKind.DROP, f"{topics.LOCALIZATION_ODOMETRY}: non-finite pose or speed"
            )
            return
        self.ego = state
        if self.params.on_odometry and self.trajectory is not None:
            self._command(msg.header.stamp)

    def on_trajectory(self, msg: Any) -> None:
        try:
            self.trajectory = trajectory_from_msg(msg)
        except TrajectoryError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.TRAJECTORY}: {exc}")
            return
        self._command(msg.header.stamp)

    def _command(self, stamp: Any) -> None:
        if self.ego is None or self.trajectory is None:
            self.ctx.event(EventKind.DROP, "no ego odometry yet: cannot control")
            return
        now = stamp_to_ns(stamp)
        dt = 0.0 if self.last_cycle_ns is None else (now - self.last_cycle_ns) * 1e-9
        self.last_cycle_ns = now
        dt = dt if 0.0 < dt <= self.params.max_dt_s else 0.0
        pose, v = self.ego
        cmd = self.follower.command(pose.x, pose.y, pose.yaw, v, self.trajectory, dt)
        self.last_steering = cmd.steering
        header = self.ctx.new("std_msgs/msg/Header", stamp=stamp, frame_id=self.params.base_frame)
        self.pub.publish(drive_command(self.ctx.new, header, cmd.steering, cmd.speed, cmd.accel))
