"""Passing pedestrians and cyclists wide: the in-lane shift of planning.lateral."""

from __future__ import annotations

import numpy as np
import pytest

from perception.objects import Label, ObjectArray
from planning.lane import Lane
from planning.lateral import LateralConfig, Shift, shift_profile
from planning.planner import EgoState, Planner, PlannerConfig

STRAIGHT = Lane.from_polyline(np.column_stack([np.arange(0.0, 600.0, 1.0), np.zeros(600)]))
HALF_W = 0.925  # half the default ego width


def _objs(rows) -> ObjectArray:
    """rows of (x, y, yaw, (l, w, h), label, vx, vy)."""
    return ObjectArray.create(
        [[r[0], r[1], r[3][2] / 2] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        velocity=np.array([[r[5], r[6]] for r in rows], float),
        pos_std=0.2,
    )


def _offset_at(plan, x: float) -> float:
    return float(np.interp(x, plan.path.x, plan.path.y))


# A cyclist waiting at the kerb to cross, its front wheel 1.9 m right of the lane centre.
CYCLIST = (40.0, -2.75, np.pi / 2, (1.7, 0.6, 1.7), Label.BICYCLE, 0.0, 0.0)


def test_a_cyclist_at_the_kerb_is_passed_wide_and_the_path_comes_back():
    plan = Planner(STRAIGHT).plan(EgoState(0.0, 0.0, 0.0, 10.0), _objs([CYCLIST]))
    beside = _offset_at(plan, 40.0)
    # Needed: 1.2 m + one std of its lateral position (>= 0.2 m) from the ego's side, i.e. an
    # offset of >= -2.75 + 0.85 + 0.925 + 1.4 = 0.425 m; at most 0.5 m (stay in lane).
    assert 0.42 <= beside <= 0.5 + 1e-9
    gap = (beside - HALF_W) - (-2.75 + 0.85)
    assert gap >= 1.4 - 1e-6
    assert abs(_offset_at(plan, 0.0)) < 1e-6  # starts where the ego is
    assert abs(_offset_at(plan, 70.0)) < 1e-6  # and is back on the centreline after
    assert plan.path.y.max() <= 0.5 + 1e-9
    assert plan.behavior.value == "cruise"


def test_no_shift_without_need_or_room():
    planner = Planner(STRAIGHT)
    far = (40.0, -4.5, 0.0, (1.7, 0.6, 1.7), Label.BICYCLE, 0.0, 0.0)  # riding by, wide enough
    plan = planner.plan(EgoState(0.0, 0.0, 0.0, 10.0), _objs([far]))
    assert np.abs(plan.path.y).max() < 1e-6
    # A car keeping pace in the next lane leaves room only down to 1.4 m from it.
    car = (3.0, 3.5, 0.0, (4.5, 1.9, 1.5), Label.CAR, 11.0, 0.0)
    plan = planner.plan(EgoState(0.0, 0.0, 0.0, 10.0), _objs([CYCLIST, car]))
    room = 3.5 - 0.95 - HALF_W - 1.4
    assert _offset_at(plan, 40.0) == pytest.approx(room, abs=0.05)


def test_a_crossing_person_is_stopped_for_not_swerved_around():
    crossing = (40.0, -2.75, np.pi / 2, (0.5, 0.5, 1.7), Label.PEDESTRIAN, 0.0, 1.2)
    plan = Planner(STRAIGHT).plan(EgoState(0.0, 0.0, 0.0, 10.0), _objs([crossing]))
    assert np.abs(plan.path.y).max() < 1e-6
    assert plan.behavior.value == "stop"


def test_a_vehicle_beside_the_path_is_no_reason_to_shift():
    parked = (40.0, -2.9, 0.0, (4.5, 1.9, 1.5), Label.CAR, 0.0, 0.0)
    plan = Planner(STRAIGHT).plan(EgoState(0.0, 0.0, 0.0, 10.0), _objs([parked]))
    assert np.abs(plan.path.y).max() < 1e-6


def test_shift_profile_holds_and_eases_in_and_out():
    s = np.array([0.0, 5.0, 10.0, 20.0, 25.0, 30.0, 40.0])
    left = shift_profile([Shift(10.0, 20.0, 0.4)], s, ramp=10.0, max_offset=0.5)
    assert left == pytest.approx([0.0, 0.2, 0.4, 0.4, 0.2, 0.0, 0.0])
    both = shift_profile([Shift(10.0, 20.0, 0.4), Shift(10.0, 20.0, -0.3)], s, 10.0, 0.5)
    assert both[2] == pytest.approx(0.1)
    capped = shift_profile([Shift(10.0, 20.0, 0.9)], s, 10.0, 0.5)
    assert capped.max() == pytest.approx(0.5)


def test_lateral_config_is_validated_and_nested_in_the_planner():
    with pytest.raises(ValueError, match="ramp_length"):
        LateralConfig(ramp_length=0.0)
    cfg = PlannerConfig(lateral={"max_offset": 0.0})
    plan = Planner(STRAIGHT, cfg).plan(EgoState(0.0, 0.0, 0.0, 10.0), _objs([CYCLIST]))
    assert np.abs(plan.path.y).max() < 1e-6
