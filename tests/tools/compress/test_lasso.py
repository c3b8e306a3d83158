"""Reweighted group lasso, hard masks held through fine-tuning, per-layer sensitivity fed to the
search-based scheme mapper (method finegrained) on a tiny model."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from tests.tools.compress.test_compress import _doc, _session, _tiny  # noqa: E402
from tools.compress import finegrained  # noqa: E402
from tools.compress.errors import CompressError, RecipeError  # noqa: E402
from tools.compress.finegrained import (  # noqa: E402
    FineGrainedTarget,
    finegrained_variant,
    layer_sensitivity,
    map_schemes,
    onnx_layer_name,
    parse_options,
    plans_of,
)
from tools.compress.lasso import GroupLasso, LayerPlan, MaskSet, group_norms, hard_mask  # noqa: E402
from tools.compress.methods import load_method  # noqa: E402
from tools.compress.recipe import recipe_from_dict  # noqa: E402
from tools.compress.schemes import Scheme  # noqa: E402

BLOCK = LayerPlan(Scheme.BLOCK, block=4, keep=0.5)


def test_groups_per_scheme():
    torch.manual_seed(0)
    w = torch.randn(10, 8, 3, 3)
    assert group_norms(w, LayerPlan(Scheme.CHANNEL)).shape == (8,)
    blocks = group_norms(w, BLOCK)
    assert blocks.shape == (3 * 8,)  # ceil(10 / 4) blocks x 8 columns
    assert torch.allclose(blocks[1], w[0:4, 1].norm())  # block 0, column 1
    assert torch.allclose(blocks[2 * 8 + 5], w[8:10, 5].norm())  # the short last block
    assert group_norms(w, LayerPlan(Scheme.PATTERN)).shape == (10 * 8,)
    with pytest.raises(CompressError, match="no groups for scheme 'none'"):
        group_norms(w, LayerPlan(Scheme.NONE))


def test_hard_masks_keep_the_strongest_groups():
    torch.manual_seed(0)
    w = torch.randn(8, 8, 3, 3)
    m = hard_mask(w, BLOCK)
    for f in (slice(0, 4), slice(4, 8)):  # each block keeps 4 whole input columns
        cols = m[f].amax(dim=(0, 2, 3))
        assert int(cols.sum()) == 4 and torch.equal(m[f], cols[None, :, None, None].expand_as(m[f]))
    channel = hard_mask(w, LayerPlan(Scheme.CHANNEL, keep=0.25))
    assert int(channel.amax(dim=(0, 2, 3)).sum()) == 2  # the same 2 columns in every filter
    assert (hard_mask(w, LayerPlan(Scheme.PATTERN)).sum(dim=(2, 3)) == 4).all()


def test_reweighting_removes_weak_groups_and_spares_strong_ones():
    """Penalty-only descent: both remove the weak groups (norm 0.2 -> ~0), but plain group
    lasso (fixed weights 1) takes as much off every strong group too, while the reweighted
    one (1/(||g||+eps), updated each 'epoch') leaves the strong groups nearly whole."""

    def descend(reweighted: bool) -> torch.Tensor:
        conv = torch.nn.Conv2d(8, 4, 1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.ones(4, 8, 1, 1))
            conv.weight[:, 4:] *= 0.1  # 4 weak columns
        model = torch.nn.Sequential(conv)
        lasso = GroupLasso(model, {"0": LayerPlan(Scheme.CHANNEL)}, strength=0.01, eps=0.05)
        if not reweighted:
            lasso.weights = {"0": torch.ones(8)}
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        for _epoch in range(6):
            for _ in range(10):
                opt.zero_grad()
                lasso.penalty().backward()
                opt.step()
            if reweighted:
                lasso.reweight()
        return group_norms(conv.weight.detach(), LayerPlan(Scheme.CHANNEL))

    plain, rew = descend(False), descend(True)
    assert plain[4:].max() < 0.05 and rew[4:].max() < 0.05  # weak columns: gone in both
    assert plain[:4].max() < 1.75  # strong columns (norm 2): plain lasso took 0.3 off
    assert rew[:4].min() > 1.8  # the reweighted one spared them


def test_lasso_refuses_a_layer_the_model_lacks():
    with pytest.raises(CompressError, match=r"group lasso: the model has no conv 'nope'"):
        GroupLasso(_tiny(), {"nope": BLOCK})


def test_finegrained_masks_hold_through_fine_tuning(tmp_path):
    teacher = _tiny()
    plans = {"s16.0.0": BLOCK, "fuse4.0": LayerPlan(Scheme.CHANNEL, keep=0.5),
             "s8.0.0": LayerPlan(Scheme.PATTERN), "lat4.0": LayerPlan(Scheme.NONE)}  # fmt: skip
    target = FineGrainedTarget(lasso_epochs=1, lasso_strength=1e-3)
    student, masks, _ = finegrained_variant(_session(tmp_path, teacher), target, plans)
    modules = dict(student.named_modules())
    for name, mask in masks.masks.items():
        w = modules[name].weight
        assert torch.equal(w * (1 - mask), torch.zeros_like(w)), name  # pruned entries stay 0
        assert (w * mask).abs().sum() > 0
    assert set(masks.masks) == {"s16.0.0", "fuse4.0", "s8.0.0"}
    assert masks.sparsity()["s16.0.0"] == pytest.approx(0.5)
    assert masks.sparsity()["s8.0.0"] == pytest.approx(5 / 9, abs=1e-3)
    assert not torch.equal(modules["lat4.0"].weight, dict(teacher.named_modules())["lat4.0"].weight)


def test_sensitivity_is_zero_for_a_layer_whose_pruned_groups_are_already_zero(tmp_path):
    session = _session(tmp_path, _tiny())
    model = session.teacher
    conv = dict(model.named_modules())["s16.0.0"]
    with torch.no_grad():
        conv.weight.mul_(hard_mask(conv.weight, BLOCK))
    from tools.compress.finetune import BatchSource

    source = BatchSource(session.frames, session.train_cfg, 1)
    batches = [source.batch(idx) for idx in source.epoch(4)][:2]
    sens = layer_sensitivity(
        model, {"s16.0.0": BLOCK, "stem.1.0": BLOCK}, batches, session.train_cfg
    )
    assert sens["s16.0.0"] == 0.0
    assert sens["stem.1.0"] != 0.0  # (an untrained model: the sign says little)


def test_search_mapper_takes_the_measured_sensitivity(tmp_path, monkeypatch):
    """The latency table is stubbed (measuring it is the blocksparse tests' job): every layer is
    measured 2x faster blocked; the mapper keeps dense the layers the sensitivity rules out."""
    from tools.compress import blocksparse, blocktable

    def fake_table(model, keep=0.5, groups=(1, 2, 4), threads=1, rounds=200, min_in=16):
        return [{"layer": c.name, "blocks": g, "block": c.weight.shape[0] // g,
                 "shape": list(c.weight.shape), "speedup": 2.0 if g == 2 else 1.5, "ok": True}
                for c in blocksparse.conv_layers(model, min_in=min_in) for g in groups]  # fmt: skip

    monkeypatch.setattr(blocktable, "measure_table", fake_table)
    session = _session(tmp_path, _tiny((8, 16, 16, 24, 32)))
    from tools.compress.finetune import BatchSource

    source = BatchSource(session.frames, session.train_cfg, 1)
    batches = [source.batch(idx) for idx in source.epoch(4)][:2]
    strict = FineGrainedTarget(max_loss_increase=-1.0)  # every layer too sensitive
    choices, measured = map_schemes(session, strict, batches)
    assert choices and all(c.scheme is Scheme.NONE and "sensitive" in c.reason for c in choices)
    assert choices[0].reason.endswith("% held-out loss")
    assert set(measured["sensitivity_pct"]) == {onnx_layer_name(c.layer) for c in choices}
    lax = FineGrainedTarget(max_loss_increase=1e9)
    choices, _ = map_schemes(session, lax, batches)
    assert all(c.scheme is Scheme.BLOCK and c.speedup == 2.0 for c in choices)
    plans = plans_of(choices, lax)  # the measured block size, not the option's
    assert all(plans[onnx_layer_name(c.layer)].block == c.block for c in choices)
    assert {c.block for c in choices} != {lax.block}


def test_options_are_checked_naming_the_key():
    def recipe(options):
        return recipe_from_dict(_doc(method="finegrained", options=options), "r.yaml")

    assert parse_options(recipe({})) == FineGrainedTarget()
    assert load_method("finegrained") is finegrained.run
    for options, message in [
        ({"mapper": "magic"}, r"options.mapper must be one of rule, search"),
        ({"keep": 0}, r"options.keep must lie in \(0.0"),
        ({"compiler_target": "yes"}, r"options.compiler_target must be true or false"),
        ({"lasso_epochs": -1}, r"options.lasso_epochs must lie in \[0,"),
        ({"ratio": 0.5}, r"unknown key options.ratio"),
    ]:
        with pytest.raises(RecipeError, match=message):
            parse_options(recipe(options))


def test_onnx_node_names_map_to_torch_layers():
    assert onnx_layer_name("/s8/s8.0/s8.0.0/Conv") == "s8.0.0"
    assert onnx_layer_name("/lat4/lat4.0/Conv") == "lat4.0"
    assert MaskSet  # exported for methods


@pytest.mark.parametrize("name", ["camera_detector_sparse24", "camera_detector_finegrained"])
def test_example_recipes_parse(name):
    from importlib import import_module

    from tools.compress.methods import METHODS
    from tools.compress.recipe import load_recipe

    recipe = load_recipe(f"tools/compress/recipes/{name}.yaml")
    module = import_module(METHODS[recipe.method].split(":")[0])
    assert module.parse_options(recipe).name in ("s24", "fg")


def test_faster_block_layers_are_rewritten_dense_in_the_exported_onnx(tmp_path):
    import numpy as np
    import onnx
    import onnxruntime as ort

    from tools.compress.finegrained import block_patterns, dense_rewrite
    from tools.train.export import export_onnx

    plans = {"s16.0.0": BLOCK, "fuse4.0": LayerPlan(Scheme.CHANNEL, keep=0.5),
             "s8.0.0": LayerPlan(Scheme.PATTERN)}  # fmt: skip
    target = FineGrainedTarget(lasso_epochs=0)
    student, masks, _ = finegrained_variant(_session(tmp_path, _tiny()), target, plans)
    patterns = block_patterns(masks, plans)
    assert set(patterns) == {"s16.0.0", "fuse4.0"}  # pattern layers have no block structure
    assert len(patterns["s16.0.0"].filters) == 6 and len(patterns["fuse4.0"].filters) == 1
    path = export_onnx(student, tmp_path / "fg.onnx", 64, 64)
    before = path.read_bytes()
    dense_rewrite(patterns, {"s16.0.0", "fuse4.0", "s8.0.0"})(path)
    graph = onnx.load(path).graph
    groups = {n.name: next((a.i for a in n.attribute if a.name == "group"), 1)
              for n in graph.node if n.op_type == "Conv"}  # fmt: skip
    s16 = next(v for k, v in groups.items() if "s16.0.0/Conv/" in k)
    assert s16 == 6  # 6 blocks of 4 filters (24): one grouped Conv
    assert next(v for k, v in groups.items() if "fuse4.0/Conv/" in k) == 1  # one block
    assert not any("s8.0.0/Conv/" in k for k in groups)  # pattern: needs a compiler
    x = np.random.default_rng(0).random((1, 3, 64, 64), np.float32)
    outs = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"images": x})
            for m in (before, path.read_bytes())]  # fmt: skip
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)  # the same function
