"""The rclpy adapter against a stand-in for rclpy's API (rclpy cannot be installed here)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from stack import msgs
from stack.graph import parse_graph

REC = "tests.stack.executor.nodes:Recorder"


class FakeBus:
    def __init__(self) -> None:
        self.subs: dict[str, list] = {}
        self.timers: list = []


class FakeRosNode:
    bus = FakeBus()

    def __init__(self, name: str) -> None:
        self.name = name
        self.params: dict = {}
        self.qos: dict = {}

    def create_publisher(self, cls, topic, qos):
        bus = self.bus

        class Pub:
            def publish(self, msg):
                assert isinstance(msg, cls), f"published {type(msg)} on {topic}, expected {cls}"
                for cb in bus.subs.get(topic, []):
                    cb(msg)

        return Pub()

    def create_subscription(self, cls, topic, cb, qos):
        self.qos[topic] = qos
        self.bus.subs.setdefault(topic, []).append(cb)

    def create_timer(self, period, cb):
        self.bus.timers.append((period, cb))

    def declare_parameter(self, name, value):
        self.params[name] = value

    def get_parameter(self, name):
        return types.SimpleNamespace(value=self.params[name])

    def get_logger(self):
        import logging

        return logging.getLogger(self.name)

    def get_clock(self):
        return types.SimpleNamespace(now=lambda: types.SimpleNamespace(nanoseconds=42))


@dataclass
class FakeTime:
    sec: int = 0
    nanosec: int = 0


@dataclass
class FakeHeader:
    stamp: FakeTime = None
    frame_id: str = ""


@pytest.fixture
def fake_rclpy(monkeypatch):
    FakeRosNode.bus = FakeBus()
    rclpy = types.ModuleType("rclpy")
    node_mod = types.ModuleType("rclpy.node")
    node_mod.Node = FakeRosNode
    qos = types.ModuleType("rclpy.qos")
    qos.qos_profile_sensor_data = "sensor_data"
    qos.QoSProfile = lambda **kw: ("profile", kw["depth"])
    qos.HistoryPolicy = types.SimpleNamespace(KEEP_LAST="keep_last")
    qos.ReliabilityPolicy = types.SimpleNamespace(RELIABLE="reliable")
    rclpy.node, rclpy.qos = node_mod, qos
    std = types.ModuleType("std_msgs")
    std_msg = types.ModuleType("std_msgs.msg")
    std_msg.Header = FakeHeader
    for name, mod in {
        "rclpy": rclpy,
        "rclpy.node": node_mod,
        "rclpy.qos": qos,
        "std_msgs": std,
        "std_msgs.msg": std_msg,
    }.items():
        monkeypatch.setitem(sys.modules, name, mod)
    from stack.ros.messages import rosidl_class

    rosidl_class.cache_clear()
    yield rclpy
    msgs.factory.set_backend(None)
    rosidl_class.cache_clear()


def test_nodes_run_unchanged_on_rclpy(fake_rclpy):
    from stack.ros.launch import build_nodes

    graph = parse_graph(
        f"""
allow_external_modules: true
nodes:
  a: {{class: "{REC}", params: {{input: /in, output: /mid}}}}
  b: {{class: "{REC}", params: {{input: /mid, depth: 5}}}}
""",
        "v.yaml",
    )
    built = build_nodes(graph, fake_rclpy)
    ros_a, node_a = built["a"]
    ros_b, node_b = built["b"]
    assert ros_a.params["input"] == "/in" and ros_a.params["output"] == "/mid"
    assert ros_a.qos["/in"] == "sensor_data"  # depth 1: sensor data QoS
    assert ros_b.qos["/mid"] == ("profile", 5)
    msg = msgs.new("std_msgs/msg/Header", frame_id="f1")  # rosidl class now
    assert isinstance(msg, FakeHeader)
    for cb in FakeRosNode.bus.subs["/in"]:
        cb(msg)
    assert node_a.seen == ["f1"] and node_b.seen == ["f1"]


def test_missing_message_package_is_named(fake_rclpy):
    from stack.msgs import MessageError
    from stack.ros.messages import new_rosidl

    with pytest.raises(MessageError, match="'autoware_perception_msgs' is not built"):
        new_rosidl("autoware_perception_msgs/msg/DetectedObjects")
