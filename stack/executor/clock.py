"""Clocks: wall time, simulated time set by a driver (lockstep), and bag time paced at a rate."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from stack.errors import ParamError
from stack.node import Clock


class RunClock(Clock, Protocol):
    """The run's clock as the executor reads it (a node sees only ``now_ns``)."""

    simulated: bool

    def wall_delay_s(self, sim_ns: int) -> float:
        """Wall seconds until ``sim_ns`` of this clock's time have passed."""
        ...


class SteppedClock(RunClock, Protocol):
    """A clock the lockstep driver moves (SimClock)."""

    def set(self, t_ns: int) -> None: ...


class WallClock:
    """System time (epoch ns), as a sensor driver would stamp messages."""

    simulated = False

    def now_ns(self) -> int:
        return time.time_ns()

    def wall_delay_s(self, sim_ns: int) -> float:
        return max(0.0, sim_ns / 1e9)


class SimClock:
    """Simulated time that only moves when the driver sets it (lockstep replay, tests)."""

    simulated = True

    def __init__(self, start_ns: int = 0) -> None:
        self._t = int(start_ns)

    def now_ns(self) -> int:
        return self._t

    def set(self, t_ns: int) -> None:
        if t_ns < self._t:
            raise ParamError(f"simulated time cannot go back: {t_ns} < {self._t}")
        self._t = int(t_ns)

    def wall_delay_s(self, sim_ns: int) -> float:
        return 0.0


class ScaledClock:
    """Bag time paced against the wall clock: ``rate`` 1.0 is real time."""

    simulated = True

    def __init__(self, start_ns: int, rate: float = 1.0) -> None:
        if rate <= 0:
            raise ParamError(f"rate must be > 0 (got {rate})")
        self.rate = rate
        self._start = int(start_ns)
        self._mono0 = time.perf_counter_ns()
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._start + int((time.perf_counter_ns() - self._mono0) * self.rate)

    def rebase(self, start_ns: int) -> None:
        with self._lock:
            self._start = int(start_ns)
            self._mono0 = time.perf_counter_ns()

    def wall_delay_s(self, sim_ns: int) -> float:
        return max(0.0, sim_ns / 1e9 / self.rate)

    # A process executor (stack.executor.process) runs on a copy: the monotonic clock under
    # perf_counter_ns is one for every process of the host, so the copy keeps the same time.
    def __getstate__(self) -> dict:
        return {"rate": self.rate, "start": self._start, "mono0": self._mono0}

    def __setstate__(self, state: dict) -> None:
        self.rate = state["rate"]
        self._start = state["start"]
        self._mono0 = state["mono0"]
        if not hasattr(self, "_lock"):
            self._lock = threading.Lock()
