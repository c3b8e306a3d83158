"""The safe-stop command: brake to standstill at a fixed deceleration, steering held.

Used by the watchdog when no fresh control output arrives in time. Sign convention (as in
Autoware's control command): ``acceleration`` < 0 brakes; ``speed`` is the target speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stack.params import positive

ACKERMANN = "ackermann_msgs/msg/AckermannDriveStamped"


@dataclass(frozen=True)
class SafeStop:
    steering_angle: float
    speed: float
    acceleration: float
    jerk: float


def safe_stop(
    last_steering: float = 0.0, max_decel: float = 4.0, max_jerk: float = 10.0
) -> SafeStop:
    """Target speed 0 at ``max_decel`` m/s^2, keeping the last steering angle (a sudden steering
    change at speed is more dangerous than the path error it fixes)."""
    positive("max_decel", max_decel)
    positive("max_jerk", max_jerk)
    return SafeStop(float(last_steering), 0.0, -float(max_decel), float(max_jerk))


def drive_command(
    new: Callable[..., Any],
    header: Any,
    steering: float,
    speed: float,
    accel: float,
    jerk: float = 0.0,
) -> Any:
    """An AckermannDriveStamped."""
    drive = new(
        "ackermann_msgs/msg/AckermannDrive",
        steering_angle=float(steering),
        steering_angle_velocity=0.0,
        speed=float(speed),
        acceleration=float(accel),
        jerk=float(jerk),
    )
    return new(ACKERMANN, header=header, drive=drive)


def safe_stop_command(
    new: Callable[..., Any], header: Any, last_steering: float = 0.0, max_decel: float = 4.0
) -> Any:
    """The AckermannDriveStamped of :func:`safe_stop`."""
    cmd = safe_stop(last_steering, max_decel)
    return drive_command(new, header, cmd.steering_angle, cmd.speed, cmd.acceleration, cmd.jerk)
