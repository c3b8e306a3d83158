"""The blocking guard inside the runtime: which executors and inputs it watches, when it is on."""

from __future__ import annotations

import time

import pytest

from stack.executor import ExecutorError, Runtime, SimClock, WallClock
from stack.graph import parse_graph
from stack.msgs import new, ns_to_stamp
from stack.scheduler.config import parse_scheduler
from stack.scheduler.errors import SchedulerError

WORK = "stack.nodes.synthetic:Work"
BEAT = "stack.nodes.synthetic:Heartbeat"
SINK = "stack.nodes.synthetic:Sink"
REC = "tests.stack.executor.nodes:Recorder"
HEADER = "std_msgs/msg/Header"
EXTERNAL = ("/img", "/other")
S = 1_000_000_000


def graph_text(extra: str = "", rate_hz: float = 100.0) -> str:
    return f"""
allow_external_modules: true
{extra}
executors:
  main: {{threads: 1}}
  side: {{threads: 1}}
nodes:
  beat: {{class: {BEAT}, params: {{topic: /cam, rate_hz: {rate_hz}}}, executor: main}}
  slow:
    class: {WORK}
    params: {{input: /cam, output: /mid, msgtype: {HEADER}, work_ms: 0.0}}
    executor: main
  last: {{class: "{REC}", params: {{input: /mid, output: /out}}, executor: main}}
  logger: {{class: "{REC}", params: {{input: /img, output: /log, depth: 3}}, executor: main}}
  tap: {{class: {SINK}, params: {{input: /cam, msgtype: {HEADER}}}, executor: main}}
  other: {{class: "{REC}", params: {{input: /other}}, executor: side}}
chains:
  critical: {{path: [/cam, /mid, /out], budget_ms: 100, priority: 5}}
  log: {{path: [/img, /log], budget_ms: 500, priority: 1}}
"""


def threaded(text: str, policy: str = "l4") -> Runtime:
    return Runtime(
        parse_graph(text, "t.yaml"), WallClock(), policy=policy, external_topics=EXTERNAL
    )


def sub_of(rt: Runtime, node: str, topic: str):
    (sub,) = [s for s in rt.topics[topic].subscriptions if s.node.name == node]
    return sub


def header(frame: str = "f"):
    return new(HEADER, stamp=ns_to_stamp(S), frame_id=frame)


def test_guard_forecasts_the_chain_hops_per_executor():
    rt = threaded(graph_text())
    guard = rt.scheduler.guard
    assert guard is not None
    main = guard.executors["main"]
    assert [(f.priority, f.depth) for f in main.inputs] == [(5, 1), (5, 1), (1, 3)]
    assert main.top_priority == 5
    # Every hop of a chain is forecast (/cam, the later /mid, the logger's /img); a /cam
    # subscriber on no chain (the sink) is not.
    watched = {
        id(sub_of(rt, "slow", "/cam")), id(sub_of(rt, "last", "/mid")),
        id(sub_of(rt, "logger", "/img")),
    }  # fmt: skip
    assert set(guard.arrivals) == watched
    assert guard.executors["side"].inputs == []
    assert rt.scheduler.admit_for("side") is None  # nothing to protect: plain pops
    assert callable(rt.scheduler.admit_for("main"))


def test_deliveries_feed_the_arrival_forecast_including_overwrites():
    rt = threaded(graph_text())
    for i in range(3):
        rt.inject("/img", header(f"f{i}"))
    forecast = rt.scheduler.guard.arrivals[id(sub_of(rt, "logger", "/img"))]
    assert forecast.arrivals == 3
    assert forecast.period_ns > 0
    for i in range(2):
        rt.inject("/other", header(f"o{i}"))  # not a chain start: no forecast, no error
    assert sub_of(rt, "other", "/other").queue


def test_admission_holds_the_logger_before_a_due_camera_frame():
    rt = threaded(graph_text())
    guard = rt.scheduler.guard
    cam = sub_of(rt, "slow", "/cam")
    now = time.perf_counter_ns()
    for ago_s in (2.5, 1.5, 0.5):  # 1 Hz camera, next frame due in 0.5 s
        guard.arrived(cam, now - int(ago_s * S))
    guard.ran("logger", "sub:/img", 2 * S)  # the logger has been taking 2 s
    guard.ran("slow", "sub:/cam", 2 * S)
    admit = rt.scheduler.admit_for("main")
    logger_item = (-1, 0, 0, sub_of(rt, "logger", "/img"))
    assert admit(logger_item, now) == now + S  # look again when the frame is overdue
    assert admit((-5, 0, 1, cam), now) == 0  # the critical chain itself is never held
    # Through the executor's ready queue: the only item is held, so the pop times out.
    rt.inject("/img", header())
    queue = rt.queues["main"]
    assert queue.pop(timeout=0.05, admit=admit) is None
    assert len(queue) == 1


def test_a_held_node_that_can_degrade_is_asked_and_runs_once_a_switch_is_pending():
    rt = threaded(graph_text())
    guard = rt.scheduler.guard
    cam = sub_of(rt, "slow", "/cam")
    now = time.perf_counter_ns()
    for ago_s in (2.5, 1.5, 0.5):
        guard.arrived(cam, now - int(ago_s * S))
    guard.ran("logger", "sub:/img", 2 * S)

    class Advised:  # a VariantSet under a controller, as far as admission sees it
        def __init__(self, advice: bool) -> None:
            self.advice, self.asked = advice, 0

        def advise(self) -> bool:
            self.asked += 1
            return self.advice

    admit = rt.scheduler.admit_for("main")
    item = (-1, 0, 0, sub_of(rt, "logger", "/img"))
    calm = Advised(False)
    rt.scheduler._advised["logger"] = [calm]
    assert admit(item, now) == now + S and calm.asked == 1  # asked, nothing advised: held
    rt.scheduler._advised["logger"] = [Advised(True)]
    assert admit(item, now) == 0  # a switch is pending: it runs, and switches in that run
    guard.ran("logger", "sub:/img", 2 * S)
    assert admit((-5, 0, 1, cam), now) == 0  # never held: not asked either


def test_threaded_run_learns_the_sensor_period_and_callback_durations():
    rt = threaded(graph_text(rate_hz=100.0))
    rt.spin(0.25)
    forecast = rt.scheduler.guard.arrivals[id(sub_of(rt, "slow", "/cam"))]
    assert forecast.arrivals >= 3
    assert 2e6 < forecast.period_ns < 100e6  # about 10 ms; generous for a loaded machine
    assert ("slow", "sub:/cam") in rt.scheduler.guard.durations
    assert rt.nodes["last"].instance.seen  # the chain ran with the guard on


def lockstep(text: str) -> Runtime:
    return Runtime(
        parse_graph(text, "t.yaml"), SimClock(S), lockstep=True, external_topics=EXTERNAL
    )


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: lockstep(graph_text()), "lockstep"),
        (lambda: threaded(graph_text(), policy="fifo"), "fifo"),
        (lambda: threaded(graph_text("scheduler: {blocking_guard: false}")), "switched off"),
    ],
)
def test_guard_is_off_in_lockstep_under_fifo_and_when_disabled(make, why):
    rt = make()
    assert rt.scheduler.guard is None, why
    assert rt.scheduler.admit_for("main") is None


def test_stale_drop_off_leaves_the_guard_on():
    rt = threaded(graph_text("scheduler: {stale_drop: false}"))
    assert rt.scheduler.guard is not None and not rt.scheduler.stale_check


@pytest.mark.parametrize("value", ["maybe", 1, "null"])
def test_non_bool_blocking_guard_is_rejected_naming_the_key(value):
    raw = {"blocking_guard": None if value == "null" else value}
    with pytest.raises(SchedulerError, match=r"t.yaml: scheduler.blocking_guard: expected true"):
        parse_scheduler(raw, "t.yaml")
    text = graph_text(f"scheduler: {{blocking_guard: {value}}}")
    with pytest.raises(ExecutorError, match=r"scheduler.blocking_guard: expected true or false"):
        threaded(text)
