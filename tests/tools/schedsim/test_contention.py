"""The contention model, measured wake-ups and source phases on hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest

from stack.graph import ChainSpec
from tools.schedsim import (
    Service,
    SimCallback,
    SimGraph,
    SimSource,
    SimSubscription,
    Simulator,
)
from tools.schedsim.build import slowdown
from tools.schedsim.profile import CallbackProfile

MS = 1_000_000


def two_executors(slow_a: float, slow_b: float, phase_b: int = 0, **extra) -> SimGraph:
    """/a and /b every 100 ms, each on its own executor: A works 10 ms alone, B 4 ms alone."""
    cb_a = SimCallback("a", "sub:/a", Service.fixed(10), {"/a_out": 1.0}, slow_a)
    cb_b = SimCallback("b", "sub:/b", Service.fixed(4), {"/b_out": 1.0}, slow_b)
    g = SimGraph(
        executors={"ea": 1, "eb": 1},
        node_executor={"a": "ea", "b": "eb"},
        subscriptions=[SimSubscription("a", "/a", 1, cb_a), SimSubscription("b", "/b", 1, cb_b)],
        timers=[],
        sources=[SimSource("/a", 100 * MS, 0), SimSource("/b", 100 * MS, phase_b)],
        chains={
            "ca": ChainSpec("ca", ("/a", "/a_out"), 100.0, 99.0, 1),
            "cb": ChainSpec("cb", ("/b", "/b_out"), 100.0, 99.0, 1),
        },
        **extra,
    )
    g.assign_chains()
    return g


def lat(run, chain: str) -> list[float]:
    return [round(x / MS, 6) for _, x in run.chains[chain].outputs]


def test_overlapping_callbacks_stretch_by_their_slowdowns():
    # Both start at 0 at half (A) and two-thirds (B) speed: B's 4 ms of work end at 6 ms,
    # when A has done 3 ms; A's last 7 ms run alone: A ends at 13 ms.
    run = Simulator(two_executors(2.0, 1.5), "fifo").run(0.25)
    assert lat(run, "cb") == [6.0, 6.0, 6.0]
    assert lat(run, "ca") == [13.0, 13.0, 13.0]
    assert run.busy_ns == {"ea": 39 * MS, "eb": 18 * MS}


def test_callbacks_that_do_not_overlap_run_at_solo_speed():
    run = Simulator(two_executors(2.0, 1.5, phase_b=50 * MS), "fifo").run(0.25)
    assert lat(run, "ca") == [10.0, 10.0, 10.0]
    assert lat(run, "cb") == [4.0, 4.0]


def test_sources_start_at_their_phase():
    run = Simulator(two_executors(1.0, 1.0, phase_b=30 * MS), "fifo").run(0.25)
    assert run.chains["cb"].frames == [30 * MS, 130 * MS, 230 * MS]
    assert run.chains["ca"].frames == [0, 100 * MS, 200 * MS]


def test_measured_wake_up_delays_the_start():
    g = two_executors(1.0, 1.0, wakeups={"eb": Service.fixed(0.5)})
    run = Simulator(g, "fifo").run(0.25)
    assert lat(run, "cb") == [4.5, 4.5, 4.5]
    assert lat(run, "ca") == [10.0, 10.0, 10.0]  # no measured wake-up: immediate


def _profile(mean_ms: float, overlap: float) -> CallbackProfile:
    return CallbackProfile("n", "sub:/x", np.full(10, mean_ms), overlap=overlap)


def test_slowdown_from_the_overlap_the_run_measured():
    # 6 ms measured at 50 % overlap over 4 ms alone: 6 = 4 * (1 + (s - 1) * 0.5) -> s = 2
    assert slowdown(_profile(6.0, 0.5), _profile(4.0, 0.0)) == pytest.approx(2.0)
    # too little overlap to say anything; faster than alone is noise, not a speed-up
    assert slowdown(_profile(6.0, 0.05), _profile(4.0, 0.0)) == 1.0
    assert slowdown(_profile(3.0, 0.8), _profile(4.0, 0.0)) == 1.0
    assert slowdown(_profile(100.0, 1.0), _profile(1.0, 0.0)) == 4.0  # capped
