"""`l4 vit train --recipe/--stages`, and the pruning knobs the stage-0 recipe uses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from tools.vit import cli  # noqa: E402
from tools.vit.errors import VitError  # noqa: E402
from tools.vit.model import TokenPrunedViT, VitConfig  # noqa: E402
from tools.vit.names import RecipeName  # noqa: E402
from tools.vit.recipes import RECIPES  # noqa: E402
from tools.vit.train import TrainConfig, ramped_targets, train_pruned  # noqa: E402

from .test_vit_model import TINY, _crops  # noqa: E402


def _job(monkeypatch, *argv: str):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["vit", "train", *argv])
    jobs = []
    monkeypatch.setattr("tools.vit.pipeline.run", lambda job, _log: jobs.append(job))
    assert args.func(args) == 0
    return jobs[0]


def test_every_recipe_name_has_a_recipe_and_stage0_prunes_the_embeddings():
    assert set(RECIPES) == set(RecipeName)
    assert RECIPES[RecipeName.STAGE0].vit.stages[0] == 0
    assert RECIPES[RecipeName.SHIPPED].vit.stages == (1, 2, 4)


def test_recipe_sets_stages_and_knobs_and_options_override_it(monkeypatch):
    job = _job(monkeypatch, "--recipe", "stage0", "--out", "o")
    stage0 = RECIPES[RecipeName.STAGE0]
    assert job.vit.stages == (0, 2, 4) and job.train == stage0.train and job.rhos == stage0.rhos
    job = _job(monkeypatch, "--recipe", "stage0", "--stages", "1,3,5", "--rhos", "0.6")
    assert job.vit.stages == (1, 3, 5) and job.rhos == (0.6,)
    assert job.train.ratio_ramp == stage0.train.ratio_ramp
    job = _job(monkeypatch, "--prune-epochs", "2")
    assert job.vit.stages == (1, 2, 4) and job.train.prune_epochs == 2
    assert job.out == Path("perception/models")


@pytest.mark.parametrize("text", ["0,x,4", "4,2,0", "0,1,2,3", "0,2,6", "1,1,2", ""])
def test_bad_stages_name_the_option(monkeypatch, text):
    with pytest.raises(VitError, match="--stages"):
        _job(monkeypatch, "--stages", text)


def test_keep_ratio_targets_ramp_from_keep_all():
    assert ramped_targets([0.5, 0.25], 0.0, 0.4) == [1.0, 1.0]
    assert ramped_targets([0.5, 0.25], 0.2, 0.4) == [0.75, 0.625]
    assert ramped_targets([0.5, 0.25], 0.9, 0.4) == [0.5, 0.25]
    assert ramped_targets([0.5], 0.0, 0.0) == [0.5]  # no ramp


def test_ramped_clipped_pruning_from_block_0_stays_finite_and_bounded():
    torch.manual_seed(0)
    dense = TokenPrunedViT(VitConfig(**{**TINY.as_dict(), "stages": (0, 2)})).eval()
    cfg = TrainConfig(prune_epochs=1, batch=8, lr=1e-3, ratio_ramp=0.5, grad_clip=0.5)
    model = train_pruned(dense, _crops(), 0.5, cfg, lambda _l: None)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    moved = max(
        float((a - b).detach().abs().max())
        for a, b in zip(model.parameters(), dense.parameters(), strict=True)
    )
    assert 0 < moved < 1.0
