"""The l4-scheduled ROS mode: the embedded runtime with rclpy only at the graph's boundary,
against a stand-in for rclpy's raw publish/subscribe API (rclpy cannot be installed here)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from stack import msgs
from stack.executor import Runtime, SimClock
from stack.graph import parse_graph
from tests.stack.ros import standin

REC = "tests.stack.executor.nodes:Recorder"
GRAPH = f"""
allow_external_modules: true
nodes:
  a: {{class: "{REC}", params: {{input: /in, output: /mid}}}}
  b: {{class: "{REC}", params: {{input: /mid, output: /out, depth: 5}}}}
"""


class RawNode:
    """The slice of rclpy.node.Node the bridge uses: raw subscriptions, publishers of bytes."""

    def __init__(self) -> None:
        self.subs: dict[str, tuple] = {}
        self.sent: dict[str, list[bytes]] = {}

    def create_subscription(self, cls, topic, callback, qos, raw=False):
        self.subs[topic] = (cls, callback, qos, raw)

    def create_publisher(self, cls, topic, depth):
        sent = self.sent.setdefault(topic, [])

        class Pub:
            def publish(self, data):
                assert isinstance(data, bytes), "the bridge publishes serialized messages"
                sent.append(data)

        return Pub()


def fake_msg_package(monkeypatch, pkg: str, cls: str) -> None:
    """``PKG.msg.CLS`` as an empty class in sys.modules, rosidl_class's cache cleared."""
    mod = types.ModuleType(f"{pkg}.msg")
    setattr(mod, cls, type(cls, (), {}))
    monkeypatch.setitem(sys.modules, pkg, types.ModuleType(pkg))
    monkeypatch.setitem(sys.modules, f"{pkg}.msg", mod)
    from stack.ros.messages import rosidl_class

    rosidl_class.cache_clear()


@pytest.fixture
def fake_msg_modules(monkeypatch):
    from stack.ros.messages import rosidl_class

    fake_msg_package(monkeypatch, "std_msgs", "Header")
    yield
    rosidl_class.cache_clear()


QOS = types.SimpleNamespace(
    QoSProfile=standin.QoSProfile,
    HistoryPolicy=standin.HistoryPolicy,
    ReliabilityPolicy=standin.ReliabilityPolicy,
    DurabilityPolicy=standin.DurabilityPolicy,
)


def bridged(policy: str = "l4"):
    from stack.ros.bridge import RosBridge

    rt = Runtime(parse_graph(GRAPH, "v.yaml"), SimClock(0), lockstep=True, policy=policy,
                 external_topics=("/in",))  # fmt: skip
    node = RawNode()
    return rt, node, RosBridge(rt, node, QOS)


def header_bytes(frame: str) -> bytes:
    return msgs.serialize(msgs.new("std_msgs/msg/Header", frame_id=frame), "std_msgs/msg/Header")


def test_boundary_topics_cross_rclpy_and_inner_hops_stay_in_process(fake_msg_modules):
    rt, node, bridge = bridged()
    # Only /in comes from outside; /mid and /out are the graph's own and go out to ROS.
    assert set(node.subs) == {"/in"}
    _cls, callback, qos, raw = node.subs["/in"]
    assert raw is True and qos.reliability == standin.ReliabilityPolicy.BEST_EFFORT
    assert set(node.sent) == {"/mid", "/out"}
    for frame in ("f1", "f2"):
        callback(header_bytes(frame))
        rt.run_until_idle()
    assert rt.nodes["b"].instance.seen == ["f1", "f2"]
    out = [msgs.deserialize(b, "std_msgs/msg/Header").frame_id for b in node.sent["/out"]]
    assert out == ["f1", "f2"] and len(node.sent["/mid"]) == 2
    assert bridge.inputs == {"/in": 2}


def test_a_message_that_does_not_deserialize_is_counted_not_raised(fake_msg_modules):
    rt, node, bridge = bridged()
    callback = node.subs["/in"][1]
    callback(b"\x00\x01")
    callback(header_bytes("ok"))
    rt.run_until_idle()
    assert bridge.bad_inputs == {"/in": 1} and bridge.inputs == {"/in": 1}
    assert rt.nodes["a"].instance.seen == ["ok"]


def test_missing_message_package_is_named(monkeypatch):
    from stack.msgs import MessageError
    from stack.ros.messages import rosidl_class

    rosidl_class.cache_clear()
    monkeypatch.setitem(sys.modules, "std_msgs", None)  # not built in this "install"
    with pytest.raises(MessageError, match="'std_msgs' is not built"):
        bridged()
    rosidl_class.cache_clear()


def test_l4_ros_without_rclpy_says_what_to_source(tmp_path):
    import subprocess

    launch = tmp_path / "g.yaml"
    launch.write_text(GRAPH)
    proc = subprocess.run(
        [sys.executable, "-m", "stack.cli", "ros", str(launch), "--executors", "l4"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "rclpy is not importable" in proc.stderr and "l4 launch" in proc.stderr


def _image_bytes(sec: int, data_len: int = 12) -> bytes:
    stamp = msgs.new("builtin_interfaces/msg/Time", sec=sec, nanosec=0)
    header = msgs.new("std_msgs/msg/Header", stamp=stamp, frame_id="cam")
    img = msgs.new(
        "sensor_msgs/msg/Image", header=header, height=2, width=2, encoding="bgr8", step=6,
        data=np.zeros(data_len, np.uint8),
    )  # fmt: skip
    return msgs.serialize(img, "sensor_msgs/msg/Image")


def test_repeated_stamps_and_short_images_are_dropped_and_counted(monkeypatch):
    fake_msg_package(monkeypatch, "sensor_msgs", "Image")
    from stack.ros.bridge import RosBridge
    from stack.ros.messages import rosidl_class

    graph = parse_graph(
        "nodes:\n  sink: {class: 'stack.nodes.synthetic:Sink', params: {input: /cam}}\n", "v.yaml"
    )
    rt = Runtime(graph, SimClock(0), lockstep=True, external_topics=("/cam",))
    node = RawNode()
    bridge = RosBridge(rt, node, QOS)
    callback = node.subs["/cam"][1]
    for data in (_image_bytes(1), _image_bytes(1), _image_bytes(2, data_len=5), _image_bytes(3)):
        callback(data)
        rt.run_until_idle()
    rosidl_class.cache_clear()
    sink = rt.nodes["sink"].instance
    assert sink.stamps == [1_000_000_000, 3_000_000_000]  # the repeat and the short image: gone
    assert bridge.repeats.counts == {"/cam": 1} and bridge.bad_inputs == {"/cam": 1}
    assert bridge.inputs == {"/cam": 2}


def test_an_input_that_raises_in_the_graph_is_counted_not_raised(fake_msg_modules):
    rt, node, bridge = bridged()

    def broken(topic, msg):
        raise RuntimeError("inject failed")

    rt.inject = broken
    node.subs["/in"][1](header_bytes("x"))  # would end the bridge's spin thread unguarded
    assert bridge.errors.total == 1 and "bridge.input /in: 1" in bridge.errors.summary()


def test_l4_ros_passes_ros_args_and_runs_on_ros_time(monkeypatch, tmp_path):
    """Item 5: --ros-args reach rclpy (remaps, -p overrides, use_sim_time) and the bridge
    mode's runtime runs on the ROS clock, not the wall clock."""
    rclpy = standin.install(monkeypatch)
    import stack.cli.launch
    from stack.cli.main import build_parser
    from stack.cli.ros import run

    launch = tmp_path / "g.yaml"
    launch.write_text(GRAPH)
    argv = ["ros", str(launch), "--duration", "0.1", "--ros-args", "-r", "/in:=/vehicle/in",
            "-p", "use_sim_time:=true", "-p", "b.depth:=3"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert args.ros_args == [
        "-r",
        "/in:=/vehicle/in",
        "-p",
        "use_sim_time:=true",
        "-p",
        "b.depth:=3",
    ]
    seen = {}

    def fake_run_graph(args, graph, attach=None, clock=None):
        seen.update(graph=graph, clock=clock)
        return 0

    monkeypatch.setattr(stack.cli.launch, "run_graph", fake_run_graph)
    assert run(args) == 0
    assert rclpy.state["args"] == ["l4", "--ros-args", *args.ros_args]
    assert seen["graph"].nodes["b"].params.depth == 3  # the -p override, by NODE.FIELD
    standin.bus().clock_ns = 7_000_000_123
    assert seen["clock"].now_ns() == 7_000_000_123  # /clock time under use_sim_time
