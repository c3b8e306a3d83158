"""The l4 scheduler on a ROS 2 graph (`l4 ros FILE`, the default mode).

Plain rclpy executors run ready callbacks in their wait-set order, so a launch file run as one
rclpy node per launch node gets none of the l4 policy. Here the launch file's nodes run in the
embedded runtime instead -- chain priorities and deadlines, stale drops, the blocking guard, the
GPU gates, tracing -- as the nodes of one composable container, talking in-process; rclpy carries
only what crosses the graph's boundary. Every topic the graph subscribes to and nobody in it
publishes comes in through a raw (serialized) rclpy subscription and is injected; every topic the
graph publishes goes out through a raw rclpy publisher, so RViz, Foxglove, rosbag2 and the rest
of the vehicle see the usual topics.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stack import msgs
from stack.executor.view import BridgedRuntime
from stack.graph_qos import QosOverride, Role, topic_qos
from stack.msgs.dedup import DuplicateFilter
from stack.msgs.validate import SizeCheck, size_check
from stack.ros.guard import CallbackErrors, spin_until_stopped
from stack.ros.messages import rosidl_class
from stack.ros.qos import to_rclpy

if TYPE_CHECKING:
    from rclpy.executors import Executor
    from rclpy.node import Node as RosNode

log = logging.getLogger(__name__)


class RosBridge:
    def __init__(
        self,
        runtime: BridgedRuntime,
        ros_node: RosNode,
        rclpy_qos: Any,
        qos: Mapping[str, QosOverride] | None = None,
        errors: CallbackErrors | None = None,
    ) -> None:
        self.runtime = runtime
        self.node = ros_node
        self.errors = errors if errors is not None else CallbackErrors()
        self.publishers: dict[str, tuple[Any, str]] = {}
        self.inputs: dict[str, int] = {}  # topic -> messages injected
        self.bad_inputs: dict[str, int] = {}  # topic -> malformed messages (type, sizes)
        self.repeats = DuplicateFilter()  # inputs repeating the stamp before them, per topic
        overrides = qos or {}
        for name, topic in sorted(runtime.topics.items()):
            if topic.publishers:
                profile = to_rclpy(rclpy_qos, topic_qos(overrides, name, Role.OUTPUT))
                pub = ros_node.create_publisher(rosidl_class(topic.msgtype), name, profile)
                self.publishers[name] = (pub, topic.msgtype)
            elif topic.subscriptions:
                depth = max(s.depth for s in topic.subscriptions)
                profile = to_rclpy(rclpy_qos, topic_qos(overrides, name, Role.INPUT, depth))
                callback = functools.partial(
                    self._on_input, name, topic.msgtype, size_check(topic.msgtype)
                )  # the size check looked up once per topic, not per message
                callback.__name__ = f"input {name}"  # type: ignore[attr-defined]
                ros_node.create_subscription(
                    rosidl_class(topic.msgtype), name, self.errors.wrap("bridge", callback),
                    profile, raw=True,
                )  # fmt: skip
                self.inputs[name] = 0
        runtime.taps.append(self._on_output)

    def _on_input(self, topic: str, msgtype: str, check: SizeCheck | None, data: bytes) -> None:
        try:
            msg = msgs.deserialize(data, msgtype)
            problem = check(msg) if check is not None else None
        except Exception as exc:  # a peer with another definition of the type: count, go on
            problem = f"does not deserialize as {msgtype}: {exc}"
        if problem is not None:
            count = self.bad_inputs[topic] = self.bad_inputs.get(topic, 0) + 1
            if count == 1:
                log.warning("%s: message dropped (counted from now on): %s", topic, problem)
            return
        if self.repeats.repeated(topic, msg):
            return
        self.inputs[topic] += 1
        self.runtime.inject(topic, msg)

    def _on_output(self, topic: str, msg: Any, publish_ns: int) -> None:
        entry = self.publishers.get(topic)
        if entry is not None:
            pub, msgtype = entry
            pub.publish(msgs.serialize(msg, msgtype))


def spin_in_thread(
    executor: Executor, ok: Callable[[], bool], errors: CallbackErrors | None = None
) -> threading.Thread:
    """rclpy's executor on a thread of its own (its callbacks only inject, cheap), spinning
    while ``ok()`` whatever a callback raises."""
    errors = errors if errors is not None else CallbackErrors()
    thread = threading.Thread(
        target=spin_until_stopped, args=(executor, "bridge", ok, errors),
        name="rclpy-bridge", daemon=True,
    )  # fmt: skip
    thread.start()
    return thread


__all__ = ["RosBridge", "spin_in_thread"]
