"""`l4 ros FILE`: run a launch file as real rclpy nodes (vehicle; needs a sourced ROS 2 install)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ros", help="run a launch file as rclpy nodes (ROS 2 Humble install)")
    p.add_argument("file", type=Path, help="launch file (YAML)")
    from stack.cli.common import add_launch_args_option

    add_launch_args_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stack.cli.common import load_launch
    from stack.cli.errors import CliError

    graph = load_launch(args.file, args.launch_args)
    try:
        import rclpy  # noqa: F401
    except ImportError as exc:
        raise CliError(
            "rclpy is not importable: source a ROS 2 Humble install (source /opt/ros/humble/setup.bash) "
            "or use `l4 launch` for the embedded executor"
        ) from exc
    from stack.ros.launch import run as run_ros

    return run_ros(graph)
