"""SparCL's dynamic gradient masking (DGM): only the largest gradients update the weights.

For every convolution weight of the model being trained, the ``keep`` fraction of its active
entries with the largest |grad| is updated (active: not masked by MEST; every entry of a
physically slimmed model); the gradient mask is chosen from the gradient at a refresh step and
reused for ``refresh`` iterations (so the weight-gradient work outside it can be skipped in
between).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from tools.sparse.config import check_density
from tools.sparse.masks import MaskSet

Target = tuple[str, torch.Tensor, "torch.Tensor | None"]  # name, weight, active mask (None: all)


def conv_targets(model: nn.Module, masks: MaskSet | None = None) -> list[Target]:
    """Every convolution weight of ``model``, with its MEST mask where ``masks`` has one."""
    owner = {p.conv: m for m in masks.layers for p in m.members()} if masks else {}
    return [
        (name, mod.weight, owner[mod].member_mask(mod) > 0 if mod in owner else None)
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Conv2d)
    ]


class GradientMask:
    def __init__(self, keep: float = 0.2, refresh: int = 30) -> None:
        self.keep = check_density("gradient keep fraction", keep)
        self.refresh = max(1, int(refresh))
        self.current: dict[str, torch.Tensor] = {}
        self.step = 0

    def reset(self) -> None:
        """Forget the current masks (the weights changed shape): choose anew at the next step."""
        self.current = {}

    @torch.no_grad()
    def apply(self, targets: Iterable[Target]) -> None:
        """Call after the weight masks zeroed the pruned gradients, before the optimiser."""
        targets = list(targets)
        if self.step % self.refresh == 0 or not self.current:
            self.current = {}
            for name, w, active in targets:
                g = w.grad
                if g is None:
                    continue
                n = g.numel() if active is None else int(active.sum())
                k = max(1, int(self.keep * n))
                score = g.abs() if active is None else torch.where(active, g.abs(), -1.0)
                mask = torch.zeros(g.numel(), dtype=torch.bool)
                mask[torch.topk(score.flatten(), k).indices] = True
                self.current[name] = mask.view(g.shape)
        for name, w, _ in targets:
            if w.grad is not None and name in self.current:
                w.grad.mul_(self.current[name])
        self.step += 1

    def state(self) -> dict:
        return {"current": self.current, "step": self.step}

    def load_state(self, state: dict) -> None:
        self.current = {k: v.clone() for k, v in state["current"].items()}
        self.step = int(state["step"])
