"""The launch file's per-topic QoS: defaults by role, overrides, strict validation."""

from __future__ import annotations

import pytest

from stack.graph import parse_graph
from stack.graph_errors import GraphError
from stack.graph_qos import Durability, History, Reliability, Role, default_qos, topic_qos

NODES = "nodes:\n  s: {class: 'stack.nodes.synthetic:Sink', params: {input: /cam}}\n"


def test_defaults_by_role() -> None:
    sensor = default_qos("/sensing/lidar/points", Role.INPUT, 2)
    assert (sensor.reliability, sensor.durability, sensor.depth) == (
        Reliability.BEST_EFFORT, Durability.VOLATILE, 5,
    )  # fmt: skip
    assert default_qos("/x", Role.INPUT, 20).depth == 20
    out = default_qos("/control/command", Role.OUTPUT)
    assert (out.reliability, out.history, out.depth) == (
        Reliability.RELIABLE,
        History.KEEP_LAST,
        10,
    )
    for role in Role:
        assert default_qos("/tf_static", role).durability is Durability.TRANSIENT_LOCAL
        assert default_qos("/tf_static", role).reliability is Reliability.RELIABLE


def test_override_keeps_what_it_does_not_name() -> None:
    graph = parse_graph("qos:\n  /cam: {depth: 2, reliability: reliable}\n" + NODES, "q.yaml")
    qos = topic_qos(graph.qos, "/cam", Role.INPUT)
    assert (qos.reliability, qos.durability, qos.depth) == (
        Reliability.RELIABLE, Durability.VOLATILE, 2,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("qos", "message"),
    [
        ("[1]", "qos: expected a mapping of topic -> settings"),
        ("{cam: {depth: 1}}", "topic 'cam' must be an absolute name"),
        ("{/cam: 5}", "qos./cam: expected a mapping"),
        ("{/cam: {deep: 1}}", "qos./cam: unknown key 'deep'"),
        ("{/cam: {depth: 0}}", r"qos./cam.depth: expected an integer >= 1, got 0"),
        ("{/cam: {depth: true}}", r"qos./cam.depth: expected an integer >= 1, got true"),
        ("{/cam: {reliability: sometimes}}", "reliability='sometimes' is not one of"),
        ("{/cam: {durability: transient}}", "durability='transient' is not one of"),
        ("{/cam: {history: keep_first}}", "history='keep_first' is not one of"),
    ],
)
def test_bad_qos_is_refused_naming_the_key(qos: str, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        parse_graph(f"qos: {qos}\n" + NODES, "q.yaml")
