"""``method: sparse24``: 2:4 semi-structured sparsity for TensorRT's sparse weights.

In every group of 4 consecutive input channels of a conv's weights -- per output channel and
kernel position, the layout NVIDIA's ASP and TensorRT's ``SPARSE_WEIGHTS`` expect -- the 2 of
smallest magnitude are zeroed. The masks are held through distilled fine-tuning
(``torch.nn.utils.prune.custom_from_mask``: the layer computes ``weight_orig * mask``), then
made permanent and the model exported. The card asks for sparse weights
(``engine: {sparse_weights: true}``); stack.engine sets ``SPARSE_WEIGHTS`` only on a GPU with
sparse tensor cores (sm_80 or newer: Ampere, Orin). Nothing else here runs it faster: on ONNX
Runtime (CPU) and on Jetson AGX Xavier (sm_72) the zeros are computed like any weight, so the
card says so and the variant is never counted as a speedup there.

Recipe ``options`` (each checked, errors name ``options.KEY``)::

    options:
      name: s24                 # the variant's name suffix
      ignore: [heat_head.1]     # convs kept dense
      min_in_channels: 16       # eligible convs: groups 1, input channels a multiple of 4 and
                                # at least this many (TensorRT picks sparse kernels only for
                                # wide enough layers; narrower ones stay dense)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from tools.compress.errors import CompressError
from tools.compress.finetune import BatchSource, finetune
from tools.compress.recipe import Recipe, Section
from tools.compress.session import Session, open_session
from tools.compress.variant import VariantResult, write_variant

log = logging.getLogger(__name__)

GROUP, KEEP = 4, 2
OPTIONS = frozenset({"name", "ignore", "min_in_channels"})
SPEEDUP_RUNTIME = (
    "TensorRT with SPARSE_WEIGHTS on sm_80+ GPUs (Ampere, Orin) only; no faster on ONNX "
    "Runtime (CPU) nor on Jetson AGX Xavier (sm_72 has no sparse tensor cores): there it "
    "runs as the dense model"
)
CARD_ENGINE = {"sparse_weights": True}


@dataclass(frozen=True)
class Sparse24Target:
    name: str = "s24"
    ignore: tuple[str, ...] = ()
    min_in_channels: int = 16


def parse_options(recipe: Recipe) -> Sparse24Target:
    s = Section(recipe.source, "options.", recipe.options, OPTIONS)
    return Sparse24Target(
        s.variant_name("name", "s24"), s.layer_names("ignore", []),
        s.integer("min_in_channels", 16, low=4),
    )  # fmt: skip


def mask_24(weight: torch.Tensor) -> torch.Tensor:
    """The 2:4 mask of a conv weight [out, in, kh, kw]: in each group of 4 consecutive input
    channels (per output channel and kernel position) the 2 largest magnitudes kept."""
    out_c, in_c, kh, kw = weight.shape
    if in_c % GROUP:
        raise CompressError(f"2:4 sparsity needs input channels in fours, got {in_c}")
    groups = weight.detach().abs().permute(0, 2, 3, 1).reshape(-1, GROUP)
    keep = groups.topk(KEEP, dim=1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, keep, True)
    return mask.reshape(out_c, kh, kw, in_c).permute(0, 3, 1, 2).contiguous()


def is_24(weight: torch.Tensor) -> bool:
    """Whether every group of 4 consecutive input channels has at least 2 zeros."""
    if weight.shape[1] % GROUP:
        return False
    groups = weight.detach().permute(0, 2, 3, 1).reshape(-1, GROUP)
    return bool(((groups == 0).sum(dim=1) >= GROUP - KEEP).all())


def eligible(model: nn.Module, target: Sparse24Target) -> list[str]:
    """Convs that take 2:4 masks; an ``ignore`` name the model lacks is an error naming it."""
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    unknown = sorted(set(target.ignore) - set(convs))
    if unknown:
        raise CompressError(f"options.ignore: the model has no conv {unknown[0]!r}")
    return [
        n
        for n, m in convs.items()
        if n not in target.ignore
        and m.groups == 1
        and m.in_channels % GROUP == 0
        and m.in_channels >= target.min_in_channels
    ]


def apply_masks(model: nn.Module, names: Iterable[str]) -> None:
    """Mask each named conv's weight 2:4; the mask holds while it trains (torch prune)."""
    modules = dict(model.named_modules())
    for name in names:
        conv = modules[name]
        prune.custom_from_mask(conv, "weight", mask_24(conv.weight))


def make_permanent(model: nn.Module, names: Iterable[str]) -> None:
    modules = dict(model.named_modules())
    for name in names:
        prune.remove(modules[name], "weight")


def sparsity(model: nn.Module, names: Sequence[str]) -> dict[str, float]:
    modules = dict(model.named_modules())
    return {n: round(float((modules[n].weight == 0).float().mean()), 4) for n in names}


def sparse24_variant(
    session: Session, target: Sparse24Target
) -> tuple[nn.Module, list[str], list[dict[str, float]]]:
    """A copy of the teacher with 2:4 masks, fine-tuned with them held, masks made permanent:
    the student, its masked layers and its fine-tuning history (for the card)."""
    recipe, teacher = session.recipe, session.teacher
    torch.manual_seed(recipe.seed)
    student = copy.deepcopy(teacher)
    names = eligible(student, target)
    if not names:
        raise CompressError(
            f"options: no conv takes 2:4 masks (groups 1, input channels in fours, at least "
            f"min_in_channels={target.min_in_channels})"
        )
    apply_masks(student, names)
    source = BatchSource(session.frames, session.train_cfg, recipe.seed)
    result = finetune(student, teacher, source, recipe.finetune, f"{target.name}: fine-tune")
    make_permanent(student, names)
    modules = dict(student.named_modules())
    broken = [n for n in names if not is_24(modules[n].weight)]
    if broken:
        raise CompressError(f"layer {broken[0]!r} lost its 2:4 pattern in fine-tuning")
    return student, names, result.history


def run(recipe: Recipe, out_dir: Path) -> list[VariantResult]:
    target = parse_options(recipe)
    session = open_session(recipe)
    student, names, history = sparse24_variant(session, target)
    provenance: dict[str, Any] = {
        **session.provenance(),
        "method": "sparse24",
        "library": f"torch {torch.__version__} (torch.nn.utils.prune masks)",
        "parameters": {"pattern": "2:4 along input channels", "ignore": list(target.ignore),
                       "min_in_channels": target.min_in_channels},
        "sparsity": sparsity(student, names),
        "finetune_epochs": recipe.finetune.epochs,
        "finetune_history": history,
        "speedup_runtime": SPEEDUP_RUNTIME,
    }  # fmt: skip
    name = f"{recipe.name}_{target.name}"
    result = write_variant(student, out_dir, name, session.input_size, session.evals, provenance,
                           recipe.latency_threads, engine=CARD_ENGINE)  # fmt: skip
    log.info("%s: %s", name, result.accuracy)
    return [result]
