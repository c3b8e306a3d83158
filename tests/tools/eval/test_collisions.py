"""Plan contacts typed and blamed as nuPlan does (no_ego_at_fault_collisions), on synthetic truth.

The road runs along +x; its four 3.5 m lanes have centres at y = -5.25, -1.75, 1.75, 5.25 (the
scenario's layout). The ego's plan starts at the origin of x in lane 1 (y = -1.75) facing +x.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planning.trajectory import TrajectoryArrays, trajectory_msg
from stack import msgs
from tools.eval import collisions
from tools.eval.collisions import CollisionType, LaneStrips, clearance_scores, plan_clearance
from tools.eval.groundtruth import ActorTrack, GroundTruth, uuid_int, uuid_text

T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000
LANE_Y = -1.75
CAR = (4.5, 1.8)


@pytest.fixture
def lanes(tmp_path: Path) -> LaneStrips:
    path = tmp_path / "map.npz"
    line = np.column_stack([np.linspace(-50, 150, 401), np.zeros(401)])
    np.savez(path, centerline=line, lane_offsets=np.array([-5.25, -1.75, 1.75, 5.25]))
    strips = LaneStrips.from_map(path)
    assert strips is not None
    return strips


def _actor(x0: float, y0: float, vx: float, vy: float, yaw: float) -> ActorTrack:
    """A car at constant velocity for 8 s, sampled at 10 Hz (speed from its poses)."""
    t = np.arange(81) * 0.1
    xyyaw = np.column_stack([x0 + vx * t, y0 + vy * t, np.full_like(t, yaw)])
    return ActorTrack(1, T0 + (t * SECOND).astype(np.int64), xyyaw, CAR)


def _truth(actor: ActorTrack) -> GroundTruth:
    t = np.array([T0, T0 + 10 * SECOND])
    return GroundTruth({7: actor}, t, np.array([[0.0, LANE_Y, 0.0]] * 2), {})


def _plan(v0: float, decel: float = 0.0, y: float = LANE_Y):
    """A plan along +x from x = 0 at ``y``: speed v0 - decel * t (not below 0), 0.1 s apart."""
    t = np.arange(51) * 0.1
    v = np.maximum(v0 - decel * t, 0.0)
    x = np.concatenate([[0.0], np.cumsum((v[1:] + v[:-1]) / 2 * 0.1)])
    n = len(t)
    arrays = TrajectoryArrays(x, np.full(n, y), np.zeros(n), v, np.full(n, -decel), t)
    header = msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(T0), frame_id="map")
    return [(T0, trajectory_msg(msgs.new, header, arrays))]


def _only_contact(result: collisions.Clearance) -> collisions.Contact:
    assert len(result.contacts) == 1, result.contacts
    return result.contacts[0]


def test_a_car_from_behind_into_a_slowing_plan_is_rear_and_not_at_fault(lanes):
    # Plan 5 m/s braking at 1 m/s^2; a car 12 m behind at 8 m/s reaches its rear at ~2.16 s.
    result = plan_clearance(_truth(_actor(-12.0, LANE_Y, 8.0, 0.0, 0.0)), _plan(5.0, 1.0), lanes)
    contact = _only_contact(result)
    assert contact.type is CollisionType.ACTIVE_REAR_COLLISION
    assert not contact.at_fault
    assert contact.horizon_s == pytest.approx(2.2) and contact.poses > 1
    scores = clearance_scores(result)
    assert scores["min_clearance_m"] == 0.0
    # The contact is left out; the gaps before it (the car still closing in) still count.
    assert 0.0 < scores["min_clearance_at_fault_m"] < 0.5
    assert scores["contacts"]["count"] == 1 and scores["contacts"]["at_fault"] == 0


def test_the_plan_driving_into_a_stopped_car_ahead_is_at_fault(lanes):
    result = plan_clearance(_truth(_actor(20.0, LANE_Y, 0.0, 0.0, 0.0)), _plan(6.0), lanes)
    contact = _only_contact(result)
    assert contact.type is CollisionType.STOPPED_TRACK_COLLISION and contact.at_fault
    scores = clearance_scores(result)
    assert scores["min_clearance_at_fault_m"] == 0.0 == scores["min_clearance_m"]


def test_the_plan_catching_up_a_slower_car_is_an_active_front_collision_at_fault(lanes):
    result = plan_clearance(_truth(_actor(12.0, LANE_Y, 2.0, 0.0, 0.0)), _plan(6.0), lanes)
    contact = _only_contact(result)
    assert contact.type is CollisionType.ACTIVE_FRONT_COLLISION and contact.at_fault
    assert clearance_scores(result)["min_clearance_at_fault_m"] == 0.0


def _crossing() -> ActorTrack:
    """A car heading +y at 4 m/s whose front meets the ego's right side mid-body at ~1.8 s."""
    return _actor(6.5, -12.0, 0.0, 4.0, np.pi / 2)


def test_a_car_crossing_into_the_side_of_an_ego_in_its_lane_is_lateral_and_not_at_fault(lanes):
    # nuPlan blames a lateral collision on the ego only when the ego is between lanes or off
    # the drivable area; in its own lane it is not at fault.
    result = plan_clearance(_truth(_crossing()), _plan(3.0), lanes)
    contact = _only_contact(result)
    assert contact.type is CollisionType.ACTIVE_LATERAL_COLLISION
    assert not contact.at_fault


def test_the_same_lateral_contact_with_the_ego_between_lanes_is_at_fault(lanes):
    # The ego straddles lanes 0 and 1 (y = -3.5 is their boundary), as in a lane change.
    truth = _truth(_actor(6.5, -13.75, 0.0, 4.0, np.pi / 2))
    contact = _only_contact(plan_clearance(truth, _plan(3.0, y=-3.5), lanes))
    assert contact.type is CollisionType.ACTIVE_LATERAL_COLLISION and contact.at_fault


def test_without_a_lane_map_every_lateral_contact_counts_as_at_fault():
    contact = _only_contact(plan_clearance(_truth(_crossing()), _plan(3.0), None))
    assert contact.type is CollisionType.ACTIVE_LATERAL_COLLISION and contact.at_fault


def test_a_car_driving_into_a_standing_ego_is_not_at_fault(lanes):
    # Oncoming in our lane at 5 m/s, it meets the front of a plan that stands still: nuPlan's
    # STOPPED_EGO_COLLISION, never the ego's fault (moving, the same contact is ACTIVE_FRONT).
    truth = _truth(_actor(20.0, LANE_Y, -5.0, 0.0, np.pi))
    standing = _only_contact(plan_clearance(truth, _plan(0.0), lanes))
    assert standing.type is CollisionType.STOPPED_EGO_COLLISION and not standing.at_fault
    moving = _only_contact(plan_clearance(truth, _plan(1.0), lanes))
    assert moving.type is CollisionType.ACTIVE_FRONT_COLLISION and moving.at_fault


def test_contacts_are_counted_in_full_and_listed_up_to_the_cap(lanes, monkeypatch):
    monkeypatch.setattr(collisions, "MAX_CONTACTS_LISTED", 1)
    truth = _truth(_actor(20.0, LANE_Y, 0.0, 0.0, 0.0))
    result = plan_clearance(truth, _plan(6.0) + _plan(5.0), lanes)
    scores = clearance_scores(result)["contacts"]
    assert scores["count"] == 2 and scores["at_fault"] == 2 and len(scores["first"]) == 1
    assert scores["first"][0]["type"] == "STOPPED_TRACK_COLLISION"
    assert scores["by_actor"] == [
        {"actor_id": uuid_text(7), "label": "CAR", "type": "STOPPED_TRACK_COLLISION",
         "at_fault": True, "plans": 2,
         "first_stamp_ns": T0, "earliest_horizon_s": pytest.approx(result.contacts[0].horizon_s)}
    ]  # fmt: skip


def test_no_contact_leaves_both_clearances_equal(lanes):
    result = plan_clearance(_truth(_actor(12.0, LANE_Y, 6.0, 0.0, 0.0)), _plan(5.0), lanes)
    scores = clearance_scores(result)
    assert result.contacts == [] and scores["contacts"]["count"] == 0
    assert scores["min_clearance_at_fault_m"] == scores["min_clearance_m"] > 1.0


def test_a_map_without_lane_strips_or_unreadable_gives_none(tmp_path: Path, caplog):
    plain = tmp_path / "plain.npz"
    np.savez(plain, centerline=np.array([[0.0, 0.0], [10.0, 0.0]]))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    assert LaneStrips.from_map(plain) is None
    assert LaneStrips.from_map(broken) is None
    assert LaneStrips.from_map(tmp_path / "missing.npz") is None
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3 and "plain.npz: no lane strips" in warned[0]
    assert all("every lateral contact counts as at fault" in w for w in warned)


def test_lane_strips_place_points_in_lanes_or_off_the_road(lanes):
    got = lanes.lane_of(np.array([[5.0, -5.0], [5.0, -1.0], [5.0, 2.0], [5.0, 6.9], [5.0, 7.2]]))
    assert got.tolist() == [0, 1, 2, 3, -1]


def test_a_track_speed_comes_from_its_poses_when_no_twist_was_recorded():
    assert _actor(0.0, 0.0, 3.0, 4.0, 0.0).speeds(np.array([T0 + SECOND]))[0] == pytest.approx(5.0)


def test_an_actor_id_reads_back_as_its_object_id_uuid():
    raw = np.arange(16, dtype=np.uint8)
    obj = msgs.new("unique_identifier_msgs/msg/UUID", uuid=raw)
    assert uuid_text(uuid_int(obj)) == "00010203-0405-0607-0809-0a0b0c0d0e0f"
