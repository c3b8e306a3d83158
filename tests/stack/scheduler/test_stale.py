from __future__ import annotations

import pytest

from stack.executor import ExecutorError, Runtime, SimClock, WallClock
from stack.graph import parse_graph
from stack.msgs import new, ns_to_stamp
from stack.trace.records import CallbackRecord, Tracer

WORK = "stack.nodes.synthetic:Work"
REC = "tests.stack.executor.nodes:Recorder"


def graph_text(budget_ms: float, extra: str = "") -> str:
    return f"""
allow_external_modules: true
{extra}
nodes:
  slow:
    class: {WORK}
    params: {{input: /cam, output: /mid, msgtype: std_msgs/msg/Header, work_ms: 4.0}}
  last: {{class: "{REC}", params: {{input: /mid, output: /out}}}}
chains:
  critical: {{path: [/cam, /mid, /out], budget_ms: {budget_ms}, priority: 5}}
"""


def runtime(text: str, policy: str = "l4", *, stale: bool | None = True) -> Runtime:
    tracer = Tracer(enabled=True)
    rt = Runtime(
        parse_graph(text, "t.yaml"), SimClock(1_000_000_000), lockstep=True, policy=policy,
        tracer=tracer, external_topics=("/cam",),
    )  # fmt: skip
    if stale is not None:
        rt.scheduler.stale_check = stale  # lockstep keeps it off by default; judge real time here
    return rt


def frame(name: str):
    return new("std_msgs/msg/Header", stamp=ns_to_stamp(1_000_000_000), frame_id=name)


def test_input_older_than_its_chain_budget_is_dropped_before_the_callback():
    rt = runtime(graph_text(budget_ms=1.0))  # the 4 ms upstream already used it up
    rt.inject("/cam", frame("f0"))
    rt.run_until_idle()
    last = rt.nodes["last"]
    assert last.instance.seen == []
    assert rt.topics["/out"].published == 0
    assert rt.counters()["last"] == {"drop": 1}
    assert rt.scheduler.stale_drops == 1
    drops = [CallbackRecord._make(r) for r in rt.tracer.records if r[0] == "last"]
    assert len(drops) == 1
    rec = drops[0]
    assert rec.start_ns == rec.end_ns and rec.outputs == ()
    assert rec.callback == "sub:/mid" and rec.inputs[0][0] == "/mid"
    kind, detail = rec.events[0]
    assert kind == "drop"
    assert "stale /mid" in detail and "chain critical budget 1 ms" in detail


def test_fresh_input_runs():
    rt = runtime(graph_text(budget_ms=500.0))
    rt.inject("/cam", frame("f0"))
    rt.run_until_idle()
    assert rt.nodes["last"].instance.seen == ["f0"]
    assert rt.counters()["last"] == {}
    assert rt.topics["/out"].published == 1


def test_fifo_keeps_stale_inputs_like_ros2():
    rt = runtime(graph_text(budget_ms=1.0), policy="fifo", stale=None)
    assert not rt.scheduler.stale_check
    rt.inject("/cam", frame("f0"))
    rt.run_until_idle()
    assert rt.nodes["last"].instance.seen == ["f0"]


def test_stale_drop_is_on_for_threaded_l4_and_can_be_switched_off():
    text = graph_text(budget_ms=1.0)
    rt = Runtime(parse_graph(text, "t.yaml"), WallClock(), external_topics=("/cam",))
    assert rt.scheduler.stale_check
    lockstep = runtime(text, stale=None)
    assert not lockstep.scheduler.stale_check  # lockstep replays must be deterministic
    off = Runtime(
        parse_graph(graph_text(1.0, "scheduler: {stale_drop: false}"), "t.yaml"),
        WallClock(), external_topics=("/cam",),
    )  # fmt: skip
    assert not off.scheduler.stale_check


def test_bad_scheduler_section_names_the_key():
    text = graph_text(1.0, "scheduler: {stale_drop: maybe}")
    with pytest.raises(ExecutorError, match=r"t.yaml: scheduler.stale_drop: expected true/false"):
        Runtime(parse_graph(text, "t.yaml"), SimClock(), lockstep=True, external_topics=("/cam",))


def test_a_side_input_is_never_dropped_as_stale():
    # /pose comes from the sensor too (a scan-matched pose carries the lineage of what it
    # started from) and reaches the fusing node late; it is not a hop of the chain, so its
    # age is not the chain's: it must arrive, while the late hop /mid is dropped.
    from tests.stack.executor import nodes

    text = f"""
allow_external_modules: true
nodes:
  slow:
    class: {WORK}
    params: {{input: /cam, output: /mid, msgtype: std_msgs/msg/Header, work_ms: 4.0}}
  pose: {{class: "{REC}", params: {{input: /cam, output: /pose}}}}
  last: {{class: "tests.stack.executor.nodes:Fuser", params: {{input: /mid, side: /pose}}}}
chains:
  critical: {{path: [/cam, /mid, /out], budget_ms: 1.0, priority: 5}}
"""
    nodes.LOG.clear()
    rt = runtime(text)
    side = rt.topics["/pose"].subscriptions[0]
    assert side.side_input and [m.chain for m in side.chains] == ["critical"]
    assert not rt.topics["/mid"].subscriptions[0].side_input
    rt.inject("/cam", frame("f0"))
    rt.run_until_idle()
    assert ("last", "side:f0") in nodes.LOG
    assert rt.nodes["last"].instance.seen == []  # the hop, 4 ms old against 1 ms: dropped
    assert rt.counters()["last"] == {"drop": 1}


def test_a_side_input_does_not_speak_for_the_chains_it_serves():
    # An odometry message carries the lidar sweep its scan match used: as the planner's side
    # input it must not credit the plan to that sweep; other lineage passes through.
    from stack.executor.entities import Subscription
    from stack.scheduler.policy import ChainMembership
    from tools.schedsim import Service, SimCallback, SimSubscription

    lidar = ChainMembership("lidar_to_control", 10, "/lidar", 100_000_000)
    origins = {"/lidar": (5, 50), "/imu": (7, 70)}
    side = Subscription(None, "/odom", "x", print, 1, (lidar,), side_input=True)
    hop = Subscription(None, "/objects", "x", print, 1, (lidar,))
    assert side.lineage(origins) == {"/imu": (7, 70)}
    assert hop.lineage(origins) == origins
    cb = SimCallback("n", "sub:/odom", Service.fixed(1.0))
    sim_side = SimSubscription("n", "/odom", 1, cb, (lidar,), side_input=True)
    assert sim_side.lineage(origins) == {"/imu": (7, 70)}
