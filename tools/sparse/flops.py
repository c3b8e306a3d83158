"""Training FLOPs counted analytically per step, from the convolutions' shapes and masks.

Per example and convolution with M multiply-accumulates dense and active fraction d:
forward 2 M d; backward 2 M d for the input gradient (none for the first convolution, whose
input is the image) and 2 M d k for the weight gradient, k the fraction of gradients DGM
keeps (1 without DGM; DGM covers every convolution). A physically slimmed model (channel
scheme, :mod:`tools.sparse.slimtrain`) is counted from its own, smaller shapes with d = 1:
a removed channel also removes the next convolution's input channel. Only convolutions count (BatchNorm, ReLU, upsampling and the losses
are a few per cent of the work and the same for every method). A step's FLOPs are the sum
over every example it runs: the task batch and any replayed buffer batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tools.sparse.masks import MaskSet


@dataclass(frozen=True)
class ConvCost:
    name: str
    macs: int  # dense multiply-accumulates per example
    first: bool


def conv_costs(model: nn.Module, width: int, height: int) -> list[ConvCost]:
    costs: list[ConvCost] = []
    hooks = []
    names = {m: n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}

    def hook(module: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        k = module.kernel_size[0] * module.kernel_size[1]
        macs = out[0].numel() * module.in_channels // module.groups * k
        costs.append(ConvCost(names[module], int(macs), module.in_channels == 3))

    for m in names:
        hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, height, width))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return costs


class FlopCounter:
    def __init__(self, costs: list[ConvCost]) -> None:
        self.costs = costs
        self.total = 0.0

    def per_example(self, masks: MaskSet | None = None, grad_keep: float = 1.0) -> float:
        dens = masks.unit_density() if masks else {}
        total = 0.0
        for c in self.costs:
            d = dens.get(c.name, 1.0)
            total += 2 * c.macs * d * (1 + (0 if c.first else 1) + grad_keep)
        return total

    def add(self, examples: int, masks: MaskSet | None = None, grad_keep: float = 1.0) -> float:
        flops = examples * self.per_example(masks, grad_keep)
        self.total += flops
        return flops
