from __future__ import annotations

import numpy as np
import pytest

from planning.velocity import LongitudinalConfig, Obstacle, rollout, speed_limit_profile

CFG = LongitudinalConfig()
TIMES = np.arange(0.0, 15.0, 0.1)
LIMIT_S = np.arange(0.0, 400.0, 1.0)


def _flat_limit(v: float) -> np.ndarray:
    return np.full(len(LIMIT_S), v)


def test_accelerates_to_the_limit_within_accel_and_jerk_limits():
    prof = rollout(0.0, 0.0, 0.0, 3.7, LIMIT_S, _flat_limit(10.0), [], TIMES, CFG)
    assert prof.v[-1] == pytest.approx(10.0, abs=0.3)
    assert prof.a.max() <= CFG.max_accel + 1e-9
    assert np.abs(np.diff(prof.a) / 0.1).max() <= CFG.max_jerk + 1e-6
    assert np.all(np.diff(prof.s) >= 0)


def test_stops_behind_a_standing_obstacle_without_emergency_braking():
    obstacle = Obstacle(s=60.0, v=0.0, gap=2.0)
    prof = rollout(0.0, 10.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [obstacle], TIMES, CFG)
    front = prof.s + 3.7
    assert front.max() <= 60.0 - 1.0  # never within a metre of the obstacle
    assert prof.v[-1] < 0.5
    assert prof.a.min() >= -CFG.comfort_decel - 1e-9
    assert np.all(prof.v >= 0)


def test_follows_a_slower_lead_at_its_speed():
    lead = Obstacle(s=40.0, v=6.0, gap=4.0)
    times = np.arange(0.0, 40.0, 0.1)
    prof = rollout(0.0, 12.0, 0.0, 3.7, LIMIT_S * 2, _flat_limit(13.9), [lead], times, CFG)
    gap = lead.s + lead.v * times - (prof.s + 3.7)
    assert prof.v[-1] == pytest.approx(6.0, abs=0.3)
    assert gap.min() > lead.gap
    assert gap[-1] == pytest.approx(lead.gap + CFG.time_gap * 6.0, rel=0.25)


def test_sudden_obstacle_uses_emergency_braking():
    close = Obstacle(s=22.0, v=0.0, gap=1.0)
    prof = rollout(0.0, 13.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [close], TIMES, CFG)
    assert prof.a.min() < -CFG.comfort_decel
    assert prof.a.min() >= -CFG.emergency_decel - 1e-9
    assert prof.v[-1] < 0.1
    assert (prof.s + 3.7).max() < 22.0


def test_speed_limit_profile_slows_before_a_curve():
    s = np.arange(0.0, 200.0, 1.0)
    curvature = np.where(s > 150.0, 1 / 40.0, 0.0)  # a 40 m radius bend at s = 150
    v = speed_limit_profile(s, 20.0, curvature, CFG)
    v_curve = np.sqrt(CFG.max_lateral_accel * 40.0)
    assert v[-1] == pytest.approx(v_curve)
    assert v[0] == 20.0
    assert np.all(np.diff(v[:150] ** 2) >= -2 * CFG.comfort_decel - 1e-9)


def test_config_rejects_inconsistent_limits():
    with pytest.raises(ValueError, match="emergency_decel"):
        LongitudinalConfig(comfort_decel=5.0, emergency_decel=3.0)


def test_a_stop_limit_without_time_gap_is_braked_for_later_not_crept_up_to():
    # A worst-case stop point 40 m ahead: IDM with a time gap brakes early and creeps; as a
    # limit (time gap 0) the ego keeps going longer and still stops behind it with the margin.
    times = np.arange(0.0, 8.0, 0.1)
    follow = Obstacle(s=40.0, v=0.0, gap=2.0)
    limit = Obstacle(s=40.0, v=0.0, gap=2.0, time_gap=0.0)
    slow = rollout(0.0, 10.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [follow], times, CFG)
    late = rollout(0.0, 10.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [limit], times, CFG)
    at_4s = round(4.0 / 0.1)
    assert late.s[at_4s] > slow.s[at_4s] + 2.0
    assert late.s[-1] + 3.7 <= 40.0 - 1.0 and late.v[-1] < 0.5
    assert late.a.min() >= -CFG.emergency_decel - 1e-9


def test_a_standing_obstacle_behind_base_link_does_not_hide_a_stop_ahead():
    """Seed 1004 in fog: a track overlapping the ego's flank (its rear behind base_link, not
    braked for) was the nearest standing obstacle, so the red light's line 10 m ahead, standing
    too, counted as shielded by it and was dropped: the plan sped up to 12.6 m/s over the line."""
    line = Obstacle(s=10.0, v=0.0, gap=1.0, time_gap=0.8)
    for rear in (-4.9, 0.1):  # behind base_link; between base_link and the front bumper
        beside = Obstacle(s=rear, v=0.0, gap=2.0)
        prof = rollout(0.0, 3.9, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [beside, line], TIMES, CFG)
        assert prof.s.max() + 3.7 <= 10.0 - 0.5
        assert prof.v.max() <= 3.9 + 1e-9


def test_a_stop_the_ego_cannot_make_does_not_hide_a_red_line_behind_it():
    """Seed 1005 in fog (6.4 s): a conflict's stop point 1 m ahead of the front bumper at
    7.6 m/s cannot be made even at the emergency limit; the red light's line 14 m further,
    standing too, counted as shielded by it, so once base_link passed the stop point the
    rollout sped up again across the line (2 red-light violations)."""
    stop = Obstacle(s=3.7 + 1.0, v=0.0, gap=2.0, time_gap=0.8)
    line = Obstacle(s=3.7 + 15.0, v=0.0, gap=1.0, time_gap=0.8)
    prof = rollout(0.0, 7.6, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [stop, line], TIMES, CFG)
    assert prof.s.max() > stop.s  # it does overrun the stop it cannot make
    assert prof.s.max() + 3.7 <= line.s  # but not the line
    assert prof.v[-1] < 0.1


def test_a_doubtful_obstacle_is_braked_for_at_comfort_deceleration_only():
    near = Obstacle(s=3.7 + 8.0, v=0.0, gap=2.0)
    firm = rollout(0.0, 10.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [near], TIMES, CFG)
    assert firm.a.min() == pytest.approx(-CFG.emergency_decel)
    doubtful = Obstacle(s=near.s, v=0.0, gap=2.0, firm=False)
    soft = rollout(0.0, 10.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [doubtful], TIMES, CFG)
    assert soft.a.min() >= -CFG.comfort_decel - 1e-9
    # Far enough ahead it still stops the ego, as a firm one would.
    ahead = Obstacle(s=3.7 + 40.0, v=0.0, gap=2.0, firm=False)
    stop = rollout(0.0, 10.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [ahead], TIMES, CFG)
    assert stop.v[-1] < 0.5 and stop.s.max() + 3.7 <= ahead.s
    # A firm obstacle behind a doubtful one is not shielded by it.
    far = Obstacle(s=3.7 + 20.0, v=0.0, gap=2.0)
    both = rollout(0.0, 10.0, 0.0, 3.7, LIMIT_S, _flat_limit(13.9), [doubtful, far], TIMES, CFG)
    assert both.s.max() + 3.7 <= far.s
