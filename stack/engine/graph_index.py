"""One index over an ONNX graph: which node writes each tensor and which nodes read it.

The graph passes of this package (the fusion analysis, the INT8 ReLU folding) walk a graph
through its tensors; they share this index instead of each building its own maps.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
from onnx import numpy_helper


class GraphIndex:
    """Nodes by position, each tensor's writer and its readers (each reading node once)."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.nodes: list[onnx.NodeProto] = list(graph.node)
        self.outputs = {o.name for o in graph.output}
        self.initializers = {i.name: i for i in graph.initializer}
        self.writer: dict[str, int] = {
            t: i for i, n in enumerate(self.nodes) for t in n.output if t
        }
        self.readers: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for t in n.input:
                readers = self.readers.setdefault(t, [])
                if not readers or readers[-1] != i:
                    readers.append(i)

    def array(self, name: str) -> np.ndarray | None:
        """The initializer ``name`` as an array, or None when it is not one."""
        t = self.initializers.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def writer_node(self, tensor: str) -> onnx.NodeProto | None:
        i = self.writer.get(tensor)
        return None if i is None else self.nodes[i]

    def reader_nodes(self, tensor: str) -> list[onnx.NodeProto]:
        return [self.nodes[i] for i in self.readers.get(tensor, [])]

    def only_reader(self, tensor: str) -> int | None:
        """The one node reading ``tensor`` when no other node reads it and it is no graph
        output (so fusing or removing the pair leaves nothing else without its input)."""
        readers = self.readers.get(tensor, [])
        return readers[0] if len(readers) == 1 and tensor not in self.outputs else None

    def only_reader_node(self, tensor: str) -> onnx.NodeProto | None:
        i = self.only_reader(tensor)
        return None if i is None else self.nodes[i]

    def edges(self) -> Iterator[tuple[int, int]]:
        """(writer, reader) node pairs, one per tensor and reading node."""
        for t, readers in self.readers.items():
            w = self.writer.get(t)
            if w is not None:
                for r in readers:
                    yield w, r
