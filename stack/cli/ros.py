"""`l4 ros FILE`: run a launch file on a ROS 2 graph (vehicle; needs a sourced ROS 2 install).

By default the nodes run on the embedded executor with the l4 scheduler and rclpy carries the
graph's inputs and outputs (stack.ros.bridge); ``--executors rclpy`` makes each launch node an
rclpy node on plain rclpy executors instead (no l4 policy: arrival order, as stock ROS 2).
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from stack.executor.view import BridgedRuntime


EXECUTOR_MODES = ("l4", "rclpy")


def register(sub: argparse._SubParsersAction) -> None:
    from stack.cli.launch import add_run_options

    p = sub.add_parser("ros", help="run a launch file on a ROS 2 graph (ROS 2 Humble install)")
    add_run_options(p)
    p.add_argument(
        "--executors", choices=EXECUTOR_MODES, default="l4",
        help="l4: the embedded executor with the l4 scheduler, rclpy at the graph's boundary "
        "(default); rclpy: one rclpy node per launch node on stock rclpy executors",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stack.cli.common import load_launch
    from stack.cli.errors import CliError

    graph = load_launch(args.file, args.launch_args)
    try:
        import rclpy
    except ImportError as exc:
        raise CliError(
            "rclpy is not importable: source a ROS 2 Humble install (source /opt/ros/humble/setup.bash) "
            "or use `l4 launch` for the embedded executor"
        ) from exc
    if args.executors == "rclpy":
        from stack.ros.launch import run as run_ros

        return run_ros(graph)
    from stack.cli.launch import run_graph

    rclpy.init()
    try:
        return run_graph(args, graph, attach=lambda runtime: attach_bridge(rclpy, runtime))
    finally:
        rclpy.try_shutdown()


def attach_bridge(rclpy: Any, runtime: BridgedRuntime) -> Callable[[], None]:
    """Put ``runtime`` on the ROS graph; returns the function that takes it off again."""
    import rclpy.executors
    import rclpy.node
    import rclpy.qos

    from stack.ros.bridge import RosBridge, spin_in_thread

    node = rclpy.node.Node("l4stack_" + re.sub(r"\W", "_", runtime.graph.name))
    RosBridge(runtime, node, rclpy.qos)
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(node)
    spin_in_thread(executor)

    def detach() -> None:
        executor.shutdown()
        node.destroy_node()

    return detach
