"""Executors in a process of their own: messages, lineage, trace and counters cross the pipe."""

from __future__ import annotations

import pickle
import threading
import time

import pytest

from stack.executor import ExecutorError, Runtime, ScaledClock, SimClock, WallClock
from stack.graph import parse_graph
from stack.trace import Tracer
from tests.stack.executor.test_runtime import REC, TICK, header

CROSSING = f"""
executors:
  here: {{threads: 1}}
  apart: {{threads: 1, process: true}}
nodes:
  t: {{class: "{TICK}", params: {{period_s: 0.01, output: /b}}, executor: here}}
  b: {{class: "{REC}", params: {{input: /b, output: /mid{{fail}}}}, executor: apart}}
  m: {{class: "{REC}", params: {{input: /mid, output: /out}}, executor: here}}
chains:
  c: {{path: [/b, /mid, /out], budget_ms: 50, priority: 1}}
"""


def crossing(fail_on: int | None = None, **kw) -> Runtime:
    fail = f", fail_on: {fail_on}" if fail_on is not None else ""
    text = "allow_external_modules: true\n" + CROSSING.replace("{fail}", fail)
    return Runtime(parse_graph(text, "t.yaml"), WallClock(), **kw)


def spin(rt: Runtime, seconds: float, then=None) -> BaseException | None:
    """Run threaded for ``seconds`` (calling ``then(rt)`` half-way); the error spin raised."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            rt.spin(None)
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    runner = threading.Thread(target=target)
    runner.start()
    time.sleep(seconds / 2)
    if then is not None:
        then(rt)
    time.sleep(seconds / 2)
    rt.request_stop()
    runner.join(20)
    assert not runner.is_alive()
    return raised[0] if raised else None


def test_a_chain_crosses_the_process_with_its_lineage_trace_and_counters():
    tracer = Tracer()
    rt = crossing(tracer=tracer)
    assert [r.name for r in rt.remotes] == ["apart"]
    assert spin(rt, 0.6) is None
    ticks = len(rt.nodes["t"].instance.ticks)
    seen = rt.nodes["m"].instance.seen
    sub_b = rt.topics["/b"].subscriptions[0]
    # Every tick crossed: run in the child, or counted there as overwritten in its depth-1 queue
    # or dropped as stale (a busy host: at load 5, 9-14 of ~58), never lost unseen; at most
    # one is still in the pipe at the stop.
    counts = rt.counters()["b"]
    crossed = sub_b.delivered + counts.get("overwrite", 0) + counts.get("drop", 0)
    assert ticks >= 20 and ticks - 1 <= crossed <= ticks, (ticks, sub_b.delivered, counts)
    assert len(seen) >= max(10, sub_b.delivered - 1)
    order = [int(name[1:]) for name in seen]
    assert order == sorted(order) and len(set(order)) == len(order)  # in order through the child
    assert rt.nodes["b"].instance.seen == []  # the parent's copy never ran
    lat = [x for _, x in rt.chain_latencies["c"]]
    assert len(lat) == len(seen) and all(0 < x < 50_000_000 for x in lat)
    child = [r for r in tracer.records if r[0] == "b"]
    assert len(child) >= len(seen) and {r[2] for r in child} == {"apart-0"}
    ran = [r for r in child if r[7]]  # the others are the child's counted stale drops
    assert len(ran) >= len(seen) and len(child) - len(ran) == counts.get("drop", 0)
    assert all(r[7][0][0] == "/mid" and "/b" in r[7][0][2] for r in ran)
    assert sub_b.delivered == len(ran)  # the child's counters, taken at shutdown
    assert rt.topics["/mid"].published == len(ran)
    assert not rt.remotes


def test_a_failing_callback_in_the_child_stops_the_run_under_fail_fast():
    rt = crossing(fail_on=2, fail_fast=True)
    error = spin(rt, 1.0)
    assert isinstance(error, ExecutorError)
    assert "node b callback sub:/b raised RuntimeError: boom on input 2" in str(error)
    assert rt.errors and "boom on input 2" in rt.errors[0]


def test_a_child_that_dies_stops_the_run_naming_its_executor():
    rt = crossing()
    error = spin(rt, 1.0, then=lambda r: r.remotes[0].process.kill())
    assert isinstance(error, ExecutorError)
    assert "executor apart: its process exited during the run (exit code -9)" in str(error)


def test_a_node_failing_to_build_in_the_child_names_it():
    text = (
        "allow_external_modules: true\nexecutors:\n  apart: {threads: 1, process: true}\n"
        f'nodes:\n  r: {{class: "{TICK}", params: {{period_s: -1.0}}, executor: apart}}\n'
    )
    with pytest.raises(ExecutorError, match=r"t\.yaml: nodes\.r: constructing .* failed"):
        Runtime(parse_graph(text, "t.yaml"), WallClock())


def test_lockstep_runs_a_process_executor_in_process():
    text = "allow_external_modules: true\n" + CROSSING.replace("{fail}", "")
    rt = Runtime(parse_graph(text, "t.yaml"), SimClock(0), lockstep=True)
    assert rt.remotes == []
    rt.inject("/b", header("x"))
    rt.run_until_idle()
    assert rt.nodes["b"].instance.seen == ["x"] and rt.nodes["m"].instance.seen == ["x"]


def test_a_scaled_clock_keeps_its_time_in_a_copy():
    clock = ScaledClock(5_000_000_000, rate=2.0)
    copy = pickle.loads(pickle.dumps(clock))
    assert copy.rate == 2.0
    assert abs(copy.now_ns() - clock.now_ns()) < 50_000_000
    copy.rebase(0)  # a working lock of its own
    assert copy.now_ns() < 1_000_000_000
