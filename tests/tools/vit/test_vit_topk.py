"""TOPK pruning training (the exact inference counts in training), the `early` recipe, the
dense ViT every recipe distils from, and the shipped variant order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")

from tools.vit import pipeline, train  # noqa: E402
from tools.vit.model import TokenPrunedViT, VitConfig, keep_counts  # noqa: E402
from tools.vit.names import RecipeName, Selection  # noqa: E402
from tools.vit.recipes import RECIPES  # noqa: E402
from tools.vit.train import TrainConfig, ramped_counts, train_pruned  # noqa: E402

from .test_vit_model import TINY, _crops  # noqa: E402
from .test_vit_recipes import _job  # noqa: E402


@pytest.mark.parametrize(("stages", "rho"), [((0,), 0.25), ((0, 2), 0.5), ((1, 2), 0.6)])
def test_topk_training_path_without_noise_is_the_inference_path(stages, rho):
    torch.manual_seed(0)
    cfg = VitConfig(**{**TINY.as_dict(), "stages": stages})
    model = TokenPrunedViT(cfg).eval()
    x = torch.rand(5, 3, 32, 32)
    counts = keep_counts(cfg, rho)
    with torch.no_grad():
        logits, masks = model(x, noise=0.0, counts=counts)
        static = model.forward_static(x, counts)
    assert torch.allclose(logits, static, atol=1e-5)
    assert [m.sum(1).tolist() for m in masks] == [[float(k)] * 5 for k in counts]


def test_gumbel_topk_keeps_exact_nested_counts_and_trains_the_selectors():
    torch.manual_seed(1)
    cfg = VitConfig(**{**TINY.as_dict(), "stages": (0, 2)})
    model = TokenPrunedViT(cfg)
    logits, masks = model(torch.rand(6, 3, 32, 32), noise=1.0, counts=(20, 7))
    assert masks[0].detach().sum(1).tolist() == [20.0] * 6
    assert masks[1].detach().sum(1).tolist() == [7.0] * 6
    assert bool(((masks[1] > 0) <= (masks[0] > 0)).all())  # stage 2 keeps only stage-0 tokens
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.selectors.parameters())


def test_noise_changes_the_topk_subset_only_when_asked():
    torch.manual_seed(2)
    model = TokenPrunedViT(VitConfig(**{**TINY.as_dict(), "stages": (0,)})).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        quiet = [model(x, noise=0.0, counts=(16,))[1][0] for _ in range(2)]
        noisy = [model(x, noise=1.0, counts=(16,))[1][0] for _ in range(2)]
    assert torch.equal(quiet[0], quiet[1])
    assert not torch.equal(noisy[0], noisy[1])


def test_keep_counts_ramp_from_every_token():
    assert ramped_counts(64, (16,), 0.0, 0.5) == (64,)
    assert ramped_counts(64, (16, 4), 0.25, 0.5) == (40, 34)
    assert ramped_counts(64, (16,), 0.9, 0.5) == (16,)
    assert ramped_counts(64, (16,), 0.0, 0.0) == (16,)  # no ramp


def test_selector_epochs_train_the_selectors_alone_then_everything(monkeypatch):
    calls = []

    def fake_fit(model, data, epochs, cfg, loss_fn, params, log, what):
        ids = {id(p) for g in params for p in (g["params"] if isinstance(g, dict) else [g])}
        names = {n for n, p in model.named_parameters() if id(p) in ids}
        calls.append(
            (
                epochs,
                names,
                float(
                    loss_fn(
                        torch.rand(4, 3, 32, 32), torch.zeros(4, dtype=torch.long), 0.0
                    ).detach()
                ),
            )
        )

    monkeypatch.setattr(train, "_fit", fake_fit)
    dense = TokenPrunedViT(VitConfig(**{**TINY.as_dict(), "stages": (0,)})).eval()
    cfg = TrainConfig(prune_epochs=3, selector_epochs=2, selection=Selection.TOPK)
    train_pruned(dense, _crops(), 0.25, cfg, lambda _l: None)
    (first, sel_names, _), (second, all_names, loss) = calls
    assert first == 2 and sel_names and all(n.startswith("selectors") for n in sel_names)
    assert second == 3 and any(n.startswith("blocks") for n in all_names)
    assert loss > 0 and loss == loss  # finite: no keep-ratio term in TOPK


def test_early_recipe_one_selector_before_block_0_keeps_16_tokens(monkeypatch):
    job = _job(monkeypatch, "--recipe", "early", "--out", "o")
    early = RECIPES[RecipeName.EARLY]
    assert job.vit.stages == (0,) and job.train.selection is Selection.TOPK
    assert job.rhos == (0.25,) and keep_counts(job.vit, 0.25) == (16,)
    assert job.train == early.train
    assert _job(monkeypatch, "--recipe", "early", "--stages", "0,3").vit.stages == (0, 3)


def test_every_recipe_distils_from_the_dense_vit_of_the_default_stages(monkeypatch, tmp_path):
    built = []

    def fake_dense(data, vcfg, cfg, log):
        built.append(vcfg.stages)
        torch.manual_seed(5)
        return TokenPrunedViT(vcfg)

    monkeypatch.setattr(pipeline, "train_dense", fake_dense)
    tiny = VitConfig(**{**TINY.as_dict(), "stages": (0,)})
    job = pipeline.VitJob(out=tmp_path, cache=tmp_path / "cache", vit=tiny)
    dense = pipeline._dense(job, _crops(), lambda _l: None)
    assert built == [VitConfig().stages] and dense.cfg.stages == (0,) and not dense.training
    saved = torch.load(tmp_path / "cache" / "dense.pt")
    assert torch.equal(dense.head.weight, saved["head.weight"])
    again = pipeline._dense(
        pipeline.VitJob(out=tmp_path, cache=job.cache, vit=tiny, reuse_dense=True),
        _crops(),
        lambda _l: None,
    )
    assert built == [VitConfig().stages]  # reused, not retrained
    assert all(
        torch.equal(a, b) for a, b in zip(dense.state_dict().values(), again.state_dict().values())
    )


def test_card_settings_are_plain_yaml():
    from dataclasses import asdict

    text = yaml.safe_dump(pipeline.plain(asdict(TrainConfig(selection=Selection.TOPK))))
    assert "selection: topk" in text


def test_light_node_lists_dense_first_then_falling_keep_ratios():
    from perception.models import MODELS_DIR
    from perception.traffic_light.card import load_light_card
    from perception.traffic_light.node import SHIPPED

    cards = [load_light_card(Path(MODELS_DIR) / name) for name in SHIPPED]
    assert cards[0].keep_ratio is None
    ratios = [c.keep_ratio for c in cards[1:]]
    assert ratios == sorted(ratios, reverse=True) and 0.25 in ratios
    early = yaml.safe_load((Path(MODELS_DIR) / "traffic_light_vit_r25.yaml").read_text())
    assert early["architecture"]["stages"] == [0]
    assert early["compression"]["keep_counts"] == [16]


def test_cli_job_names_its_recipe_for_the_card(monkeypatch):
    assert _job(monkeypatch, "--recipe", "early").recipe == "early"
    assert _job(monkeypatch).recipe == "shipped"


def test_card_method_says_how_the_selectors_were_trained():
    from tools.vit.export import _method

    assert "exact TopK subsets" in _method({"training": {"selection": "topk"}})
    assert "keep-ratio loss" in _method({"training": {"selection": "gumbel"}})
    assert "keep-ratio loss" in _method({})  # the shipped r70/r50 cards predate the field
