from __future__ import annotations

import numpy as np
import pytest

from planning.control.node import Controller
from planning.trajectory import TrajectoryArrays, trajectory_msg
from stack import msgs, topics

T0 = 1_700_000_000_000_000_000


def _odometry(fake, stamp, y, v):
    return fake.odometry(stamp, y=y, v=v)


def _trajectory(fake, stamp, n=40, speed=8.0):
    arrays = TrajectoryArrays(
        np.arange(n, dtype=float),
        np.zeros(n),
        np.zeros(n),
        np.full(n, speed),
        np.zeros(n),
        np.arange(n) / speed,
    )
    return trajectory_msg(msgs.new, fake.header(stamp, "map"), arrays)


def test_command_carries_the_trajectory_stamp_and_steers_back_to_the_path(fake):
    _, ctx = fake.make_node(Controller)
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0 + 5_000_000, y=-0.5, v=6.0))
    ctx.deliver(topics.TRAJECTORY, _trajectory(fake, T0))
    (cmd,) = ctx.sent(topics.CONTROL_COMMAND)
    assert msgs.stamp_to_ns(cmd.header.stamp) == T0 and cmd.header.frame_id == "base_link"
    assert cmd.drive.steering_angle > 0.0  # path is to the left
    assert cmd.drive.speed == pytest.approx(8.0) and cmd.drive.acceleration > 0.0


def test_optional_odometry_rate_loop(fake):
    _, ctx = fake.make_node(Controller, on_odometry=True)
    ctx.deliver(topics.TRAJECTORY, _trajectory(fake, T0))  # no odometry yet: counted
    assert ctx.event_counts["drop"] == 1
    for k in range(3):
        ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0 + k * 20_000_000, 0.0, 8.0))
    assert len(ctx.sent(topics.CONTROL_COMMAND)) == 3
    assert msgs.stamp_to_ns(ctx.sent(topics.CONTROL_COMMAND)[-1].header.stamp) == T0 + 40_000_000


def test_bad_trajectories_are_counted(fake):
    _, ctx = fake.make_node(Controller)
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, 0.0, 8.0))
    empty = msgs.new("autoware_planning_msgs/msg/Trajectory", header=fake.header(T0, "map"))
    ctx.deliver(topics.TRAJECTORY, empty)
    bad = _trajectory(fake, T0)
    bad.points[3].longitudinal_velocity_mps = float("nan")
    ctx.deliver(topics.TRAJECTORY, bad)
    assert ctx.sent(topics.CONTROL_COMMAND) == []
    details = [d for _, d in ctx.events]
    assert "no points" in details[0] and "point 3" in details[1]
