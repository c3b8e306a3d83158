"""`l4 bench detector`: latency of the camera detector node's image callback on CPU.

The shipped demo model runs on ONNX Runtime with one intra-op thread over the camera frames of
a short generated scenario (decode, preprocess, inference, decode, NMS, 3D lift, both messages).
Target on a 2-core machine: p99 <= 30 ms per 640x384 image.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stack import msgs
from tools.bench.nodectx import CallContext

P99_TARGET_MS = 30.0


class _BenchContext(CallContext):
    """Calls back directly and loads engines on ONNX Runtime with ``threads`` (one) threads."""

    def __init__(self, params: Any, threads: int = 1) -> None:
        super().__init__(params, name="camera_detector")
        self.threads = threads

    def engine(self, model: str, **options: Any) -> Any:
        from stack.engine import EngineOptions, load_engine

        options.update(backend="onnxruntime", intra_op_threads=self.threads)
        return load_engine(model, EngineOptions.from_mapping(options))


def _messages_of(bag_path: Path) -> dict[str, list[Any]]:
    """The tf_static, camera_info and image messages of a scenario bag."""
    from stack.replay import Bag
    from tools.scenario import topics

    wanted = (topics.TF_STATIC, topics.CAMERA_INFO, topics.CAMERA_IMAGE)
    out: dict[str, list[Any]] = {t: [] for t in wanted}
    with Bag(bag_path) as bag:
        for conn, _, raw in bag.messages(wanted):
            out[conn.topic].append(msgs.deserialize(raw, conn.msgtype))
    return out


def _scenario_messages(seconds: float) -> dict[str, list[Any]]:
    from tools.scenario import make_scenario

    with tempfile.TemporaryDirectory(prefix="l4-bench-detector-") as tmp:
        bag_path = Path(tmp) / "bag"
        make_scenario(bag_path, seconds, 3, traffic="dense", progress=False)
        return _messages_of(bag_path)


def run(quick: bool = False) -> dict[str, Any]:
    from perception.detector.node import CameraDetector, CameraDetectorParams

    ctx = _BenchContext(CameraDetectorParams())
    node = CameraDetector(ctx)
    data = _scenario_messages(1.0 if quick else 3.0)
    for topic in ("/tf_static", "/sensing/camera/front/camera_info"):
        ctx.callbacks[topic](data[topic][0])
    images = data["/sensing/camera/front/image_raw"]
    on_image = ctx.callbacks["/sensing/camera/front/image_raw"]
    for msg in images[:3]:  # warm-up
        on_image(msg)
    repeats = 1 if quick else 5
    times, objects = [], []
    for _ in range(repeats):
        for msg in images:
            t0 = time.perf_counter_ns()
            on_image(msg)
            times.append((time.perf_counter_ns() - t0) / 1e6)
            objects.append(len(node.last_detections))
    arr = np.asarray(times)
    p99 = float(np.percentile(arr, 99))
    return {
        "model": node.card.name or node.card.model,
        "backend": node.detector.engine.backend.value,
        "threads": 1,
        "frames": len(arr),
        "callback_ms": {
            "p50": round(float(np.percentile(arr, 50)), 3),
            "p99": round(p99, 3),
            "max": round(float(arr.max()), 3),
        },
        "detections_per_frame": round(float(np.mean(objects)), 2),
        "drops": sum(1 for kind, _ in ctx.events if kind == "drop"),
        "target_p99_ms": P99_TARGET_MS,
        "ok": p99 <= P99_TARGET_MS,
    }
