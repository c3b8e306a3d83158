"""`l4 ros FILE`: run a launch file on a ROS 2 graph (vehicle; needs a sourced ROS 2 install).

By default the nodes run on the embedded executor with the l4 scheduler and rclpy carries the
graph's inputs and outputs (stack.ros.bridge); ``--executors rclpy`` makes each launch node an
rclpy node on plain rclpy executors instead (no l4 policy: arrival order, as stock ROS 2).
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from stack.executor.view import BridgedRuntime


EXECUTOR_MODES = ("l4", "rclpy")
log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from stack.cli.launch import add_run_options

    p = sub.add_parser("ros", help="run a launch file on a ROS 2 graph (ROS 2 Humble install)")
    add_run_options(p)
    p.add_argument(
        "--executors", choices=EXECUTOR_MODES, default="l4",
        help="l4: the embedded executor with the l4 scheduler, rclpy at the graph's boundary "
        "(default); rclpy: one rclpy node per launch node on stock rclpy executors",
    )  # fmt: skip
    p.add_argument(
        "--ros-args", nargs=argparse.REMAINDER, default=[], metavar="ROS_ARGS",
        help="everything after this goes to rclpy, as with any ROS 2 node: -r FROM:=TO remaps, "
        "-p NODE.FIELD:=VALUE (l4 mode) or -p FIELD:=VALUE (rclpy mode) parameter overrides, "
        "-p use_sim_time:=true, --params-file FILE, --log-level LEVEL; give it last",
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
    ros_args = list(args.ros_args or [])
    if args.executors == "rclpy":
        from stack.ros.launch import run as run_ros

        return run_ros(graph, ros_args)
    from stack.cli.launch import run_graph

    rclpy.init(args=["l4", "--ros-args", *ros_args] if ros_args else None)
    try:
        node = bridge_node(rclpy, graph)
        from stack.ros.context import RosClock, override_graph_params

        graph = override_graph_params(graph, node)
        return run_graph(
            args, graph, attach=lambda runtime: attach_bridge(rclpy, runtime, node),
            clock=RosClock(node),
        )  # fmt: skip
    finally:
        rclpy.try_shutdown()


def bridge_node(rclpy: Any, graph: Any) -> Any:
    """The one rclpy node of the l4 mode: it carries the graph's boundary topics, its
    parameters (NODE.FIELD) and its clock (ROS time: /clock under use_sim_time)."""
    import rclpy.node

    return rclpy.node.Node("l4stack_" + re.sub(r"\W", "_", graph.name))


def attach_bridge(rclpy: Any, runtime: BridgedRuntime, node: Any) -> Callable[[], None]:
    """Put ``runtime`` on the ROS graph; returns the function that takes it off again."""
    import rclpy.executors
    import rclpy.qos

    from stack.ros.bridge import RosBridge, spin_in_thread

    bridge = RosBridge(runtime, node, rclpy.qos, runtime.graph.qos)  # type: ignore[attr-defined]
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(node)
    spin_in_thread(executor, rclpy.ok, bridge.errors)

    def detach() -> None:
        executor.shutdown()
        node.destroy_node()
        log.info("rclpy bridge: %s", bridge.errors.summary())

    return detach
