"""The measured latency table of block rewrites, and the check of what a mapping delivers.

Each plain conv of a model is block-pruned on its own (``keep`` of the input columns per block)
at several block counts -- 1 block (every filter: input-channel pruning), 2 and 4 blocks of
equal size -- rewritten for dense execution (tools.compress.blocksparse: one Gather + one
Conv with ``group`` = blocks), and timed alone on ONNX Runtime CPU with the dense conv holding
the zeros, all in one interleaved session set per layer. A row is ``ok`` when the rewrite
realises at least ``TARGET_SHARE`` of its FLOPs cut: speedup >= 1 / (1 - 0.7 x cut).

The search mapper (tools.compress.schemes.search_based) chooses from these rows, so only a
layer and block count measured to deliver are rewritten. ``confirm`` measures the chosen layers
again in a fresh timing (a table row picked as the best of several is biased upward), and
``model_rewrite`` builds the whole model with every chosen layer rewritten, for a timing of the
model itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tools.compress.blocksparse import (
    BlockPattern,
    ConvLayer,
    block_prune,
    check_same,
    conv_layers,
    conv_model,
    rewrite_conv,
    time_models,
)

if TYPE_CHECKING:
    import onnx

TARGET_SHARE = 0.7  # of a layer's FLOPs cut that its measured speedup must realise
GROUPS = (1, 2, 4)  # block counts measured per layer (1 = one block of every filter)


def target_speedup(flops_cut: float) -> float:
    """The speedup that realises ``TARGET_SHARE`` of ``flops_cut`` (0.5 -> 1.538)."""
    return 1.0 / (1.0 - TARGET_SHARE * flops_cut)


def _variants(
    layer: ConvLayer, keep: float, groups: Iterable[int]
) -> list[tuple[int, np.ndarray, BlockPattern]]:
    """(blocks, pruned weight, pattern) per block count dividing the layer's filters."""
    out_ch = layer.weight.shape[0]
    return [(g, *block_prune(layer.weight, out_ch // g, keep)) for g in groups if out_ch % g == 0]


def layer_rows(
    layer: ConvLayer, keep: float, groups: Iterable[int] = GROUPS, threads: int = 1,
    rounds: int = 200,
) -> list[dict[str, object]]:  # fmt: skip
    """One row per block count: the layer alone, dense (holding the zeros) against each
    rewrite, timed interleaved in one session set; each rewrite checked to compute the same."""
    dense = conv_model(layer.weight, layer.bias, layer.input_hw, layer.stride)
    afters, meta = [], []
    for g, pruned, pattern in _variants(layer, keep, groups):
        before = conv_model(pruned, layer.bias, layer.input_hw, layer.stride)
        after = rewrite_conv(before, "conv", pattern)
        check_same(before, after, layer.name)
        afters.append(after)
        meta.append((g, pattern))
    times = time_models([dense, *afters], threads, rounds)
    rows = []
    for (g, pattern), after_ms in zip(meta, times[1:]):
        cut = 1.0 - pattern.flops_ratio(layer.weight.shape[1])
        speedup, target = times[0] / after_ms, target_speedup(cut)
        rows.append({"layer": layer.name, "shape": list(layer.weight.shape),
                     "input_hw": list(layer.input_hw), "blocks": g,
                     "block": layer.weight.shape[0] // g, "flops_cut": round(cut, 3),
                     "before_ms": _ms(times[0]), "after_ms": _ms(after_ms),
                     "speedup": round(speedup, 3), "target_speedup": round(target, 3),
                     "ok": speedup >= target})  # fmt: skip
    return rows


def measure_table(
    model: onnx.ModelProto, keep: float = 0.5, groups: Iterable[int] = GROUPS, threads: int = 1,
    rounds: int = 200, min_in: int = 16,
) -> list[dict[str, object]]:  # fmt: skip
    """``layer_rows`` for every plain conv of ``model`` (at least ``min_in`` input channels)."""
    groups = tuple(groups)
    return [row for layer in conv_layers(model, min_in)
            for row in layer_rows(layer, keep, groups, threads, rounds)]  # fmt: skip


def confirm(
    model: onnx.ModelProto, chosen: dict[str, int], keep: float, threads: int = 1,
    rounds: int = 200,
) -> list[dict[str, object]]:  # fmt: skip
    """The chosen layers (node name -> block count) measured again, alone, each against its
    dense conv in a fresh interleaved timing."""
    rows = []
    for layer in conv_layers(model, min_in=1):
        if layer.name in chosen:
            rows += layer_rows(layer, keep, (chosen[layer.name],), threads, rounds)
    return rows


def model_rewrite(
    model: onnx.ModelProto, chosen: dict[str, int], keep: float
) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """(the model with each chosen conv block-pruned in place, the same rewritten dense)."""
    import onnx as _onnx
    from onnx import numpy_helper

    before = _onnx.ModelProto()
    before.CopyFrom(model)
    inits = {t.name: t for t in before.graph.initializer}
    patterns: dict[str, BlockPattern] = {}
    for node in before.graph.node:
        if node.name not in chosen:
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        pruned, patterns[node.name] = block_prune(
            weight, weight.shape[0] // chosen[node.name], keep
        )
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(pruned, node.input[1]))
    after = before
    for name, pattern in patterns.items():
        after = rewrite_conv(after, name, pattern)
    return before, after


def time_pair(
    before: onnx.ModelProto, after: onnx.ModelProto, threads: int = 1, rounds: int = 100
) -> dict[str, float]:
    """Whole-model timing of ``model_rewrite``'s pair, interleaved, outputs checked equal."""
    check_same(before, after, "the model")
    b, a = time_models([before, after], threads, rounds)
    return {"before_ms": _ms(b), "after_ms": _ms(a), "speedup": round(b / a, 3)}


def summary(rows: Sequence[dict[str, object]]) -> dict[str, object]:
    return {"layers": len(rows), "meeting_target": sum(bool(r["ok"]) for r in rows)}


def _ms(value: float) -> float:
    """A time for the table: four significant digits (a tiny layer's conv takes microseconds, so
    a fixed number of decimals would lose its ratio)."""
    return float(f"{value:.4g}")
