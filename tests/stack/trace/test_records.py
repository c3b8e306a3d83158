"""The in-memory tracer and the events it records (queue overwrites, exceptions, variants)."""

from __future__ import annotations

from stack.trace import EventKind, Tracer
from stack.trace.records import event_count, overwrite_detail
from tests.stack.trace.graphs import chain_yaml, image, lockstep


def test_record_is_a_plain_append_and_drain_resets():
    t = Tracer()
    t.record(("n", "cb", "th", 0, 1, 2, (), (), "", ()))
    assert len(t) == 1
    assert t.typed()[0].callback == "cb"
    assert len(t.drain()) == 1
    t.record(("n", "cb", "th", 0, 3, 4, (), (), "", ()))
    assert len(t) == 1  # record still appends after a drain


def test_queue_overwrites_become_events_on_the_next_run():
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",))
    for i in range(3):  # depth 1: the second and third replace the queued one
        rt.inject("/in", image(i))
    rt.run_until_idle()
    w1 = next(r for r in rt.tracer.typed() if r.node == "w1")
    assert w1.events == ((EventKind.OVERWRITE.value, "/in x2"),)
    assert w1.inputs == (("/in", 2),)  # the newest one ran
    rt.inject("/in", image(5))
    rt.run_until_idle()
    later = [r for r in rt.tracer.typed() if r.node == "w1"][-1]
    assert later.events == ()  # counted once, not again


def test_exceptions_and_variant_are_recorded():
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",))
    node = rt.nodes["w2"]
    node.variant = "pruned50"

    def boom(msg):
        raise ValueError("bad frame")

    rt.topics["/mid"].subscriptions[0].callback = boom
    rt.inject("/in", image(1))
    rt.run_until_idle()
    w2 = next(r for r in rt.tracer.typed() if r.node == "w2")
    assert w2.variant == "pruned50"
    assert w2.events[0][0] == "exception" and "bad frame" in w2.events[0][1]


def test_disabled_tracer_records_nothing():
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",), tracer=Tracer(enabled=False))
    rt.inject("/in", image(1))
    rt.run_until_idle()
    assert len(rt.tracer) == 0
    assert len(rt.chain_latencies["main"]) == 1  # online samples still work


def test_event_count_parses_overwrite_details():
    assert event_count(overwrite_detail("/a/b", 7)) == 7
    assert event_count("stale by 3 ms") == 1
    assert Tracer.event(EventKind.DROP, 3) == ("drop", "3")
