"""The vehicle deployment: launch/vehicle.yaml, the l4stack_bringup ROS package, and a dry run
of the vehicle graph on a recorded drive through the rclpy bridge (stand-in rclpy, driver topic
names, the vehicle QoS)."""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stack import msgs
from stack.graph import load_graph
from stack.msgs.factory import UPSTREAM_DIR
from tests.stack.ros import standin

ROOT = Path(__file__).resolve().parents[3]
VEHICLE = ROOT / "launch" / "vehicle.yaml"
PACKAGE = ROOT / "ros" / "l4stack_bringup"
DRIVER_TOPICS = {  # the scenario's standard names -> vehicle.yaml's default driver topics
    "/sensing/camera/front/image_raw": "/camera/image_raw",
    "/sensing/camera/front/camera_info": "/camera/camera_info",
    "/sensing/lidar/top/points": "/ouster/points",
    "/sensing/imu/data": "/imu/data",
    "/sensing/gnss/fix": "/fix",
    "/vehicle/odometry": "/vehicle/odometry",
    "/tf_static": "/tf_static",
}


def exec_depends() -> set[str]:
    root = ET.parse(PACKAGE / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "l4stack_bringup"
    return {e.text for e in root.iter("exec_depend")}


def test_no_local_copies_under_upstream_names_are_built() -> None:
    """Every upstream definition we keep is a released package the vehicle installs; nothing
    in the repository builds an interface package."""
    upstream = {p.name for p in UPSTREAM_DIR.iterdir() if p.is_dir()}
    assert upstream == {
        "vision_msgs", "ackermann_msgs", "autoware_perception_msgs", "autoware_planning_msgs",
    }  # fmt: skip
    assert upstream <= exec_depends()
    assert not list(ROOT.glob("**/rosidl_generate_interfaces*"))
    assert "rosidl_generate_interfaces" not in (PACKAGE / "CMakeLists.txt").read_text()


def test_launch_ros_entry_runs_l4_ros_on_the_vehicle_file() -> None:
    launch = (PACKAGE / "launch" / "vehicle.launch.py").read_text()
    tree = ast.parse(launch)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)  # fmt: skip
    assert 'executable="l4_ros"' in launch and '"vehicle.yaml"' in launch
    assert "name=" not in launch.split("Node(")[1]  # no __node remap of every node
    cmake = (PACKAGE / "CMakeLists.txt").read_text()
    assert "scripts/l4_ros DESTINATION lib/${PROJECT_NAME}" in cmake
    assert (PACKAGE / "scripts" / "l4_ros").stat().st_mode & 0o111
    assert "exec l4 ros" in (PACKAGE / "scripts" / "l4_ros").read_text()


@pytest.fixture(scope="module")
def drive(tmp_path_factory) -> Path:
    from tools.scenario import make_scenario

    out = tmp_path_factory.mktemp("vehicle") / "drive"
    make_scenario(out, 4.0, seed=11, storage="sqlite3", progress=False)
    return out


def test_vehicle_graph_dry_run_through_the_bridge(drive: Path, monkeypatch) -> None:
    """Item 7: the shipped vehicle graph, on driver topic names, uses backend auto and only
    message packages package.xml lists; a recorded drive fed in through rclpy's raw
    subscriptions comes out as control commands on the vehicle QoS."""
    from rosbags.highlevel import AnyReader

    from stack.executor import Runtime, SimClock
    from stack.ros.bridge import RosBridge

    rclpy = standin.install(monkeypatch)
    graph = load_graph(VEHICLE, {"map_dir": str(drive)})
    assert graph.nodes["camera_detector"].params.backend == "auto"
    assert graph.nodes["camera_detector"].params.engine_cache == "/var/cache/l4stack/engines"
    with AnyReader([drive]) as reader:
        conns = [c for c in reader.connections if c.topic in DRIVER_TOPICS]
        items = list(reader.messages(connections=conns))
    start = items[0][1]
    rt = Runtime(graph, SimClock(start), lockstep=True,
                 external_topics=tuple(DRIVER_TOPICS.values()))  # fmt: skip
    commands = standin.Node("vehicle_interface").create_subscription(
        standin.message_class("ackermann_msgs/msg/AckermannDriveStamped"), "/control/command",
        lambda m: None, standin.QoSProfile(depth=1000),
    )  # fmt: skip
    bridge = RosBridge(rt, standin.Node("l4stack_vehicle"), rclpy.qos, graph.qos)
    subs = {s.topic: s for s in bridge.node.subscriptions}
    assert set(subs) == {*DRIVER_TOPICS.values(), "/initialpose"}  # rviz's pose estimate too
    assert subs["/ouster/points"].qos.reliability == standin.ReliabilityPolicy.BEST_EFFORT
    assert subs["/tf_static"].qos.durability == standin.DurabilityPolicy.TRANSIENT_LOCAL
    cmd_pub = next(p for p in bridge.node.publishers if p.topic == "/control/command")
    assert (cmd_pub.qos.reliability, cmd_pub.qos.depth) == (standin.ReliabilityPolicy.RELIABLE, 1)
    used = {t.msgtype.split("/")[0] for t in rt.topics.values()}
    assert used <= exec_depends()
    rt.start_timers()
    for conn, t_ns, raw in items:
        rt.advance_to(t_ns)
        subs[DRIVER_TOPICS[conn.topic]].callback(raw)
        rt.run_until_idle()
    rt.shutdown()
    msgs.factory.set_backend(None)
    assert bridge.errors.total == 0 and bridge.bad_inputs == {}
    assert bridge.inputs["/ouster/points"] >= 29 and bridge.inputs["/camera/image_raw"] >= 29
    # The EKF starts once 5 GNSS fixes agree with dead reckoning, planning 2 s after that (its
    # localization warm-up: hence a 4 s drive); until then the watchdog holds the
    # car with safe stops, and the first command releases it.
    assert len(commands.waiting) >= 2
    watchdog = rt.nodes["watchdog"].instance
    assert watchdog.safe_stops > 0 and not watchdog.tripped
