"""``method: finegrained``: fine-grained structured pruning (arXiv 2111.11581) end to end.

1. Map a scheme to each conv (tools.compress.schemes): ``rule`` by layer type and shape, or
   ``search`` from a per-layer latency table measured here on ONNX Runtime
   (tools.compress.blocktable: each layer block-pruned alone with 1, 2 and 4 blocks and timed
   before and after its dense rewrite) and each layer's measured accuracy sensitivity
   (``layer_sensitivity``: the held-out loss increase, in %, when that layer alone is pruned).
2. Train with the reweighted group-lasso penalty on each layer's groups (tools.compress.lasso),
   the group weights updated after every epoch.
3. Prune hard (the strongest groups kept) and fine-tune with the masks held, distilled from
   the dense teacher; export.

Recipe ``options`` (each checked, errors name ``options.KEY``)::

    options:
      name: fg
      mapper: search            # rule | search
      compiler_target: false    # rule mapper: 3x3 convs get ``pattern`` (needs a compiler)
      block: 8                  # filters per block (rule mapper; search measures 1, 2, 4 blocks)
      keep: 0.5                 # share of input columns (per block) kept
      lasso_epochs: 2           # regularised epochs before the hard pruning
      lasso_strength: 0.001
      lasso_eps: 0.001
      max_loss_increase: 5.0    # search mapper: % held-out loss a layer may cost
      sensitivity_batches: 4    # held-out batches the sensitivity is measured on

In the exported ONNX, each block / channel layer whose rewrite the latency table measured to
realise 70 % of its FLOPs cut (``search`` mapper, tools.compress.blocktable) is turned into one
Gather + one grouped Conv over its kept input columns (``blocksparse.rewrite_conv``) before the
variant is evaluated and timed; other layers keep their zeros (the ``rule`` mapper measures
nothing, so it rewrites nothing).
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tools.compress.blocksparse import BlockPattern, rewrite_conv
from tools.compress.errors import RecipeError
from tools.compress.finetune import BatchSource, finetune, student_loss
from tools.compress.lasso import GroupLasso, LayerPlan, MaskSet
from tools.compress.recipe import Recipe, Section
from tools.compress.schemes import (
    NEEDS_COMPILER,
    Choice,
    Scheme,
    latency_table,
    rule_based,
    search_based,
)
from tools.compress.session import Session, open_session
from tools.compress.variant import VariantResult, write_variant

log = logging.getLogger(__name__)

OPTIONS = frozenset({
    "name", "mapper", "compiler_target", "block", "keep", "lasso_epochs", "lasso_strength",
    "lasso_eps", "max_loss_increase", "sensitivity_batches",
})  # fmt: skip
MAPPERS = ("rule", "search")


@dataclass(frozen=True)
class FineGrainedTarget:
    name: str = "fg"
    mapper: str = "search"
    compiler_target: bool = False
    block: int = 8
    keep: float = 0.5
    lasso_epochs: int = 2
    lasso_strength: float = 1e-3
    lasso_eps: float = 1e-3
    max_loss_increase: float = 5.0
    sensitivity_batches: int = 4


def parse_options(recipe: Recipe) -> FineGrainedTarget:
    s = Section(recipe.source, "options.", recipe.options, OPTIONS)
    d = FineGrainedTarget()
    name, mapper = s.variant_name("name", d.name), s.text("mapper", d.mapper)
    if mapper not in MAPPERS:
        raise s.error("mapper", mapper, f"must be one of {', '.join(MAPPERS)}")
    compiler = s.raw("compiler_target", d.compiler_target)
    if not isinstance(compiler, bool):
        raise s.error("compiler_target", compiler, "must be true or false")
    return FineGrainedTarget(
        name, mapper, compiler, s.integer("block", d.block, high=4096),
        s.number("keep", d.keep, high=1.0, open_low=True),
        s.integer("lasso_epochs", d.lasso_epochs, low=0, high=1000),
        s.number("lasso_strength", d.lasso_strength), s.number("lasso_eps", d.lasso_eps, open_low=True),
        s.number("max_loss_increase", d.max_loss_increase),
        s.integer("sensitivity_batches", d.sensitivity_batches, high=1000),
    )  # fmt: skip


def onnx_layer_name(node_name: str) -> str:
    """The torch module of an exported Conv node: '/s8/s8.0/s8.0.0/Conv' -> 's8.0.0'."""
    parts = node_name.strip("/").split("/")
    return parts[-2] if len(parts) >= 2 else node_name


def held_out_loss(model: nn.Module, batches: Sequence[tuple[torch.Tensor, ...]], cfg: Any) -> float:
    model.eval()
    with torch.no_grad():
        return float(sum(student_loss(model, None, b, cfg, 0.0).item() for b in batches)) / max(
            1, len(batches)
        )


def layer_sensitivity(
    model: nn.Module,
    plans: Mapping[str, LayerPlan],
    batches: Sequence[tuple[torch.Tensor, ...]],
    cfg: Any,
) -> dict[str, float]:
    """Per planned layer: the held-out loss increase (% of the dense loss) with that layer
    alone pruned hard to its plan (no fine-tuning), on the same ``batches`` for every layer."""
    base = held_out_loss(model, batches, cfg)
    out = {}
    for name, plan in plans.items():
        if plan.scheme is Scheme.NONE:
            continue
        pruned = copy.deepcopy(model)
        MaskSet(pruned, {name: plan})
        out[name] = round(100.0 * (held_out_loss(pruned, batches, cfg) - base) / base, 4)
    return out


def plans_of(choices: Sequence[Choice], target: FineGrainedTarget) -> dict[str, LayerPlan]:
    """Per layer its scheme, with the block size the measured row used (else ``block``)."""
    return {
        onnx_layer_name(c.layer): LayerPlan(c.scheme, c.block or target.block, target.keep)
        for c in choices
    }


def map_schemes(
    session: Session, target: FineGrainedTarget, batches: Sequence[tuple[torch.Tensor, ...]]
) -> tuple[list[Choice], dict[str, Any]]:
    """The scheme per conv and what the mapper measured (latency rows, sensitivities)."""
    import onnx

    from tools.compress.blocksparse import conv_layers
    from tools.train.export import export_onnx

    w, h = session.input_size
    with tempfile.TemporaryDirectory(prefix="l4fg") as tmp:
        path = export_onnx(copy.deepcopy(session.teacher), Path(tmp) / "dense.onnx", w, h)
        model = onnx.load(path)
    if target.mapper == "rule":
        return rule_based(conv_layers(model), target.compiler_target), {}
    threads = session.recipe.latency_threads
    table = latency_table(model, target.keep, threads)
    rows = [r for scheme_rows in table.values() for r in scheme_rows]
    candidates = {onnx_layer_name(str(r["layer"])): LayerPlan(Scheme.BLOCK, target.block, target.keep)
                  for r in rows}  # fmt: skip
    sens = layer_sensitivity(session.teacher, candidates, batches, session.train_cfg)
    by_node = {str(r["layer"]): sens[onnx_layer_name(str(r["layer"]))] for r in rows}
    choices = search_based(table, by_node, target.max_loss_increase, unit="% held-out loss")
    measured = {"latency": {s.value: rows for s, rows in table.items()}, "sensitivity_pct": sens}
    return choices, measured


def finegrained_variant(
    session: Session, target: FineGrainedTarget, plans: Mapping[str, LayerPlan]
) -> tuple[nn.Module, MaskSet, list[dict[str, float]]]:
    """Group-lasso epochs, hard masks, fine-tuning with the masks held (distilled): the
    student, its masks and its fine-tuning history (for the card)."""
    recipe, teacher = session.recipe, session.teacher
    torch.manual_seed(recipe.seed)
    student = copy.deepcopy(teacher)
    source = BatchSource(session.frames, session.train_cfg, recipe.seed)
    if target.lasso_epochs:
        lasso = GroupLasso(student, plans, target.lasso_strength, target.lasso_eps)
        finetune(student, teacher, source, recipe.finetune, f"{target.name}: group lasso",
                 epochs=target.lasso_epochs, penalty=lasso.penalty,
                 on_epoch=lambda _e: lasso.reweight())  # fmt: skip
    masks = MaskSet(student, plans)
    result = finetune(student, teacher, source, recipe.finetune, f"{target.name}: fine-tune",
                      on_step=masks.apply)  # fmt: skip
    return student, masks, result.history


def block_patterns(masks: MaskSet, plans: Mapping[str, LayerPlan]) -> dict[str, BlockPattern]:
    """The block structure of each ``block`` / ``channel`` layer's hard mask: per block of
    filters (one block for ``channel``), the input columns it keeps."""
    out = {}
    for name, mask in masks.masks.items():
        plan = plans[name]
        if plan.scheme not in (Scheme.BLOCK, Scheme.CHANNEL):
            continue
        m = mask.detach().cpu().numpy()
        size = m.shape[0] if plan.scheme is Scheme.CHANNEL else plan.block
        filters = tuple(np.arange(s, min(s + size, m.shape[0])) for s in range(0, m.shape[0], size))
        inputs = tuple(np.flatnonzero(m[f].max(axis=(0, 2, 3))) for f in filters)
        out[name] = BlockPattern(filters, inputs)
    return out


def dense_rewrite(patterns: Mapping[str, BlockPattern], faster: set[str]) -> Callable[[Path], None]:
    """Rewrite, in the exported ONNX, each layer of ``faster`` (measured to deliver its target
    rewritten) into one grouped Conv over its kept input columns (blocksparse.rewrite_conv)."""

    def rewrite(path: Path) -> None:
        import onnx

        model = onnx.load(path)
        for node in [n for n in model.graph.node if n.op_type == "Conv"]:
            layer = onnx_layer_name(node.name)
            if layer in patterns and layer in faster:
                model = rewrite_conv(model, node.name, patterns[layer])
        onnx.save(model, path)

    return rewrite


def run(recipe: Recipe, out_dir: Path) -> list[VariantResult]:
    target = parse_options(recipe)
    session = open_session(recipe)
    source = BatchSource(session.frames, session.train_cfg, recipe.seed + 1)
    batches = [source.batch(idx) for idx in
               source.epoch(recipe.finetune.batch_size)[: target.sensitivity_batches]]  # fmt: skip
    choices, measured = map_schemes(session, target, batches)
    plans = plans_of(choices, target)
    if all(p.scheme is Scheme.NONE for p in plans.values()):
        raise RecipeError(f"options.mapper={target.mapper!r}: no layer gets a pruning scheme")
    student, masks, history = finegrained_variant(session, target, plans)
    runtime = (
        "block layers: one Gather + one grouped Conv each (tools.compress.blocksparse), only "
        "where the measured table (tools.compress.blocktable) realised 70 % of the FLOPs cut"
    )
    if any(p.scheme is Scheme.PATTERN for p in plans.values()):
        runtime += f"; pattern layers: {NEEDS_COMPILER}"
    provenance = {
        **session.provenance(),
        "method": "finegrained",
        "parameters": {k: getattr(target, k) for k in FineGrainedTarget.__dataclass_fields__},
        "schemes": {onnx_layer_name(c.layer): {"scheme": c.scheme.value, "reason": c.reason,
                                               "speedup": c.speedup} for c in choices},
        "mapper_measured": measured,
        "sparsity": masks.sparsity(),
        "finetune_history": history,
        "speedup_runtime": runtime,
    }  # fmt: skip
    # Layers the latency table measured to deliver their target are rewritten for dense
    # execution in the shipped ONNX (the rule mapper measured nothing: its zeros stay).
    faster = {onnx_layer_name(c.layer) for c in choices if c.block and c.speedup > 1.0}
    patterns = block_patterns(masks, plans)
    provenance["rewritten_layers"] = sorted(faster & set(patterns))
    name = f"{recipe.name}_{target.name}"
    rewrite = dense_rewrite(patterns, faster)
    return [write_variant(student, out_dir, name, session.input_size, session.evals, provenance,
                          recipe.latency_threads, rewrite=rewrite)]  # fmt: skip
