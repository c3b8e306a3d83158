"""Plan clearance against ground truth: the ego footprint sits ahead of base_link."""

from __future__ import annotations

import numpy as np
import pytest

from planning.trajectory import TrajectoryArrays, trajectory_msg
from stack import msgs
from tools.eval.groundtruth import ActorTrack, GroundTruth
from tools.eval.score import EGO_CENTER_AHEAD, ego_footprint_centers, min_clearance  # re-exported

T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000


def _truth(actor_x: float, length: float = 4.0) -> GroundTruth:
    """A standing 4 x 2 m car centred at (actor_x, 0); the ego stands at the origin facing +x."""
    t = np.array([T0, T0 + 10 * SECOND])
    actor = ActorTrack(1, t, np.array([[actor_x, 0.0, 0.0]] * 2), (length, 2.0))
    ego = np.zeros((2, 3))
    return GroundTruth({7: actor}, t, ego, {})


def _standing_plan(seconds: float = 1.5):
    n = 5
    arrays = TrajectoryArrays(
        np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.linspace(0, seconds, n)
    )
    header = msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(T0), frame_id="map")
    return [(T0, trajectory_msg(msgs.new, header, arrays))]


def test_footprint_centre_is_ahead_of_the_rear_axle_pose():
    centres = ego_footprint_centers(np.array([[1.0, 2.0, np.pi / 2]]))
    assert centres[0] == pytest.approx([1.0, 2.0 + EGO_CENTER_AHEAD, np.pi / 2])


def test_gap_to_a_car_behind_counts_from_the_rear_bumper():
    # Ego rear bumper at 1.4 - 2.35 = -0.95; the car behind ends at -6 + 2 = -4: 3.05 m.
    gaps = min_clearance(_truth(-6.0), _standing_plan())
    assert set(gaps) == {0, 1}
    assert gaps[0] == pytest.approx(3.05) and gaps[1] == pytest.approx(3.05)


def test_gap_to_a_car_ahead_counts_from_the_front_bumper():
    # Ego front bumper at 1.4 + 2.35 = 3.75; the car ahead starts at 8 - 2 = 6: 2.25 m.
    assert min_clearance(_truth(8.0), _standing_plan())[0] == pytest.approx(2.25)
