"""Slip-aware wheel-speed noise (EkfLocalizer.slip_speed_std_per_rad_s) on a skid-steer drive.

A skid-steer robot's wheels over-read in turns, and its odometry's yaw rate over-reads with them
(the realism knob's model, tools/scenario/realism.py: speed + slip*|r|*b (+ noise of that size),
yaw rate * (1 + 2*slip)). The gap between the odometry's and the gyro's yaw rates then measures
the slip, and the speed std grows with it. Same measurements with and without: through GNSS
gaps the slip-aware filter drifts less; without slip it changes nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from perception.localization.geodesy import LocalTangentPlane
from perception.localization.node import EkfLocalizer
from stack import msgs, topics
from tests.perception.localization import sim
from tests.perception.localization.test_localization_node import ORIGIN, T0, _fix, _wheel
from tests.perception.localization.test_localization_recovery import PLANE_PARAMS, _imu

HALF_TRACK = 0.8  # m, as tools/scenario/realism.SKID_HALF_TRACK
GAP = (20.0, 45.0)  # s without GNSS


def _gap_rmse(fake, slip: float, gain: float, seed: int = 1) -> float:
    drive = sim.skid_steer(50.0)
    rng = np.random.default_rng(seed)
    plane = LocalTangentPlane(*ORIGIN)
    _, ctx = fake.make_node(
        EkfLocalizer, slip_speed_std_per_rad_s=gain, init_distance_m=4.0, **PLANE_PARAMS
    )
    errors = []
    for i, t in enumerate(drive.t):
        stamp = T0 + round(t * 1e9)
        gyro = drive.yaw_rate[i] + 0.003 + rng.normal(0, 0.003)
        accel = drive.accel[i] + rng.normal(0, 0.05)
        ctx.deliver(topics.IMU, _imu(fake, stamp, (0.0, 0.0, gyro), (accel, 0.0, 9.81)))
        odom = ctx.sent(topics.LOCALIZATION_ODOMETRY)
        if GAP[0] <= t < GAP[1] and msgs.stamp_to_ns(odom[-1].header.stamp) == stamp:
            p = odom[-1].pose.pose.position
            errors.append(math.hypot(p.x - drive.x[i], p.y - drive.y[i]))
        if i % 5 == 0:
            over = slip * abs(drive.yaw_rate[i]) * HALF_TRACK
            wheel = _wheel(
                fake, stamp, drive.v[i] + over * (1 + rng.normal()) + rng.normal(0, 0.02)
            )
            wheel.twist.twist.angular.z = drive.yaw_rate[i] * (1 + 2 * slip)
            ctx.deliver(topics.VEHICLE_ODOMETRY, wheel)
        if i % 50 == 0 and not GAP[0] <= t < GAP[1]:
            xy = (drive.x[i] + rng.normal(0, 0.5), drive.y[i] + rng.normal(0, 0.5))
            ctx.deliver(topics.GNSS_FIX, _fix(fake, stamp, plane, xy))
    return float(np.sqrt(np.mean(np.square(errors))))


def test_slip_aware_speed_noise_drifts_less_through_a_gnss_gap(fake):
    plain, aware = _gap_rmse(fake, 0.5, 0.0), _gap_rmse(fake, 0.5, 0.6)
    assert aware < 0.85 * plain  # 1.88 -> 1.36 m (0.2: 1.51 m); slip 0.2: 0.65 -> 0.61 m


def test_without_slip_the_slip_term_changes_nothing(fake):
    # the gyro bias left after estimation is the only yaw-rate gap: a few micrometres
    assert _gap_rmse(fake, 0.0, 0.6) == pytest.approx(_gap_rmse(fake, 0.0, 0.0), abs=1e-4)
