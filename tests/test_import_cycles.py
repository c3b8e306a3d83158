"""No import cycles between the project's modules (stack, perception, planning, tools).

Module-level and function-level imports both count: a cycle hidden by a function-level import
is still two modules that cannot be understood (or tested) one without the other. Imports under
``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

from collections import defaultdict

from tests.importgraph import Import, project_imports, strongly_connected


def import_cycles(imports: list[Import]) -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        if not imp.type_checking:
            edges[imp.importer].add(imp.imported)
    return [c for c in strongly_connected(edges) if len(c) > 1]


def _describe(cycle: list[str], imports: list[Import]) -> str:
    members = set(cycle)
    lines = sorted(
        f"    {imp.where()} imports {imp.imported}"
        for imp in imports
        if imp.importer in members and imp.imported in members and not imp.type_checking
    )
    return "cycle between " + ", ".join(cycle) + ":\n" + "\n".join(lines)


def test_no_import_cycles() -> None:
    imports = project_imports()
    cycles = import_cycles(imports)
    assert not cycles, "\n".join(_describe(c, imports) for c in cycles)


def test_a_cycle_through_a_function_level_import_is_found(tmp_path) -> None:
    pkg = tmp_path / "stack"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from stack import b\n")
    (pkg / "b.py").write_text("def f():\n    from stack.a import x\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import stack.a\n"
    )
    (pkg / "d.py").write_text("from . import c\n")
    cycles = import_cycles(project_imports(tmp_path, ["stack"]))
    assert cycles == [["stack.a", "stack.b"]]
