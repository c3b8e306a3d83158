"""tools.compress.restride: pruning the stride-4 branch (heads onto the stride-8 features)."""

from __future__ import annotations

import copy
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from tests.tools.compress.test_compress import _doc, _session, _tiny  # noqa: E402
from tools.compress.errors import RecipeError  # noqa: E402
from tools.compress.finetune import student_loss  # noqa: E402
from tools.compress.prune import PruneSpec, conv_shapes, layer_sparsity  # noqa: E402
from tools.compress.prune_method import PruneTarget, parse_options, prune_variant  # noqa: E402
from tools.compress.recipe import recipe_from_dict  # noqa: E402
from tools.compress.restride import pool_to, to_stride8  # noqa: E402
from tools.train.train import TrainConfig, make_batch  # noqa: E402


def _fuse8_output(model, x):
    seen = []
    handle = model.fuse8.register_forward_hook(lambda _m, _i, out: seen.append(out))
    model(x)
    handle.remove()
    return seen[0]


def test_the_heads_move_to_stride_8_with_the_same_pixel_distances_at_step_0():
    model = _tiny((8, 16, 16, 24, 32))  # fuse4 = 16 (w[1]) = fuse8 (the neck, w[2])
    before = copy.deepcopy(model)
    x = torch.rand(1, 3, 64, 96)
    p8 = _fuse8_output(before, x)
    logits, dist = to_stride8(model, "r.yaml: stride")(x)
    assert model.stride == 8 and not hasattr(model, "fuse4") and not hasattr(model, "lat4")
    assert logits.shape[-2:] == (8, 12)  # 64/8 x 96/8
    assert torch.allclose(logits, before.heat_head(p8), atol=1e-6)
    pixels = torch.exp(torch.clamp(before.box_head(p8), max=6.0)) * 4.0  # the stride-4 model's
    assert torch.allclose(dist, pixels, rtol=1e-5)
    assert to_stride8(model, "again") is model and model.stride == 8  # already there


def test_heads_that_cannot_take_fuse8s_channels_are_refused_naming_both_widths():
    model = _tiny((8, 16, 24, 24, 32))
    with pytest.raises(RecipeError, match=r"r.yaml: options.variants\[0\].stride: 8 .*fuse4 "
                       r"\(16 channels\) onto fuse8 \(24\)"):  # fmt: skip
        to_stride8(model, "r.yaml: options.variants[0].stride")
    assert model.stride == 4 and hasattr(model, "fuse4")  # left whole


def test_pooling_a_teacher_onto_the_students_grid():
    logits = torch.arange(16.0).reshape(1, 1, 4, 4)
    dist = torch.ones(1, 4, 4, 4) * torch.arange(4.0).reshape(1, 1, 1, 4)
    pooled, d = pool_to(logits, dist, (2, 2))
    assert pooled.flatten().tolist() == [5.0, 7.0, 13.0, 15.0]  # each block's strongest centre
    assert d[0, 0].tolist() == [[0.5, 2.5], [0.5, 2.5]]  # the block's mean distance
    assert pool_to(logits, dist, (4, 4))[0] is logits
    with pytest.raises(
        RecipeError, match=r"teacher's grid \(4, 4\) is not a multiple of .*\(3, 3\)"
    ):
        pool_to(logits, dist, (3, 3))


@pytest.mark.parametrize(
    "variant, message",
    [
        ({"stride": 16}, r"r.yaml: options.variants\[0\].stride must be one of \[4, 8\] \(got 16\)"),
        ({"stride": 8, "iterative_steps": 2},
         r"options.variants\[0\].iterative_steps must be 1 with stride: 8 .*\(got 2\)"),
    ],
)  # fmt: skip
def test_stride_option_errors(variant, message):
    doc = _doc(options={"variants": [{"name": "a", "ratio": 0.5, **variant}]})
    with pytest.raises(RecipeError, match=message):
        parse_options(recipe_from_dict(doc, "r.yaml"))


def test_a_stride_8_variant_is_pruned_distilled_from_the_stride_4_teacher(tmp_path):
    teacher = _tiny((8, 16, 16, 24, 32))
    spec = PruneSpec(ratio=0.0, round_to=4, channels={"fuse4": 8, "fuse8": 8})
    target = PruneTarget("s8", spec, 1, stride=8, where="options.variants[0].stride")
    session = _session(tmp_path, teacher)
    student, history = prune_variant(session, target)
    assert student.stride == 8 and "fuse4.0" not in conv_shapes(student)
    assert conv_shapes(student)["heat_head.0.0"][1] == 8
    assert len(history) == 2 and all(math.isfinite(h["loss"]) for h in history)
    sparsity = layer_sparsity(conv_shapes(teacher), conv_shapes(student))
    assert sparsity["fuse4.0"] == {"out_channels": [16, 0], "in_channels": [16, 0],
                                   "weight_sparsity": 1.0}  # fmt: skip
    cfg = TrainConfig(input_width=64, input_height=64, stride=8)
    batch = make_batch(session.frames, [0, 1], cfg, __import__("numpy").random.default_rng(0))
    assert batch[1].shape[-2:] == (8, 8)  # stride-8 targets
    with_kd = student_loss(student, teacher, batch, cfg, 1.0)
    assert with_kd > student_loss(student, teacher, batch, cfg, 0.0)


def test_the_s8_recipe_parses_and_widths_times_a_stride_8_variant(tmp_path):
    from tools.compress.recipe import load_recipe
    from tools.compress.widths import width_latency

    targets = parse_options(load_recipe("tools/compress/recipes/camera_detector_s8.yaml"))
    assert [(t.name, t.stride) for t in targets] == [("s8n16", 8), ("s8n32", 8)]
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: perception/models/camera_detector.yaml\nmethod: prune\n"
        "data: {train: '1', eval: '1000'}\noptions: {variants: [\n"
        "  {name: s4, channels: {lat8: 32, fuse8: 32}},\n"
        "  {name: s8, channels: {lat8: 32, fuse8: 32}, stride: 8}]}\n"
    )
    table = width_latency(load_recipe(recipe), runs=3)["variants"]
    assert "fuse4.0" in table["s4"]["out_channels"]
    assert "fuse4.0" not in table["s8"]["out_channels"]
    assert table["s8"]["gflops"] < table["s4"]["gflops"] / 1.5  # the heads on a quarter grid
