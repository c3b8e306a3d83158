"""Weight masks of a model's convolutions in three schemes (torch).

A :class:`LayerMask` holds one boolean per *unit*: a weight (unstructured), a block of
``block`` output channels x one input channel x the kernel (block), or an output channel
(channel; its BatchNorm scale and shift are masked along, so a masked channel outputs exact
zeros and removing it changes nothing). In the channel scheme, convolutions whose outputs an
addition couples share one mask: the first is the layer, the others its ``partners`` (their
weights and BatchNorms are masked along; a channel is removed from all of them). A density
budget is spread over the layers uniformly (MEST's default) or by ERK (:func:`erk_densities`;
small layers denser, the same active weights in all). Masked layers: convolutions followed by a BatchNorm whose input is not the
image (the first convolution and the heads' output convolutions stay dense, as in MEST).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tools.sparse.config import Allocation, Scheme, check_density
from tools.sparse.errors import SparseError


@dataclass(frozen=True)
class Partner:
    name: str
    conv: nn.Conv2d
    bn: nn.BatchNorm2d | None


@dataclass
class LayerMask:
    name: str
    conv: nn.Conv2d
    bn: nn.BatchNorm2d | None
    units: torch.Tensor  # bool: weight shape, (ceil(Cout / block), Cin) or (Cout,)
    scheme: Scheme
    block: int = 4
    partners: tuple[Partner, ...] = ()  # channel scheme: convs sharing this output mask

    @property
    def size(self) -> int:
        return self.units.numel()

    def members(self) -> list[Partner]:
        """This layer's convolution and its partners', with their BatchNorms."""
        return [Partner(self.name, self.conv, self.bn), *self.partners]

    def weights(self) -> int:
        return sum(p.conv.weight.numel() for p in self.members())

    def active_weights(self) -> float:
        if self.scheme is Scheme.CHANNEL:
            return float(self.units.float().mean()) * self.weights()
        return float(self.expand().sum())

    def expand(self, units: torch.Tensor | None = None) -> torch.Tensor:
        """The unit mask (or ``units`` of its shape) as a float mask of the weight's shape."""
        w = self.conv.weight
        u = (self.units if units is None else units).to(w.dtype)
        if self.scheme is Scheme.UNSTRUCTURED:
            return u
        if self.scheme is Scheme.CHANNEL:
            return u[:, None, None, None].expand_as(w)
        rows = u.repeat_interleave(self.block, dim=0)[: w.shape[0]]
        return rows[:, :, None, None].expand_as(w)

    def member_mask(self, conv: nn.Conv2d) -> torch.Tensor:
        """The float mask of a member's weight shape: this layer's own (:meth:`expand`) or a
        partner's (the shared output channels, all its inputs)."""
        if conv is self.conv:
            return self.expand()
        w = conv.weight
        return self.units[:, None, None, None].to(w.dtype).expand_as(w)

    def reduce(self, scores: torch.Tensor) -> torch.Tensor:
        """Per-unit means of a weight-shaped score."""
        if self.scheme is Scheme.UNSTRUCTURED:
            return scores
        if self.scheme is Scheme.CHANNEL:
            return scores.flatten(1).mean(1)
        cout, cin = scores.shape[:2]
        pad = (-cout) % self.block
        per = scores.flatten(2).mean(2)  # (Cout, Cin)
        if pad:
            per = torch.cat([per, per[-1:].expand(pad, cin)])
        return per.view(-1, self.block, cin).mean(1)

    def keep(self, density: float) -> int:
        return max(1, round(density * self.size))

    @torch.no_grad()
    def apply(self) -> None:
        self.conv.weight.mul_(self.expand())
        if self.scheme is not Scheme.CHANNEL:
            return
        for p in self.partners:
            p.conv.weight.mul_(self.member_mask(p.conv))
        for p in self.members():
            if p.bn is not None:
                p.bn.weight.mul_(self.units)
                p.bn.bias.mul_(self.units)

    @torch.no_grad()
    def revive(self, grown: torch.Tensor, gen: torch.Generator) -> None:
        """Channel scheme: re-initialise regrown channels in every member -- weights drawn
        like a new convolution's (uniform within 1 / sqrt(fan-in)), a fresh BatchNorm (scale
        1, shift 0, running statistics reset). A channel regrown at zero weights outputs
        exactly zero after BatchNorm (shift 0) and ReLU, whose gradient at zero is zero: it
        would never learn again. (Unstructured and block units regrow at zero, as in MEST.)"""
        if self.scheme is not Scheme.CHANNEL or not grown.any():
            return
        for p in self.members():
            w = p.conv.weight
            bound = 1.0 / math.sqrt(w[0].numel())
            fresh = torch.rand((int(grown.sum()), *w.shape[1:]), generator=gen) * 2 - 1
            w[grown] = (fresh * bound).to(w.dtype)
            if p.bn is None:
                continue
            p.bn.weight[grown] = 1.0
            p.bn.bias[grown] = 0.0
            if p.bn.running_mean is not None:
                p.bn.running_mean[grown] = 0.0
                p.bn.running_var[grown] = 1.0

    def unit_tensors(self, units: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, float mask of its shape) for every parameter ``units`` covers: the
        weights of the layer (and, channel scheme, partners' weights and BatchNorms)."""
        if self.scheme is not Scheme.CHANNEL:
            return [(self.conv.weight, self.expand(units))]
        out = []
        for p in self.members():
            params = [p.conv.weight] + ([p.bn.weight, p.bn.bias] if p.bn is not None else [])
            out += [(t, units.reshape(-1, *([1] * (t.dim() - 1))).to(t.dtype).expand_as(t))
                    for t in params]  # fmt: skip
        return out

    @torch.no_grad()
    def mask_grads(self) -> None:
        if self.scheme is not Scheme.CHANNEL:
            if self.conv.weight.grad is not None:
                self.conv.weight.grad.mul_(self.expand())
            return
        for t, mask in self.unit_tensors(self.units):
            if t.grad is not None:
                t.grad.mul_(mask)


def erk_densities(shapes: Sequence[torch.Size], density: float) -> list[float]:
    """Erdos-Renyi-Kernel densities (RigL): d_l = min(1, eps (sum of the dims) / (product of
    the dims)) with eps chosen so that the active weights total ``density`` of all; layers that
    would exceed 1 are made dense and the rest re-solved."""
    sizes = [float(torch.Size(s).numel()) for s in shapes]
    raw = [sum(s) / n for s, n in zip(shapes, sizes, strict=True)]
    dense: set[int] = set()
    while True:
        budget = density * sum(sizes) - sum(sizes[i] for i in dense)
        free = [i for i in range(len(sizes)) if i not in dense]
        if not free:
            return [1.0] * len(sizes)
        eps = budget / sum(sizes[i] * raw[i] for i in free)
        over = [i for i in free if eps * raw[i] > 1.0]
        if not over:
            return [1.0 if i in dense else eps * raw[i] for i in range(len(sizes))]
        dense.add(max(over, key=lambda i: raw[i]))


def _conv_bn_pairs(model: nn.Module) -> Iterable[tuple[str, nn.Conv2d, nn.BatchNorm2d]]:
    for prefix, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        kids = list(module.named_children())
        for (name, a), (_, b) in itertools.pairwise(kids):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and a.in_channels > 3:
                yield (f"{prefix}.{name}" if prefix else name), a, b


class MaskSet:
    """The masks of every masked layer of a model, kept at one density per layer."""

    def __init__(
        self, layers: list[LayerMask], allocation: Allocation = Allocation.UNIFORM
    ) -> None:
        if not layers:
            raise SparseError("the model has no maskable convolution (conv + BatchNorm)")
        self.layers = layers
        self.allocation = allocation

    def layer_densities(self, density: float) -> list[float]:
        """Each layer's density for a budget of ``density`` (of the masked weights)."""
        if self.allocation is Allocation.UNIFORM:
            return [density] * len(self.layers)
        shapes = [m.conv.weight.shape for m in self.layers]
        dens = erk_densities(shapes, density)
        # ERK counts each layer's own weights; partners (channel scheme) follow their layer.
        scale = density * self.weights() / sum(d * m.weights() for d, m in zip(dens, self.layers))
        return [min(1.0, d * scale) for d in dens]

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        scheme: Scheme,
        block: int = 4,
        exclude: Iterable[str] = (),
        groups: Iterable[Sequence[str]] = (),
        allocation: Allocation = Allocation.UNIFORM,
    ) -> MaskSet:
        """Masks of every conv + BatchNorm pair but ``exclude``. Channel scheme: each of
        ``groups`` (names of convolutions whose output channels are coupled) shares one mask,
        held by its first member; a group with a member that is not such a pair is left out."""
        skip = set(exclude)
        pairs = {name: (conv, bn) for name, conv, bn in _conv_bn_pairs(model)}
        partners: dict[str, tuple[Partner, ...]] = {}
        if scheme is Scheme.CHANNEL:
            for group in groups:
                skip.update(group[1:])
                if not all(n in pairs and n not in set(exclude) for n in group):
                    skip.add(group[0])
                    continue
                partners[group[0]] = tuple(Partner(n, *pairs[n]) for n in group[1:])
        layers = []
        for name, (conv, bn) in pairs.items():
            if name in skip:
                continue
            w = conv.weight
            if scheme is Scheme.UNSTRUCTURED:
                shape: tuple[int, ...] = tuple(w.shape)
            elif scheme is Scheme.BLOCK:
                shape = (-(-w.shape[0] // block), w.shape[1])
            else:
                shape = (w.shape[0],)
            units = torch.ones(shape, dtype=torch.bool)
            layers.append(LayerMask(name, conv, bn, units, scheme, block, partners.get(name, ())))
        return cls(layers, allocation)

    def weights(self) -> int:
        return sum(m.weights() for m in self.layers)

    def density(self) -> float:
        """Active fraction of the masked layers' weights."""
        return sum(m.active_weights() for m in self.layers) / self.weights()

    def unit_density(self) -> dict[str, float]:
        """Each masked convolution's (partners' included) fraction of active units."""
        return {p.name: float(m.units.float().mean()) for m in self.layers for p in m.members()}

    def apply(self) -> None:
        for m in self.layers:
            m.apply()

    def mask_grads(self) -> None:
        for m in self.layers:
            m.mask_grads()

    @torch.no_grad()
    def init_random(self, density: float, gen: torch.Generator) -> None:
        """Random masks at ``density`` (MEST starts sparse from a random mask)."""
        check_density("density", density)
        for m, d in zip(self.layers, self.layer_densities(density), strict=True):
            order = torch.randperm(m.size, generator=gen)[: m.keep(d)]
            flat = torch.zeros(m.size, dtype=torch.bool)
            flat[order] = True
            m.units = flat.view_as(m.units)
        self.apply()

    @torch.no_grad()
    def prune_to(self, density: float, scores: dict[str, torch.Tensor]) -> int:
        """Keep the ``density`` best-scored active units of each layer (``scores``: per unit,
        or per weight, then averaged over each unit); returns the units pruned."""
        pruned = 0
        for m, d in zip(self.layers, self.layer_densities(density), strict=True):
            s = scores[m.name]
            s = (s if s.shape == m.units.shape else m.reduce(s)).flatten().clone()
            active = m.units.flatten()
            k = min(m.keep(d), int(active.sum()))
            s[~active] = -torch.inf
            flat = torch.zeros_like(active)
            flat[torch.topk(s, k).indices] = True
            pruned += int(active.sum()) - k
            m.units = flat.view_as(m.units)
        self.apply()
        return pruned

    @torch.no_grad()
    def regrow_to(self, density: float, gen: torch.Generator) -> list[torch.Tensor]:
        """Activate random inactive units up to ``density`` per layer (their weights start at
        zero); returns each layer's newly grown units."""
        grown = []
        for m, d in zip(self.layers, self.layer_densities(density), strict=True):
            flat = m.units.flatten().clone()
            free = torch.nonzero(~flat).flatten()
            need = max(0, m.keep(d) - int(flat.sum()))
            if need == 0:  # nothing drawn: a no-op leaves the generator as it was
                grown.append(torch.zeros_like(m.units))
                continue
            pick = free[torch.randperm(len(free), generator=gen)[:need]]
            new = torch.zeros_like(flat)
            new[pick] = True
            m.units = (flat | new).view_as(m.units)
            grown.append(new.view_as(m.units))
        return grown

    def state(self) -> dict[str, torch.Tensor]:
        return {m.name: m.units.clone() for m in self.layers}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        for m in self.layers:
            if m.name not in state or state[m.name].shape != m.units.shape:
                raise SparseError(f"checkpoint masks do not fit layer {m.name!r}")
            m.units = state[m.name].clone()
        self.apply()
