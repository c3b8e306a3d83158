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
from typing import Any

from stack import msgs
from stack.executor.view import BridgedRuntime
from stack.msgs.dedup import DuplicateFilter
from stack.msgs.validate import size_check
from stack.ros.context import qos_for_depth
from stack.ros.messages import rosidl_class

log = logging.getLogger(__name__)
PUBLISH_DEPTH = 10


class RosBridge:
    def __init__(self, runtime: BridgedRuntime, ros_node: Any, rclpy_qos: Any) -> None:
        self.runtime = runtime
        self.node = ros_node
        self.publishers: dict[str, tuple[Any, str]] = {}
        self.inputs: dict[str, int] = {}  # topic -> messages injected
        self.bad_inputs: dict[str, int] = {}  # topic -> malformed messages (type, sizes)
        self.repeats = DuplicateFilter()  # inputs repeating the stamp before them, per topic
        for name, topic in sorted(runtime.topics.items()):
            if topic.publishers:
                pub = ros_node.create_publisher(rosidl_class(topic.msgtype), name, PUBLISH_DEPTH)
                self.publishers[name] = (pub, topic.msgtype)
            elif topic.subscriptions:
                depth = max(s.depth for s in topic.subscriptions)
                ros_node.create_subscription(
                    rosidl_class(topic.msgtype), name,
                    functools.partial(self._on_input, name, topic.msgtype),
                    qos_for_depth(rclpy_qos, depth), raw=True,
                )  # fmt: skip
                self.inputs[name] = 0
        runtime.taps.append(self._on_output)

    def _on_input(self, topic: str, msgtype: str, data: bytes) -> None:
        try:
            msg = msgs.deserialize(data, msgtype)
            check = size_check(msgtype)
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


def spin_in_thread(executor: Any) -> threading.Thread:
    """rclpy's executor on a thread of its own; its callbacks only inject (cheap)."""
    thread = threading.Thread(target=executor.spin, name="rclpy-bridge", daemon=True)
    thread.start()
    return thread


__all__ = ["RosBridge", "spin_in_thread"]
