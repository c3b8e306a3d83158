"""The blocking guard: non-preemptive scheduling without priority inversion at the sensors.

A Python callback cannot be preempted. Under the l4 policy a low-priority callback only starts
when nothing more urgent is ready -- but once started, it runs to the end. If a critical sensor
frame arrives meanwhile, the frame waits; when the low-priority work is long against the
sensor period, the wait carries into the next period, and the next frame overwrites the one
still queued (a keep-latest queue of depth 1): the critical chain loses frames to logging.

The guard forecasts both sides: when each higher-priority chain input of the executor comes
next (its period, learnt from arrivals) and how long the candidate callback runs (its
recent durations). A candidate that would still be running when such an input overflows its
queue -- at the arrival for depth 1, ``depth - 1`` periods later for deeper queues -- is held
back until that input has come; something shorter that fits may run instead. Work that never
fits a gap is shed, as the l4 policy intends under overload; with slack, every gap fits.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MIN_ARRIVALS = 3  # before a period is trusted (a bunched pair among them is gone one later)
GAPS = 8  # inter-arrival gaps whose median is the period
DURATION_GAIN = 0.125  # EWMA of callback durations and of their deviation
DEVIATIONS = 2.0  # a duration forecast is mean + 2 mean deviations
OVERDUE = 0.5  # periods past its forecast after which a sensor is no longer expected


@dataclass(eq=False)
class ArrivalForecast:
    """When the next message of one periodic input is due, from the last arrivals.

    The period is the median of the last ``GAPS`` gaps between arrivals: a pair of frames
    bunched by a stall (often the first two, while the graph warms up) or a sensor dropout
    moves it not at all, and a sensor that changes its rate is followed within half the window.
    (An average that trusted its first gap and refused gaps over 3x it as dropouts stayed at
    26 ms for a 10 Hz camera for a whole run, holding all low-priority work 40 ms each period.)
    """

    priority: int
    depth: int
    last_ns: int = 0
    period_ns: float = 0.0
    arrivals: int = 0
    gaps: deque = field(default_factory=lambda: deque(maxlen=GAPS))

    def observe(self, now_ns: int) -> None:
        if self.arrivals:
            self.gaps.append(now_ns - self.last_ns)
            self.period_ns = float(statistics.median(self.gaps))
        self.last_ns = now_ns
        self.arrivals += 1

    def overflow_ns(self, now_ns: int) -> tuple[int, int] | None:
        """(when the next arrival fills this input's queue, when to stop expecting it);
        None without a forecast."""
        if self.arrivals < MIN_ARRIVALS or self.period_ns <= 0:
            return None
        due = self.last_ns + self.period_ns
        if now_ns > due + OVERDUE * self.period_ns:
            return None  # late or stopped: nothing to protect
        spare = (self.depth - 1) * self.period_ns
        return int(due + spare), int(due + OVERDUE * self.period_ns + spare)


@dataclass
class DurationForecast:
    mean_ns: float = 0.0
    dev_ns: float = 0.0
    runs: int = 0

    def observe(self, took_ns: int) -> None:
        if not self.runs:
            self.mean_ns = float(took_ns)
        else:
            err = took_ns - self.mean_ns
            self.mean_ns += DURATION_GAIN * err
            self.dev_ns += DURATION_GAIN * (abs(err) - self.dev_ns)
        self.runs += 1

    def expect_ns(self) -> float:
        return self.mean_ns + DEVIATIONS * self.dev_ns


@dataclass(eq=False)
class ExecutorGuard:
    """The forecasts of one executor's chain-start inputs, most urgent first."""

    inputs: list[ArrivalForecast] = field(default_factory=list)
    top_priority: int = 0
    holds: int = 0  # candidates held back (a count for the report, not per node)


class BlockingGuard:
    def __init__(self) -> None:
        self.executors: dict[str, ExecutorGuard] = {}
        self.arrivals: dict[int, ArrivalForecast] = {}  # id(subscription) -> forecast
        self.durations: dict[tuple[str, str], DurationForecast] = {}

    def watch(self, executor: str, subs: Iterable[Any]) -> None:
        """Forecast the subscriptions that are hops of a chain: the sensor inputs that start
        one and the inputs downstream (objects reaching the planner once per sweep), all
        periodic. Side inputs are not: a chain node's pose input takes its priority, not
        its schedule."""
        guard = self.executors.setdefault(executor, ExecutorGuard())
        for sub in subs:
            if not sub.chains or sub.side_input:
                continue
            forecast = ArrivalForecast(max(m.priority for m in sub.chains), sub.depth)
            self.arrivals[id(sub)] = forecast
            guard.inputs.append(forecast)
        guard.inputs.sort(key=lambda f: -f.priority)
        guard.top_priority = max((f.priority for f in guard.inputs), default=0)

    def arrived(self, sub: Any, now_ns: int) -> None:
        forecast = self.arrivals.get(id(sub))
        if forecast is not None:
            forecast.observe(now_ns)

    def ran(self, node: str, callback: str, took_ns: int) -> None:
        key = (node, callback)
        forecast = self.durations.get(key)
        if forecast is None:
            forecast = self.durations[key] = DurationForecast()
        forecast.observe(took_ns)

    def forget(self, node: str) -> None:
        """Drop the duration forecasts of ``node``'s callbacks: it switched to another model
        variant, and the durations it ran at describe the old one. Its next run seeds a new
        forecast (until then it is not held back: nothing to forecast from). Without this, a
        low-priority node that switched to a cheaper variant would keep being held back by
        the old variant's durations and never run long enough to learn the new ones."""
        for key in [k for k in self.durations if k[0] == node]:
            del self.durations[key]

    def work_ns(self, hops: tuple[tuple[tuple[str, str], ...], ...]) -> int:
        """The mean run time of the callbacks in ``hops`` (the costliest of each hop's; one
        that never ran counts 0): the least time an input still needs on its chain."""
        total = 0.0
        durations = self.durations
        for hop in hops:
            known = [durations[k].mean_ns for k in hop if k in durations]
            if known:
                total += max(known)
        return int(total)

    def work_ahead(
        self, ahead: dict[str, tuple[tuple[tuple[str, str], ...], ...]], newer_waits: bool
    ) -> dict[str, int]:
        """Chain name -> the least run time an input just taken from its queue still needs on
        that chain (``ahead``: a subscription's hops per chain; see ``work_ns``).

        Counted only while a newer input waits behind it: then a frame that cannot make its
        budget gives way to one that can. Alone, it runs however late -- a late plan beats no
        plan, and a budget set a little too tight must not starve its chain."""
        if not newer_waits:
            return {}
        return {chain: self.work_ns(hops) for chain, hops in ahead.items()}

    def hold_until(
        self, executor: str, priority: int, node: str, callback: str, now_ns: int
    ) -> int:
        """0 to start the candidate now, else when to look again if the input it waits for
        has not come by then (its arrival wakes the executor anyway)."""
        guard = self.executors.get(executor)
        if guard is None or priority >= guard.top_priority:
            return 0
        took = self.durations.get((node, callback))
        if took is None:
            return 0  # never ran: nothing to forecast from
        end = now_ns + took.expect_ns()
        hold = 0
        for forecast in guard.inputs:
            if forecast.priority <= priority:
                break
            due = forecast.overflow_ns(now_ns)
            if due is not None and end > due[0]:
                hold = max(hold, due[1])
        if hold:
            guard.holds += 1
        return hold
