"""Light scores: per-state accuracy against the ground-truth views, stop-line crossings."""

from __future__ import annotations

import numpy as np

from stack.msgs import new, ns_to_stamp
from tools.eval.lights import _crossings, light_accuracy

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
