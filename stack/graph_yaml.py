"""Strict YAML for launch files: a size cap, no duplicate keys, a budget on alias expansion.

PyYAML's ``safe_load`` keeps the last of two equal keys and shares aliased nodes; a document of
9 levels x 9 aliases (the "billion laughs") loads fast, then expands to 9^9 values as soon as
anything walks it. Here the composed node tree is walked once before construction: every node
is counted each time an alias reaches it, and the walk stops as soon as the count passes
``MAX_NODES``, so an oversized document is refused in milliseconds, naming the key path where
the budget ran out. Equal keys in one mapping (as the constructed dict would see them: ``1``
and ``1.0`` are equal) are refused with both lines.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stack.graph_errors import GraphError

MAX_BYTES = 1 << 20  # a launch file is a few KiB; 1 MiB is far beyond any real one
MAX_NODES = 50_000  # YAML nodes after alias expansion (the demo graph has about 400)
MAX_DEPTH = 64  # nesting levels
MERGE_TAG = "tag:yaml.org,2002:merge"


def check_size(source: str, size: int) -> None:
    """Refuse a document over ``MAX_BYTES`` before reading or parsing it."""
    if size > MAX_BYTES:
        raise GraphError(
            f"{source}: the launch file is {size} bytes; launch files are limited to "
            f"{MAX_BYTES} bytes"
        )


def load_strict(text: str, source: str) -> Any:
    """Parse one YAML document with the safe loader, refusing what ``_Walk`` refuses."""
    check_size(source, len(text.encode("utf-8", "surrogatepass")))
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Walk(source, loader).visit(node, "", 0)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise GraphError(f"{source}: not valid YAML: {exc}") from exc
    except RecursionError as exc:  # the composer recurses once per nesting level
        raise GraphError(
            f"{source}: nested too deeply to parse (launch files allow {MAX_DEPTH} levels)"
        ) from exc
    finally:
        loader.dispose()


class _Walk:
    """Counts nodes (aliases expanded), bounds the depth and refuses duplicate keys."""

    def __init__(self, source: str, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader
        self.count = 0

    def _fail(self, path: str, message: str) -> GraphError:
        return GraphError(f"{self.source}: {path or '<document>'}: {message}")

    def visit(self, node: Node, path: str, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._fail(
                path,
                f"the document expands (through its aliases) to more than {MAX_NODES} YAML "
                "nodes; refused",
            )
        if depth > MAX_DEPTH:
            raise self._fail(path, f"nested more than {MAX_DEPTH} levels deep; refused")
        if isinstance(node, MappingNode):
            self._mapping(node, path, depth)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.visit(item, f"{path}[{i}]", depth + 1)

    def _mapping(self, node: MappingNode, path: str, depth: int) -> None:
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != MERGE_TAG:
                key = self.loader.construct_object(key_node)
                child = f"{path}.{key}" if path else str(key)
                line = key_node.start_mark.line + 1
                if not _hashable(key):  # the constructor will say what is wrong
                    pass
                elif key in first_line:
                    raise self._fail(
                        child,
                        f"duplicate key {key!r} (line {line}; first at line {first_line[key]})",
                    )
                else:
                    first_line[key] = line
            else:
                child = path
                self.visit(key_node, path, depth + 1)
            self.visit(value_node, child, depth + 1)


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True
