"""Hybrid sparsity: unstructured MEST masks inside the channels a slim copy keeps.

Channel masks save real time (the steps run on a physically smaller copy,
:class:`tools.sparse.slimtrain.SlimView`); unstructured masks save counted FLOPs at a much
smaller loss of accuracy. :class:`InnerSparsity` runs an unstructured :class:`MEST` engine on
the slim copy's convolutions (their weights, gradients, DGM candidates and mutation are all in
the slim copy's shapes) and keeps its masks in the full model's shapes (``record``), so they
survive a rebuild of the slim copy after a channel mutation: the entries the new copy keeps
are gathered from the record, and each layer is topped up to its density with randomly
regrown entries (at zero, fresh optimiser moments), which also fills channels that were
just regrown.
"""

from __future__ import annotations

import torch
from torch import nn

from tools.sparse.config import MESTConfig, Scheme
from tools.sparse.errors import SparseError
from tools.sparse.mest import MEST, Mutation
from tools.sparse.slimtrain import SlimView


def _scatter_bool(shape: torch.Size, index: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    flat = torch.zeros(shape.numel(), dtype=torch.bool)
    flat[index] = units.flatten()
    return flat.view(shape)


class InnerSparsity:
    """Unstructured MEST inside a slim copy; masks recorded in the full model's shapes."""

    def __init__(self, cfg: MESTConfig, full: nn.Module, total_epochs: int, seed: int,
                 from_weights: bool = False) -> None:  # fmt: skip
        """``from_weights``: the first masks keep the largest weights (a pretrained start)
        instead of random ones."""
        if cfg.scheme is not Scheme.UNSTRUCTURED:
            raise SparseError(
                f"inner sparsity must be unstructured, got scheme {cfg.scheme.value!r}"
            )
        cfg.validate()
        self.cfg = cfg
        self.total_epochs = total_epochs
        self.seed = seed
        self.from_weights = from_weights
        self.shapes = {n: p.shape for n, p in full.named_parameters()}
        self.record: dict[str, torch.Tensor] = {}  # conv name -> bool mask, full shape
        self.engine: MEST | None = None
        self.gen_state: torch.Tensor | None = None  # a loaded state, until the next attach
        self.history: list[Mutation] = []

    def attach(self, slim: SlimView) -> None:
        """Bind the engine to a (new) slim copy: its masks from the record, topped up."""
        gen_state = self.engine.gen.get_state() if self.engine else self.gen_state
        history = self.engine.history if self.engine else self.history
        epochs = self.engine.total_epochs if self.engine else self.total_epochs
        first = not self.record  # the first copy: random masks at the budget
        random_start = first and not self.from_weights
        self.engine = MEST(slim.net, self.cfg, epochs, self.seed, init_masks=random_start)
        self.engine.history = history
        if gen_state is not None:
            self.engine.gen.set_state(gen_state)
        if first:
            if self.from_weights:
                self.engine.init_from_weights()
            self.store(slim)
            return
        for m in self.engine.masks.layers:
            old = self.record.get(m.name)
            idx = slim.index[f"{m.name}.weight"]
            m.units = old.flatten()[idx].view(m.units.shape) if old is not None else m.units
        self.engine.masks.apply()
        self.engine.regrow(slim.opt)
        self.store(slim)

    def after_backward(self, last: bool) -> None:
        """Zero the masked gradients; on the epoch's ``last`` step, keep |grad| first for
        the mutation score (taking it every step costs time and only the last one is used)."""
        masks = self.engine.masks
        if last:
            self.engine.record_grads({m.name: m.conv.weight.grad for m in masks.layers})
        masks.mask_grads()

    def store(self, slim: SlimView) -> None:
        """Write the slim copy's masks into the record (entries outside the copy: off) and
        zero the full model's weights outside it, so the full model is the sparse one."""
        full = dict(slim.full.named_parameters())
        for m in self.engine.masks.layers:
            name = f"{m.name}.weight"
            self.record[m.name] = _scatter_bool(self.shapes[name], slim.index[name], m.units)
            with torch.no_grad():
                full[name].mul_(self.record[m.name])

    def state(self) -> dict:
        gen = self.engine.gen.get_state() if self.engine else self.gen_state
        history = [vars(h) for h in self.engine.history] if self.engine else []
        return {"record": self.record, "gen": gen, "history": history,
                "epochs": self.engine.total_epochs if self.engine else self.total_epochs}  # fmt: skip

    def load_state(self, state: dict) -> None:
        """Before the slim copy is rebuilt (the next :meth:`attach` reads it)."""
        self.record = {k: v.clone() for k, v in state["record"].items()}
        self.gen_state = state["gen"]
        self.total_epochs = state["epochs"]
        self.engine = None
        self.history = [Mutation(**h) for h in state["history"]]

    def restart(self, total_epochs: int) -> None:
        self.total_epochs = total_epochs
        if self.engine:
            self.engine.restart(total_epochs)
