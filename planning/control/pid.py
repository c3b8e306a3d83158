"""PID speed control with acceleration feed-forward and anti-windup."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PidConfig:
    kp: float = 1.0
    ki: float = 0.2
    kd: float = 0.0
    integral_limit: float = 2.0  # m/s^2 contribution at most
    feedforward: float = 1.0  # gain on the trajectory's acceleration
    max_accel: float = 2.0
    max_decel: float = 6.0
    stop_speed: float = 0.2  # m/s: below this with a zero target, hold the brake
    stop_hold_decel: float = 1.0


class SpeedPid:
    """Acceleration command tracking a target speed; call :meth:`step` once per control cycle."""

    def __init__(self, config: PidConfig | None = None) -> None:
        self.cfg = config or PidConfig()
        self.integral = 0.0
        self.prev_error: float | None = None

    def reset(self) -> None:
        self.integral, self.prev_error = 0.0, None

    def step(self, target_v: float, target_a: float, v: float, dt: float) -> float:
        c = self.cfg
        if target_v <= 0.0 and v < c.stop_speed:
            self.reset()
            return -c.stop_hold_decel
        error = target_v - v
        derivative = 0.0 if self.prev_error is None or dt <= 0 else (error - self.prev_error) / dt
        self.prev_error = error
        unsat = c.kp * error + c.ki * self.integral + c.kd * derivative + c.feedforward * target_a
        out = float(np.clip(unsat, -c.max_decel, c.max_accel))
        # Integrate only while not saturated in the direction of the error (anti-windup).
        if dt > 0 and (out == unsat or np.sign(error) != np.sign(unsat)):
            limit = c.integral_limit / max(c.ki, 1e-9)
            self.integral = float(np.clip(self.integral + error * dt, -limit, limit))
        return out
