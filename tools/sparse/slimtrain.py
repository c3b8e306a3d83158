"""Training a channel-masked model as a physically smaller copy while its masks stay fixed.

Masked dense kernels save no time on a CPU; removed channels do. Between two mask changes a
:class:`SlimView` trains a copy of the model without its masked channels (built by
Torch-Pruning through :func:`tools.sparse.slim.slim_channels`), and writes the copy's weights,
BatchNorm statistics and AdamW moments back into the full model where they came from
(:meth:`SlimView.push`) before anything reads the full model: a mutation, a checkpoint, an
evaluation. The full model stays the record; the slim one is where the steps run.

Where each slim entry came from: the full model's parameters and buffers are replaced by their
own flat indices (float64, exact), the copy is pruned the same way, and what is left in each
slim tensor is the list of full indices it kept.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from tools.sparse.masks import MaskSet
from tools.sparse.slim import slim_channels

_MOMENTS = ("exp_avg", "exp_avg_sq")


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Floating parameters and buffers by name."""
    out = {n: p for n, p in model.named_parameters()}
    out.update({n: b for n, b in model.named_buffers() if b.is_floating_point()})
    return out


def _index_map(model: nn.Module, masks: MaskSet, example: torch.Tensor) -> tuple[nn.Module, dict]:
    """The slim copy (float32, values not set yet) and, per tensor, its full flat indices."""
    enc = copy.deepcopy(model).double()
    with torch.no_grad():
        for t in _tensors(enc).values():
            t.copy_(torch.arange(t.numel(), dtype=torch.float64).view(t.shape))
    enc_masks = MaskSet.for_model(
        enc, masks.layers[0].scheme, groups=[[p.name for p in m.members()] for m in masks.layers]
    )
    units = {m.name: m.units for m in masks.layers}
    for m in enc_masks.layers:  # layers the run left unmasked keep every channel
        m.units = units[m.name].clone() if m.name in units else torch.ones_like(m.units)
    slim = slim_channels(enc, enc_masks, example.double())
    index = {n: t.detach().flatten().long() for n, t in _tensors(slim).items()}
    return slim.float(), index


class SlimView:
    """A slim copy of ``model`` for the channel masks ``masks``, and its AdamW optimiser."""

    def __init__(self, model: nn.Module, masks: MaskSet, opt: torch.optim.Optimizer,
                 example: torch.Tensor) -> None:  # fmt: skip
        self.full = model
        self.full_opt = opt
        self.net, self.index = _index_map(model, masks, example)
        self.net.train(model.training)
        full, slim = _tensors(model), _tensors(self.net)
        with torch.no_grad():
            for n, t in slim.items():
                t.copy_(full[n].detach().flatten()[self.index[n]].view(t.shape))
        full_buffers = dict(model.named_buffers())
        for n, b in self.net.named_buffers():
            if not b.is_floating_point():
                b.copy_(full_buffers[n])
        self.net.to(memory_format=torch.channels_last)
        group = opt.param_groups[0]
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=group["lr"],
                                     weight_decay=group["weight_decay"])  # fmt: skip
        self._pull_state()

    def _pairs(self):
        full = dict(self.full.named_parameters())
        for n, p in self.net.named_parameters():
            yield n, full[n], p

    def _pull_state(self) -> None:
        for n, fp, sp in self._pairs():
            st = self.full_opt.state.get(fp)
            if not st:
                continue
            idx = self.index[n]
            self.opt.state[sp] = {
                "step": st["step"].clone(),
                **{k: torch.empty_like(sp).copy_(st[k].flatten()[idx].view(sp.shape))
                   for k in _MOMENTS},
            }  # fmt: skip

    def sync_lr(self) -> None:
        self.opt.param_groups[0]["lr"] = self.full_opt.param_groups[0]["lr"]

    @torch.no_grad()
    def push(self) -> None:
        """Write the slim weights, statistics and optimiser moments back into the full model."""
        full = _tensors(self.full)
        for n, t in _tensors(self.net).items():
            _scatter(full[n], self.index[n], t)
        full_buffers = dict(self.full.named_buffers())
        for n, b in self.net.named_buffers():
            if not b.is_floating_point():
                full_buffers[n].copy_(b)
        for n, fp, sp in self._pairs():
            st = self.opt.state.get(sp)
            if not st:
                continue
            fst = self.full_opt.state.setdefault(fp, {})
            for k in _MOMENTS:
                fst.setdefault(k, torch.zeros_like(fp))
                _scatter(fst[k], self.index[n], st[k])
            fst["step"] = st["step"].clone()

    def full_grads(self) -> dict[str, torch.Tensor | None]:
        """Each slim convolution's weight gradient, scattered to its full shape (zeros where
        the channel is masked)."""
        out: dict[str, torch.Tensor | None] = {}
        full = dict(self.full.named_parameters())
        for name, mod in self.net.named_modules():
            if isinstance(mod, nn.Conv2d) and mod.weight.grad is not None:
                key = f"{name}.weight"
                g = torch.zeros_like(full[key])
                _scatter(g, self.index[key], mod.weight.grad)
                out[name] = g
        return out


def _scatter(dst: torch.Tensor, index: torch.Tensor, src: torch.Tensor) -> None:
    flat = dst.detach().flatten().clone()
    flat[index] = src.detach().flatten().to(flat.dtype)
    dst.data.copy_(flat.view(dst.shape))
