"""Stop lines from light states: red, amber when comfortable, green, UNKNOWN and stale states."""

from __future__ import annotations

import numpy as np
import pytest

from perception.objects import ObjectArray
from perception.traffic_light.lightmap import LightMap, LightState
from planning.lane import Lane
from planning.planner import Behavior, EgoState, Planner
from planning.signals import SignalConfig, SignalRules
from stack.errors import L4Error

S = 1_000_000_000


def _lane() -> Lane:
    x = np.arange(0.0, 400.0, 1.0)
    return Lane.from_polyline(np.column_stack([x, np.zeros_like(x)]))


def _lights(line_x: float = 100.0) -> LightMap:
    return LightMap(
        head_xyz=np.array([[line_x + 8.0, -2.6, 3.6]]),
        head_yaw=np.array([np.pi]),
        head_size=np.array([[0.3, 0.45, 1.3]]),
        head_group=np.array([7]),
        stop_line=np.array([[[line_x, -7.0], [line_x, 0.0]]]),
        lanes=np.array([[True, True, False, False]]),
    )


def _rules() -> SignalRules:
    return SignalRules(_lights(), _lane(), 0, SignalConfig())


def test_red_is_a_stop_green_is_not():
    rules = _rules()
    rules.update(7, LightState.RED, 0)
    (stop,) = rules.stops(s_front=50.0, v=10.0, now_ns=0)
    assert stop.s == pytest.approx(100.0, abs=0.5) and stop.state is LightState.RED
    rules.update(7, LightState.GREEN, S)
    assert rules.stops(50.0, 10.0, S) == []


def test_amber_stops_only_when_comfortable_and_the_decision_holds():
    far, near = _rules(), _rules()
    far.update(7, LightState.AMBER, 0)
    assert far.stops(40.0, 12.0, 0)  # 59 m at 12 m/s: 1.2 m/s^2 needed
    near.update(7, LightState.AMBER, 0)
    assert near.stops(90.0, 12.0, 0) == []  # 9 m at 12 m/s: 8 m/s^2: go
    # Later in the same amber phase, slower and still short of the line: still go.
    near.update(7, LightState.AMBER, S // 2)
    assert near.stops(95.0, 2.0, S // 2) == []


def test_unknown_near_a_line_is_red_far_from_it_not():
    rules = _rules()
    rules.update(7, LightState.UNKNOWN, 0)
    assert rules.stops(60.0, 10.0, 0)  # 39 m: within unknown_range
    assert rules.stops(-20.0, 10.0, 0) == []  # 119 m away


def test_a_stale_state_times_out_to_unknown():
    rules = _rules()
    rules.update(7, LightState.GREEN, 0)
    assert rules.stops(60.0, 10.0, S // 2) == []
    assert rules.stops(60.0, 10.0, 3 * S)  # no news for 3 s (> hold_s): UNKNOWN -> stop


def test_red_too_close_to_stop_is_crossed_and_passed_lines_are_ignored():
    rules = _rules()
    rules.update(7, LightState.RED, 0)
    assert rules.stops(97.0, 14.0, 0) == []  # 2 m at 14 m/s: 49 m/s^2
    assert rules.stops(101.0, 5.0, 0) == []


def test_bad_signal_config_is_refused():
    with pytest.raises(L4Error, match="comfort_decel"):
        SignalConfig(comfort_decel=0.0)


def test_planner_stops_before_a_red_line():
    planner = Planner(_lane())
    plan = planner.plan(EgoState(40.0, 0.0, 0.0, 10.0), ObjectArray.empty(), (100.0,), 1.0)
    front = planner.cfg.vehicle.front
    assert plan.profile.s[-1] + front <= 100.0
    assert plan.profile.v[-1] < 1.0  # still creeping up to the line at the horizon's end
    assert plan.behavior is Behavior.STOP and plan.reason == "traffic light"
    free = planner.plan(EgoState(40.0, 0.0, 0.0, 10.0), ObjectArray.empty())
    assert free.profile.s[-1] + front > 100.0


def test_the_last_colour_holds_for_hold_s_once_the_head_reads_unknown():
    rules = _rules()
    rules.update(7, LightState.GREEN, 0)
    rules.update(7, LightState.UNKNOWN, S)  # the head left the top of the image
    assert rules.stops(95.0, 2.0, S) == []  # green still holds
    rules.update(7, LightState.UNKNOWN, 3 * S)
    assert rules.stops(95.0, 2.0, 3 * S)  # 3 s after the last green: treated as red
