"""Exact channel counts per coupled layer group (Torch-Pruning's DependencyGraph), in steps.

A ratio, whether one for the whole model or per layer through MetaPruner's ``pruning_ratio_dict``,
does not say how many channels a group keeps: Torch-Pruning rounds the kept count *down* to
``round_to`` (32 channels at ratio 0.6 keep 8, not 16), and its per-layer dict matches a layer in
any group that touches it, so a ratio given for ``lat4`` also cut the stem that feeds it. A
latency-aware variant is a list of widths measured on the target backend (ONNX Runtime's NCHWc
convs work in blocks of 16 channels on AVX-512, of 8 on AVX2), so this pruner takes the widths
themselves::

    channels: {stem.1: 16, fuse4: 16, heat_head: 8, box_head: 8}

Each name is a conv, or a block whose first conv is meant; it names the coupled group holding
that conv's output channels (the FPN's ``Add`` couples ``lat32`` with ``lat16``, ``lat8`` with
``fuse16``, ``lat4`` with ``reduce8``). Groups not named keep their channels. Within a group
the channels of least importance (the recipe's importance) are removed; with ``steps`` > 1 each
step removes an equal part, rounded to ``round_to``, so the last step lands on the counts given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tools.compress.errors import CompressError


@dataclass
class _Target:
    name: str  # as the recipe wrote it
    conv: nn.Conv2d  # a conv whose output channels the group holds
    start: int  # channels before pruning
    keep: int  # channels after the last step


def first_conv(model: nn.Module, name: str, what: str = "channels") -> tuple[str, nn.Conv2d]:
    """The conv ``name`` names: itself, or the first conv inside the block of that name."""
    modules = dict(model.named_modules())
    module = modules.get(name)
    if module is None:
        raise CompressError(f"{what}: the model has no layer {name!r}")
    if isinstance(module, nn.Conv2d):
        return name, module
    for sub, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            return f"{name}.{sub}", m
    raise CompressError(f"{what}.{name}: layer {name!r} holds no conv")


def _group_members(dg: Any, group: Any) -> list[nn.Conv2d]:
    return [
        dep.target.module
        for dep, _ in group
        if isinstance(dep.target.module, nn.Conv2d) and dg.is_out_channel_pruning_fn(dep.handler)
    ]


def resolve(
    model: nn.Module, dg: Any, channels: Mapping[str, int], ignored: list[nn.Module], round_to: int
) -> list[_Target]:
    """One target per coupled group named in ``channels``; errors name the recipe's key."""
    groups = [
        _group_members(dg, g)
        for g in dg.get_all_groups(ignored_layers=ignored, root_module_types=[nn.Conv2d])
    ]
    by_group: dict[int, _Target] = {}
    for name, keep in channels.items():
        conv_name, conv = first_conv(model, name)
        where = next((i for i, members in enumerate(groups) if conv in members), None)
        if where is None:
            raise CompressError(
                f"channels.{name}: the output channels of {conv_name!r} are kept whole "
                "(a model output, or listed in ignore)"
            )
        start = conv.out_channels
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= start:
            raise CompressError(
                f"channels.{name}: must be an integer in [1, {start}] (got {keep!r})"
            )
        if keep % round_to and keep != start:
            raise CompressError(
                f"channels.{name}: {keep} is not a multiple of round_to {round_to} (SIMD width)"
            )
        other = by_group.get(where)
        if other is not None and other.keep != keep:
            raise CompressError(
                f"channels.{name}: {keep} channels, but channels.{other.name} asks {other.keep} "
                "for the same coupled group"
            )
        by_group[where] = _Target(name, conv, start, keep)
    return list(by_group.values())


class ChannelPruner:
    """Prunes each named group to its channel count in ``steps`` calls of ``step()``.

    Duck-types the parts of Torch-Pruning's MetaPruner that ``prune_step`` uses (``model``,
    ``step()``)."""

    def __init__(
        self, model: nn.Module, dg: Any, targets: list[_Target],
        importance: Callable[[Any], torch.Tensor], round_to: int, steps: int = 1,
    ) -> None:  # fmt: skip
        self.model, self.dg, self.targets = model, dg, targets
        self.importance, self.round_to, self.steps = importance, round_to, max(1, steps)
        self.current_step = 0

    def width_at(self, target: _Target, step: int) -> int:
        """Channels ``target``'s group keeps after ``step`` (1-based) of ``self.steps``."""
        removed = (target.start - target.keep) * step / self.steps
        width = math.ceil((target.start - removed) / self.round_to) * self.round_to
        return max(target.keep, min(target.start, width))

    @torch.no_grad()
    def step(self) -> None:
        """One step: every group's importance measured first (as MetaPruner does, so the result
        does not depend on the order of the groups), then the weakest channels removed."""
        import torch_pruning as tp

        if self.current_step >= self.steps:
            return
        self.current_step += 1
        plan = []
        for target in self.targets:
            now = target.conv.out_channels
            width = self.width_at(target, self.current_step)
            if width >= now:
                continue
            group = self.dg.get_pruning_group(
                target.conv, tp.prune_conv_out_channels, list(range(now))
            )
            order = torch.argsort(self.importance(group).cpu(), stable=True)
            plan.append((target.conv, sorted(int(i) for i in order[: now - width])))
        for conv, drop in plan:  # coupled groups hold disjoint channels: indices stay valid
            self.dg.get_pruning_group(conv, tp.prune_conv_out_channels, drop).prune()
