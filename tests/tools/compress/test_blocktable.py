"""The measured latency table of block rewrites (tools.compress.blocktable)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tools.compress import blocktable
from tools.compress.blocksparse import ConvLayer, conv_layers
from tools.compress.errors import CompressError


def _model():
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((8, 16, 1, 1)).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["h"], "c1", kernel_shape=[3, 3], pads=[1] * 4),
        helper.make_node("Relu", ["h"], ["r"], "relu"),
        helper.make_node("Conv", ["r", "w2"], ["y"], "c2", kernel_shape=[1, 1]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 12, 12])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 12, 12])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_target_is_seventy_percent_of_the_flops_cut():
    assert blocktable.target_speedup(0.5) == pytest.approx(1 / 0.65)
    assert round(blocktable.target_speedup(0.5), 2) == 1.54
    assert blocktable.target_speedup(0.0) == 1.0


def test_rows_per_block_count_with_their_verdict():
    rows = blocktable.measure_table(_model(), keep=0.5, groups=(1, 2, 4, 3), rounds=3)
    # c1: 16 filters -> 1, 2, 4 blocks (3 does not divide 16); c2: 8 filters -> 1, 2, 4.
    assert [(r["layer"], r["blocks"], r["block"]) for r in rows] == [
        ("c1", 1, 16), ("c1", 2, 8), ("c1", 4, 4), ("c2", 1, 8), ("c2", 2, 4), ("c2", 4, 2)
    ]  # fmt: skip
    for r in rows:
        assert r["flops_cut"] == 0.5 and r["target_speedup"] == 1.538
        assert r["ok"] == (r["speedup"] >= 1 / 0.65)
        assert r["speedup"] == pytest.approx(r["before_ms"] / r["after_ms"], rel=0.01)


def test_confirm_and_the_whole_model_rewrite():
    model = _model()
    rows = blocktable.confirm(model, {"c1": 2}, keep=0.5, rounds=2)
    assert [(r["layer"], r["blocks"]) for r in rows] == [("c1", 2)]
    before, after = blocktable.model_rewrite(model, {"c1": 2, "c2": 1}, keep=0.5)
    assert [n.op_type for n in after.graph.node] == ["Gather", "Conv", "Relu", "Gather", "Conv"]
    timed = blocktable.time_pair(before, after, rounds=2)  # checks the outputs agree
    assert timed["before_ms"] > 0 and blocktable.summary(rows)["layers"] == 1
    # The pruned "before" holds zeros where the rewrite drops columns.
    w = numpy_helper.to_array(next(t for t in before.graph.initializer if t.name == "w1"))
    assert (np.abs(w).sum(axis=(2, 3)) == 0).sum() == 16 * 8


def test_a_rewrite_that_changes_the_output_is_refused(monkeypatch):
    layer = conv_layers(_model(), min_in=1)[0]
    assert isinstance(layer, ConvLayer)
    real = blocktable.rewrite_conv

    def wrong(model, name, pattern):
        out = real(model, name, pattern)
        w = next(t for t in out.graph.initializer if t.name.endswith("/w"))
        w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) + 1.0, w.name))
        return out

    monkeypatch.setattr(blocktable, "rewrite_conv", wrong)
    with pytest.raises(CompressError, match="block rewrite of c1 changed its output"):
        blocktable.layer_rows(layer, 0.5, (2,), rounds=1)
