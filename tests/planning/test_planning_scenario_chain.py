"""The whole algorithm chain on a bag from tools/scenario: localization (EKF + scan matching),
lidar obstacles, tracking, planning and control, checked against the bag's ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from perception.geometry import quaternion_to_yaw, wrap_angle
from perception.lidar.node import LidarObstacles
from perception.localization.node import EkfLocalizer
from perception.localization.scan_node import ScanMatcherNode
from perception.objects import objects_from_msg
from perception.tracking.node import ObjectTracker
from planning.control.node import Controller
from planning.node import PlannerNode
from stack import msgs

scenario = pytest.importorskip("tools.scenario.generator")
AnyReader = pytest.importorskip("rosbags.highlevel").AnyReader

SENSOR_TOPICS = {
    "/tf_static",
    "/sensing/imu/data",
    "/vehicle/odometry",
    "/sensing/gnss/fix",
    "/sensing/lidar/top/points",
}


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    import importlib.util
    import sys
    from pathlib import Path

    name = "l4_tests_fake_ctx"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "perception" / "fake_ctx.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    fake = sys.modules[name]

    bag = tmp_path_factory.mktemp("scenario") / "drive"
    info = scenario.make_scenario(bag, seconds=8.0, seed=11, progress=False)
    map_path = str(info.map_path)
    bus = fake.FakeBus()
    nodes = {
        "ekf": bus.add(EkfLocalizer, map_path=map_path),
        "scan": bus.add(ScanMatcherNode, map_path=map_path),
        "lidar": bus.add(LidarObstacles),
        "tracker": bus.add(ObjectTracker, map_path=map_path),
        "planner": bus.add(PlannerNode, map_path=map_path),
        "control": bus.add(Controller),
    }
    truth_pose, truth_objects = [], {}
    with AnyReader([bag], default_typestore=msgs.typestore()) as reader:
        for conn, _, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic in SENSOR_TOPICS:
                bus.deliver(conn.topic, msg)
            elif conn.topic == "/ground_truth/ego_pose":
                p = msg.pose
                truth_pose.append(
                    (
                        msgs.stamp_to_ns(msg.header.stamp),
                        p.position.x,
                        p.position.y,
                        quaternion_to_yaw(p.orientation),
                    )
                )
            elif conn.topic == "/ground_truth/objects":
                truth_objects[msgs.stamp_to_ns(msg.header.stamp)] = objects_from_msg(msg)
    return nodes, np.array(truth_pose), truth_objects


@pytest.mark.slow
def test_localization_with_scan_matching_tracks_ground_truth(chain_run):
    nodes, truth, _ = chain_run
    odom = nodes["ekf"][1].sent("/localization/odometry")
    assert nodes["scan"][1].sent("/localization/scan_pose")
    start = truth[0, 0] + 4_000_000_000  # after GNSS initialisation and the first matches
    errors, yaw_errors = [], []
    for m in odom:
        stamp = msgs.stamp_to_ns(m.header.stamp)
        i = int(np.argmin(np.abs(truth[:, 0] - stamp)))
        if stamp >= start and abs(truth[i, 0] - stamp) < 5_000_000:
            p = m.pose.pose
            errors.append(np.hypot(p.position.x - truth[i, 1], p.position.y - truth[i, 2]))
            yaw_errors.append(abs(wrap_angle(quaternion_to_yaw(p.orientation) - truth[i, 3])))
    assert len(errors) > 100
    assert np.sqrt(np.mean(np.square(errors))) < 0.3
    assert max(yaw_errors) < 0.02


@pytest.mark.slow
def test_tracked_objects_match_ground_truth_vehicles(chain_run):
    nodes, truth, truth_objects = chain_run
    tracked = nodes["tracker"][1].sent("/perception/objects")
    assert len(tracked) >= 60  # one per lidar sweep once localised
    found = total = 0
    for out in tracked[-20:]:
        stamp = msgs.stamp_to_ns(out.header.stamp)
        gt = truth_objects.get(stamp)
        if gt is None:
            continue
        ego = truth[int(np.argmin(np.abs(truth[:, 0] - stamp))), 1:3]
        near = np.hypot(*(gt.position[:, :2] - ego).T) < 30.0
        objs = objects_from_msg(out)
        for p, dims in zip(gt.position[near], gt.dims[near]):
            total += 1
            dist = np.hypot(*(objs.position[:, :2] - p[:2]).T) if len(objs) else [np.inf]
            found += np.min(dist) < 0.5 * dims[0] + 1.0  # lidar boxes cover the visible faces
    assert total > 0 and found / total > 0.7


@pytest.mark.slow
def test_planner_and_controller_answer_every_tracked_frame(chain_run):
    nodes, _, _ = chain_run
    tracked = nodes["tracker"][1].sent("/perception/objects")
    trajectories = nodes["planner"][1].sent("/planning/trajectory")
    commands = nodes["control"][1].sent("/control/command")
    assert len(trajectories) == len(tracked) == len(commands)
    stamps = [msgs.stamp_to_ns(m.header.stamp) for m in tracked]
    assert [msgs.stamp_to_ns(m.header.stamp) for m in commands] == stamps
    assert all(len(t.points) >= 30 for t in trajectories)
    assert all(abs(c.drive.steering_angle) < 0.2 for c in commands)  # gentle road, in lane
    for name, (_, ctx) in nodes.items():
        unexpected = [d for _, d in ctx.events if "no ego pose" not in d]
        assert len(unexpected) <= 3, (name, unexpected[:3])
