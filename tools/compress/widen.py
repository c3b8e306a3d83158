"""``method: widen``: a wider teacher grown from the dense model, then trained (the detector family).

Recipe ``options`` (each checked, errors name ``options.KEY``)::

    options:
      variants:
        - {name: wide, widths: [24, 48, 72, 96, 144]}   # stem, stride-4, 8, 16, 32 channels

Training a wider detector from scratch costs the dense model's whole schedule times its FLOPs
ratio. Grown from the dense model instead, it starts where the dense model is: every conv keeps
the dense weights in its first channels, the new output channels get a fresh initialisation and
the new input columns are zero (``widen``), so the wider network computes exactly the dense
function (checked by a test) and training only has to add what the extra channels can give. The
recipe's ``finetune`` schedule trains it (``distill: 0`` trains on the ground truth alone; with
``distill`` > 0 the dense model is its teacher). Then ``method: prune`` with ``model:`` this
variant's card compresses it back to the dense model's latency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tools.compress.errors import RecipeError
from tools.compress.finetune import BatchSource, checkpoint_path, drop_checkpoints, finetune
from tools.compress.recipe import Recipe, Section
from tools.compress.session import open_session
from tools.compress.variant import VariantResult, write_variant
from tools.train.detector_model import TinyCenterNet

log = logging.getLogger(__name__)

OPTIONS = frozenset({"variants"})
VARIANT = frozenset({"name", "widths"})


@dataclass(frozen=True)
class WidenTarget:
    name: str
    widths: tuple[int, ...]


def widen(small: TinyCenterNet, widths: tuple[int, ...], seed: int = 0) -> TinyCenterNet:
    """A TinyCenterNet of ``widths`` computing the same function as ``small`` (eval mode)."""
    if len(widths) != 5:
        raise RecipeError(f"widen: widths {list(widths)} must be 5 channel counts")
    torch.manual_seed(seed)
    big = TinyCenterNet(small.num_classes, widths, small.stride)
    small_modules = dict(small.named_modules())
    with torch.no_grad():
        for name, module in big.named_modules():
            src = small_modules.get(name)
            if isinstance(module, nn.Conv2d):
                _copy_conv(name, module, src)
            elif isinstance(module, nn.BatchNorm2d):
                n = src.num_features
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(module, attr)[:n] = getattr(src, attr)
    big.eval()
    return big


def _copy_conv(name: str, big: nn.Conv2d, small: nn.Module | None) -> None:
    if not isinstance(small, nn.Conv2d):
        raise RecipeError(f"widen: the model has no conv {name!r}")
    out, inp = small.weight.shape[:2]
    if big.weight.shape[0] < out or big.weight.shape[1] < inp:
        raise RecipeError(
            f"widen: conv {name!r} would shrink from {out}x{inp} to "
            f"{big.weight.shape[0]}x{big.weight.shape[1]} channels"
        )
    big.weight[:, inp:] = 0.0  # new input channels add nothing to the dense function
    big.weight[:out, :inp] = small.weight
    if big.bias is not None and small.bias is not None:
        big.bias[:out] = small.bias


def parse_options(recipe: Recipe) -> list[WidenTarget]:
    top = Section(recipe.source, "options.", recipe.options, OPTIONS)
    variants = top.raw("variants")
    if not isinstance(variants, list) or not variants:
        raise top.error("variants", variants, "must be a non-empty list of {name, widths}")
    targets = []
    for i, v in enumerate(variants):
        sec = Section(recipe.source, f"options.variants[{i}].", v, VARIANT)
        widths = sec.raw("widths")
        if (
            not isinstance(widths, list)
            or len(widths) != 5
            or not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 4096
                       for w in widths)
        ):  # fmt: skip
            raise sec.error("widths", widths, "must be 5 channel counts in [1, 4096]")
        targets.append(WidenTarget(sec.variant_name("name"), tuple(widths)))
    return targets


def run(recipe: Recipe, out_dir: Path) -> list[VariantResult]:
    targets = parse_options(recipe)
    session = open_session(recipe)
    results = []
    for target in targets:
        student = widen(session.teacher, target.widths, recipe.seed)
        source = BatchSource(session.frames, session.train_cfg, recipe.seed)
        teacher = session.teacher if recipe.finetune.distill > 0 else None
        name = f"{recipe.name}_{target.name}"
        result = finetune(student, teacher, source, recipe.finetune, f"{target.name}: train",
                          checkpoint=checkpoint_path(out_dir, name))  # fmt: skip
        provenance = {
            **session.provenance(),
            "method": "widen",
            "parameters": {"widths": list(target.widths), "grown_from": str(recipe.model)},
            "finetune_epochs": recipe.finetune.epochs,
            "finetune_history": [*result.history[:-1], {**result.history[-1], "steps": result.steps}],
        }  # fmt: skip
        results.append(write_variant(student, out_dir, name, session.input_size, session.evals,
                                     provenance, recipe.latency_threads))  # fmt: skip
        drop_checkpoints(out_dir, name)
        log.info("%s: %s", name, results[-1].accuracy)
    return results
