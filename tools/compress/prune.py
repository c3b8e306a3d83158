"""Structured channel pruning with Torch-Pruning (torch_pruning, the ``[train]`` extra).

Torch-Pruning's DependencyGraph traces the model once and groups every layer whose channels are
coupled: the FPN's lateral 1x1 convs and the upsampled top-down path meet in an ``Add``, so
their output channels (and the BatchNorms and the consuming convs' input channels) are removed
together; this module only chooses what to remove and checks the trace.

- importance: ``magnitude`` (L2 of the group's weights), ``taylor`` (first-order loss change,
  gradients from a few training batches) or ``bn_scale`` (|gamma| of the BatchNorms);
- scope: ``global`` (one ranking across layers) or ``layer`` (the same ratio in every layer),
  with per-layer overrides (``layer_ratios: {fuse4: 0.7}``);
- ``round_to``: kept channel counts are multiples of this (SIMD width: 8 for AVX2 floats / 16
  for AVX-512, 8 for Tensor Core FP16);
- ``channels``: exact widths per coupled group instead of ratios (tools.compress.channels), for
  latency-aware variants whose widths come from a latency table of the target backend.

The heads' last convs (the model's outputs) keep their channels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch
from torch import nn

from tools.compress.channels import ChannelPruner, resolve
from tools.compress.errors import CompressError


class ImportanceKind(str, Enum):
    MAGNITUDE = "magnitude"
    TAYLOR = "taylor"
    BN_SCALE = "bn_scale"


class Scope(str, Enum):
    GLOBAL = "global"
    LAYER = "layer"


@dataclass(frozen=True)
class PruneSpec:
    """One pruning target: ``ratio`` of the channels of each coupled group (or globally)."""

    ratio: float
    importance: ImportanceKind = ImportanceKind.MAGNITUDE
    scope: Scope = Scope.GLOBAL
    round_to: int = 8
    layer_ratios: Mapping[str, float] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    max_layer_ratio: float = 0.9  # never remove more than this of one layer (global scope)
    channels: Mapping[str, int] = field(default_factory=dict)  # exact widths (ratio unused)


def _importance(kind: ImportanceKind) -> Any:
    import torch_pruning as tp

    if kind is ImportanceKind.MAGNITUDE:
        return tp.importance.MagnitudeImportance(p=2)
    if kind is ImportanceKind.TAYLOR:
        return tp.importance.TaylorImportance()
    return tp.importance.BNScaleImportance()


def output_layers(model: nn.Module) -> list[nn.Module]:
    """The convs whose outputs are the model's outputs (their channels are the interface)."""
    outs = [getattr(model, name)[-1] for name in ("heat_head", "box_head") if hasattr(model, name)]
    return [m for m in outs if isinstance(m, nn.Conv2d)]


def _named(
    model: nn.Module, names: Mapping[str, Any] | tuple[str, ...], what: str
) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    out = {}
    for name in names:
        module = modules.get(name)
        if module is None:
            raise CompressError(f"{what}: the model has no layer {name!r}")
        out[name] = module
    return out


def trace(model: nn.Module, example: torch.Tensor) -> Any:
    """Torch-Pruning's DependencyGraph of ``model``; CompressError naming the layer it fails at.

    A forward hook remembers the layer running when tracing fails; after tracing, a conv the
    graph did not see (called through its weight, not as a module) is named too: its channels
    could not be pruned consistently."""
    import torch_pruning as tp

    current: list[str] = []
    modules = dict(model.named_modules())
    hooks = [
        m.register_forward_pre_hook(lambda _m, _i, n=name: current.append(n))
        for name, m in modules.items()
        if name and not list(m.children())
    ]
    try:
        dg = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    except Exception as exc:
        layer = current[-1] if current else "<input>"
        raise CompressError(
            f"Torch-Pruning cannot trace the model at layer {layer!r}: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        for h in hooks:
            h.remove()
    for name, module in modules.items():
        if isinstance(module, nn.Conv2d) and module not in dg.module2node:
            raise CompressError(
                f"Torch-Pruning cannot trace layer {name!r} ({type(module).__name__}): it is not "
                "called as a module in forward(), so its channels cannot be pruned with the rest"
            )
    return dg


def make_pruner(model: nn.Module, example: torch.Tensor, spec: PruneSpec, steps: int = 1) -> Any:
    """A Torch-Pruning MetaPruner reaching ``spec`` after ``steps`` calls of ``step()`` (a
    ChannelPruner when ``spec.channels`` gives the widths)."""
    import torch_pruning as tp

    dg = trace(model, example)  # named errors before Torch-Pruning's own
    ignored = output_layers(model) + list(_named(model, spec.ignore, "ignore").values())
    if spec.channels:
        targets = resolve(model, dg, spec.channels, ignored, spec.round_to)
        return ChannelPruner(model, dg, targets, _importance(spec.importance), spec.round_to, steps)
    layers = _named(model, spec.layer_ratios, "layer_ratios")
    per_layer = {layers[n]: r for n, r in spec.layer_ratios.items()}
    return tp.pruner.MetaPruner(
        model,
        example,
        importance=_importance(spec.importance),
        global_pruning=spec.scope is Scope.GLOBAL,
        pruning_ratio=spec.ratio,
        pruning_ratio_dict=per_layer or None,
        max_pruning_ratio=spec.max_layer_ratio,
        iterative_steps=steps,
        ignored_layers=ignored,
        round_to=spec.round_to,
    )


def prune_step(pruner: Any, spec: PruneSpec, loss_fn: Callable[[], torch.Tensor] | None) -> None:
    """One pruning step; Taylor importance first accumulates gradients of ``loss_fn()``."""
    model = pruner.model
    if spec.importance is ImportanceKind.TAYLOR:
        if loss_fn is None:
            raise CompressError("importance 'taylor' needs training batches for its gradients")
        model.zero_grad(set_to_none=True)
        loss_fn().backward()
    pruner.step()
    model.zero_grad(set_to_none=True)


def conv_shapes(model: nn.Module) -> dict[str, tuple[int, int, int]]:
    """(out channels, in channels, weights) per conv, by module name."""
    return {
        name: (m.out_channels, m.in_channels, m.weight.numel())
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    }


def layer_sparsity(
    dense: dict[str, tuple[int, int, int]], pruned: dict[str, tuple[int, int, int]]
) -> dict[str, dict[str, Any]]:
    """Per conv: channels kept and the fraction of its weights removed (a conv the pruned model
    no longer has, e.g. the stride-4 branch of ``stride: 8``: 0 channels, sparsity 1)."""
    out = {}
    for name, (o, i, w) in dense.items():
        po, pi, pw = pruned.get(name, (0, 0, 0))
        out[name] = {"out_channels": [o, po], "in_channels": [i, pi],
                     "weight_sparsity": round(1.0 - pw / w, 4)}  # fmt: skip
    return out
