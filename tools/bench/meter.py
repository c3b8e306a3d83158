"""The host's speed sampled all through a run, to tell a run the host slowed down from one it
did not.

A probe before and after a run misses what happens during it. This VM has spells of seconds to
minutes in which every CPU-bound instruction runs about 1.6x slower (another tenant on the
physical cores); a spell inside a replay slows every callback for its length, and the run's
tail says more about the spell than about the graph (`l4 bench overload` lost 4-6 % of its
critical frames in two such runs with probes within 4 % of the fastest).

``SpeedMeter`` runs a process beside the run that times a fixed pure-Python loop every 100 ms
in *thread CPU time*: waiting for a CPU does not count, so the graph's own load barely moves it
(732-741 us per 1-s window during a replay at 2.5x real time, against 731 us idle), while a
spell does (1100-1300 us). Its cost is about 1 % of one CPU.
"""

from __future__ import annotations

import functools
import multiprocessing
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

PERIOD_S = 0.1
WINDOW = 10  # samples per window: one second
LOOP = 10_000  # iterations of the timed loop (about 0.4 ms)
TRIES = 3  # loops per sample; the fastest counts (a cache cold after a preemption is no spell)
STOP_TIMEOUT_S = 5.0


def python_loop(iterations: int) -> int:
    """Fixed pure-Python work (the planner's and tracker's kind)."""
    total = 0
    for i in range(iterations):
        total += i * i
    return total


def loop_us() -> float:
    """Thread CPU microseconds of the fastest of ``TRIES`` runs of the fixed loop."""
    best = None
    for _ in range(TRIES):
        t0 = time.thread_time_ns()
        python_loop(LOOP)
        took = (time.thread_time_ns() - t0) / 1e3
        best = took if best is None else min(best, took)
    return best


def _sample(conn: Any, period_s: float) -> None:
    samples = []
    while not conn.poll(period_s):
        samples.append(round(loop_us(), 2))
    conn.send(samples)
    conn.close()


def window_medians(samples: list[float], window: int = WINDOW) -> list[float]:
    """Median of each whole window of consecutive samples (a short tail is left out)."""
    return [
        statistics.median(samples[i : i + window])
        for i in range(0, len(samples) - window + 1, window)
    ]


@dataclass
class MeterReading:
    """One run's samples, summed up."""

    samples_us: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return statistics.median(self.samples_us) if self.samples_us else float("nan")

    @functools.cached_property
    def windows_us(self) -> list[float]:
        """Each second's median (the samples are set once, when the meter stops)."""
        return window_medians(self.samples_us)

    @property
    def slowest_window_us(self) -> float:
        return max(self.windows_us) if self.windows_us else self.median_us

    @property
    def fastest_window_us(self) -> float:
        return min(self.windows_us) if self.windows_us else self.median_us

    def slow_share(self, limit_us: float) -> float:
        """The share of samples over ``limit_us`` (a spell flickering faster than a second
        leaves the seconds' medians alone but not this)."""
        if not self.samples_us:
            return 1.0
        return sum(s > limit_us for s in self.samples_us) / len(self.samples_us)

    def slow_seconds(self, limit_us: float) -> tuple[int, int]:
        """(seconds metered over ``limit_us``, the longest unbroken spell of them)."""
        total = longest = spell = 0
        for median in self.windows_us:
            spell = spell + 1 if median > limit_us else 0
            total += spell > 0
            longest = max(longest, spell)
        return total, longest

    def to_json(self) -> dict[str, Any]:
        if not self.samples_us:
            return {"median_us": None, "slowest_1s_us": None, "samples": 0}
        return {
            "median_us": round(self.median_us, 2),
            "slowest_1s_us": round(self.slowest_window_us, 2),
            "samples": len(self.samples_us),
        }


class SpeedMeter:
    """``with SpeedMeter() as meter: run()``; then ``meter.reading`` holds the samples."""

    def __init__(self, period_s: float = PERIOD_S) -> None:
        self.period_s = period_s
        self.reading = MeterReading()
        self._conn: Any = None
        self._process: Any = None

    def __enter__(self) -> SpeedMeter:
        ctx = multiprocessing.get_context("spawn")
        self._conn, there = ctx.Pipe()
        self._process = ctx.Process(target=_sample, args=(there, self.period_s), daemon=True)
        self._process.start()
        there.close()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send("stop")
            if self._conn.poll(STOP_TIMEOUT_S):
                self.reading = MeterReading(self._conn.recv())
        except (EOFError, OSError):
            pass  # the meter died: the run has no reading, which reads as not steady
        finally:
            self._conn.close()
            self._process.join(STOP_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
