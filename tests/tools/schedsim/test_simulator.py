"""The simulator on hand-computable cases: deterministic service times, exact answers."""

from __future__ import annotations

import pytest

from stack.graph import ChainSpec
from tools.schedsim import (
    Service,
    SimCallback,
    SimError,
    SimGraph,
    SimSource,
    SimSubscription,
    SimTimer,
    Simulator,
    sim_chain_stats,
)

MS = 1_000_000


def sub(node: str, topic: str, ms: float, out: str | None, depth: int = 1) -> SimSubscription:
    pubs = {out: 1.0} if out else {}
    return SimSubscription(
        node, topic, depth, SimCallback(node, f"sub:{topic}", Service.fixed(ms), pubs)
    )


def three_chains(stale: bool = True, budget_x: float = 100.0, guard: bool = False) -> SimGraph:
    """Every 20 ms /w, /x, /y arrive together on one compute thread:
    W 2 ms (no chain), X 4 ms (chain cx, priority 1), Y 3 ms (chain cy, priority 5).
    Without the blocking guard unless asked (its own test)."""
    g = SimGraph(
        executors={"compute": 1},
        node_executor={"w": "compute", "x": "compute", "y": "compute"},
        subscriptions=[
            sub("w", "/w", 2, "/w_out"), sub("x", "/x", 4, "/x_out"), sub("y", "/y", 3, "/y_out"),
        ],
        timers=[],
        sources=[SimSource("/w", 20 * MS), SimSource("/x", 20 * MS), SimSource("/y", 20 * MS)],
        chains={
            "cx": ChainSpec("cx", ("/x", "/x_out"), budget_x, 99.0, 1),
            "cy": ChainSpec("cy", ("/y", "/y_out"), 100.0, 99.0, 5),
        },
        stale_drop=stale,
        blocking_guard=guard,
    )  # fmt: skip
    g.assign_chains()
    return g


def latencies(run, chain: str) -> list[float]:
    return [lat / MS for _, lat in run.chains[chain].outputs]


def test_fifo_serves_in_arrival_order():
    # t=20: W runs 20-22 (the thread was idle), then X 22-26, Y 26-29.
    run = Simulator(three_chains(), "fifo").run(0.11)  # inputs at 20, 40, ... 100 ms
    assert latencies(run, "cx") == [6.0] * 5
    assert latencies(run, "cy") == [9.0] * 5
    assert run.busy_ns["compute"] == 5 * 9 * MS


def test_l4_serves_the_higher_priority_chain_first():
    # W already runs at t=20 (non-preemptive); then Y 22-25, X 25-29.
    run = Simulator(three_chains(), "l4").run(0.11)
    assert latencies(run, "cy") == [5.0] * 5
    assert latencies(run, "cx") == [9.0] * 5


def test_blocking_guard_holds_work_that_would_delay_a_due_input():
    # W is injected first and runs at t=20 unguarded. Once the guard has seen three arrivals
    # and W's 2 ms, it holds W at each later tick: Y and X are due that instant, so Y runs
    # at once (3 ms) and X after it (7 ms); W then runs in the gap.
    run = Simulator(three_chains(guard=True), "l4").run(0.11)
    assert latencies(run, "cy") == [5.0, 5.0, 5.0, 3.0, 3.0]
    assert latencies(run, "cx") == [9.0, 9.0, 9.0, 7.0, 7.0]
    assert run.busy_ns["compute"] == 5 * 9 * MS  # W is held, not shed: it still runs


def test_l4_drops_an_input_already_older_than_its_budget():
    # X's input waits 5 ms behind W and Y, over its 4 ms budget: dropped at dequeue.
    run = Simulator(three_chains(budget_x=4.0), "l4").run(0.11)
    assert latencies(run, "cx") == []
    assert run.stale_drops[("x", "/x")] == 5
    assert run.busy_ns["compute"] == 5 * 5 * MS
    fifo = Simulator(three_chains(budget_x=4.0), "fifo").run(0.11)
    assert latencies(fifo, "cx") == [6.0] * 5  # FIFO keeps everything (and misses)


def test_keep_latest_queue_overwrites_while_busy():
    # A 25 ms callback on an input every 10 ms, keep-latest queue of depth 1.
    g = SimGraph(
        executors={"c": 1}, node_executor={"a": "c"},
        subscriptions=[sub("a", "/in", 25, "/out")], timers=[],
        sources=[SimSource("/in", 10 * MS)],
        chains={"ch": ChainSpec("ch", ("/in", "/out"), 100.0, 99.0, 1)},
    )  # fmt: skip
    g.assign_chains()
    run = Simulator(g, "l4").run(0.061)
    # Runs: input@10 10-35, input@30 35-60 (input@20 overwritten at 30), input@50 60-85.
    assert latencies(run, "ch") == [25.0, 30.0]
    assert run.overwrites[("a", "/in")] == 2  # @20 by @30, @40 by @50


def test_chain_through_two_executors_and_a_timer_source():
    # A timer (sensor executor, 1 ms) publishes /a every 10 ms; A (3 ms) -> /b; B (2 ms) -> /c.
    g = SimGraph(
        executors={"sensors": 1, "compute": 1},
        node_executor={"cam": "sensors", "a": "compute", "b": "compute"},
        subscriptions=[sub("a", "/a", 3, "/b"), sub("b", "/b", 2, "/c")],
        timers=[SimTimer("cam", 10 * MS, SimCallback("cam", "timer:tick", Service.fixed(1), {"/a": 1.0}))],
        sources=[],
        chains={"ch": ChainSpec("ch", ("/a", "/b", "/c"), 50.0, 99.0, 3)},
    )  # fmt: skip
    g.assign_chains()
    assert g.timers[0].chains[0].chain == "ch"
    run = Simulator(g, "l4").run(0.1)
    assert latencies(run, "ch") == [5.0] * 9  # frames at 11..91 ms; the one at 101 is beyond
    stats = sim_chain_stats([run], g.chains, g.publishers())["ch"]
    # Frames count once settled (a budget before the end): 11, 21, 31, 41 ms.
    assert (stats.frames, stats.count, stats.lost, stats.misses) == (4, 9, 0, 0)
    assert stats.p99_ms == 5.0 and stats.ok


def test_gil_hand_off_delays_a_timer_while_a_worker_is_busy():
    # /x arrives at 20 ms and takes 8 ms; the sensor timer due at 21 ms has to wait for the
    # interpreter lock: a forced switch after 5 ms (26 ms), as CPython does.
    g = SimGraph(
        executors={"sensors": 1, "compute": 1},
        node_executor={"cam": "sensors", "x": "compute", "y": "compute"},
        subscriptions=[sub("x", "/x", 8, None), sub("y", "/y", 1, "/y_out")],
        timers=[SimTimer("cam", 21 * MS, SimCallback("cam", "timer:tick", Service.fixed(0), {"/y": 1.0}))],
        sources=[SimSource("/x", 20 * MS)],
        chains={"cy": ChainSpec("cy", ("/y", "/y_out"), 50.0, 99.0, 3)},
    )  # fmt: skip
    g.assign_chains()
    free = Simulator(g, "l4").run(0.03)
    assert free.chains["cy"].frames == [21 * MS]
    gil = Simulator(g, "l4", switch_ms=5.0).run(0.03)
    assert gil.chains["cy"].frames == [26 * MS]  # then Y waits for X to end at 28 ms
    assert latencies(gil, "cy") == [3.0]


def test_gil_model_serialises_threads_of_different_executors():
    g = SimGraph(
        executors={"e1": 1, "e2": 1}, node_executor={"a": "e1", "b": "e2"},
        subscriptions=[sub("a", "/in", 4, "/a_out"), sub("b", "/in", 4, "/b_out")],
        timers=[], sources=[SimSource("/in", 20 * MS)],
        chains={
            "ca": ChainSpec("ca", ("/in", "/a_out"), 50.0, 99.0, 1),
            "cb": ChainSpec("cb", ("/in", "/b_out"), 50.0, 99.0, 1),
        },
    )  # fmt: skip
    g.assign_chains()
    parallel = Simulator(g, "l4").run(0.03)
    assert latencies(parallel, "ca") == latencies(parallel, "cb") == [4.0]
    serial = Simulator(g, "l4", cpu="gil").run(0.03)
    assert sorted(latencies(serial, "ca") + latencies(serial, "cb")) == [4.0, 8.0]


def test_bad_graph_is_rejected():
    g = three_chains()
    g.executors["compute"] = 0
    with pytest.raises(SimError, match="executor compute: needs >= 1 thread"):
        Simulator(g)
    g = three_chains()
    g.node_executor["x"] = "gpu"
    with pytest.raises(SimError, match="node x: unknown executor 'gpu'"):
        Simulator(g)


def timed_service(split_ms: float, before: float, after: float, span_ms: int = 100) -> Service:
    """A sample every ms over ``span_ms``: ``before`` ms until ``split_ms``, ``after`` ms from it."""
    at = tuple(i * MS for i in range(span_ms))
    return Service(tuple(before if i < split_ms else after for i in range(span_ms)), at)


def test_aligned_service_times_follow_the_profiled_timeline():
    # Inputs at 20, 40 ... ms meet the samples measured then: 2 ms before 50 ms, 8 ms after.
    g = SimGraph(
        executors={"compute": 1},
        node_executor={"x": "compute"},
        subscriptions=[
            SimSubscription("x", "/x", 1, SimCallback("x", "sub:/x", timed_service(50, 2, 8), {"/o": 1.0}))
        ],
        timers=[],
        sources=[SimSource("/x", 20 * MS)],
        chains={"c": ChainSpec("c", ("/x", "/o"), 100.0, 99.0, 1)},
    )  # fmt: skip
    g.assign_chains()
    run = Simulator(g, "fifo").run(0.21)
    # Past the last sample (99 ms) the timeline repeats from the first: 100 ms is 1 ms in,
    # 160 ms is 61 ms in, 200 ms is 2 ms in.
    assert latencies(run, "c") == [2.0, 2.0, 8.0, 8.0, 2.0, 2.0, 2.0, 8.0, 8.0, 2.0]


def test_aligned_draw_takes_a_sample_measured_near_the_time():
    import numpy as np

    svc = timed_service(50, 2, 8)
    rng = np.random.default_rng(0)
    assert {svc.sample_ns(rng, at=49 * MS) for _ in range(50)} == {2 * MS, 8 * MS}
    assert {svc.sample_ns(rng, at=30 * MS) for _ in range(50)} == {2 * MS}
    assert {svc.sample_ns(rng, at=-5 * MS) for _ in range(50)} == {2 * MS}
    plain = Service((2.0, 8.0))  # no times: either, whenever
    assert {plain.sample_ns(rng, at=30 * MS) for _ in range(50)} == {2 * MS, 8 * MS}
    with pytest.raises(SimError, match="1 sample times for 2 samples"):
        Service((2.0, 8.0), (0,))


def test_outputs_leave_when_published_not_when_the_callback_ends():
    # x works 4 ms but publishes 1 ms before its end; y (another executor) starts at 3 ms.
    x = SimCallback("x", "sub:/x", Service.fixed(4), {"/mid": 1.0}, publish_after_ms=1.0)
    y = SimCallback("y", "sub:/mid", Service.fixed(2), {"/o": 1.0})
    g = SimGraph(
        executors={"a": 1, "b": 1},
        node_executor={"x": "a", "y": "b"},
        subscriptions=[SimSubscription("x", "/x", 1, x), SimSubscription("y", "/mid", 1, y)],
        timers=[],
        sources=[SimSource("/x", 20 * MS)],
        chains={
            "first": ChainSpec("first", ("/x", "/mid"), 100.0, 99.0, 1),
            "whole": ChainSpec("whole", ("/x", "/mid", "/o"), 100.0, 99.0, 1),
        },
    )  # fmt: skip
    g.assign_chains()
    run = Simulator(g, "fifo").run(0.05)
    assert latencies(run, "first") == [3.0, 3.0]
    assert latencies(run, "whole") == [5.0, 5.0]
    assert run.busy_ns == {"a": 8 * MS, "b": 4 * MS}  # x still takes its 4 ms


def test_l4_drops_an_input_whose_remaining_work_cannot_fit_while_a_newer_one_waits():
    # /in every 10 ms (queue of 2) -> a (4 ms) -> /mid -> b (3 ms) -> /out, 20 ms budget, on
    # one thread with w, 28 ms of chainless work arriving at 12 ms: w runs 17-45 (never ran,
    # so the guard cannot hold it). Frames 3 and 4 wait; at 45 frame 3 is 15 ms old with 7 ms
    # ahead and frame 4 behind it: dropped. Frame 4 then runs a 45-49, b 49-52 (12 ms), and
    # frame 5 (at 50) a 52-56, b 56-59 (9 ms). Frame 2 was overwritten at 40.
    def graph(guard: bool) -> SimGraph:
        g = SimGraph(
            executors={"c": 1}, node_executor={"a": "c", "b": "c", "w": "c"},
            subscriptions=[
                sub("a", "/in", 4, "/mid", depth=2), sub("b", "/mid", 3, "/out"),
                sub("w", "/w", 28, None),
            ],
            timers=[],
            sources=[SimSource("/in", 10 * MS), SimSource("/w", 1000 * MS, phase_ns=12 * MS)],
            chains={"ch": ChainSpec("ch", ("/in", "/mid", "/out"), 20.0, 99.0, 1)},
            blocking_guard=guard,
        )  # fmt: skip
        g.assign_chains()
        return g

    g = graph(guard=True)
    assert g.subscriptions[0].ahead == {"ch": ((("a", "sub:/in"),), (("b", "sub:/mid"),))}
    assert g.subscriptions[1].ahead == {"ch": ((("b", "sub:/mid"),),)}
    run = Simulator(g, "l4").run(0.065)
    assert latencies(run, "ch") == [7.0, 12.0, 9.0]
    assert run.stale_drops[("a", "/in")] == 1
    # No durations known (no guard): frame 3 runs (a 45-49), then frame 4 (49-53: the ready
    # item queued with frame 3 keeps frame 3's deadline, a tie with its /mid, and came first),
    # whose /mid overwrites frame 3's: b 53-56 (16 ms); frame 5 runs a 56-60, b 60-63 (13 ms).
    ages_only = Simulator(graph(guard=False), "l4").run(0.065)
    assert latencies(ages_only, "ch") == [7.0, 16.0, 13.0]
    assert ages_only.overwrites[("b", "/mid")] == 1
    assert ages_only.stale_drops[("a", "/in")] == 0
