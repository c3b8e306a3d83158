"""`l4 bench planning`: per-callback latency of the planner and controller nodes.

The planner replans on a TrackedObjects message with 30 objects around the ego on a curved
lane; the controller turns the resulting trajectory into a command. Times include message
parsing and building, as in a run.
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

from perception.geometry import yaw_to_quaternion
from perception.objects import Label, ObjectArray, tracked_objects_msg
from stack import msgs
from tools.bench.nodectx import header, make, summary, timed


def _odometry(stamp: int, x: float, y: float, yaw: float, v: float) -> Any:
    qx, qy, qz, qw = yaw_to_quaternion(yaw)
    pose = msgs.new(
        "geometry_msgs/msg/Pose",
        position=msgs.new("geometry_msgs/msg/Point", x=x, y=y),
        orientation=msgs.new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
    )
    twist = msgs.new("geometry_msgs/msg/Twist", linear=msgs.new("geometry_msgs/msg/Vector3", x=v))
    return msgs.new(
        "nav_msgs/msg/Odometry",
        header=header(stamp, "map"),
        child_frame_id="base_link",
        pose=msgs.new("geometry_msgs/msg/PoseWithCovariance", pose=pose),
        twist=msgs.new("geometry_msgs/msg/TwistWithCovariance", twist=twist),
    )


def _write_map(path: Path) -> np.ndarray:
    phi = np.linspace(0.0, 1.0, 1200)
    road = np.column_stack([300.0 * np.sin(phi), 300.0 * (1.0 - np.cos(phi))])
    np.savez(path, centerline=road)
    return road


def run(quick: bool = False) -> dict[str, Any]:
    from planning.control.node import Controller
    from planning.node import PlannerNode
    from stack import topics

    rng = np.random.default_rng(0)
    n = 30
    with TemporaryDirectory() as tmp:
        road = _write_map(Path(tmp) / "map.npz")
        _, pctx = make(PlannerNode, map_path=str(Path(tmp) / "map.npz"))
    idx = rng.integers(20, 300, n)
    xy = road[idx] + rng.normal(0.0, 4.0, (n, 2))
    objs = ObjectArray.create(
        np.column_stack([xy, np.full(n, 0.8)]),
        rng.uniform(-3, 3, n),
        np.tile([4.5, 1.8, 1.5], (n, 1)),
        [Label.CAR] * n,
        velocity=rng.normal(0.0, 5.0, (n, 2)),
    )
    inputs = [tracked_objects_msg(msgs.new, header(k * 100_000_000, "map"), objs) for k in range(5)]
    pctx.callbacks[topics.LOCALIZATION_ODOMETRY](
        _odometry(0, float(road[5, 0]), float(road[5, 1]), 0.0, 12.0)
    )
    repeat = 30 if quick else 300
    plan_wall, plan_cpu = timed(pctx.callbacks[topics.TRACKED_OBJECTS], inputs, repeat)
    trajectories = pctx.published["/planning/trajectory"][:5]
    _, cctx = make(Controller)
    cctx.callbacks[topics.LOCALIZATION_ODOMETRY](
        _odometry(0, float(road[5, 0]), float(road[5, 1]), 0.0, 12.0)
    )
    control_wall, control_cpu = timed(cctx.callbacks[topics.TRAJECTORY], trajectories, repeat)
    return {
        "planner": {
            **summary(plan_wall, plan_cpu),
            "objects": n,
            "points": len(trajectories[0].points),
        },
        "control": summary(control_wall, control_cpu),
        "quick": quick,
    }
