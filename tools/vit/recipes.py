"""Named training recipes for `l4 vit train --recipe`: the model's pruning stages, the
training knobs and the keep ratios, so one command reproduces a shipped set of variants."""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.vit.model import VitConfig
from tools.vit.names import RecipeName
from tools.vit.train import TrainConfig


@dataclass(frozen=True)
class Recipe:
    vit: VitConfig = field(default_factory=VitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rhos: tuple[float, ...] = (0.7, 0.5)


RECIPES: dict[RecipeName, Recipe] = {
    RecipeName.SHIPPED: Recipe(),
    RecipeName.STAGE0: Recipe(
        vit=VitConfig(stages=(0, 2, 4)),
        train=TrainConfig(
            prune_epochs=8,
            backbone_lr_scale=0.3,
            selector_lr_scale=0.5,
            ratio_weight=30.0,
            distill_weight=3.0,
            ratio_ramp=0.3,
            grad_clip=1.0,
        ),
        rhos=(0.5,),
    ),
}
