"""Reweighted group lasso (arXiv 2111.11581, after Candes et al.'s reweighted l1) on the groups of
a per-layer pruning scheme, and the hard pruning that follows it.

Groups per scheme (tools.compress.schemes.Scheme) of a conv weight [out, in, kh, kw]:

* ``channel``: each input-channel column over all filters;
* ``block``: per block of ``block`` consecutive filters, each input-channel column of the block
  (what tools.compress.blocksparse keeps or drops together);
* ``pattern``: per 3x3 kernel, the entries outside the library pattern holding most of its
  energy (chosen anew at each reweighting).

The penalty is ``strength * sum_g a_g * ||w_g||_2`` with ``a_g = 1 / (||w_g|| + eps)`` held
fixed within an epoch and updated after each (``reweight``): groups that are already small get
pushed harder, groups that matter get left alone, so the penalty approximates counting the
nonzero groups rather than shrinking every weight. After the regularised epochs ``hard_masks``
keeps, per layer, the strongest groups (``keep`` of the columns per block, the best pattern per
kernel) and ``MaskSet`` holds the masks through fine-tuning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from tools.compress.blocksparse import block_prune
from tools.compress.errors import CompressError
from tools.compress.schemes import Scheme, pattern_library


@dataclass(frozen=True)
class LayerPlan:
    """What one conv gets: its scheme, the block size, and the share of groups kept."""

    scheme: Scheme
    block: int = 8
    keep: float = 0.5


def group_norms(
    weight: torch.Tensor, plan: LayerPlan, outside: torch.Tensor | None = None
) -> torch.Tensor:
    """The L2 norm of each group of ``weight`` under ``plan`` (a flat tensor, differentiable);
    for ``pattern``, ``outside`` is the entries outside each kernel's pattern (default: the
    best pattern of the weight as it is)."""
    out_c, in_c = weight.shape[:2]
    if plan.scheme is Scheme.CHANNEL:
        return weight.pow(2).sum(dim=(0, 2, 3)).add(1e-12).sqrt()
    if plan.scheme is Scheme.BLOCK:
        blocks = -(-out_c // plan.block)
        pad = blocks * plan.block - out_c
        w = torch.nn.functional.pad(weight, (0, 0, 0, 0, 0, 0, 0, pad)) if pad else weight
        sq = w.pow(2).reshape(blocks, plan.block, in_c, -1).sum(dim=(1, 3))
        return sq.reshape(-1).add(1e-12).sqrt()
    if plan.scheme is Scheme.PATTERN:
        outside = ~pattern_masks(weight.detach()) if outside is None else outside
        return (weight * outside).pow(2).sum(dim=(2, 3)).reshape(-1).add(1e-12).sqrt()
    raise CompressError(f"no groups for scheme {plan.scheme.value!r}")


def pattern_masks(weight: torch.Tensor) -> torch.Tensor:
    """Per 3x3 kernel, the library pattern (schemes.pattern_library) holding most energy."""
    if tuple(weight.shape[2:]) != (3, 3):
        raise CompressError(f"pattern pruning needs 3x3 kernels, got {tuple(weight.shape[2:])}")
    lib = torch.from_numpy(np.stack(pattern_library())).to(weight.dtype)
    energy = torch.einsum("oihw,phw->oip", weight.pow(2), lib)
    return lib[energy.argmax(dim=2)].bool()


@dataclass
class GroupLasso:
    """The reweighted group-lasso penalty over the planned convs of a model."""

    model: nn.Module
    plans: Mapping[str, LayerPlan]
    strength: float = 1e-3
    eps: float = 1e-3
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    outside: dict[str, torch.Tensor] = field(default_factory=dict)  # pattern layers

    active: dict[str, nn.Conv2d] = field(init=False, repr=False)  # the planned convs

    def __post_init__(self) -> None:
        convs = {n: m for n, m in self.model.named_modules() if isinstance(m, nn.Conv2d)}
        unknown = sorted(set(self.plans) - set(convs))
        if unknown:
            raise CompressError(f"group lasso: the model has no conv {unknown[0]!r}")
        # looked up once: penalty() runs every training step
        self.active = {n: convs[n] for n, p in self.plans.items() if p.scheme is not Scheme.NONE}
        self.reweight()

    def reweight(self) -> None:
        """a_g = 1 / (||w_g|| + eps) from the weights as they are now (after each epoch); the
        pattern of each 3x3 kernel chosen anew."""
        with torch.no_grad():
            active = self.active
            self.outside = {
                n: ~pattern_masks(c.weight)
                for n, c in active.items()
                if self.plans[n].scheme is Scheme.PATTERN
            }
            self.weights = {
                n: 1.0 / (group_norms(c.weight, self.plans[n], self.outside.get(n)) + self.eps)
                for n, c in active.items()
            }

    def penalty(self) -> torch.Tensor:
        total = torch.zeros(())
        for name, conv in self.active.items():
            norms = group_norms(conv.weight, self.plans[name], self.outside.get(name))
            total = total + (self.weights[name] * norms).sum()
        return self.strength * total


def hard_mask(weight: torch.Tensor, plan: LayerPlan) -> torch.Tensor:
    """The 0/1 mask of ``weight`` that ``plan`` keeps (same shape)."""
    if plan.scheme is Scheme.NONE:
        return torch.ones_like(weight)
    if plan.scheme is Scheme.PATTERN:
        return pattern_masks(weight.detach()).to(weight.dtype)
    if plan.scheme is Scheme.CHANNEL:
        plan = LayerPlan(Scheme.BLOCK, weight.shape[0], plan.keep)  # one block of all filters
    w = weight.detach().cpu().numpy()
    _pruned, pattern = block_prune(w, plan.block, plan.keep)
    mask = np.zeros_like(w)
    for f, i in zip(pattern.filters, pattern.inputs):
        mask[np.ix_(f, i)] = 1.0
    return torch.from_numpy(mask).to(weight.dtype)


class MaskSet:
    """Hard masks on the planned convs, applied now and again after each optimiser step."""

    def __init__(self, model: nn.Module, plans: Mapping[str, LayerPlan]) -> None:
        convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
        self.masks = {
            n: hard_mask(convs[n].weight, p)
            for n, p in plans.items()
            if p.scheme is not Scheme.NONE
        }
        self._convs = {n: convs[n] for n in self.masks}
        self.apply()

    def apply(self, _model: nn.Module | None = None) -> None:
        with torch.no_grad():
            for name, conv in self._convs.items():
                conv.weight.mul_(self.masks[name])

    def sparsity(self) -> dict[str, float]:
        return {n: round(1.0 - float(m.mean()), 4) for n, m in self.masks.items()}
