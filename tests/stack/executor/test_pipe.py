"""The process executor's pipe: typed kinds and records on each side, builtins on the wire."""

from __future__ import annotations

import io
import multiprocessing
import pickle

import pytest

from stack.executor.pipe import PipeKind, PipeMessage, Wire, message
from stack.executor.stats import ChildStats, SubscriptionCount, TimerCount, merge_stats
from stack.msgs import new, ns_to_stamp
from stack.trace.records import Origin
from tests.stack.executor.test_runtime import REC, TICK, runtime


@pytest.fixture
def wires():
    here, there = multiprocessing.Pipe()
    yield Wire(here), Wire(there)
    here.close()
    there.close()


class _NoClasses(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"names {module}.{name}")


def _builtins_only(data: bytes) -> object:
    return _NoClasses(io.BytesIO(data)).load()


def test_a_forwarded_message_arrives_typed(wires):
    up, down = wires
    msg = new("std_msgs/msg/Header", stamp=ns_to_stamp(5), frame_id="f")
    origins = {"/in": Origin(5, 123)}
    up.forward("/in", "std_msgs/msg/Header", msg, origins, 456)
    kind, body = down.receive()
    assert kind is PipeKind.MSG
    m = message(body)
    assert isinstance(m, PipeMessage)
    assert (m.topic, m.msgtype, m.publish_ns) == ("/in", "std_msgs/msg/Header", 456)
    assert m.decode().frame_id == "f"
    assert m.origins == origins and m.origins["/in"].publish_ns == 123


@pytest.mark.parametrize("kind", list(PipeKind))
def test_every_kind_crosses_as_itself(wires, kind):
    up, down = wires
    up.send(kind, "detail")
    assert down.receive() == (kind, "detail")


def test_per_message_items_are_builtins_on_the_wire():
    """The kind crosses as its plain value and the message as a tuple: a class named in the
    pickle costs an import lookup per item on the other side."""
    sent: list[bytes] = []

    class Conn:
        def send_bytes(self, data: bytes) -> None:
            sent.append(data)

    wire = Wire(Conn())
    msg = new("std_msgs/msg/Header", frame_id="f")
    wire.forward("/in", "std_msgs/msg/Header", msg, {}, 1)
    wire.record(("node", "sub:/in", "t", 0, 1, 2, (), (), "", ()))
    assert [_builtins_only(d)[0] for d in sent] == ["msg", "rec"]  # type: ignore[index]


def test_child_stats_merge_into_the_parents_copies():
    rt = runtime(
        f"""
nodes:
  r: {{class: "{REC}", params: {{input: /in, output: /out}}}}
  t: {{class: "{TICK}"}}
"""
    )
    stats = ChildStats(
        counters={"r": {"overwrite": 3}},
        subscriptions=[SubscriptionCount("r", "/in", 3, 7)],
        timers=[TimerCount("t", rt.timers[0].name, 2)],
        errors=["node r callback sub:/in raised RuntimeError: boom"],
    )
    merge_stats(stats, rt.nodes, rt.topics, rt.timers, rt.errors)
    sub = rt.topics["/in"].subscriptions[0]
    assert (sub.overwritten, sub.delivered) == (3, 7)
    assert rt.timers[0].skipped == 2
    assert rt.counters()["r"] == {"overwrite": 3}
    assert rt.errors == ["node r callback sub:/in raised RuntimeError: boom"]
