"""method: widen -- a wider detector grown from a dense one computes the same function."""

from __future__ import annotations

import pytest
import torch

from tools.compress.errors import RecipeError
from tools.compress.recipe import recipe_from_dict
from tools.compress.widen import parse_options, widen
from tools.train.detector_model import TinyCenterNet


def _trained_like(widths):
    torch.manual_seed(1)
    model = TinyCenterNet(4, widths, 4)
    with torch.no_grad():  # BatchNorms with non-trivial statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def test_the_wider_model_computes_the_dense_function_and_can_learn():
    small = _trained_like((8, 16, 16, 24, 32))
    big = widen(small, (16, 24, 32, 32, 48))
    assert big.s32[1][0].weight.shape[:2] == (48, 48)
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = small(x), big(x)
    for s, w in zip(a, b):
        assert torch.allclose(s, w, atol=1e-5)
    # The new channels are live: one gradient step changes the output.
    big.train()
    logits, _ = big(x)
    logits.sum().backward()
    assert big.heat_head[1].weight.grad[:, 8:].abs().sum() > 0


def test_widen_refuses_a_narrower_model_naming_the_conv():
    small = _trained_like((8, 16, 16, 24, 32))
    with pytest.raises(RecipeError, match=r"conv 'stem\.1\.0' would shrink from 16x8"):
        widen(small, (8, 8, 16, 24, 32))


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([], "options.variants"),
        ([{"name": "w", "widths": [1, 2, 3]}], r"options.variants\[0\].widths"),
        ([{"name": "w", "widths": [24, 48, 72, 96, True]}], r"options.variants\[0\].widths"),
        ([{"name": "w", "widths": [24, 48, 72, 96, 144], "ratio": 2}], "ratio"),
    ],
)
def test_widen_options_are_checked(variants, message):
    recipe = recipe_from_dict({"model": "perception/models/camera_detector.yaml", "method": "widen",
                               "data": {"train": "1:day", "eval": "1000:day"},
                               "options": {"variants": variants}})  # fmt: skip
    with pytest.raises(RecipeError, match=message):
        parse_options(recipe)


def test_the_shipped_recipe_parses():
    from tools.compress.recipe import load_recipe

    targets = parse_options(load_recipe("tools/compress/recipes/camera_detector_wide.yaml"))
    assert [(t.name, t.widths) for t in targets] == [("wide", (24, 48, 72, 96, 144))]


def test_the_compressed_teacher_recipe_parses_against_the_shipped_teacher():
    from tools.compress.prune_method import parse_options as prune_options
    from tools.compress.recipe import load_recipe
    from tools.compress.teacher import load_dense

    recipe = load_recipe("tools/compress/recipes/camera_detector_wide_d80.yaml")
    (target,) = prune_options(recipe)
    assert target.spec.channels["s32.0"] == 128 and target.spec.channels["fuse4"] == 32
    teacher = load_dense(recipe.model).model  # the shipped teacher's widths, read from its ONNX
    assert teacher.s32[0][0].out_channels == 144 and teacher.stem[1][0].out_channels == 48
