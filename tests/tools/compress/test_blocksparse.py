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


def test_rewrite_computes_the_same_layer_with_dense_sub_convs():
    w = _weight()
    pruned, pattern = block_prune(w, block=4, keep=0.5)
    bias = np.arange(16, dtype=np.float32)
    before = conv_model(pruned, bias, (10, 14))
    after = rewrite_conv(before, "conv", pattern)
    ops = [n.op_type for n in after.graph.node]
    assert ops.count("Conv") == 4 and ops.count("Gather") == 4 and ops[-1] == "Concat"
    measured = measure_layer(before, after, rounds=5)  # also checks the outputs agree
    assert measured["before_ms"] > 0 and measured["after_ms"] > 0
    # Blocks that are not the filters in order: a permutation puts the outputs back.
    shuffled = BlockPattern(
        (np.array([3, 0]), np.array([1, 2])), (np.array([0, 5]), np.array([2, 3, 4]))
    )
    w2 = np.zeros((4, 12, 3, 3), np.float32)
    for f, cols in zip(shuffled.filters, shuffled.inputs):
        w2[np.ix_(f, cols)] = _weight(len(f), len(cols), seed=1)
    after2 = rewrite_conv(conv_model(w2, None, (6, 6)), "conv", shuffled)
    assert after2.graph.node[-1].op_type == "Gather"
    measure_layer(conv_model(w2, None, (6, 6)), after2, rounds=2)


def test_rewrite_refuses_a_missing_node():
    model = conv_model(_weight(), None, (4, 4))
    with pytest.raises(CompressError, match="no Conv node 'nope'"):
        rewrite_conv(model, "nope", block_prune(_weight(), 4, 0.5)[1])
    assert isinstance(model, onnx.ModelProto)
