"""tools.compress.channels: exact widths per coupled group (latency-aware pruning), in steps,
and the recipe's ``channels`` key."""

from __future__ import annotations

import pytest

from tests.tools.compress.conftest import compress_cli

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from tools.compress.errors import CompressError, RecipeError  # noqa: E402
from tools.compress.prune import PruneSpec, conv_shapes, make_pruner, prune_step  # noqa: E402
from tools.compress.prune_method import parse_options  # noqa: E402
from tools.compress.recipe import recipe_from_dict  # noqa: E402
from tools.train.detector_model import TinyCenterNet  # noqa: E402

X = torch.zeros(1, 3, 64, 64)


def _tiny() -> TinyCenterNet:
    torch.manual_seed(0)
    return TinyCenterNet(4, (8, 16, 16, 24, 32), 4).eval()


def _prune(model, channels, steps=1, round_to=4):
    spec = PruneSpec(ratio=0.0, round_to=round_to, channels=channels)
    pruner = make_pruner(model, X, spec, steps)
    for _ in range(steps):
        prune_step(pruner, spec, None)
    return pruner


def test_exact_widths_prune_only_the_named_groups_with_their_couplings():
    model = _tiny()
    before = conv_shapes(model)
    _prune(model, {"stem.1": 8, "lat4": 4, "heat_head": 4, "lat32.0": 8})
    after = conv_shapes(model)
    assert after["stem.1.0"][0] == 8 and after["s8.0.0"][1] == 8  # the block's first conv
    assert after["lat4.0"][0] == after["reduce8.0"][0] == after["fuse4.0"][1] == 4  # Add
    assert after["lat16.0"][0] == after["lat32.0"][0] == after["fuse16.0"][1] == 8
    assert after["heat_head.0.0"][0] == 4 and after["box_head.0.0"][0] == 16
    assert after["heat_head.1"][0] == 4 and after["box_head.1"][0] == 4  # outputs kept
    untouched = ("stem.0.0", "s8.1.0", "s16.0.0", "s32.1.0", "fuse8.0", "fuse4.0")
    assert all(after[n][0] == before[n][0] for n in untouched)
    heat, boxes = model(X)
    assert heat.shape == boxes.shape == (1, 4, 16, 16)


def test_the_least_important_channels_go():
    model = _tiny()
    conv = model.heat_head[0][0]
    with torch.no_grad():
        conv.weight[[1, 5, 9]] *= 1e-3  # the three weakest filters
        kept = [i for i in range(16) if i not in (1, 5, 9, 2)]
        reference = conv.weight[kept].clone()
        conv.weight[2] *= 1e-2  # and a fourth
    _prune(model, {"heat_head.0.0": 12})
    assert torch.equal(model.heat_head[0][0].weight, reference)


def test_steps_remove_equal_parts_rounded_and_land_on_the_widths():
    model = _tiny()
    spec = PruneSpec(ratio=0.0, round_to=4, channels={"fuse4": 4})
    pruner = make_pruner(model, X, spec, steps=3)
    widths = []
    for _ in range(3):
        prune_step(pruner, spec, None)
        widths.append(conv_shapes(model)["fuse4.0"][0])
    assert widths == [12, 8, 4]
    prune_step(pruner, spec, None)  # past the last step: nothing more
    assert conv_shapes(model)["fuse4.0"][0] == 4


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"fuse5": 8}, r"channels: the model has no layer 'fuse5'"),
        ({"heat_head.1": 2}, r"channels.heat_head.1: the output channels of 'heat_head.1' are kept whole"),
        ({"fuse4": 6}, r"channels.fuse4: 6 is not a multiple of round_to 4"),
        ({"fuse4": 20}, r"channels.fuse4: must be an integer in \[1, 16\] \(got 20\)"),
        ({"lat32": 8, "lat16": 4}, r"channels.lat16: 4 channels, but channels.lat32 asks 8"),
    ],
)  # fmt: skip
def test_bad_widths_name_the_key(channels, message):
    with pytest.raises(CompressError, match=message):
        _prune(_tiny(), channels)


def test_ignored_groups_cannot_be_given_widths():
    spec = PruneSpec(ratio=0.0, round_to=4, channels={"fuse4": 8}, ignore=("fuse4.0",))
    with pytest.raises(CompressError, match=r"channels.fuse4: .* kept whole"):
        make_pruner(_tiny(), X, spec)


def _recipe(variant):
    doc = {"model": "perception/models/camera_detector.yaml", "method": "prune",
           "data": {"train": "1-2", "eval": "1000:night"},
           "options": {"round_to": 16, "variants": [variant]}}  # fmt: skip
    return recipe_from_dict(doc, "r.yaml")


def test_recipe_channels_variant_parses_without_a_ratio():
    (target,) = parse_options(_recipe({"name": "l16", "channels": {"fuse4": 16, "heat_head": 8}}))
    assert target.spec.channels == {"fuse4": 16, "heat_head": 8} and target.spec.round_to == 16


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"name": "a", "ratio": 0.5, "channels": {"fuse4": 16}},
         r"options.variants\[0\].ratio cannot be given with channels"),
        ({"name": "a", "channels": {"fuse4": 16}, "layer_ratios": {"fuse4": 0.5}},
         r"options.variants\[0\].layer_ratios cannot be given with channels"),
        ({"name": "a", "channels": {"fuse4": 0}},
         r"options.variants\[0\].channels.fuse4 must be a positive integer \(got 0\)"),
        ({"name": "a", "channels": [16]}, r"channels must map layer names to channel counts"),
        ({"name": "a"}, r"missing key options.variants\[0\].ratio"),
    ],
)  # fmt: skip
def test_recipe_channels_errors_name_the_key(variant, message):
    with pytest.raises(RecipeError, match=message):
        parse_options(_recipe(variant))


def test_widths_times_each_variant_against_the_dense_model(tmp_path, capsys, monkeypatch):
    import json

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: perception/models/camera_detector.yaml\nmethod: prune\n"
        "data: {train: '1', eval: '1000'}\n"
        "options: {round_to: 16, variants: [{name: s4, channels: {fuse4: 16, heat_head: 16, "
        "box_head: 16}}]}\n"
    )
    from tools.compress.recipe import load_recipe
    from tools.compress.widths import width_latency

    table = width_latency(load_recipe(recipe), runs=5)
    s4 = table["variants"]["s4"]
    assert s4["out_channels"]["fuse4.0"] == 16 and s4["out_channels"]["s8.1.0"] == 48
    assert s4["gflops"] < table["dense"]["gflops"] and s4["model_ms"] > 0
    assert s4["speedup"] == pytest.approx(table["dense"]["model_ms"] / s4["model_ms"], abs=0.01)
    import tools.compress.widths as widths

    monkeypatch.setattr(widths, "width_latency", lambda r, **kw: {"variants": {r.name: table}})
    assert compress_cli([str(recipe), "--widths"]) == 0  # no --out needed, nothing written
    assert json.loads(capsys.readouterr().out)["variants"]["camera_detector"] == table


def test_widths_refuses_other_methods_and_the_run_needs_out(tmp_path):
    from stack.cli.errors import CliError

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: perception/models/camera_detector.yaml\nmethod: int8\n"
        "data: {train: '1', eval: '1000'}\n"
    )
    with pytest.raises(RecipeError, match=r"r.yaml: --widths needs method: prune \(got int8\)"):
        compress_cli([str(recipe), "--widths"])
    with pytest.raises(CliError, match=r"--out DIR is required"):
        compress_cli([str(recipe)])


def test_example_widths_recipe_parses():
    from tools.compress.recipe import load_recipe

    targets = parse_options(load_recipe("tools/compress/recipes/camera_detector_prune_widths.yaml"))
    assert [t.name for t in targets] == ["l60", "h16", "hd16"]
    assert targets[1].spec.channels["fuse4"] == 16 and targets[0].spec.channels["stem.0"] == 8


def test_widths_do_not_depend_on_the_order_they_are_given_in():
    channels = {"stem.1": 8, "s8.0": 8, "s8.1": 8, "lat4": 8}
    a, b = _tiny(), _tiny()
    _prune(a, channels)
    _prune(b, dict(reversed(list(channels.items()))))
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
