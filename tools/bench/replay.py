"""`l4 bench replay`: lockstep replay throughput against reading the bag with plain rosbags.

Both sides handle the same 60 s scenario bag in the same process, back to back. The reference reads
and deserializes every message with rosbags' AnyReader; the replay reads the bag, deserializes what
the graph subscribes to (camera, lidar, IMU, through pass-through nodes), runs the callbacks and
records every output into an mcap bag. Target: replay >= 80% of the reference's messages/s, best
of three interleaved runs of each side (the machine is shared, so single runs are noisy).

The bag comes from tools.scenario when it offers ``make_scenario``; otherwise (and for tests) from
:func:`write_sensor_bag`, a synthetic bag with the scenario's topics, types and rates.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from stack import msgs
from stack.graph import parse_graph
from stack.replay import Bag, Player, ReplayOptions
from tools.scenario import topics as T

TARGET_RATIO = 0.8
START_NS = 1_700_000_000 * 1_000_000_000
# topic -> rate in Hz, as the scenario generator records them
RATES_HZ = {
    T.CAMERA_IMAGE: 10,
    T.CAMERA_INFO: 10,
    T.LIDAR_POINTS: 10,
    T.IMU: 100,
    T.GNSS_FIX: 10,
    T.ODOMETRY: 50,
    T.GT_OBJECTS: 10,
    T.GT_CAMERA_BOXES: 10,
    T.GT_EGO_POSE: 50,
}
PASS_THROUGH = (T.CAMERA_IMAGE, T.LIDAR_POINTS, T.IMU)


# ---- a synthetic scenario-like bag ---------------------------------------------------------
def _header(t_ns: int, frame: str) -> Any:
    return msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(t_ns), frame_id=frame)


def _image(t: int, pixels: np.ndarray, width: int, height: int) -> Any:
    return msgs.new(
        "sensor_msgs/msg/Image",
        header=_header(t, T.FRAME_CAMERA),
        height=height,
        width=width,
        encoding="bgr8",
        step=width * 3,
        data=pixels,
    )


def _cloud(t: int, xyzi: np.ndarray) -> Any:
    fields = [
        msgs.new("sensor_msgs/msg/PointField", name=n, offset=4 * i, datatype=7, count=1)
        for i, n in enumerate(("x", "y", "z", "intensity"))
    ]
    return msgs.new(
        "sensor_msgs/msg/PointCloud2",
        header=_header(t, T.FRAME_LIDAR),
        height=1,
        width=len(xyzi),
        fields=fields,
        point_step=16,
        row_step=16 * len(xyzi),
        data=xyzi.view(np.uint8).ravel(),
        is_dense=True,
    )


def _objects(t: int, count: int) -> Any:
    objects = []
    for i in range(count):
        kin = msgs.new("autoware_perception_msgs/msg/TrackedObjectKinematics")
        kin.pose_with_covariance.pose.position.x = float(i * 5)
        objects.append(
            msgs.new(
                "autoware_perception_msgs/msg/TrackedObject",
                existence_probability=1.0,
                classification=[
                    msgs.new("autoware_perception_msgs/msg/ObjectClassification", label=1)
                ],
                kinematics=kin,
            )
        )
    return msgs.new(
        "autoware_perception_msgs/msg/TrackedObjects",
        header=_header(t, T.FRAME_MAP),
        objects=objects,
    )


def _boxes(t: int, count: int) -> Any:
    dets = [
        msgs.new("vision_msgs/msg/Detection2D", header=_header(t, T.FRAME_CAMERA))
        for _ in range(count)
    ]
    return msgs.new(
        "vision_msgs/msg/Detection2DArray", header=_header(t, T.FRAME_CAMERA), detections=dets
    )


def _message(topic: str, t: int, payloads: dict[str, np.ndarray], width: int, height: int) -> Any:
    if topic == T.CAMERA_IMAGE:
        return _image(t, payloads[topic], width, height)
    if topic == T.LIDAR_POINTS:
        return _cloud(t, payloads[topic])
    if topic == T.GT_OBJECTS:
        return _objects(t, 12)
    if topic == T.GT_CAMERA_BOXES:
        return _boxes(t, 6)
    frames = {
        T.CAMERA_INFO: ("sensor_msgs/msg/CameraInfo", T.FRAME_CAMERA),
        T.IMU: ("sensor_msgs/msg/Imu", T.FRAME_IMU),
        T.GNSS_FIX: ("sensor_msgs/msg/NavSatFix", T.FRAME_GNSS),
        T.ODOMETRY: ("nav_msgs/msg/Odometry", T.FRAME_ODOM),
        T.GT_EGO_POSE: ("geometry_msgs/msg/PoseStamped", T.FRAME_MAP),
    }
    msgtype, frame = frames[topic]
    return msgs.new(msgtype, header=_header(t, frame))


def _schedule(seconds: float, rates: dict[str, int]) -> Iterator[tuple[int, str]]:
    """(time, topic) in time order; ties in the order of ``rates``."""
    events = []
    for k, (topic, hz) in enumerate(rates.items()):
        period = 1_000_000_000 // hz
        for i in range(int(seconds * hz)):
            events.append((START_NS + i * period, k, topic))
    for t, _k, topic in sorted(events):
        yield t, topic


def write_sensor_bag(
    out: Path,
    seconds: float,
    *,
    storage: str = "mcap",
    width: int = 640,
    height: int = 384,
    points: int = 32 * 1024,
    rates: dict[str, int] | None = None,
) -> Path:
    """A rosbag2 directory with the scenario's sensor and ground-truth topics at their rates.

    Message contents are cheap stand-ins; sizes, types and rates are what matter here.
    """
    rates = dict(RATES_HZ if rates is None else rates)
    store = msgs.typestore()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    rng = np.random.default_rng(0)
    # Payloads are built once: generation stays fast, sizes are what a real rig records.
    payloads = {
        T.CAMERA_IMAGE: rng.integers(0, 256, width * height * 3, dtype=np.uint8),
        T.LIDAR_POINTS: rng.normal(size=(points, 4)).astype(np.float32),
    }
    with Writer(out, version=9, storage_plugin=plugin) as writer:
        conns = {
            topic: writer.add_connection(topic, T.MSGTYPES[topic], typestore=store)
            for topic in rates
        }
        for t, topic in _schedule(seconds, rates):
            msg = _message(topic, t, payloads, width, height)
            writer.write(conns[topic], t, store.serialize_cdr(msg, T.MSGTYPES[topic]))
    return out


# ---- the benchmark --------------------------------------------------------------------------
def passthrough_launch(topics: tuple[str, ...] = PASS_THROUGH) -> str:
    """One pass-through node per topic, each with a one-hop chain."""
    lines = ["name: bench_replay", "nodes:"]
    chains = ["chains:"]
    for i, topic in enumerate(topics):
        out = f"/bench/out{i}"
        lines += [
            f"  pass{i}:",
            "    class: stack.nodes.synthetic:Work",
            f"    params: {{input: {topic}, output: {out}, msgtype: {T.MSGTYPES[topic]}, "
            "work_ms: 0.0, depth: 1}",
        ]
        chains.append(f"  chain{i}: {{path: [{topic}, {out}], budget_ms: 100}}")
    return "\n".join(lines + chains) + "\n"


def make_bag(out: Path, seconds: float) -> Path:
    """A scenario bag from tools.scenario if it is there, else a synthetic one."""
    try:
        from tools.scenario import make_scenario  # type: ignore[attr-defined]
    except ImportError:
        return write_sensor_bag(out, seconds)
    make_scenario(out, seconds, seed=0, storage="mcap", progress=False)
    return out


def read_with_rosbags(bag: Path) -> tuple[int, float, float]:
    """The reference: read and deserialize every message with plain rosbags.

    Returns (messages, wall s, CPU s of the process).
    """
    store = msgs.typestore()
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with AnyReader([bag], default_typestore=store) as reader:
        for conn, _t, raw in reader.messages():
            reader.deserialize(raw, conn.msgtype)
            n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0


def replay_lockstep(bag: Path, run_dir: Path, launch_text: str) -> tuple[float, float, Any]:
    """Returns (wall s, CPU s of the process, all threads, the ReplayResult)."""
    graph = parse_graph(launch_text, "<bench replay>")
    t0, c0 = time.perf_counter(), time.process_time()
    with Bag(bag) as opened:
        result = Player(opened, graph, run_dir, ReplayOptions(rate=None)).run()
    return time.perf_counter() - t0, time.process_time() - c0, result


def run(
    quick: bool = False, seconds: float | None = None, repeats: int | None = None
) -> dict[str, Any]:
    """Best of ``repeats`` interleaved runs of each side (the machine is shared; noise is high)."""
    seconds = seconds if seconds is not None else (5.0 if quick else 60.0)
    repeats = repeats if repeats is not None else (1 if quick else 3)
    work = Path(tempfile.mkdtemp(prefix="l4-bench-replay-"))
    try:
        bag = make_bag(work / "bag", seconds)
        os.sync()  # write the bag back now, not while either side is measured
        read_with_rosbags(bag)  # warm the page cache
        raw_times, replay_times, raw_cpu, replay_cpu = [], [], [], []
        for i in range(repeats):
            raw_n, raw_s, raw_c = read_with_rosbags(bag)
            run_dir = work / f"run{i}"
            replay_s, replay_c, result = replay_lockstep(bag, run_dir, passthrough_launch())
            shutil.rmtree(run_dir, ignore_errors=True)
            os.sync()
            raw_times.append(raw_s)
            replay_times.append(replay_s)
            raw_cpu.append(raw_c)
            replay_cpu.append(replay_c)
        n = result.messages
        raw_rate, rate = raw_n / min(raw_times), n / min(replay_times)
        ratio = rate / raw_rate
        return {
            "seconds": seconds,
            "messages": n,
            "raw_messages": raw_n,
            "injected": result.injected,
            "recorded": sum(result.recorded.values()),
            "msgs_per_s": round(rate, 1),
            "raw_msgs_per_s": round(raw_rate, 1),
            "ratio": round(ratio, 3),
            "replay_s": [round(t, 3) for t in replay_times],
            "raw_s": [round(t, 3) for t in raw_times],
            # CPU of all threads (the recorder's writer thread included): what a busy machine
            # ends up paying, where the wall-clock ratio depends on a free second core
            "cpu_ratio": round(min(raw_cpu) / min(replay_cpu), 3),
            "target_ratio": TARGET_RATIO,
            "passthrough_topics": list(PASS_THROUGH),
            "ok": bool(ratio >= TARGET_RATIO and n == raw_n and result.injected > 0),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
