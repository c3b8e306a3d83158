"""SparCL's dynamic gradient masking (DGM): only the largest gradients update the weights.

Among the active weights of each masked layer, the ``keep`` fraction with the largest |grad|
is updated; the gradient mask is chosen from the gradient at a refresh step and reused for
``refresh`` iterations (so the weight-gradient work outside it can be skipped in between).
"""

from __future__ import annotations

import torch

from tools.sparse.config import check_density
from tools.sparse.masks import MaskSet


class GradientMask:
    def __init__(self, masks: MaskSet, keep: float = 0.2, refresh: int = 30) -> None:
        self.keep = check_density("gradient keep fraction", keep)
        self.refresh = max(1, int(refresh))
        self.masks = masks
        self.current: dict[str, torch.Tensor] = {}
        self.step = 0

    @torch.no_grad()
    def apply(self) -> None:
        """Call after the weight masks zeroed the pruned gradients, before the optimiser."""
        if self.step % self.refresh == 0 or not self.current:
            self.current = {}
            for m in self.masks.layers:
                g = m.conv.weight.grad
                if g is None:
                    continue
                active = m.expand() > 0
                k = max(1, int(self.keep * int(active.sum())))
                score = torch.where(active, g.abs(), torch.full_like(g, -1.0)).flatten()
                mask = torch.zeros_like(score, dtype=torch.bool)
                mask[torch.topk(score, k).indices] = True
                self.current[m.name] = mask.view_as(g)
        for m in self.masks.layers:
            g = m.conv.weight.grad
            if g is not None and m.name in self.current:
                g.mul_(self.current[m.name])
        self.step += 1

    def state(self) -> dict:
        return {"current": self.current, "step": self.step}

    def load_state(self, state: dict) -> None:
        self.current = {k: v.clone() for k, v in state["current"].items()}
        self.step = int(state["step"])
