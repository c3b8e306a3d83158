"""MEST for the traffic-light ViT (:mod:`tools.vit.model`): masks, training FLOPs, loop hooks.

Masked layers: the Linear layers inside the transformer blocks -- attention qkv and output
projection, the MLP's two layers -- one unstructured mask each (a :class:`LayerMask` over the
Linear weight; biases stay dense). The patch embedding (the first layer), the token selectors
and the classifier head stay dense, as MEST keeps the first and last layers dense. The budget is
spread uniformly or by ERK (for a Linear layer: (c_in + c_out) / (c_in c_out), Erdos-Renyi).
The MEST engine itself (:class:`tools.sparse.mest.MEST`) mutates these masks as it does the
detector's: it only needs each layer's ``.weight`` (``LayerMask.conv`` holds the Linear layer;
the unstructured scheme never reads more of it).

Training FLOPs follow :mod:`tools.sparse.flops` (forward 2 M d, input gradient 2 M d except for
the first layer, weight gradient 2 M d), with M the multiply-accumulates per crop of each
Linear layer (tokens x c_in x c_out), of the patch convolution and of the two attention
products (q k^T and attention x v: dense, they have no weights). LayerNorm, softmax, GELU and
the loss are left out, as BatchNorm and ReLU are for the detector.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tools.sparse.config import Allocation, MESTConfig, Scheme
from tools.sparse.errors import SparseError
from tools.sparse.flops import ConvCost, FlopCounter
from tools.sparse.masks import LayerMask, MaskSet
from tools.sparse.mest import MEST, Mutation
from tools.vit.model import TokenPrunedViT

ATTENTION_PRODUCTS = ("qk", "av")  # per block: q k^T and attention x v, no weights


def vit_masks(
    model: TokenPrunedViT,
    scheme: Scheme = Scheme.UNSTRUCTURED,
    allocation: Allocation = Allocation.UNIFORM,
) -> MaskSet:
    """All-on unstructured masks of every Linear layer inside the model's blocks."""
    if scheme is not Scheme.UNSTRUCTURED:
        raise SparseError(
            f"the ViT takes unstructured masks only (Linear layers), got scheme {scheme.value!r}"
        )
    layers = [
        LayerMask(name, module, None, torch.ones_like(module.weight, dtype=torch.bool), scheme)
        for name, module in model.named_modules()
        if name.startswith("blocks.") and isinstance(module, nn.Linear)
    ]
    if not layers:
        raise SparseError("the ViT has no Linear layer inside its blocks to mask")
    return MaskSet(layers, allocation)


def vit_mest(model: TokenPrunedViT, cfg: MESTConfig, total_epochs: int, seed: int = 0) -> MEST:
    """The MEST engine over :func:`vit_masks`, started from random masks at the budget."""
    cfg.validate()
    masks = vit_masks(model, cfg.scheme, cfg.allocation)
    return MEST(model, cfg, total_epochs, seed, masks=masks)


def vit_costs(model: TokenPrunedViT) -> list[ConvCost]:
    """Multiply-accumulates per crop of the dense forward pass (``forward_dense``): every
    Linear and convolution run (measured with hooks on one blank crop), plus each block's two
    attention products."""
    costs: list[ConvCost] = []
    names = {m: n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}

    def hook(module: nn.Module, _inp, out: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            macs = out[0].numel() * module.in_channels // module.groups * k
            first = module.in_channels == 3
        else:
            macs = out[0].numel() * module.in_features
            first = False
        costs.append(ConvCost(names[module], int(macs), first))

    hooks = [m.register_forward_hook(hook) for m in names]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.forward_dense(torch.zeros(1, 3, model.cfg.image, model.cfg.image))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    n, dim = model.cfg.tokens + 2, model.cfg.dim  # cls, package and the patch tokens
    for i in range(model.cfg.depth):
        costs += [ConvCost(f"blocks.{i}.attn.{p}", n * n * dim, False) for p in ATTENTION_PRODUCTS]
    return costs


class VitFlopCounter(FlopCounter):
    """:class:`FlopCounter` for the ViT's costs: DGM (``grad_keep``) thins the weight
    gradients only; the attention products have none (their second input gradient is dense)."""

    def per_example(self, masks: MaskSet | None = None, grad_keep: float = 1.0) -> float:
        dens = masks.unit_density() if masks else {}
        total = 0.0
        for c in self.costs:
            d = dens.get(c.name, 1.0)
            k = 1.0 if c.name.rsplit(".", 1)[-1] in ATTENTION_PRODUCTS else grad_keep
            total += 2 * c.macs * d * (1 + (0 if c.first else 1) + k)
        return total


def weight_targets(model: TokenPrunedViT, masks: MaskSet | None = None) -> list:
    """SparCL's DGM targets (:class:`tools.sparse.gradmask.GradientMask`): every Linear and
    convolution weight with its MEST mask where ``masks`` has one (selectors included: the
    dense forward leaves them without a gradient, so DGM skips them)."""
    owner = {m.conv: m for m in masks.layers} if masks else {}
    return [
        (name, mod.weight, owner[mod].expand() > 0 if mod in owner else None)
        for name, mod in model.named_modules()
        if isinstance(mod, (nn.Linear, nn.Conv2d))
    ]


class VitSparseHooks:
    """:class:`tools.vit.train.FitHooks` for the ViT's training loop: the MEST engine (None:
    a dense run, only counted) and the training FLOPs of every step."""

    def __init__(
        self,
        model: TokenPrunedViT,
        mest: MEST | None,
        log: Callable[[str], None],
        tick: Callable[[], None] | None = None,
    ) -> None:
        self.mest = mest
        self.flops = VitFlopCounter(vit_costs(model))
        self.log = log
        self.tick = tick
        self.steps = 0

    def after_backward(self, examples: int) -> None:
        if self.mest is not None:
            self.mest.after_backward()
        self.flops.add(examples, self.mest.masks if self.mest else None)
        self.steps += 1
        if self.tick is not None:
            self.tick()

    def after_step(self) -> None:
        if self.mest is not None:
            self.mest.after_step()

    def end_epoch(self, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        if self.mest is None:
            return
        event: Mutation | None = self.mest.end_epoch(epoch, optimizer)
        if event is not None:
            self.log(
                f"MEST mutation after epoch {epoch}: ratio {event.ratio:g}, pruned "
                f"{event.pruned}, grown {event.grown}, density {event.density:.4f}"
            )

    def finish(self) -> None:
        """Prune a soft-bound model back to its budget (MEST's last step)."""
        if self.mest is not None:
            self.mest.finish()
