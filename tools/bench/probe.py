"""How fast this machine is right now, for benchmarks that compare runs minutes apart.

A shared host's speed drifts: the same callback work took 18 % longer in one replay than in
one ten minutes later on this 2-core machine. `l4 bench sim` probes the speed around each real
run and reports the readings, so a result taken while the host drifted can be told apart.

``SteadyHost`` runs a benchmark's runs again while a probe around them reads the host
disturbed: more than ``STEADY`` slower than the fastest probe of the benchmark. This VM spends
minutes at a time 50 % slower (probes of 35-38 ms against 23.5 ms, with nothing else running
on it); no model of the graph predicts that, and a run taken then says nothing about the graph.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

DETECTOR = Path(__file__).resolve().parents[2] / "perception" / "models" / "camera_detector.onnx"
REPEATS = 9
# A probe this much slower than the benchmark's fastest: the host was disturbed. Steady probes
# spread about 5 %; a run after a probe 12 % over the fastest ran its chains 25 % slower.
STEADY = 1.10
ATTEMPTS = 3  # tries of the same runs at most, until they run on a steady host
T = TypeVar("T")


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


@dataclass
class SteadyHost:
    """Probes taken around a benchmark's runs, and the runs again while the host was disturbed."""

    fastest_ms: float = float("inf")
    tries: list[list[float]] = field(default_factory=list)  # the probes of each try

    def probe(self) -> float:
        ms = probe_ms()
        self.fastest_ms = min(self.fastest_ms, ms)
        self.tries[-1].append(round(ms, 3))
        return ms

    def steady(self, probes: list[float]) -> bool:
        return max(probes) <= STEADY * self.fastest_ms

    def run(self, attempt: Callable[[Callable[[], float]], T], attempts: int = ATTEMPTS) -> T:
        """``attempt(probe)`` (which probes around each of its runs) until its probes read a
        steady host, ``attempts`` times at most; the last try's result."""
        self.tries = []
        for _ in range(attempts):
            self.tries.append([])
            result = attempt(self.probe)
            if self.steady(self.tries[-1]):
                break
        return result

    def to_json(self) -> dict[str, Any]:
        """The reported try's probes, whether they read steady, and those of discarded tries."""
        last = self.tries[-1] if self.tries else []
        return {
            "probe_ms": last,
            "steady": self.steady(last) if last else False,
            "discarded_probe_ms": self.tries[:-1],
        }
