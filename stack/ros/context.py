"""Context implementation on top of an rclpy Node."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stack import msgs
from stack.events import EventKind, kind_value
from stack.graph import NodeSpec, resolve_path, resolve_topic
from stack.graph_qos import QosOverride, Role, topic_qos
from stack.node import Clock, NodeLogger
from stack.ros.guard import CallbackErrors
from stack.ros.logger import RosLogger
from stack.ros.messages import rosidl_class
from stack.ros.qos import to_rclpy

if TYPE_CHECKING:
    from rclpy.node import Node as RosNode


class RosClock:
    """The node's ROS clock: system time, or /clock when `use_sim_time` is set."""

    simulated = False

    def __init__(self, node: RosNode) -> None:
        self._node = node

    def now_ns(self) -> int:
        return int(self._node.get_clock().now().nanoseconds)

    def wall_delay_s(self, ros_ns: int) -> float:
        return max(0.0, ros_ns / 1e9)


@dataclass
class RosPublisher:
    """stack.node.Publisher over an rclpy publisher."""

    topic: str
    msgtype: str
    pub: Any  # rclpy.publisher.Publisher

    def publish(self, msg: Any) -> None:
        self.pub.publish(msg)


def declare_params(ros_node: RosNode, spec: NodeSpec, prefix: str = "") -> Any:
    """Declare every field of the node's Params as a ROS parameter (``prefix`` + field name)
    and read back overrides (``--ros-args -p NAME:=VALUE``, a params file)."""
    values = {}
    for field in dataclasses.fields(spec.params):
        default = getattr(spec.params, field.name)
        if isinstance(default, (bool, int, float, str)) or (
            isinstance(default, list) and default and isinstance(default[0], (int, float, str))
        ):
            name = prefix + field.name
            ros_node.declare_parameter(name, default)
            values[field.name] = ros_node.get_parameter(name).value
        else:  # nested structures stay as given in the launch file
            values[field.name] = default
    return dataclasses.replace(spec.params, **values)


class RclpyContext:
    """stack.node.Context over rclpy: publishers, subscriptions and timers of one rclpy Node."""

    def __init__(
        self,
        ros_node: RosNode,
        spec: NodeSpec,
        rclpy_qos: Any,
        source: str,
        qos: dict[str, QosOverride] | None = None,
        errors: CallbackErrors | None = None,
    ) -> None:
        self._node = ros_node
        self._spec = spec
        self._qos = rclpy_qos
        self._overrides = qos or {}
        self._source = source
        self.errors = errors if errors is not None else CallbackErrors()
        self.name = spec.name
        self.params = declare_params(ros_node, spec)
        self.logger: NodeLogger = RosLogger(ros_node.get_logger())
        self.clock: Clock = RosClock(ros_node)
        self.variant = ""

    def _topic(self, name: str) -> str:
        topic = resolve_topic(name)
        return self._spec.remap.get(topic, topic)

    def publisher(self, topic: str, msgtype: str) -> RosPublisher:
        name = self._topic(topic)
        qos = to_rclpy(self._qos, topic_qos(self._overrides, name, Role.OUTPUT))
        pub = self._node.create_publisher(rosidl_class(msgtype), name, qos)
        return RosPublisher(name, msgtype, pub)

    def subscribe(
        self, topic: str, msgtype: str, callback: Callable[[Any], None], depth: int = 1
    ) -> None:
        name = self._topic(topic)
        qos = to_rclpy(self._qos, topic_qos(self._overrides, name, Role.INPUT, depth))
        guarded = self.errors.wrap(self.name, callback, self.logger)
        self._node.create_subscription(rosidl_class(msgtype), name, guarded, qos)

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self._node.create_timer(period_s, self.errors.wrap(self.name, callback, self.logger))

    def new(self, msgtype: str, **fields: Any) -> Any:  # rosidl classes: no hot path to save
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


def override_graph_params(graph: Any, ros_node: RosNode) -> Any:
    """Declare each launch node's parameters on ``ros_node`` as ``NODE.FIELD`` and take the
    values ROS gives back (``--ros-args -p planner.max_speed:=5.0``, ``--params-file``)."""
    for name, spec in list(graph.nodes.items()):
        params = declare_params(ros_node, spec, prefix=f"{name}.")
        graph.nodes[name] = dataclasses.replace(spec, params=params)
    return graph
