"""Scheme mapping (rule- and measurement-based) and 3x3 pattern pruning."""

from __future__ import annotations

import numpy as np

from tools.compress.blocksparse import ConvLayer
from tools.compress.schemes import (
    NEEDS_COMPILER,
    Scheme,
    pattern_library,
    pattern_prune,
    rule_based,
    search_based,
)


def _layer(name, o, i, k):
    return ConvLayer(name, np.zeros((o, i, k, k), np.float32), None, (8, 8), 1)


def test_rule_based_keeps_first_and_output_convs_and_marks_pattern():
    layers = [
        _layer("first", 16, 3, 3),
        _layer("mid", 32, 16, 3),
        _layer("pw", 32, 32, 1),
        _layer("out", 4, 32, 1),
    ]
    plain = [c.scheme for c in rule_based(layers)]
    assert plain == [Scheme.NONE, Scheme.BLOCK, Scheme.BLOCK, Scheme.NONE]
    compiled = rule_based(layers, compiler_target=True)
    assert compiled[1].scheme is Scheme.PATTERN and compiled[1].reason == NEEDS_COMPILER
    assert compiled[1].speedup == 1.0  # never counted as a speedup


def test_search_based_uses_measured_speedups_and_sensitivity():
    table = {
        Scheme.BLOCK: [
            {"layer": "a", "speedup": 0.6},
            {"layer": "b", "speedup": 1.7},
            {"layer": "c", "speedup": 1.8},
        ],
        Scheme.CHANNEL: [
            {"layer": "a", "speedup": 1.5},
            {"layer": "b", "speedup": 1.6},
            {"layer": "c", "speedup": 1.9},
        ],
        Scheme.PATTERN: [{"layer": "a", "speedup": 9.0}],  # a claim nothing here realises
    }
    got = {c.layer: c for c in search_based(table, {"c": 2.0})}
    assert got["a"].scheme is Scheme.CHANNEL and got["a"].speedup == 1.5
    assert got["b"].scheme is Scheme.BLOCK
    assert got["c"].scheme is Scheme.NONE and "sensitive" in got["c"].reason
    slow = search_based({Scheme.BLOCK: [{"layer": "a", "speedup": 0.9}]})
    assert slow[0].scheme is Scheme.NONE


def test_search_based_takes_only_rows_that_realise_their_flops_target():
    """Measured rows (tools.compress.blocktable) carry ``ok``: a faster rewrite that still
    falls short of 70 % of its FLOPs cut is not taken; among those that deliver, the fastest,
    with its block size."""

    def row(layer, blocks, speedup):
        return {"layer": layer, "blocks": blocks, "block": 16 // blocks, "shape": [16, 16, 3, 3],
                "flops_cut": 0.5, "speedup": speedup, "ok": speedup >= 1.538}  # fmt: skip

    table = {
        Scheme.CHANNEL: [row("a", 1, 1.5), row("b", 1, 1.6)],
        Scheme.BLOCK: [row("a", 2, 1.2), row("b", 2, 1.7), row("b", 4, 1.55)],
    }
    got = {c.layer: c for c in search_based(table, min_speedup=1.0)}
    assert got["a"].scheme is Scheme.NONE and "delivers" in got["a"].reason  # 1.5x < 1.54x
    assert got["b"].scheme is Scheme.BLOCK and got["b"].block == 8 and got["b"].speedup == 1.7
    assert "2 block(s)" in got["b"].reason


def test_pattern_prune_keeps_four_entries_per_kernel():
    assert len(pattern_library()) == 8 and all(p.sum() == 4 for p in pattern_library())
    w = np.random.default_rng(0).standard_normal((6, 5, 3, 3)).astype(np.float32)
    pruned, choice = pattern_prune(w)
    assert ((pruned != 0).sum(axis=(2, 3)) == 4).all() and choice.shape == (6, 5)
    kept = pattern_library()[choice[0, 0]]
    assert np.array_equal(pruned[0, 0][kept], w[0, 0][kept])
