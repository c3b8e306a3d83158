"""Per-layer pruning schemes (arXiv 2111.11581) and the mapper that picks one per layer.

Schemes: ``none``; ``channel`` (whole input channels of the layer: any runtime); ``block``
(blocks of filters x input-channel columns, realised by the dense rewrite of
tools.compress.blocksparse); ``pattern`` (3x3 kernels keeping 4 entries from a small pattern
library: only a compiler that generates code per pattern runs it faster, so it is never counted
as a speedup here).

Two mappers:

- ``rule_based``: by layer type and shape: the first conv and the output convs stay dense, 1x1
  convs get ``block``, 3x3 convs get ``pattern`` when a compiler target exists, else ``block``;
- ``search_based``: from a per-layer latency table *measured on the target backend*
  (tools.compress.blocktable rows: each layer rewritten alone with 1, 2 or 4 blocks) and,
  where known, each layer's accuracy sensitivity (AP points lost when that layer alone is
  pruned): per layer the measured fastest block count among those whose measured speedup
  realises 70 % of their FLOPs cut (the row's ``ok``), if the layer's sensitivity allows;
  ``none`` (dense, not counted as block-sparse) where no row delivers that.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from tools.compress import blocktable
from tools.compress.blocksparse import ConvLayer

if TYPE_CHECKING:
    import onnx


class Scheme(str, Enum):
    NONE = "none"
    CHANNEL = "channel"
    BLOCK = "block"
    PATTERN = "pattern"


NEEDS_COMPILER = "needs a compiler target (pattern sparsity: no runtime here runs it faster)"


@dataclass(frozen=True)
class Choice:
    layer: str
    scheme: Scheme
    speedup: float  # measured on the target backend; 1.0 for none and pattern
    reason: str
    block: int = 0  # filters per block the measured row used (0: not measured)


def rule_based(layers: Sequence[ConvLayer], compiler_target: bool = False) -> list[Choice]:
    out = []
    for i, layer in enumerate(layers):
        o, _in, k, _ = layer.weight.shape
        if i == 0 or o <= 4:
            out.append(
                Choice(layer.name, Scheme.NONE, 1.0, "first conv or output conv: kept dense")
            )
        elif k == 3 and compiler_target:
            out.append(Choice(layer.name, Scheme.PATTERN, 1.0, NEEDS_COMPILER))
        else:
            out.append(Choice(layer.name, Scheme.BLOCK, 1.0, f"{k}x{k} conv: block (not measured)"))
    return out


def latency_table(
    model: onnx.ModelProto, keep: float, threads: int = 1, rounds: int = 200,
    groups: Sequence[int] = blocktable.GROUPS,
) -> dict[Scheme, list[dict[str, object]]]:  # fmt: skip
    """The measured rows (tools.compress.blocktable) the search mapper reads: ``channel`` (one
    block of every filter: input-channel pruning) and ``block`` (2 or more blocks)."""
    rows = blocktable.measure_table(model, keep, groups, threads, rounds)
    return {
        Scheme.CHANNEL: [r for r in rows if r["blocks"] == 1],
        Scheme.BLOCK: [r for r in rows if r["blocks"] != 1],
    }


def _delivers(row: Mapping[str, object], min_speedup: float) -> bool:
    """A measured row counts when it realises the FLOPs target (its ``ok``), or, for a row
    without one, when it is at least ``min_speedup`` faster."""
    if "ok" in row:
        return bool(row["ok"]) and float(row["speedup"]) >= min_speedup  # type: ignore[arg-type]
    return float(row["speedup"]) >= min_speedup  # type: ignore[arg-type]


def search_based(
    table: Mapping[Scheme, Sequence[Mapping[str, object]]],
    sensitivity: Mapping[str, float] | None = None,
    max_loss_points: float = 0.5,
    min_speedup: float = 1.05,
    unit: str = "AP points lost",
) -> list[Choice]:
    """Per layer the measured row with the largest speedup among those that deliver
    (``_delivers``), skipping layers whose sensitivity exceeds ``max_loss_points`` (in
    ``unit``: AP points, or the % held-out loss increase tools.compress.finegrained measures).
    Pattern rows are never taken (nothing here runs pattern sparsity faster)."""
    sensitivity = sensitivity or {}
    layers = list(dict.fromkeys(str(r["layer"]) for rows in table.values() for r in rows))
    out = []
    for layer in layers:
        loss = sensitivity.get(layer)
        if loss is not None and loss > max_loss_points:
            out.append(Choice(layer, Scheme.NONE, 1.0, f"sensitive: {loss:.2f} {unit}"))
            continue
        options = [(float(r["speedup"]), s, r) for s, rows in table.items()  # type: ignore[arg-type]
                   if s is not Scheme.PATTERN for r in rows
                   if str(r["layer"]) == layer and _delivers(r, min_speedup)]  # fmt: skip
        if not options:
            out.append(Choice(layer, Scheme.NONE, 1.0, "no measured rewrite delivers its target"))
            continue
        speed, scheme, row = max(options, key=lambda t: t[0])
        block = int(row.get("block", 0))  # type: ignore[call-overload]
        detail = f", {row['blocks']} block(s)" if "blocks" in row else ""
        out.append(Choice(layer, scheme, speed, f"measured {speed:.2f}x{detail}", block))
    return out


def pattern_library() -> list[np.ndarray]:
    """4-entry 3x3 patterns that keep the centre (the paper's library: centre + 3 of its
    4-neighbours, and the 2x2 corners holding the centre)."""
    cross = [(0, 1), (1, 0), (1, 2), (2, 1)]
    patterns = []
    for trio in itertools.combinations(cross, 3):
        m = np.zeros((3, 3), bool)
        m[1, 1] = True
        for r, c in trio:
            m[r, c] = True
        patterns.append(m)
    for r0, c0 in ((0, 0), (0, 1), (1, 0), (1, 1)):
        m = np.zeros((3, 3), bool)
        m[r0 : r0 + 2, c0 : c0 + 2] = True
        patterns.append(m)
    return patterns


def pattern_prune(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each 3x3 kernel keeps the library pattern holding most of its energy; returns the pruned
    weight and the chosen pattern index per (filter, input channel)."""
    if weight.shape[2:] != (3, 3):
        raise ValueError(f"pattern pruning needs 3x3 kernels, got {weight.shape[2:]}")
    lib = np.stack(pattern_library())  # (P, 3, 3)
    energy = np.einsum("oihw,phw->oip", weight**2, lib.astype(weight.dtype))
    choice = energy.argmax(axis=2)
    return weight * lib[choice], choice
