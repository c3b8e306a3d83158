"""Pruning the detector's stride-4 branch: the heads move onto the stride-8 features.

``options.variants[i].stride: 8`` in a ``method: prune`` recipe. Channel pruning alone stops
near 2.8x the dense model's speed on ONNX Runtime CPU (``l4 compress RECIPE --widths``): what is
left is the stride-4 grid (the heads, ``fuse4`` and the output reorders run on 80x48 cells at any
width), the 3-channel stem conv and the per-run overhead. Removing the top-down step onto the
stem's features (``lat4``, ``reduce8``, ``fuse4``: whole layers, a depth prune) puts the heads on
a 40x24 grid, a quarter of the cells; the card's decoder stride becomes 8.

The heads keep their pruned weights: their first convs took ``fuse4``'s channels and now take
``fuse8``'s, so the two widths must be equal (checked, naming both). The box head's bias is
lowered by log 2 so that the box distances in pixels (``exp(box) x stride``) are those of the
stride-4 model at step 0; the fine-tune then trains on stride-8 targets, and distillation from a
stride-4 teacher pools the teacher's outputs onto the student's grid (:func:`pool_to`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tools.compress.errors import RecipeError

STRIDES = (4, 8)
_BRANCH = ("lat4", "reduce8", "fuse4")  # the stride-4 top-down step of TinyCenterNet


def _out_channels(block: nn.Module) -> int:
    return next(m for m in block.modules() if isinstance(m, nn.Conv2d)).out_channels


def to_stride8(model: nn.Module, where: str) -> nn.Module:
    """Drop ``model``'s stride-4 branch in place (a TinyCenterNet); ``where`` names the recipe
    key in errors. A model already at stride 8 is returned as it is."""
    if model.stride == 8:
        return model
    if not all(hasattr(model, name) for name in _BRANCH):
        raise RecipeError(f"{where}: 8: the model has no stride-4 branch ({', '.join(_BRANCH)})")
    fuse4, fuse8 = _out_channels(model.fuse4), _out_channels(model.fuse8)
    if fuse4 != fuse8:
        raise RecipeError(
            f"{where}: 8 moves the heads from fuse4 ({fuse4} channels) onto fuse8 ({fuse8}): "
            "give both the same width (options.variants[i].channels)"
        )
    for name in _BRANCH:
        delattr(model, name)
    model.stride = 8
    with torch.no_grad():
        model.box_head[-1].bias -= math.log(2.0)
    return model


def pool_to(
    logits: torch.Tensor, dist: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A teacher's heatmap logits and box distances (pixels) on a finer grid, pooled onto
    ``size`` (the student's H, W): the strongest centre logit and the mean distances of each
    cell's block. Unchanged when the grids match."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits, dist
    k = logits.shape[-2] // size[0]
    if k < 2 or logits.shape[-2] != k * size[0] or logits.shape[-1] != k * size[1]:
        raise RecipeError(
            f"distill: the teacher's grid {tuple(logits.shape[-2:])} is not a multiple of the "
            f"student's {tuple(size)}"
        )
    return F.max_pool2d(logits, k), F.avg_pool2d(dist, k)
