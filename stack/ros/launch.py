"""Run a launch YAML as rclpy nodes: `l4 ros FILE --executors rclpy` (on the vehicle, inside a
sourced ROS 2 install).

Each executor of the launch file becomes an rclpy executor spun on its own thread, pinned to the
executor's cores with its SCHED_FIFO priority where permitted. Callbacks are guarded and the
spin loop outlives what escapes them (stack.ros.guard): one failing node never stops the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stack import msgs
from stack.executor.threads import configure_worker_thread
from stack.graph import LaunchGraph
from stack.ros.context import RclpyContext
from stack.ros.guard import CallbackErrors, spin_until_stopped
from stack.ros.messages import new_rosidl

if TYPE_CHECKING:
    from rclpy.executors import Executor

log = logging.getLogger(__name__)


def build_nodes(
    graph: LaunchGraph, rclpy: Any, errors: CallbackErrors | None = None
) -> dict[str, tuple[Any, Any]]:
    """Create one rclpy Node per launch node and construct our Node class on it."""
    import rclpy.node
    import rclpy.qos

    msgs.factory.set_backend(new_rosidl)
    errors = errors if errors is not None else CallbackErrors()
    built = {}
    for spec in graph.nodes.values():
        ros_node = rclpy.node.Node(spec.name)
        ctx = RclpyContext(ros_node, spec, rclpy.qos, graph.source, graph.qos, errors)
        built[spec.name] = (ros_node, spec.node_class(ctx))
    return built


def make_executors(graph: LaunchGraph, built: dict, rclpy: Any) -> dict[str, Executor]:
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    executors: dict[str, Executor] = {}
    for spec in graph.executors.values():
        ex: Executor = (
            SingleThreadedExecutor()
            if spec.threads == 1
            else MultiThreadedExecutor(num_threads=spec.threads)
        )
        for node_spec in graph.nodes.values():
            if node_spec.executor == spec.name:
                ex.add_node(built[node_spec.name][0])
        executors[spec.name] = ex
    return executors


def start_spinning(
    graph: LaunchGraph, executors: dict[str, Executor], rclpy: Any, errors: CallbackErrors
) -> list[threading.Thread]:
    threads = []
    for name, ex in executors.items():
        spec = graph.executors[name]

        def spin(ex: Any = ex, spec: Any = spec) -> None:
            configure_worker_thread(spec.name, spec.cores, spec.priority, spec.nice)
            spin_until_stopped(ex, spec.name, rclpy.ok, errors)

        t = threading.Thread(target=spin, name=f"rclpy-{name}", daemon=True)
        t.start()
        threads.append(t)
    return threads


def run(graph: LaunchGraph, ros_args: Sequence[str] = ()) -> int:
    import rclpy

    rclpy.init(args=["l4", "--ros-args", *ros_args] if ros_args else None)
    errors = CallbackErrors()
    try:
        built = build_nodes(graph, rclpy, errors)
        threads = start_spinning(graph, make_executors(graph, built, rclpy), rclpy, errors)
        for t in threads:
            t.join()
    except KeyboardInterrupt:
        pass
    finally:
        msgs.factory.set_backend(None)
        rclpy.try_shutdown()
        log.info("%s", errors.summary())
    return 0
