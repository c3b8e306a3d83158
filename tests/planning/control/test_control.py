from __future__ import annotations

import numpy as np
import pytest

from planning.control.controller import ControllerConfig, TrajectoryFollower
from planning.control.pid import PidConfig, SpeedPid
from planning.control.pure_pursuit import PurePursuitConfig, pure_pursuit
from planning.control.safe_stop import safe_stop, safe_stop_command
from planning.trajectory import TrajectoryArrays
from stack import msgs

WHEELBASE = 2.7


def _bicycle(state, steer, accel, dt):
    x, y, yaw, v = state
    return (
        x + v * np.cos(yaw) * dt,
        y + v * np.sin(yaw) * dt,
        yaw + v / WHEELBASE * np.tan(steer) * dt,
        max(0.0, v + accel * dt),
    )


def _circle(radius: float, n: int = 720) -> np.ndarray:
    phi = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([radius * np.sin(phi), radius * (1 - np.cos(phi))])  # CCW from origin


def test_pure_pursuit_tracks_a_circle():
    radius, speed, dt = 30.0, 8.0, 0.02
    circle = _circle(radius)
    path = np.concatenate([circle, circle])  # two laps, so the lookahead never runs out
    cfg = PurePursuitConfig(wheelbase=WHEELBASE)
    state = (0.0, 1.0, 0.0, speed)  # start 1 m off the path
    errors, steers = [], []
    for _ in range(int(2 * np.pi * radius / speed / dt)):
        cmd = pure_pursuit(state[0], state[1], state[2], state[3], path, cfg)
        state = _bicycle(state, cmd.angle, 0.0, dt)
        errors.append(abs(np.hypot(state[0], state[1] - radius) - radius))
        steers.append(cmd.angle)
    settled = np.array(errors[len(errors) // 3 :])
    assert settled.max() < 0.15  # pure pursuit cuts corners by a known small amount
    assert np.mean(steers[len(steers) // 3 :]) == pytest.approx(
        np.arctan(WHEELBASE / radius), abs=0.01
    )


def test_pure_pursuit_extends_a_short_path_and_clips_steering():
    cfg = PurePursuitConfig(min_lookahead=10.0, max_steer=0.3)
    path = np.array([[0.0, 0.0], [2.0, 0.0]])
    cmd = pure_pursuit(0.0, -1.0, 0.0, 0.0, path, cfg)
    assert cmd.target[0] == pytest.approx(np.sqrt(100.0 - 1.0))
    assert 0 < cmd.angle <= 0.3
    assert cmd.lateral_error == pytest.approx(1.0)
    sharp = pure_pursuit(0.0, 0.0, 0.0, 0.0, np.array([[0.0, 0.0], [0.0, 20.0]]), cfg)
    assert sharp.angle == pytest.approx(0.3)


def test_pid_reaches_target_speed_without_overshoot_and_holds_at_stop():
    pid = SpeedPid(PidConfig())
    v = 0.0
    for _ in range(400):
        v = max(0.0, v + pid.step(10.0, 0.0, v, 0.05) * 0.05)
    assert v == pytest.approx(10.0, abs=0.05)
    # A stuck actuator (no speed change) must not wind the integral up without bound.
    stuck = SpeedPid(PidConfig())
    for _ in range(1000):
        stuck.step(10.0, 0.0, 0.0, 0.05)
    assert stuck.cfg.ki * stuck.integral <= stuck.cfg.integral_limit + 1e-9
    assert pid.step(0.0, 0.0, 0.05, 0.05) == -PidConfig().stop_hold_decel


def test_follower_reads_speed_from_the_trajectory():
    n = 60
    traj = TrajectoryArrays(
        np.arange(n, dtype=float),
        np.zeros(n),
        np.zeros(n),
        np.linspace(10.0, 4.0, n),
        np.full(n, -0.5),
        np.arange(n) * 0.1,
    )
    follower = TrajectoryFollower(ControllerConfig(longitudinal={"kp": 1.0, "ki": 0.0}))
    cmd = follower.command(0.0, 0.0, 0.0, 10.0, traj, 0.1)
    assert cmd.speed == pytest.approx(traj.v[3], abs=0.15)  # 0.3 s preview at 10 m/s
    assert cmd.accel < 0.0 and abs(cmd.steering) < 1e-9


def test_safe_stop_holds_steering_and_brakes():
    cmd = safe_stop(last_steering=0.1, max_decel=5.0)
    assert (cmd.steering_angle, cmd.speed, cmd.acceleration) == (0.1, 0.0, -5.0)
    header = msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(42), frame_id="base_link")
    msg = safe_stop_command(msgs.new, header, 0.1, 5.0)
    assert msg.drive.acceleration == pytest.approx(-5.0) and msg.header.stamp.nanosec == 42
    with pytest.raises(ValueError, match="max_decel"):
        safe_stop(max_decel=0.0)
