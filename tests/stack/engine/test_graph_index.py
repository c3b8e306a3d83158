"""The shared ONNX graph index: writers, readers (each node once), only-reader, edges."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from stack.engine.graph_index import GraphIndex


def _graph():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Mul", ["a", "a"], ["b"], name="square"),  # reads a twice
        helper.make_node("Add", ["b", "w"], ["y"], name="add"),
        helper.make_node("Neg", ["b"], ["z"], name="neg"),
    ]
    w = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "w")
    return helper.make_graph(nodes, "g", [x], [y, z], [w])


def test_writers_and_readers_count_each_reading_node_once():
    g = GraphIndex(_graph())
    assert g.writer == {"a": 0, "b": 1, "y": 2, "z": 3}
    assert g.readers["a"] == [1] and g.readers["b"] == [2, 3]
    assert g.writer_node("b").name == "square" and g.writer_node("x") is None
    assert [n.name for n in g.reader_nodes("b")] == ["add", "neg"] and g.reader_nodes("q") == []


def test_only_reader_needs_one_reader_and_no_graph_output():
    g = GraphIndex(_graph())
    assert g.only_reader("a") == 1  # one node, even though it reads a twice
    assert g.only_reader_node("a").name == "square"
    assert g.only_reader("b") is None  # two readers
    assert g.only_reader("y") is None and g.only_reader_node("y") is None  # a graph output


def test_edges_join_writers_to_readers_and_initializers_read_as_arrays():
    g = GraphIndex(_graph())
    assert sorted(g.edges()) == [(0, 1), (1, 2), (1, 3)]
    assert np.array_equal(g.array("w"), [1.0, 2.0]) and g.array("x") is None
