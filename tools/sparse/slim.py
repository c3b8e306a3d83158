"""Channel masks -> a physically smaller model, through Torch-Pruning's dependency graph.

Torch-Pruning (``torch_pruning``) traces the model, finds every layer that shares a channel
(the BatchNorm after a convolution, the next convolutions' inputs, both sides of an addition)
and removes them together. Convolutions whose output channels an addition couples
(:func:`coupled_groups`) share one channel mask, so a masked channel is removed from all of
them at once; masked channels output exact zeros (their BatchNorm scale and shift are masked
too), so the slim model computes what the masked one did.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from tools.sparse.config import Scheme
from tools.sparse.errors import SparseError
from tools.sparse.masks import MaskSet


def _graph(model: nn.Module, example: torch.Tensor):
    import torch_pruning as tp

    was = model.training
    model.eval()
    try:
        return tp, tp.DependencyGraph().build_dependency(model, example_inputs=example)
    finally:
        model.train(was)


def coupled_groups(model: nn.Module, example: torch.Tensor) -> list[tuple[str, ...]]:
    """Sets of convolutions whose output channels are tied together (by an addition), each in
    the model's order."""
    tp, dg = _graph(model, example)
    names = {mod: name for name, mod in model.named_modules() if isinstance(mod, nn.Conv2d)}
    order = list(names.values())
    groups: set[tuple[str, ...]] = set()
    for mod in names:
        group = dg.get_pruning_group(mod, tp.prune_conv_out_channels, idxs=[0])
        convs = {names[it.dep.target.module] for it in group
                 if it.dep.handler == tp.prune_conv_out_channels}  # fmt: skip
        if len(convs) > 1:
            groups.add(tuple(sorted(convs, key=order.index)))
    return sorted(groups, key=lambda g: order.index(g[0]))


def coupled_convs(model: nn.Module, example: torch.Tensor) -> set[str]:
    """Convolutions whose output channels are tied to another convolution's."""
    return {name for group in coupled_groups(model, example) for name in group}


def slim_channels(model: nn.Module, masks: MaskSet, example: torch.Tensor) -> nn.Module:
    """A copy of ``model`` without the masked channels of a channel-scheme :class:`MaskSet`."""
    if any(m.scheme is not Scheme.CHANNEL for m in masks.layers):
        raise SparseError("only channel-scheme masks make a physically smaller model")
    slim = copy.deepcopy(model)
    tp, dg = _graph(slim, example)
    modules = dict(slim.named_modules())
    for m in masks.layers:
        idxs = torch.nonzero(~m.units).flatten().tolist()
        if idxs:
            dg.get_pruning_group(modules[m.name], tp.prune_conv_out_channels, idxs=idxs).prune()
    return slim


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def step_time_ratio(dense: nn.Module, slim: nn.Module, x: torch.Tensor, repeats: int = 15) -> float:
    """Median training-step time (forward + backward) of ``dense`` over ``slim``, the two
    interleaved step by step so they see the same host load."""
    times: dict[int, list[float]] = {0: [], 1: []}
    models = (dense, slim)
    for rep in range(repeats + 1):
        for k, m in enumerate(models):
            m.train()
            t0 = time.perf_counter()
            a, b = m(x)
            (a.sum() + b.sum()).backward()
            if rep:  # the first round warms up
                times[k].append(time.perf_counter() - t0)
    for m in models:
        m.zero_grad(set_to_none=True)
    med = [sorted(v)[len(v) // 2] for v in times.values()]
    return med[0] / med[1]
