from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import wrap_angle
from perception.localization.ekf import BIAS, YAW, EkfConfig, PoseEkf, Update
from tests.perception.localization import sim


def _run(drive, noise, seed=0, jump_at=None):
    rng = np.random.default_rng(seed)
    ekf = PoseEkf()
    ekf.initialize(0, drive.x[0] + 1.0, drive.y[0] - 1.0, drive.yaw[0] + 0.1, drive.v[0], 1.5, 0.2)
    err = np.zeros(len(drive.t))
    results = []
    for kind, i, stamp, value in sim.measurements(drive, rng, noise):
        if kind == "imu":
            ekf.set_imu(stamp, *value)
            err[i] = np.hypot(ekf.x[0] - drive.x[i], ekf.x[1] - drive.y[i])
        elif kind == "wheel":
            ekf.update_speed(stamp, value, 0.1)
        else:
            if jump_at is not None and i == jump_at:
                value = value + np.array([50.0, 0.0])
            results.append((i, ekf.update_position(stamp, value, np.eye(2) * noise.gnss**2)))
    return ekf, err, results


def test_ekf_converges_on_a_known_trajectory_with_1m_gnss_noise():
    drive = sim.s_curve(60.0)
    ekf, err, _ = _run(drive, sim.Noise())
    rmse = float(np.sqrt(np.mean(err[drive.t > 10.0] ** 2)))
    assert rmse < 0.25, rmse
    assert abs(wrap_angle(ekf.x[YAW] - drive.yaw[-1])) < 0.02
    assert ekf.x[BIAS] == pytest.approx(0.005, abs=0.002)  # the gyro bias was learnt
    # The filter's own uncertainty is honest about its error.
    assert 0.5 < np.sqrt(ekf.p[0, 0] + ekf.p[1, 1]) / rmse < 2.0


def test_a_50m_gnss_jump_is_gated_and_does_not_move_the_pose():
    drive = sim.s_curve(30.0)
    _, err_clean, _ = _run(drive, sim.Noise(), seed=3)
    _, err, results = _run(drive, sim.Noise(), seed=3, jump_at=2000)
    assert dict(results)[2000] is Update.OUTLIER
    # The jump never entered the state: only the one lost fix separates the two runs.
    assert np.max(np.abs(err - err_clean)) < 0.1
    assert np.max(err[1000:]) < 1.0


def test_stale_and_uninitialised_updates_are_refused():
    ekf = PoseEkf(EkfConfig(max_delay_s=0.2))
    assert ekf.update_position(0, np.zeros(2), np.eye(2)) is Update.NOT_INITIALIZED
    assert ekf.update_speed(0, 1.0, 0.1) is Update.NOT_INITIALIZED
    ekf.initialize(1_000_000_000, 0.0, 0.0, 0.0, 5.0, 1.0, 0.1)
    assert ekf.update_speed(700_000_000, 5.0, 0.1) is Update.STALE
    assert ekf.set_imu(500_000_000, 0.0, 0.0) is Update.STALE
    assert ekf.update_speed(900_000_000, 5.0, 0.1) is Update.ACCEPTED  # 100 ms late is fine


def test_late_gnss_fix_is_compared_with_the_back_propagated_position():
    ekf = PoseEkf()
    ekf.initialize(0, 0.0, 0.0, 0.0, 10.0, 0.05, 0.01)
    ekf.predict_to(200_000_000)  # now at x = 2 m
    # A perfect fix stamped 100 ms ago (x = 1 m) leaves the estimate where it is.
    before = ekf.x.copy()
    assert ekf.update_position(100_000_000, np.array([1.0, 0.0]), np.eye(2)) is Update.ACCEPTED
    assert np.allclose(ekf.x[:2], before[:2], atol=0.02)


def test_long_prediction_gap_is_split_and_stays_on_the_circle():
    ekf = PoseEkf()
    ekf.initialize(0, 0.0, 0.0, 0.0, 5.0, 0.1, 0.01)
    ekf.set_imu(0, 0.5, 0.0)  # a 10 m radius circle
    ekf.predict_to(int(2 * np.pi / 0.5 * 1e9))  # one full lap in one call
    assert np.hypot(ekf.x[0], ekf.x[1]) < 0.5


def test_gnss_lever_arm_puts_base_link_behind_the_antenna():
    ekf = PoseEkf()
    ekf.initialize(0, 9.0, 19.0, np.pi / 2, 0.0, 2.0, 0.01)  # heading north, standing
    lever = (1.5, 0.0)  # antenna 1.5 m ahead of base_link
    for k in range(1, 200):
        ekf.update_position(k * 10_000_000, np.array([10.0, 21.5]), np.eye(2), lever)
    assert np.allclose(ekf.x[:2], [10.0, 20.0], atol=0.05)


def test_pose_update_corrects_position_and_heading():
    ekf = PoseEkf()
    ekf.initialize(0, 2.0, -1.0, 0.1, 5.0, 1.0, 0.1)
    cov = np.diag([0.01, 0.01, 1e-4])
    assert ekf.update_pose(0, np.array([0.0, 0.0, 0.0]), cov) is Update.ACCEPTED
    assert np.allclose(ekf.x[:3], 0.0, atol=0.05)
    # A pose 3 m away from a now confident filter is an outlier.
    assert ekf.update_pose(0, np.array([3.0, 0.0, 0.0]), cov) is Update.OUTLIER
