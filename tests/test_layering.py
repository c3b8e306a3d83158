"""Imports only go down the layers (DESIGN.md, "Layers").

Every module of stack/, perception/, planning/ and tools/ is parsed with ``ast``; each import
(module level, function level and under ``if TYPE_CHECKING:`` alike) must go to a module of the
same rank or a lower one. The rank table, lowest first (a module takes the rank of the longest
prefix listed; a module matching none fails the test until it is placed here):

====  =====================================================================================
rank  modules
====  =====================================================================================
0     ``stack.errors`` (the error root), ``stack.params``, ``stack.console``,
      ``stack.platform``: leaves
1     ``stack.msgs``, ``stack.topics``, ``stack.events`` and the trace's data format
      (``stack.trace.records``, ``.fileformat``, ``.errors``): what messages, names and
      callback records are, no behaviour
2     ``stack.node``, ``stack.graph`` (and its ``stack.graph_*`` parts): the node contract and
      the launch file model
3     ``stack.engine``, ``stack.scheduler``, ``stack.executor``, ``stack.trace.lineage``:
      the runtime (executor and scheduler use each other's types; lineage is the origins the
      executor carries)
4     ``stack.trace`` (writer, run directory), ``stack.replay``, ``stack.report``,
      ``stack.ros``, ``stack.nodes``: what drives, records and reports a run
5     ``stack.cli``: the `l4` registry and the runtime's own subcommands
6     ``perception``: the driving nodes that sense
7     ``planning``: may use perception's shared geometry and object types
8     ``tools``: offline tooling and their `l4` subcommands, above everything
====  =====================================================================================

The issue's shorthand "msgs -> node/graph -> executor/scheduler -> trace/replay/report ->
perception/planning -> tools" reads with two refinements: the trace's record and file format
is leaf data the executor writes (rank 1), while the trace writer and run directory sit above
the executor (rank 4); and engine loading is part of the runtime (rank 3).
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.importgraph import Import, project_imports, project_modules

RANKS: dict[str, int] = {
    "stack.errors": 0,
    "stack.console": 0,
    "stack.platform": 0,
    "stack.telemetry": 0,  # Jetson telemetry: tegrastats parsing and sampling
    "stack.params": 0,  # ParamError helpers and parse_enum
    "stack.lazy": 0,  # package exports loaded on first use
    "stack.msgs": 1,
    "stack.topics": 1,  # the graph's standard topic and frame names
    "stack.events": 1,  # event kinds of the trace
    "stack.trace.records": 1,
    "stack.trace.fileformat": 1,
    "stack.trace.errors": 1,
    "stack.node": 2,
    "stack.graph": 2,
    "stack.graph_args": 2,  # the launch file model, split in parts
    "stack.graph_errors": 2,
    "stack.graph_params": 2,
    "stack.graph_qos": 2,
    "stack.graph_values": 2,
    "stack.graph_yaml": 2,
    "stack.engine": 3,
    "stack.scheduler": 3,
    "stack.executor": 3,
    "stack.trace.lineage": 3,
    "stack.trace": 4,
    "stack.replay": 4,
    "stack.report": 4,
    "stack.ros": 4,
    "stack.nodes": 4,
    "stack.cli": 5,
    "perception": 6,
    "planning": 7,
    "tools": 8,
}


# Only the module itself, not what lies under it: a new stack module must be placed in RANKS.
EXACT: dict[str, int] = {"stack": 0}


def rank(module: str, ranks: dict[str, int] = RANKS) -> int | None:
    """The rank of the longest listed prefix of ``module`` (None when none is listed)."""
    if module in EXACT:
        return EXACT[module]
    parts = module.split(".")
    while parts:
        found = ranks.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


def violations(imports: list[Import], ranks: dict[str, int] = RANKS) -> list[str]:
    out = []
    for imp in imports:
        low, high = rank(imp.imported, ranks), rank(imp.importer, ranks)
        if low is not None and high is not None and low > high:
            out.append(
                f"{imp.where()} imports {imp.imported}: rank {high} ({imp.importer}) may not "
                f"import rank {low} ({imp.imported})"
            )
    return sorted(set(out))


def unranked(modules: Iterable[str], ranks: dict[str, int] = RANKS) -> list[str]:
    return sorted(m for m in modules if rank(m, ranks) is None)


def test_every_module_has_a_rank() -> None:
    missing = unranked(project_modules())
    assert not missing, f"modules without a rank: {missing}; place them in RANKS above"


def test_imports_only_go_down_the_layers() -> None:
    found = violations(project_imports())
    assert not found, "imports against the layering:\n" + "\n".join(found)


def test_stack_imports_nothing_above_it() -> None:
    """The headline of the rule, said on its own: the runtime never imports what runs on it."""
    upward = [
        imp.where() + " imports " + imp.imported
        for imp in project_imports()
        if imp.importer.split(".")[0] == "stack"
        and imp.imported.split(".")[0] in ("perception", "planning", "tools")
    ]
    assert not upward


def test_an_upward_import_inside_a_function_is_found(tmp_path) -> None:
    for pkg in ("stack", "tools"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "tools" / "bench.py").write_text("X = 1\n")
    (tmp_path / "stack" / "msgs.py").write_text("def f():\n    from tools.bench import X\n")
    (tmp_path / "stack" / "cli.py").write_text("import stack.msgs\n")
    (tmp_path / "stack" / "odd.py").write_text("")
    assert violations(project_imports(tmp_path, ["stack", "tools"])) == [
        "stack.msgs:2 imports tools.bench: rank 1 (stack.msgs) may not import rank 8 (tools.bench)"
    ]
    assert unranked(project_modules(tmp_path, ["stack", "tools"])) == ["stack.odd"]
