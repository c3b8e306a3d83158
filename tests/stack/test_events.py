"""Events are typed: EventKind members are counted and traced, a plain string kind is refused."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stack.events import EventKind, EventKindError, kind_value
from stack.executor import Runtime, SimClock
from stack.graph import parse_graph
from stack.msgs import new
from stack.node import Context, Node
from stack.trace.records import Tracer

ROOT = Path(__file__).resolve().parents[2]
HEADER = "std_msgs/msg/Header"


@dataclass
class DropperParams:
    kind: str = "enum"  # "enum": EventKind.DROP; "string": the plain "drop"


class Dropper(Node):
    Params = DropperParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        ctx.subscribe("/in", HEADER, self.on_msg)

    def on_msg(self, msg: Any) -> None:
        kind: Any = EventKind.DROP if self.params.kind == "enum" else "drop"
        self.ctx.event(kind, f"/in: frame {msg.frame_id}")


def _run(kind: str) -> Runtime:
    text = f"""allow_external_modules: true
nodes:
  dropper: {{class: "{__name__}:Dropper", params: {{kind: {kind}}}}}
"""
    graph = parse_graph(text, "t.yaml")
    rt = Runtime(graph, SimClock(1), lockstep=True, external_topics=("/in",), tracer=Tracer())
    rt.inject("/in", new(HEADER, frame_id="x"))
    rt.run_until_idle()
    return rt


def test_an_enum_kind_is_counted_and_traced_as_its_string() -> None:
    rt = _run("enum")
    assert rt.counters()["dropper"].get("drop") == 1
    (record,) = rt.tracer.typed()
    assert record.events == (("drop", "/in: frame x"),)
    assert type(record.events[0][0]) is str  # the trace holds plain strings


def test_a_string_kind_fails_loudly() -> None:
    rt = _run("string")
    assert "drop" not in rt.counters()["dropper"]
    assert any("EventKindError" in e and "'drop'" in e for e in rt.errors)


def test_kind_value_names_the_node() -> None:
    assert kind_value(EventKind.SWITCH, "det") == "switch"
    with pytest.raises(EventKindError, match=r"node det: event kind 'drop' is not"):
        kind_value("drop", "det")  # type: ignore[arg-type]


def test_no_node_passes_a_string_kind() -> None:
    found = []
    for package in ("perception", "planning", "stack"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "event"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "use EventKind: " + ", ".join(found)
