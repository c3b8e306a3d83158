"""The MEST engine (arXiv 2110.14032): sparse from step 0, elastic mutation, soft memory bound.

Hooks into a training loop: :meth:`MEST.after_backward` (keeps |grad| of the masked layers
*before* the masked entries are zeroed, then zeros them), :meth:`MEST.after_step` (re-applies
the masks after the optimiser's step), :meth:`MEST.end_epoch` (mutates on schedule) and
:meth:`MEST.finish` (prunes a soft-bound model back to its budget).

Mutation score: |w| / mean|w| + lambda |g| / mean|g| per layer (each term normalised over the
layer's active weights so lambda weighs two comparable quantities), averaged over a unit's
weights (block, channel) and summed over a channel mask's partner convolutions.

A run that trains a physically slimmed copy (:mod:`tools.sparse.slimtrain`) hands the
gradients over with :meth:`MEST.record_grads` instead of :meth:`MEST.after_backward`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tools.sparse.config import MESTConfig
from tools.sparse.masks import MaskSet


@dataclass(frozen=True)
class Mutation:
    epoch: int
    ratio: float
    pruned: int
    grown: int
    density: float


class MEST:
    def __init__(
        self,
        model: nn.Module,
        cfg: MESTConfig,
        total_epochs: int,
        seed: int = 0,
        exclude: Iterable[str] = (),
        groups: Iterable[Sequence[str]] = (),
        init_masks: bool = True,
        masks: MaskSet | None = None,
    ) -> None:
        """``init_masks``: start from random masks at the budget (False: every unit on, for
        masks the caller sets itself). ``masks``: the layers to mask, built by the caller
        (e.g. a ViT's Linear layers, :mod:`tools.sparse.vit`), instead of the model's conv +
        BatchNorm pairs."""
        cfg.validate()
        self.cfg = cfg
        self.total_epochs = total_epochs
        self.gen = torch.Generator().manual_seed(seed)
        self.masks = (
            masks
            if masks is not None
            else MaskSet.for_model(model, cfg.scheme, cfg.block, exclude, groups, cfg.allocation)
        )
        if init_masks:
            self.masks.init_random(self.train_density, self.gen)
        self.grads: dict[str, torch.Tensor] = {
            p.name: torch.zeros_like(p.conv.weight) for m in self.masks.layers for p in m.members()
        }
        self.history: list[Mutation] = []

    def init_from_weights(self) -> None:
        """Masks of a trained model (a pretrained start, instead of MEST's random mask): every
        unit on, then the largest by |w| (normalised per layer, summed over a channel's partner
        convolutions) kept at the training density. Draws nothing from the generator."""
        for m in self.masks.layers:
            m.units = torch.ones_like(m.units)
        self.masks.prune_to(self.train_density, self.scores())

    def restart(self, total_epochs: int) -> None:
        """A new task (SparCL's TDM): keep the masks, start the mutation schedule again."""
        self.total_epochs = total_epochs

    @property
    def train_density(self) -> float:
        return self.cfg.density + self.cfg.soft_bound

    def after_backward(self) -> None:
        self.record_grads(
            {p.name: p.conv.weight.grad for m in self.masks.layers for p in m.members()}
        )
        self.masks.mask_grads()

    def record_grads(self, grads: dict[str, torch.Tensor | None]) -> None:
        """Keep |grad| of the masked convolutions (full shape) for the next mutation's score."""
        for name, g in grads.items():
            if g is not None and name in self.grads:
                self.grads[name] = g.detach().abs().clone()

    def after_step(self) -> None:
        self.masks.apply()

    def ratio(self, epoch: int) -> float:
        """The mutation ratio after ``epoch`` (1-based): r, r/2, r/4 by thirds; 0 past the
        stop fraction or off the ``mutate_every`` beat."""
        frac = epoch / self.total_epochs
        if (
            epoch % self.cfg.mutate_every
            or frac > self.cfg.stop_fraction
            or epoch >= self.total_epochs
        ):
            return 0.0
        phase = min(2, int(3 * (epoch - 1) / self.total_epochs))
        return self.cfg.mutation_ratio / (2**phase)

    def scores(self) -> dict[str, torch.Tensor]:
        """Per unit (the shape of each layer's ``units``)."""
        out = {}
        for m in self.masks.layers:
            total = torch.zeros(m.units.shape)
            for p in m.members():
                w = p.conv.weight.detach().abs()
                g = self.grads[p.name]
                active = m.member_mask(p.conv) > 0
                wn = w / w[active].mean().clamp(min=1e-12)
                gn = g / g[active].mean().clamp(min=1e-12)
                total += m.reduce(wn + self.cfg.grad_weight * gn)
            out[m.name] = total
        return out

    def end_epoch(
        self, epoch: int, optimizer: torch.optim.Optimizer | None = None
    ) -> Mutation | None:
        r = self.ratio(epoch)
        if r <= 0:
            return None
        pruned = self.masks.prune_to(self.cfg.density * (1 - r), self.scores())
        grown = self.regrow(optimizer)
        event = Mutation(epoch, r, pruned, grown, self.masks.density())
        self.history.append(event)
        return event

    def regrow(self, optimizer: torch.optim.Optimizer | None = None) -> int:
        """Grow random inactive units up to the training density; their optimiser moments
        start afresh, the masks are applied and regrown channels re-initialised. Returns the
        number of units grown."""
        grown = self.masks.regrow_to(self.train_density, self.gen)
        if optimizer is not None:
            self._reset_state(optimizer, grown)
        self.masks.apply()
        for m, g in zip(self.masks.layers, grown, strict=True):
            m.revive(g, self.gen)
        return sum(int(g.sum()) for g in grown)

    def _reset_state(self, optimizer: torch.optim.Optimizer, grown: list[torch.Tensor]) -> None:
        """Zero the optimiser's moments of masked and of regrown units (weights, and a
        channel's BatchNorm): a regrown unit starts afresh."""
        for m, g in zip(self.masks.layers, grown, strict=True):
            keep = m.unit_tensors(m.units & ~g)
            for t, mask in keep:
                state = optimizer.state.get(t, {})
                for key in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
                    if key in state and state[key] is not None:
                        state[key].mul_(mask)

    def finish(self) -> None:
        """Prune a soft-bound model back to the budget by the same score."""
        if self.cfg.soft_bound > 0:
            self.masks.prune_to(self.cfg.density, self.scores())

    def state(self) -> dict:
        return {"masks": self.masks.state(), "gen": self.gen.get_state(),
                "history": [vars(h) for h in self.history], "grads": self.grads}  # fmt: skip

    def load_state(self, state: dict) -> None:
        self.masks.load_state(state["masks"])
        self.gen.set_state(state["gen"])
        self.history = [Mutation(**h) for h in state["history"]]
        self.grads = {k: v.clone() for k, v in state["grads"].items()}
