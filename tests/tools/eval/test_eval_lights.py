"""Light scores: per-state accuracy against the ground-truth views, stop-line crossings."""

from __future__ import annotations

import numpy as np
import pytest

from perception.traffic_light import lightmap
from planning.trajectory import TrajectoryArrays, trajectory_msg
from planning.vehicle import VehicleShape
from stack.msgs import new, ns_to_stamp
from tools.eval.lights import _crossings, lead_stop_ahead, light_accuracy, plan_signal_scores

NS = 1_700_000_000 * 10**9


def _signals(ns: int, states: dict[int, int]):
    groups = [
        new(
            "autoware_perception_msgs/msg/TrafficLightGroup",
            traffic_light_group_id=g,
            elements=[new("autoware_perception_msgs/msg/TrafficLightElement", color=c)],
        )
        for g, c in states.items()
    ]
    return new(
        "autoware_perception_msgs/msg/TrafficLightGroupArray",
        stamp=ns_to_stamp(ns),
        traffic_light_groups=groups,
    )


def _views(ns: int, heads: list[tuple[int, str, float, float]]):
    """(group, state, visible share, distance) per head."""
    dets = []
    for g, state, share, dist in heads:
        hyp = new(
            "vision_msgs/msg/ObjectHypothesisWithPose",
            hypothesis=new("vision_msgs/msg/ObjectHypothesis", class_id=state, score=share),
            pose=new(
                "geometry_msgs/msg/PoseWithCovariance",
                pose=new("geometry_msgs/msg/Pose", position=new("geometry_msgs/msg/Point", z=dist)),
            ),
        )
        dets.append(new("vision_msgs/msg/Detection2D", id=str(g), results=[hyp]))
    header = new("std_msgs/msg/Header", stamp=ns_to_stamp(ns))
    return new("vision_msgs/msg/Detection2DArray", header=header, detections=dets)


def test_accuracy_per_state_counts_missing_output_as_wrong_and_skips_far_or_hidden():
    gt = [
        (NS, _views(NS, [(1, "RED", 1.0, 30.0), (2, "GREEN", 1.0, 30.0)])),
        (NS + 1, _views(NS + 1, [(1, "RED", 1.0, 30.0), (2, "UNKNOWN", 1.0, 30.0)])),
        (NS + 2, _views(NS + 2, [(1, "AMBER", 0.2, 30.0), (2, "GREEN", 1.0, 75.0)])),
    ]
    out = [(NS, _signals(NS, {1: 1, 2: 1})), (NS + 1, _signals(NS + 1, {}))]
    acc = light_accuracy(gt, out)
    assert acc["light_heads_scored"] == {"RED": 2, "AMBER": 0, "GREEN": 1}
    assert acc["light_accuracy_by_state"] == {"RED": 0.5, "AMBER": None, "GREEN": 0.0}
    assert acc["light_accuracy"] == round(1 / 3, 4)
    # NS + 2 got no answer at all (a frame dropped under load): counted apart as well.
    assert acc["light_heads_on_unanswered_frames"] == 0  # its heads are far or hidden
    out = [(NS, _signals(NS, {1: 1, 2: 1}))]
    acc = light_accuracy(gt, out)
    assert acc["light_heads_on_unanswered_frames"] == 1
    assert acc["light_accuracy"] == round(1 / 3, 4)
    assert acc["light_accuracy_answered"] == 0.5


def test_a_path_crosses_a_stop_line_only_through_its_segment():
    line = np.array([[10.0, -7.0], [10.0, 0.0]])
    assert _crossings(np.array([[0.0, -2.0], [20.0, -2.0]]), line)
    assert not _crossings(np.array([[0.0, -2.0], [9.0, -2.0]]), line)
    assert not _crossings(np.array([[0.0, 3.0], [20.0, 3.0]]), line)  # the other half of the road


LINE_X = 50.0  # the stop line across the ego's lane (y in [-3.5, 0]), the ego driving +x at 10 m/s
GREEN = 3  # TrafficLightElement.GREEN


def _light_map(path):
    np.savez(
        path,
        **{
            lightmap.HEAD_XYZ: np.array([[LINE_X + 15.0, -5.0, 5.0]]),
            lightmap.HEAD_YAW: np.array([np.pi]),
            lightmap.HEAD_SIZE: np.array([[0.3, 0.4, 1.0]]),
            lightmap.HEAD_GROUP: np.array([7]),
            lightmap.STOP_LINE: np.array([[[LINE_X, -3.5], [LINE_X, 0.0]]]),
            lightmap.LANES: np.array([[True, False, False, False]]),
        },
    )
    return path


EGO_X = LINE_X - 10.0 - VehicleShape().front  # at NS: the front bumper 10 m before the line


def _ego_at(stamp):
    t = (np.asarray(stamp, dtype=np.float64) - NS) * 1e-9
    return np.array([EGO_X + 10.0 * t, -1.75, 0.0])


def _halting_plan(front_halt_x):
    """A plan from the ego at NS to a standstill with its front bumper at ``front_halt_x``."""
    x = np.append(np.linspace(EGO_X, front_halt_x - VehicleShape().front, 20), front_halt_x + 5.0)
    v = np.append(np.linspace(10.0, 0.0, 20), 0.0)
    zeros = np.zeros_like(x)
    arrays = TrajectoryArrays(x=x, y=zeros - 1.75, yaw=zeros, v=v, a=zeros, t=zeros)
    header = new("std_msgs/msg/Header", stamp=ns_to_stamp(NS))
    return trajectory_msg(new, header, arrays)


@pytest.mark.parametrize(
    ("vehicles", "needless", "behind"),
    [
        ([], 1, 0),  # nothing ahead: a stop at a green line is needless
        ([(LINE_X + 4.3, -1.75, 4.6, 5.0)], 0, 1),  # a car just past the line: its RSS stop
        ([(LINE_X + 30.0, -1.75, 4.6, 10.0)], 1, 0),  # a car far ahead explains nothing
        ([(LINE_X + 4.3, 1.75, 4.6, 5.0)], 1, 0),  # a car in the next lane is no lead
    ],
)
def test_a_stop_at_a_green_line_is_needless_unless_a_lead_vehicle_explains_it(
    tmp_path, vehicles, needless, behind
):
    plans = [(NS, _halting_plan(LINE_X - 1.0))]
    signals = [(NS - 10**8, _signals(NS - 10**8, {7: GREEN}))]
    rows = np.array(vehicles, dtype=np.float64).reshape(-1, 4)
    got = plan_signal_scores(
        _light_map(tmp_path / "map.npz"), signals, plans, _ego_at, lambda _: rows
    )
    assert (got["needless_stops"], got["green_stops_behind_vehicle"]) == (needless, behind)
    assert got["red_light_violations"] == 0
    # Without the true vehicles (the old scoring), every such halt counts as needless.
    alone = plan_signal_scores(tmp_path / "map.npz", signals, plans, _ego_at)
    assert (alone["needless_stops"], alone["green_stops_behind_vehicle"]) == (1, 0)


def test_a_plan_through_a_red_line_is_a_violation_and_a_map_without_lights_scores_none(tmp_path):
    through = [(NS, _halting_plan(LINE_X + 20.0))]
    signals = [(NS, _signals(NS, {7: 1}))]  # RED
    got = plan_signal_scores(_light_map(tmp_path / "map.npz"), signals, through, _ego_at)
    assert got["red_light_violations"] == 1 and got["needless_stops"] == 0
    np.savez(tmp_path / "plain.npz", lanes=np.zeros(3))
    none = plan_signal_scores(tmp_path / "plain.npz", signals, through, _ego_at)
    assert set(none.values()) == {None}


def test_the_lead_stop_is_the_nearest_rear_plus_its_braking_distance_in_the_corridor():
    heading = np.array([1.0, 0.0])
    rows = np.array([[20.0, 0.0, 4.0, 8.0], [12.0, 0.5, 4.0, 0.0], [5.0, 3.0, 4.0, 0.0]])
    # Rears at 18 (+ 64/16 = 22) and 10 (+ 0); the third is 3 m to the side.
    assert lead_stop_ahead(rows, np.zeros(2), heading, 8.0) == pytest.approx(10.0)
    assert lead_stop_ahead(rows[:1], np.zeros(2), heading, 8.0) == pytest.approx(22.0)
    assert lead_stop_ahead(rows[2:], np.zeros(2), heading, 8.0) is None
    assert lead_stop_ahead(np.zeros((0, 4)), np.zeros(2), heading, 8.0) is None
