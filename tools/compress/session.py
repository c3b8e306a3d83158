"""What every compression method of a run shares: the teacher, the training frames, the
held-out bags, and the provenance common to every variant's card.

Opened once per recipe (``open_session`` keeps the last one), so the runner's dense
evaluation and the method reuse the same bags and frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

import torch

from tools.compress.errors import CompressError
from tools.compress.recipe import Recipe
from tools.compress.teacher import calibrate_bn, load_dense, verify
from tools.compress.variant import EvalSet, open_evals
from tools.train.data import Frame, read_frames
from tools.train.scenarios import ensure_bags, format_scenarios
from tools.train.train import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class Session:
    recipe: Recipe
    teacher: torch.nn.Module
    frames: list[Frame]
    evals: EvalSet
    input_size: tuple[int, int]
    train_cfg: TrainConfig

    def example(self) -> torch.Tensor:
        w, h = self.input_size
        return torch.zeros(1, 3, h, w)

    def provenance(self) -> dict[str, Any]:
        r = self.recipe
        return {
            "teacher": str(r.model),
            "recipe": r.source,
            "seed": r.seed,
            "training_data": {"scenarios": format_scenarios(r.data.train),
                              "seconds_per_scenario": r.data.seconds,
                              "every_nth_frame": r.data.every, "frames": len(self.frames)},
            "heldout": {"scenarios": format_scenarios(r.data.eval),
                        "seconds_per_scenario": r.data.eval_seconds},
            "finetune": {"epochs": r.finetune.epochs, "batch_size": r.finetune.batch_size,
                         "lr": r.finetune.lr, "distill": r.finetune.distill,
                         "max_seconds": r.finetune.max_seconds},
        }  # fmt: skip

    @staticmethod
    def library_version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"


_LAST: list[Session] = []


def calibration_batches(
    frames: list[Frame], seed: int, n: int = 128, batch: int = 16
) -> list[torch.Tensor]:
    """Up to ``n`` training images (seeded choice, no augmentation) as RGB/255 batches."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(frames))[:n]
    images = [frames[int(i)].image[..., ::-1].transpose(2, 0, 1) for i in pick]
    x = torch.from_numpy(np.ascontiguousarray(np.stack(images))).float().div_(255.0)
    return list(x.split(batch))


def open_session(recipe: Recipe) -> Session:
    """The session of ``recipe`` (bags generated into ``recipe.data.dir``, which must be set)."""
    if _LAST and _LAST[0].recipe is recipe:
        return _LAST[0]
    if recipe.data.dir is None:
        raise CompressError("open_session: recipe.data.dir must be set (the runner sets it)")
    if recipe.start is not None:
        raise CompressError(
            f"{recipe.source}: start: {recipe.methods[0]} begins at the dense model (model:); "
            "start is for post-training methods (int8, fuse)"
        )
    dense = load_dense(recipe.model)
    diff = verify(dense)
    log.info(
        "teacher %s imported from %s (max |diff| %.2g)", dense.card_path, dense.onnx_path, diff
    )
    inp = dense.card.input
    cfg = replace(TrainConfig(), input_width=inp.width, input_height=inp.height,
                  stride=dense.model.stride, threads=recipe.finetune.threads, seed=recipe.seed)  # fmt: skip
    data = recipe.data
    train_bags = ensure_bags(data.train, data.seconds, data.dir)
    evals = open_evals(recipe)
    frames = read_frames(train_bags, data.every, (inp.width, inp.height))
    n = calibrate_bn(dense.model, calibration_batches(frames, recipe.seed))
    log.info("%d BatchNorms calibrated on the training frames (max |diff| %.2g)", n, verify(dense))
    session = Session(recipe, dense.model, frames, evals, (inp.width, inp.height), cfg)
    _LAST[:] = [session]
    return session
