"""`l4 bench perception`: per-callback latency of the lidar, tracking and localization nodes.

Each node runs in-process on synthetic but realistic inputs (a ray-cast 32 x 1024 lidar sweep of
a street, 30 moving objects, IMU at 100 Hz); the time of one subscription callback, message
parsing and publishing included, is measured as wall time and as thread CPU time. Target: the
lidar node's p99 below 20 ms for a ~30k point sweep, judged on CPU time (on a shared machine
the wall time also counts whoever else runs; both are reported).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stack import msgs
from tools.bench.nodectx import header, make, summary, timed

LIDAR_P99_TARGET_MS = 20.0


# ---------------------------------------------------------------- lidar


def _tf_static() -> Any:
    ts = msgs.new(
        "geometry_msgs/msg/TransformStamped",
        header=msgs.new("std_msgs/msg/Header", frame_id="base_link"),
        child_frame_id="lidar_top",
        transform=msgs.new(
            "geometry_msgs/msg/Transform",
            translation=msgs.new("geometry_msgs/msg/Vector3", x=1.0, z=1.95),
            rotation=msgs.new("geometry_msgs/msg/Quaternion", w=1.0),
        ),
    )
    return msgs.new("tf2_msgs/msg/TFMessage", transforms=[ts])


def bench_lidar(quick: bool) -> dict[str, Any]:
    from perception.lidar.node import LidarObstacles
    from perception.lidar.pointcloud import make_pointcloud2
    from perception.lidar.synthetic import ray_cast_sweep, street_scene
    from stack import topics

    scenes = [ray_cast_sweep(street_scene(seed), seed=seed) for seed in range(2 if quick else 5)]
    clouds = [make_pointcloud2(msgs.new, header(i, "lidar_top"), s) for i, s in enumerate(scenes)]
    node, ctx = make(LidarObstacles)
    ctx.callbacks[topics.TF_STATIC](_tf_static())
    callback = ctx.callbacks[topics.LIDAR_POINTS]
    timed(callback, clouds, 3)  # warm-up: imports, caches
    stages: dict[str, list[float]] = {}
    repeat = 20 if quick else 200
    wall, cpu = np.empty(repeat), np.empty(repeat)
    for i in range(repeat):
        wall[i : i + 1], cpu[i : i + 1] = timed(callback, [clouds[i % len(clouds)]], 1)
        for stage, value in node.last_stats.ms.items():
            stages.setdefault(stage, []).append(value)
    out = summary(wall, cpu)
    out["points"] = int(np.mean([len(s) for s in scenes]))
    out["objects"] = int(
        np.mean([len(m.objects) for m in ctx.published["/perception/lidar/objects"]])
    )
    out["stage_p50_ms"] = {k: round(float(np.median(v)), 3) for k, v in stages.items()}
    out["target_p99_ms"] = LIDAR_P99_TARGET_MS
    # Judged on CPU time: wall time on a loaded CI or laptop measures the other processes.
    out["ok"] = out["cpu_p99_ms"] < LIDAR_P99_TARGET_MS
    return out


# ---------------------------------------------------------------- tracking


def bench_tracking(quick: bool) -> dict[str, Any]:
    from perception.objects import Label, ObjectArray, detected_objects_msg
    from perception.tracking.node import ObjectTracker
    from stack import topics

    rng = np.random.default_rng(0)
    n, frames = 30, 50 if quick else 300
    start = rng.uniform([-30, -8], [80, 8], size=(n, 2))
    vel = rng.uniform([-12, -1], [12, 1], size=(n, 2))
    inputs = []
    for k in range(frames):
        xy = start + vel * 0.1 * k + rng.normal(0, 0.1, (n, 2))
        objs = ObjectArray.create(
            np.column_stack([xy, np.full(n, 0.8)]),
            np.zeros(n),
            np.tile([4.5, 1.8, 1.5], (n, 1)),
            [Label.CAR] * n,
            [0.6] * n,
        )
        inputs.append(detected_objects_msg(msgs.new, header(k * 100_000_000, "map"), objs))
    _, ctx = make(ObjectTracker)
    wall, cpu = timed(ctx.callbacks[topics.LIDAR_OBJECTS], inputs, frames)
    out = summary(wall[10:], cpu[10:])  # once the tracks are confirmed
    out["objects"] = n
    return out


# ---------------------------------------------------------------- localization


def bench_localization(quick: bool) -> dict[str, Any]:
    from perception.localization.node import EkfLocalizer
    from stack import topics

    count = 500 if quick else 5000
    imus = [
        msgs.new(
            "sensor_msgs/msg/Imu",
            header=header(k * 10_000_000, "base_link"),
            angular_velocity=msgs.new("geometry_msgs/msg/Vector3", z=0.05),
            linear_acceleration=msgs.new("geometry_msgs/msg/Vector3", x=0.1),
        )
        for k in range(count)
    ]
    _, ctx = make(EkfLocalizer, initial_pose=[0.0, 0.0, 0.0])
    return summary(*timed(ctx.callbacks[topics.IMU], imus, count))


def run(quick: bool = False) -> dict[str, Any]:
    lidar = bench_lidar(quick)
    result = {
        "lidar": lidar,
        "tracking": bench_tracking(quick),
        "localization_imu": bench_localization(quick),
        "quick": quick,
    }
    result["ok"] = bool(lidar["ok"])
    return result
