"""A harness that runs one node's callbacks directly: a minimal Context, timing and summaries.

Shared by the per-node benchmarks (`l4 bench perception`, `planning`, `detector`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from stack import msgs
from stack.events import EventKind


class CallContext:
    """A minimal Context that calls back directly: enough to time one node's callbacks."""

    def __init__(self, params: Any, name: str = "bench") -> None:
        self.name, self.params = name, params
        self.logger = logging.getLogger(f"l4.bench.{name}")
        self.clock = type("Clock", (), {"now_ns": staticmethod(time.monotonic_ns)})()
        self.callbacks: dict[str, Callable[[Any], None]] = {}
        self.published: dict[str, list] = {}
        self.events: list[tuple[EventKind, str]] = []

    def publisher(self, topic: str, msgtype: str) -> Any:
        sent = self.published.setdefault(topic, [])
        return type(
            "Pub", (), {"topic": topic, "msgtype": msgtype, "publish": staticmethod(sent.append)}
        )()

    def subscribe(self, topic: str, msgtype: str, callback: Callable, depth: int = 1) -> None:
        self.callbacks[topic] = callback

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        pass

    # The factory itself, not a method calling it: nodes build ~190 messages a frame.
    new = staticmethod(msgs.new)

    def engine(self, model: str, **options: Any) -> Any:
        raise NotImplementedError

    def event(self, kind: EventKind, detail: str = "") -> None:
        self.events.append((kind, detail))


def make(node_cls: type, **params: Any) -> tuple[Any, CallContext]:
    ctx = CallContext(node_cls.Params(**params), node_cls.__name__)
    return node_cls(ctx), ctx


def timed(
    callback: Callable[[Any], None], inputs: list[Any], repeat: int
) -> tuple[np.ndarray, np.ndarray]:
    """(wall ms, thread CPU ms) of each call, cycling through ``inputs`` ``repeat`` times."""
    wall, cpu = np.empty(repeat), np.empty(repeat)
    for i in range(repeat):
        msg = inputs[i % len(inputs)]
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        callback(msg)
        cpu[i] = (time.thread_time_ns() - c0) * 1e-6
        wall[i] = (time.perf_counter_ns() - w0) * 1e-6
    return wall, cpu


def summary(wall: np.ndarray, cpu: np.ndarray) -> dict[str, float]:
    """Wall-clock and CPU-time percentiles. On a shared machine the wall time also measures the
    neighbours; the thread CPU time is what the callback itself costs."""
    return {
        "p50_ms": round(float(np.percentile(wall, 50)), 3),
        "p99_ms": round(float(np.percentile(wall, 99)), 3),
        "max_ms": round(float(wall.max()), 3),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3),
        "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 3),
        "calls": len(wall),
    }


def header(stamp_ns: int, frame: str) -> Any:
    return msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(stamp_ns), frame_id=frame)
