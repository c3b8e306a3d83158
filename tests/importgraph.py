"""The project's module import graph, read from the source with ``ast`` (nothing is imported).

Counts module-level and function-level imports alike; resolves relative imports and
``from pkg import name`` to the submodule ``pkg.name`` when it is one. Imports of modules
outside the project are left out. Dynamic imports (``importlib.import_module(variable)``, the
launch file's ``module:Class``, the entry points) are not seen: they go through a registry.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stack", "perception", "planning", "tools")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name (a project module)
    line: int
    type_checking: bool  # under `if TYPE_CHECKING:`: never executed at run time

    def where(self) -> str:
        return f"{self.importer}:{self.line}"


def project_modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> source file, packages as their ``__init__``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(tree: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement with whether it sits under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, type_checking
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _walk(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _walk(ast.Module(body=[child], type_ignores=[]), type_checking)
        else:
            yield from _walk(node, type_checking)


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _targets(module: str, is_package: bool, node: ast.stmt, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [_nearest(a.name, known) for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = _base(module, is_package, node)
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in known else _nearest(base, known))
    return out


def _nearest(name: str, known: set[str]) -> str:
    """``name`` or its closest enclosing project module ("" when outside the project)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def project_imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Import]:
    modules = project_modules(root, packages)
    known = set(modules)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, type_checking in _walk(tree):
            for target in _targets(module, is_package, node, known):
                if target and target != module:
                    found.append(Import(module, target, node.lineno, type_checking))
    return found


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of a directed graph (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components
