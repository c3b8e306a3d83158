"""Run a launch YAML as rclpy nodes: `l4 ros FILE` (on the vehicle, inside a sourced ROS 2 install).

Each executor of the launch file becomes an rclpy executor spun on its own thread, pinned to the
executor's cores with its SCHED_FIFO priority where permitted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from stack import msgs
from stack.executor.threads import configure_worker_thread
from stack.graph import LaunchGraph
from stack.ros.context import RclpyContext
from stack.ros.messages import new_rosidl

log = logging.getLogger(__name__)


def build_nodes(graph: LaunchGraph, rclpy: Any) -> dict[str, tuple[Any, Any]]:
    """Create one rclpy Node per launch node and construct our Node class on it."""
    import rclpy.node
    import rclpy.qos

    msgs.factory.set_backend(new_rosidl)
    built = {}
    for spec in graph.nodes.values():
        ros_node = rclpy.node.Node(spec.name)
        ctx = RclpyContext(ros_node, spec, rclpy.qos, graph.source)
        built[spec.name] = (ros_node, spec.node_class(ctx))
    return built


def make_executors(graph: LaunchGraph, built: dict, rclpy: Any) -> dict[str, Any]:
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    executors = {}
    for spec in graph.executors.values():
        ex = (
            SingleThreadedExecutor()
            if spec.threads == 1
            else MultiThreadedExecutor(num_threads=spec.threads)
        )
        for node_spec in graph.nodes.values():
            if node_spec.executor == spec.name:
                ex.add_node(built[node_spec.name][0])
        executors[spec.name] = ex
    return executors


def run(graph: LaunchGraph) -> int:
    import rclpy

    rclpy.init()
    try:
        built = build_nodes(graph, rclpy)
        executors = make_executors(graph, built, rclpy)
        threads = []
        for name, ex in executors.items():
            spec = graph.executors[name]

            def spin(ex: Any = ex, spec: Any = spec) -> None:
                configure_worker_thread(spec.name, spec.cores, spec.priority, spec.nice)
                ex.spin()

            t = threading.Thread(target=spin, name=f"rclpy-{name}", daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
    except KeyboardInterrupt:
        pass
    finally:
        msgs.factory.set_backend(None)
        rclpy.try_shutdown()
    return 0
