"""Block-sparse conv -> dense sub-convolutions over gathered input channels (ONNX rewrite)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from tools.compress.blocksparse import (
    BlockPattern,
    block_prune,
    conv_model,
    measure_layer,
    rewrite_conv,
)
from tools.compress.errors import CompressError


def _weight(out_ch=16, in_ch=12, k=3, seed=0):
    return np.random.default_rng(seed).standard_normal((out_ch, in_ch, k, k)).astype(np.float32)


def test_block_prune_keeps_the_strongest_columns_per_block():
    w = _weight()
    w[:8, 5] *= 10.0  # column 5 strong in the first block only
    pruned, pattern = block_prune(w, block=8, keep=0.5)
    assert [len(f) for f in pattern.filters] == [8, 8] and all(len(i) == 6 for i in pattern.inputs)
    assert 5 in pattern.inputs[0]
    dropped = np.setdiff1d(np.arange(12), pattern.inputs[0])
    assert not pruned[:8][:, dropped].any() and np.array_equal(
        pruned[:8][:, pattern.inputs[0]], w[:8][:, pattern.inputs[0]]
    )
    assert pattern.flops_ratio(12) == pytest.approx(0.5)
    with pytest.raises(CompressError, match=r"block=0 must be >= 1"):
        block_prune(w, 0, 0.5)


def _attr(node, name, default=None):
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name),
                default)  # fmt: skip


def test_regular_blocks_become_one_gather_and_one_grouped_conv():
    w = _weight()
    pruned, pattern = block_prune(w, block=4, keep=0.5)
    bias = np.arange(16, dtype=np.float32)
    before = conv_model(pruned, bias, (10, 14))
    after = rewrite_conv(before, "conv", pattern)
    assert [n.op_type for n in after.graph.node] == ["Gather", "Conv"]
    assert _attr(after.graph.node[1], "group") == 4
    measured = measure_layer(before, after, rounds=5)  # also checks the outputs agree
    assert measured["before_ms"] > 0 and measured["after_ms"] > 0


def test_identity_columns_need_no_gather_and_irregular_blocks_are_split():
    # Two blocks keeping complementary halves in order: the grouped conv reads x as it is.
    halves = BlockPattern((np.arange(0, 4), np.arange(4, 8)), (np.arange(0, 6), np.arange(6, 12)))
    w = np.zeros((8, 12, 3, 3), np.float32)
    for f, cols in zip(halves.filters, halves.inputs):
        w[np.ix_(f, cols)] = _weight(len(f), len(cols), seed=2)
    after = rewrite_conv(conv_model(w, None, (6, 6)), "conv", halves)
    assert [n.op_type for n in after.graph.node] == ["Conv"]
    measure_layer(conv_model(w, None, (6, 6)), after, rounds=2)
    # Blocks of unequal sizes: one sub-conv per block and a Concat.
    uneven = BlockPattern((np.arange(0, 3), np.arange(3, 8)), (np.arange(0, 6), np.arange(2, 5)))
    w2 = np.zeros((8, 12, 3, 3), np.float32)
    for f, cols in zip(uneven.filters, uneven.inputs):
        w2[np.ix_(f, cols)] = _weight(len(f), len(cols), seed=3)
    after2 = rewrite_conv(conv_model(w2, None, (6, 6)), "conv", uneven)
    assert [n.op_type for n in after2.graph.node].count("Conv") == 2
    measure_layer(conv_model(w2, None, (6, 6)), after2, rounds=2)


def _shuffled():
    pattern = BlockPattern(
        (np.array([3, 0]), np.array([1, 2])), (np.array([0, 5]), np.array([2, 3]))
    )
    w = np.zeros((4, 12, 3, 3), np.float32)
    for f, cols in zip(pattern.filters, pattern.inputs):
        w[np.ix_(f, cols)] = _weight(len(f), len(cols), seed=1)
    return pattern, w


def _two_convs(w, tail=True):
    """x -> Conv(w) -> Relu -> Conv(5 filters) [-> y], or x -> Conv(w) -> y."""
    from onnx import TensorProto, helper, numpy_helper

    w2 = _weight(5, w.shape[0], 1, seed=4)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w2, "w2")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["h" if tail else "y"], "conv",
                              kernel_shape=[3, 3], pads=[1] * 4)]  # fmt: skip
    if tail:
        nodes += [helper.make_node("Relu", ["h"], ["r"], "relu"),
                  helper.make_node("Conv", ["r", "w2"], ["y"], "next", kernel_shape=[1, 1])]  # fmt: skip
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[1], 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5 if tail else w.shape[0], 6, 6])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_filter_reorder_is_folded_into_the_next_conv_or_undone_by_a_gather():
    pattern, w = _shuffled()
    folded = rewrite_conv(_two_convs(w), "conv", pattern)
    ops = [n.op_type for n in folded.graph.node]
    assert ops == ["Gather", "Conv", "Relu", "Conv"]  # no runtime permutation
    measure_layer(_two_convs(w), folded, rounds=2)  # the same outputs
    # The conv's output is the graph's output: nothing to fold into, a Gather puts it back.
    alone = rewrite_conv(_two_convs(w, tail=False), "conv", pattern)
    assert alone.graph.node[-1].op_type == "Gather" and alone.graph.node[-1].name == "conv/Permute"
    measure_layer(_two_convs(w, tail=False), alone, rounds=2)


def test_rewrite_refuses_a_missing_node():
    model = conv_model(_weight(), None, (4, 4))
    with pytest.raises(CompressError, match="no Conv node 'nope'"):
        rewrite_conv(model, "nope", block_prune(_weight(), 4, 0.5)[1])
    assert isinstance(model, onnx.ModelProto)
