"""`ros2 launch l4stack_bringup vehicle.launch.py [launch_file:=...] [run_dir:=...]`: l4stack on
the vehicle, as one process running `l4 ros LAUNCH_FILE` (the l4 scheduler; rclpy at the
graph's boundary). Sensor topics, the map and the engine cache are the `args:` of
launch/vehicle.yaml (edit them there, or point launch_file at a copy).
"""

import os

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

L4STACK_HOME = os.environ.get("L4STACK_HOME", "/opt/l4stack")


def generate_launch_description() -> LaunchDescription:
    launch_file = LaunchConfiguration("launch_file")
    run_dir = LaunchConfiguration("run_dir")
    use_sim_time = LaunchConfiguration("use_sim_time")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "launch_file",
                default_value=os.path.join(L4STACK_HOME, "launch", "vehicle.yaml"),
                description="the l4stack launch file to run",
            ),
            DeclareLaunchArgument(
                "run_dir",
                default_value="/var/log/l4stack/run",
                description="run directory: trace, run facts, telemetry (l4 report RUN_DIR)",
            ),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="follow /clock (a bag)"
            ),
            # No `name=`: launch_ros would pass `-r __node:=NAME`, renaming every node in the
            # process (all of them under --executors rclpy).
            Node(
                package="l4stack_bringup",
                executable="l4_ros",
                arguments=[launch_file, "--run-dir", run_dir, "--telemetry"],
                parameters=[{"use_sim_time": use_sim_time}],
                output="screen",
                emulate_tty=True,
            ),
        ]
    )
