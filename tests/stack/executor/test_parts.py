"""The runtime in parts: no import cycle among the executor's modules, each part small, and the
Runtime offering everything each narrow view (stack.executor.view) promises its user."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from stack.executor import view
from tests.stack.executor.test_runtime import REC, TICK, runtime

EXECUTOR = Path(view.__file__).parent
MAX_LINES = 300


def _imports(path: Path) -> set[str]:
    """Modules of stack.executor that ``path`` imports anywhere (module or function level,
    under TYPE_CHECKING too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n.rpartition(".")[2] for n in names if n.startswith("stack.executor.")}
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for dep in sorted(graph.get(m, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_executor_modules_import_each_other_without_a_cycle():
    modules = {p.stem: p for p in EXECUTOR.glob("*.py") if p.stem != "__init__"}
    graph = {m: _imports(p) & set(modules) - {m} for m, p in modules.items()}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_cycle_finder_finds_the_runtime_process_cycle_of_before():
    before = {"runtime": {"context", "process"}, "process": {"runtime"}, "context": {"runtime"}}
    assert _cycle(before) == ["context", "runtime", "context"]


@pytest.mark.parametrize("path", sorted(EXECUTOR.glob("*.py")), ids=lambda p: p.name)
def test_each_part_is_small(path: Path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines (> {MAX_LINES}): split it"


VIEWS = [
    view.BuiltGraph,
    view.RunResults,
    view.NodeHost,
    view.HookedRuntime,
    view.ProcessParent,
    view.ProcessChild,
    view.BridgedRuntime,
]


@pytest.mark.parametrize("protocol", VIEWS, ids=lambda p: p.__name__)
def test_runtime_offers_what_each_view_promises(protocol):
    graph = f"""
nodes:
  r: {{class: "{REC}", params: {{input: /in, output: /out}}}}
  t: {{class: "{TICK}"}}
chains:
  c: {{path: [/in, /out], budget_ms: 100}}
"""
    rt = runtime(graph)
    members = [
        name
        for cls in protocol.__mro__
        if cls.__module__ == view.__name__
        for name, value in vars(cls).items()
        if isinstance(value, property) or (inspect.isfunction(value) and name[0] != "_")
    ]
    assert members
    for name in members:
        assert hasattr(rt, name), f"Runtime lacks {protocol.__name__}.{name}"
        expected = getattr(protocol, name)
        if inspect.isfunction(expected):
            assert callable(getattr(rt, name)), f"Runtime.{name} is not callable"


def test_a_tracer_swapped_on_the_runtime_gets_the_next_records():
    from stack.msgs import new
    from stack.trace.records import Tracer

    rt = runtime(f'nodes:\n  r: {{class: "{REC}", params: {{input: /in}}}}\n')
    first, second = Tracer(), Tracer()
    rt.tracer = first
    rt.inject("/in", new("std_msgs/msg/Header", frame_id="a"))
    rt.run_until_idle()
    rt.tracer = second
    rt.inject("/in", new("std_msgs/msg/Header", frame_id="b"))
    rt.run_until_idle()
    assert (len(first), len(second)) == (1, 1)
    assert rt.tracer is second
