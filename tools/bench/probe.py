"""How fast this machine is right now, for benchmarks that compare runs minutes apart.

A shared host's speed drifts: the same callback work took 18 % longer in one replay than in
one ten minutes later on this 2-core machine. `l4 bench sim` probes the speed around each real
run and reports the readings, so a result taken while the host drifted can be told apart.

The probe is a fixed mix of the demo graph's kinds of work: one inference of the shipped
detector (ONNX Runtime), a voxel grid of a lidar sweep (numpy), a PNG encode (OpenCV) and a
pure-Python loop (the planner's and tracker's kind). It times the mix several times and keeps
the median.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DETECTOR = Path(__file__).resolve().parents[2] / "perception" / "models" / "camera_detector.onnx"
REPEATS = 9


def probe_ms(repeats: int = REPEATS) -> float:
    """Median ms of one pass of the mix (after one warm-up pass)."""
    work = _mix()
    work()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


@functools.cache  # one detector session for every probe of a benchmark
def _mix() -> Callable[[], None]:
    import cv2
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    session = ort.InferenceSession(str(DETECTOR), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    image = np.zeros(shape, np.float32)
    points = rng.normal(scale=20.0, size=(30_000, 3)).astype(np.float32)
    frame = rng.integers(0, 255, (240, 320, 3), np.uint8)

    def once() -> None:
        session.run(None, {inp.name: image})
        np.unique(np.floor(points / 0.2).astype(np.int32), axis=0)
        cv2.imencode(".png", frame)
        total = 0
        for i in range(30_000):
            total += i * i

    return once
