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
import json
import multiprocessing
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PERIOD_S = 0.1
METER_FILE = "meter.json"  # a kept run's reading, in its run folder
WINDOW = 10  # samples per window: one second
LOOP = 10_000  # iterations of the timed loop (about 0.4 ms)
TRIES = 3  # loops per sample; the fastest counts (a cache cold after a preemption is no spell)
STOP_TIMEOUT_S = 5.0
# A second with this many of its samples slow is in a spell (spells flicker within seconds;
# a clean run has about 6 % of its samples slow, so 3 of 10 by chance in 2 % of its seconds).
SPAN_MIN_SLOW = 3


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
    samples, stamps = [], []
    while not conn.poll(period_s):
        samples.append(round(loop_us(), 2))
        # perf_counter is CLOCK_MONOTONIC, one for every process: the trace's clock
        stamps.append(time.perf_counter_ns())
    conn.send((samples, stamps))
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
    # When each sample was taken (perf_counter ns, the trace's clock); empty when unknown.
    stamps_ns: list[int] = field(default_factory=list)

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

    def slow_spans(self, limit_us: float, min_slow: int = SPAN_MIN_SLOW) -> list[tuple[int, int]]:
        """When the host was in a spell, as (start, end) perf_counter ns, merged: each whole
        second with ``min_slow`` or more samples over ``limit_us``, from one period before
        its first sample to its last. Seconds, not single samples: a lone slow sample is the
        host as it always is (a few percent of any run), a spell is not."""
        if len(self.stamps_ns) != len(self.samples_us):
            raise ValueError(
                f"meter reading: {len(self.stamps_ns)} stamps for {len(self.samples_us)} samples"
            )
        spans: list[tuple[int, int]] = []
        for i in range(0, len(self.samples_us) - WINDOW + 1, WINDOW):
            if sum(s > limit_us for s in self.samples_us[i : i + WINDOW]) < min_slow:
                continue
            period = self.stamps_ns[i + 1] - self.stamps_ns[i]
            start, end = self.stamps_ns[i] - period, self.stamps_ns[i + WINDOW - 1]
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        return spans

    def save(self, path: Path) -> None:
        """Samples and stamps as JSON (``load`` reads them back)."""
        path.write_text(json.dumps({"samples_us": self.samples_us, "stamps_ns": self.stamps_ns}))

    @classmethod
    def load(cls, path: Path) -> MeterReading:
        try:
            doc = json.loads(path.read_text())
            return cls(list(doc["samples_us"]), list(doc["stamps_ns"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a meter reading: {exc}") from exc

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
                samples, stamps = self._conn.recv()
                self.reading = MeterReading(samples, stamps)
        except (EOFError, OSError):
            pass  # the meter died: the run has no reading, which reads as not steady
        finally:
            self._conn.close()
            self._process.join(STOP_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
