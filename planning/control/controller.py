"""Trajectory follower: pure pursuit for steering, PID on the planned speed for acceleration."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planning.control.pid import PidConfig, SpeedPid
from planning.control.pure_pursuit import PurePursuitConfig, pure_pursuit
from planning.trajectory import TrajectoryArrays


@dataclass
class ControllerConfig:
    speed_preview_s: float = 0.3  # read the target speed this far ahead (actuator delay)
    lateral: PurePursuitConfig = field(default_factory=PurePursuitConfig)
    longitudinal: PidConfig = field(default_factory=PidConfig)

    def __post_init__(self) -> None:
        if isinstance(self.lateral, dict):
            self.lateral = PurePursuitConfig(**self.lateral)
        if isinstance(self.longitudinal, dict):
            self.longitudinal = PidConfig(**self.longitudinal)


@dataclass(frozen=True)
class Command:
    steering: float
    speed: float  # target speed
    accel: float
    lateral_error: float


class TrajectoryFollower:
    def __init__(self, config: ControllerConfig | None = None) -> None:
        self.cfg = config or ControllerConfig()
        self.pid = SpeedPid(self.cfg.longitudinal)

    def command(
        self, x: float, y: float, yaw: float, v: float, traj: TrajectoryArrays, dt: float
    ) -> Command:
        path = np.column_stack([traj.x, traj.y])
        steer = pure_pursuit(x, y, yaw, v, path, self.cfg.lateral)
        # Target speed a little ahead along the path, to cover the actuator delay.
        ahead = np.hypot(*(path[steer.closest :] - path[steer.closest]).T)
        preview = steer.closest + int(np.searchsorted(ahead, abs(v) * self.cfg.speed_preview_s))
        preview = min(preview, len(traj) - 1)
        target_v, target_a = float(traj.v[preview]), float(traj.a[preview])
        accel = self.pid.step(target_v, target_a, v, dt)
        return Command(steer.angle, target_v, accel, steer.lateral_error)
