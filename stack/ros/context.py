"""Context implementation on top of an rclpy Node."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack import msgs
from stack.events import EventKind, kind_value
from stack.graph import NodeSpec, resolve_path, resolve_topic
from stack.ros.messages import rosidl_class


class RclpyClock:
    def __init__(self, node: Any) -> None:
        self._node = node

    def now_ns(self) -> int:
        return self._node.get_clock().now().nanoseconds


def qos_for_depth(rclpy_qos: Any, depth: int) -> Any:
    """Depth 1 is sensor data: keep last, best effort. Deeper queues are reliable."""
    if depth == 1:
        return rclpy_qos.qos_profile_sensor_data
    return rclpy_qos.QoSProfile(
        depth=depth,
        history=rclpy_qos.HistoryPolicy.KEEP_LAST,
        reliability=rclpy_qos.ReliabilityPolicy.RELIABLE,
    )


def declare_params(ros_node: Any, spec: NodeSpec) -> Any:
    """Declare every field of the node's Params as a ROS parameter and read back overrides."""
    values = {}
    for field in dataclasses.fields(spec.params):
        default = getattr(spec.params, field.name)
        if isinstance(default, (bool, int, float, str)) or (
            isinstance(default, list) and default and isinstance(default[0], (int, float, str))
        ):
            ros_node.declare_parameter(field.name, default)
            values[field.name] = ros_node.get_parameter(field.name).value
        else:  # nested structures stay as given in the launch file
            values[field.name] = default
    return dataclasses.replace(spec.params, **values)


class RclpyContext:
    """stack.node.Context over rclpy: publishers, subscriptions and timers of one rclpy Node."""

    def __init__(self, ros_node: Any, spec: NodeSpec, rclpy_qos: Any, source: str) -> None:
        self._node = ros_node
        self._spec = spec
        self._qos = rclpy_qos
        self._source = source
        self.name = spec.name
        self.params = declare_params(ros_node, spec)
        self.logger = ros_node.get_logger()
        self.clock = RclpyClock(ros_node)
        self.variant = ""

    def _topic(self, name: str) -> str:
        topic = resolve_topic(name)
        return self._spec.remap.get(topic, topic)

    def publisher(self, topic: str, msgtype: str) -> Any:
        pub = self._node.create_publisher(rosidl_class(msgtype), self._topic(topic), 10)
        pub.topic = self._topic(topic)
        pub.msgtype = msgtype
        return pub

    def subscribe(
        self, topic: str, msgtype: str, callback: Callable[[Any], None], depth: int = 1
    ) -> None:
        self._node.create_subscription(
            rosidl_class(msgtype), self._topic(topic), callback, qos_for_depth(self._qos, depth)
        )

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self._node.create_timer(period_s, callback)

    def new(self, msgtype: str, **fields: Any) -> Any:
        return msgs.new(msgtype, **fields)

    def engine(self, model: str | Path, **options: Any) -> Any:
        from stack.engine import EngineOptions, load_engine

        opts = EngineOptions.from_mapping(options, f"node {self.name}")
        return load_engine(self.resolve_path(model), opts)

    def resolve_path(self, path: str | Path) -> Path:
        return resolve_path(self._source, path)

    def event(self, kind: EventKind, detail: str = "") -> None:
        self.logger.warning(f"{kind_value(kind, self.name)}: {detail}")

    def set_variant(self, variant: str) -> None:
        self.variant = variant
