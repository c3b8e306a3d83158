from __future__ import annotations

import numpy as np
import pytest

from perception.objects import Label, ObjectArray, tracked_objects_msg
from planning.lane import MapError
from planning.node import PlannerNode
from planning.trajectory import trajectory_from_msg
from stack import msgs, topics

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def map_path(tmp_path):
    path = tmp_path / "map.npz"
    road = np.column_stack([np.arange(0.0, 300.0, 0.5), np.zeros(600)])
    lanes = np.stack([road + np.array([0, d]) for d in (-5.25, -1.75, 1.75, 5.25)])
    np.savez(path, centerline=road, lane_centerlines=lanes, lane_direction=np.array([1, 1, -1, -1]))
    return str(path)


def _odometry(fake, stamp, x, y, yaw, v):
    return fake.odometry(stamp, x, y, yaw, v)


def _objects(fake, stamp, objs, frame="map"):
    return tracked_objects_msg(msgs.new, fake.header(stamp, frame), objs)


def test_plans_along_the_ego_lane_with_the_object_stamp(fake, map_path):
    node, ctx = fake.make_node(PlannerNode, map_path=map_path)
    ctx.deliver(
        topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0 + 20_000_000, 10.0, -5.0, 0.0, 10.0)
    )
    ctx.deliver(topics.TRACKED_OBJECTS, _objects(fake, T0, ObjectArray.empty()))
    (out,) = ctx.sent(topics.TRAJECTORY)
    assert msgs.stamp_to_ns(out.header.stamp) == T0 and out.header.frame_id == "map"
    traj = trajectory_from_msg(msgs.deserialize(msgs.serialize(out), msgs.msgtype_of(out)))
    assert len(traj) >= 30
    assert np.allclose(traj.y[-10:], -5.25, atol=1e-3)  # lane 0 centre
    assert traj.v.min() >= 10.0 - 1e-3 and np.all(np.diff(traj.t) > 0)
    assert node.last_plan.behavior.value == "cruise"


def test_stops_for_a_car_standing_in_the_lane(fake, map_path):
    node, ctx = fake.make_node(PlannerNode, map_path=map_path)
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, 10.0, -5.25, 0.0, 10.0))
    car = ObjectArray.create([[50.0, -5.25, 0.75]], [0.0], [[4.5, 1.8, 1.5]], [Label.CAR])
    ctx.deliver(topics.TRACKED_OBJECTS, _objects(fake, T0, car))
    traj = trajectory_from_msg(ctx.sent(topics.TRAJECTORY)[0])
    assert node.last_plan.behavior.value == "stop"
    assert traj.v[-1] < 0.5 and traj.x[-1] + 3.7 < 50.0 - 2.25  # slows to a halt before it


def test_bad_inputs_are_counted(fake, map_path):
    _, ctx = fake.make_node(PlannerNode, map_path=map_path)
    ctx.deliver(topics.TRACKED_OBJECTS, _objects(fake, T0, ObjectArray.empty()))  # no odometry yet
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, float("nan"), 0.0, 0.0, 1.0))
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, 0.0, -5.25, 0.0, 1.0))
    ctx.deliver(topics.TRACKED_OBJECTS, _objects(fake, T0, ObjectArray.empty(), frame="base_link"))
    ctx.deliver(
        topics.TRACKED_OBJECTS, _objects(fake, T0 + 2_000_000_000, ObjectArray.empty())
    )  # old ego
    assert ctx.sent(topics.TRAJECTORY) == []
    details = [d for _, d in ctx.events]
    assert len(details) == 4
    assert "no ego odometry" in details[0] and "non-finite" in details[1]
    assert "'base_link'" in details[2] and "older" in details[3]


def test_timer_replans_with_the_last_objects(fake, map_path):
    _, ctx = fake.make_node(PlannerNode, map_path=map_path, replan_period_s=0.1)
    ((period, callback),) = ctx.timers
    assert period == 0.1
    callback()  # no odometry: nothing to do
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, 0.0, -5.25, 0.0, 5.0))
    callback()
    (out,) = ctx.sent(topics.TRAJECTORY)
    assert msgs.stamp_to_ns(out.header.stamp) == T0


def test_map_is_required(fake):
    with pytest.raises(MapError, match="map_path"):
        fake.make_node(PlannerNode)


def test_no_plan_until_localization_has_settled(fake, map_path):
    _node, ctx = fake.make_node(PlannerNode, map_path=map_path, localization_warmup_s=2.0)
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0, 10.0, -5.0, 0.0, 10.0))
    ctx.deliver(topics.TRACKED_OBJECTS, _objects(fake, T0, ObjectArray.empty()))
    ctx.deliver(
        topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0 + 1_500_000_000, 25.0, -5.0, 0.0, 10.0)
    )
    ctx.deliver(topics.TRACKED_OBJECTS, _objects(fake, T0 + 1_500_000_000, ObjectArray.empty()))
    assert ctx.sent(topics.TRAJECTORY) == []
    ctx.deliver(
        topics.LOCALIZATION_ODOMETRY, _odometry(fake, T0 + 2_100_000_000, 31.0, -5.0, 0.0, 10.0)
    )
    ctx.deliver(topics.TRACKED_OBJECTS, _objects(fake, T0 + 2_100_000_000, ObjectArray.empty()))
    assert len(ctx.sent(topics.TRAJECTORY)) == 1
