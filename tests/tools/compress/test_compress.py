"""tools.compress: recipe checks, the shipped teacher's import, Torch-Pruning channel pruning with
distilled fine-tuning on a tiny model, determinism, atomic outputs, trace errors naming layers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from perception.detector.card import load_card, write_card  # noqa: E402
from perception.detector.errors import CardError  # noqa: E402
from tools.compress.errors import CompressError, RecipeError  # noqa: E402
from tools.compress.methods import METHODS, load_method  # noqa: E402
from tools.compress.output import atomic_folder, clean_stale  # noqa: E402
from tools.compress.prune import (  # noqa: E402
    ImportanceKind,
    PruneSpec,
    conv_shapes,
    make_pruner,
    prune_step,
    trace,
)
from tools.compress.prune_method import PruneTarget, parse_options, prune_variant  # noqa: E402
from tools.compress.recipe import FinetuneSpec, load_recipe, recipe_from_dict  # noqa: E402
from tools.compress.session import Session  # noqa: E402
from tools.compress.teacher import load_dense, verify  # noqa: E402
from tools.compress.variant import EvalSet  # noqa: E402
from tools.train.data import Frame  # noqa: E402
from tools.train.detector_model import TinyCenterNet  # noqa: E402
from tools.train.export import export_onnx  # noqa: E402
from tools.train.train import TrainConfig  # noqa: E402

SHIPPED = Path("perception/models/camera_detector.yaml")


def _doc(**changes):
    doc = {
        "model": str(SHIPPED),
        "method": "prune",
        "data": {"train": "1-2", "eval": "1000:night"},
        "options": {"variants": [{"name": "p50", "ratio": 0.5}]},
    }
    doc.update(changes)
    return doc


def test_recipe_defaults_and_method_registry():
    r = recipe_from_dict(_doc(), "r.yaml")
    assert r.method == "prune" and r.finetune == FinetuneSpec() and r.seed == 0
    assert [s.seed for s in r.data.train] == [1, 2] and r.data.eval[0].weather == "night"
    assert {"prune", "int8", "fuse"} <= set(METHODS) and callable(load_method("prune"))
    assert callable(load_method("int8")) and callable(load_method("fuse"))
    with pytest.raises(
        RecipeError, match=r"method='nope' is not one of 'finegrained', 'fuse', 'int8',"
    ):
        load_method("nope")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"modle": "x"}, r"r.yaml: unknown key modle"),
        ({"model": "no/such.yaml"}, r"model is not a model card file \(got 'no/such.yaml'\)"),
        ({"seed": -1}, r"seed must lie in \[0,"),
        ({"seed": True}, r"seed must be an integer"),
        ({"name": "a b"}, r"name must be letters"),
        ({"data": {"train": "1-2", "eval": "2"}}, r"data.eval reuses training seeds \[2\]"),
        ({"data": {"train": "1-2", "eval": "x"}}, r"data.eval: scenario 'x'"),
        ({"data": {"train": "1", "eval": "9", "every": 0}}, r"data.every must lie in \[1,"),
        ({"data": {"train": "1"}}, r"missing key data.eval"),
        ({"finetune": {"lr": 0}}, r"finetune.lr must lie in \(0.0"),
        ({"finetune": {"epochs": "3"}}, r"finetune.epochs must be an integer \(got '3'\)"),
        ({"finetune": {"max_seconds": float("nan")}}, r"finetune.max_seconds must be a finite"),
        ({"finetune": {"warmup": 1}}, r"unknown key finetune.warmup"),
        ({"options": [1]}, r"options must be a mapping"),
    ],
)
def test_recipe_errors_name_key_and_value(changes, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(_doc(**changes), "r.yaml")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, r"missing key options.variants"),
        ({"variants": []}, r"options.variants must be a non-empty list"),
        ({"variants": [{"name": "a", "ratio": 1.5}]}, r"options.variants\[0\].ratio must lie in"),
        ({"variants": [{"name": "a"}]}, r"missing key options.variants\[0\].ratio"),
        ({"importance": "l1", "variants": [{"name": "a", "ratio": 0.5}]},
         r"options.importance='l1' is not one of 'magnitude', 'taylor', 'bn_scale'"),
        ({"variants": [{"name": "a", "ratio": 0.5, "scope": "all"}]},
         r"options.variants\[0\].scope='all' is not one of"),
        ({"variants": [{"name": "a", "ratio": 0.5, "layer_ratios": {"fuse4": 1}}]},
         r"layer_ratios.fuse4 must lie in \[0, 1\)"),
        ({"variants": [{"name": "a", "ratio": 0.5}, {"name": "a", "ratio": 0.6}]},
         r"repeat the name 'a'"),
        ({"round_to": 0, "variants": [{"name": "a", "ratio": 0.5}]}, r"options.round_to must lie"),
        ({"variants": [{"name": "a", "ratio": 0.5, "bits": 8}]},
         r"unknown key options.variants\[0\].bits"),
    ],
)  # fmt: skip
def test_prune_options_errors(options, message):
    with pytest.raises(RecipeError, match=message):
        parse_options(recipe_from_dict(_doc(options=options), "r.yaml"))


def test_prune_options_inherit_and_override():
    opts = {"importance": "taylor", "round_to": 16, "iterative_steps": 3,
            "variants": [{"name": "a", "ratio": 0.5}, {"name": "b", "ratio": 0.7, "round_to": 4}]}  # fmt: skip
    a, b = parse_options(recipe_from_dict(_doc(options=opts), "r.yaml"))
    assert a.spec.importance.value == "taylor" and a.spec.round_to == 16 and a.steps == 3
    assert b.spec.round_to == 4 and b.spec.ratio == 0.7


def test_load_recipe_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="cannot read the recipe"):
        load_recipe(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("model: [\n")
    with pytest.raises(RecipeError, match=r"bad\.yaml: not valid YAML"):
        load_recipe(tmp_path / "bad.yaml")


def test_shipped_detector_imports_exactly_into_torch():
    dense = load_dense(SHIPPED)
    assert dense.model.stride == 4 and dense.model.stem[0][0].out_channels == 16
    # float32 kernels summing in another order (thread count, load) differ by up to ~1e-4 of the
    # output scale; a wrong or misplaced weight differs by far more than 1e-3
    assert verify(dense) < 1e-3  # the torch teacher computes what the ONNX computes


def _tiny(widths=(8, 16, 16, 24, 32)) -> TinyCenterNet:
    torch.manual_seed(0)
    return TinyCenterNet(4, widths, 4).eval()


def test_channel_pruning_couples_fpn_and_rounds_channels(tmp_path):
    model = _tiny((16, 32, 32, 48, 64))
    example = torch.zeros(1, 3, 64, 64)
    pruner = make_pruner(model, example, PruneSpec(ratio=0.5, round_to=8))
    prune_step(pruner, PruneSpec(ratio=0.5), None)
    shapes = conv_shapes(model)
    assert all(o % 8 == 0 for n, (o, _i, _w) in shapes.items() if not n.endswith("head.1"))
    # The FPN Add couples the laterals with the upsampled path: same channel count.
    assert shapes["lat16.0"][0] == shapes["lat32.0"][0] == shapes["fuse16.0"][1]
    assert (
        shapes["lat8.0"][0] == shapes["fuse16.0"][0]
        and shapes["lat4.0"][0] == shapes["reduce8.0"][0]
    )
    assert shapes["heat_head.1"][0] == 4 and shapes["box_head.1"][0] == 4  # outputs kept
    heat, boxes = model(example)
    assert heat.shape == (1, 4, 16, 16) and boxes.shape == (1, 4, 16, 16)
    dense = export_onnx(_tiny((16, 32, 32, 48, 64)), tmp_path / "d.onnx", 64, 64)
    pruned = export_onnx(model, tmp_path / "p.onnx", 64, 64)
    assert pruned.stat().st_size < 0.5 * dense.stat().st_size  # physically smaller


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(F.conv2d(x, self.conv.weight, self.conv.bias, padding=1))


class _Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bad = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.bad(self.conv(x))


def test_untraceable_models_name_the_layer():
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(
        CompressError, match=r"cannot trace layer 'conv' \(Conv2d\): it is not called"
    ):
        trace(_Functional(), x)
    with pytest.raises(CompressError, match=r"cannot trace the model at layer 'bad'"):
        trace(_Broken(), x)
    with pytest.raises(CompressError, match=r"layer_ratios: the model has no layer 'fuse5'"):
        make_pruner(_tiny(), torch.zeros(1, 3, 64, 64), PruneSpec(0.5, layer_ratios={"fuse5": 0.5}))


def _frames(n: int = 8) -> list[Frame]:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        img[20:44, 10:40] = 200
        box = np.array([[10, 20, 40, 44]], np.float32)
        frames.append(Frame(i, img, box, np.array([0]), np.array([1.0], np.float32)))
    return frames


def _session(tmp_path, teacher) -> Session:
    recipe = dataclasses.replace(
        recipe_from_dict(_doc(), "r.yaml"),
        finetune=FinetuneSpec(epochs=2, batch_size=4, threads=1, distill=1.0),
    )
    cfg = dataclasses.replace(TrainConfig(), input_width=64, input_height=64, threads=1)
    return Session(
        recipe, teacher, _frames(), EvalSet({}, np.zeros((64, 64, 3), np.uint8)), (64, 64), cfg
    )


def test_prune_and_distill_is_deterministic_to_the_onnx_byte(tmp_path):
    target = PruneTarget("t", PruneSpec(ratio=0.5, round_to=4), steps=2)
    blobs = []
    for run in range(2):
        student, _ = prune_variant(_session(tmp_path, _tiny()), target)
        blobs.append(export_onnx(student, tmp_path / f"s{run}.onnx", 64, 64).read_bytes())
    assert blobs[0] == blobs[1]
    teacher_bytes = export_onnx(_tiny(), tmp_path / "t.onnx", 64, 64).read_bytes()
    assert len(blobs[0]) < len(teacher_bytes)


def test_taylor_importance_uses_training_gradients(tmp_path):
    spec = PruneSpec(ratio=0.5, round_to=4, importance=ImportanceKind.TAYLOR)
    target = PruneTarget("t", spec, steps=1)
    student, _ = prune_variant(_session(tmp_path, _tiny()), target)
    assert conv_shapes(student)["fuse4.0"][0] < 16


def test_atomic_folder_never_leaves_a_half_written_variant(tmp_path):
    with pytest.raises(RuntimeError), atomic_folder(tmp_path, "v") as tmp:
        (tmp / "v.onnx").write_bytes(b"half")
        raise RuntimeError("killed")
    assert not (tmp_path / "v").exists() and not list(tmp_path.iterdir())
    with atomic_folder(tmp_path, "v") as tmp:
        (tmp / "v.onnx").write_bytes(b"one")
    with atomic_folder(tmp_path, "v") as tmp:
        (tmp / "v.onnx").write_bytes(b"two")
    assert (tmp_path / "v" / "v.onnx").read_bytes() == b"two"
    (tmp_path / ".w.tmp-abc").mkdir()  # what a SIGKILL leaves
    assert [p.name for p in clean_stale(tmp_path)] == [".w.tmp-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]


def test_card_provenance_round_trips(tmp_path):
    card = dataclasses.replace(load_card(SHIPPED), provenance={"method": "prune", "gflops": 0.1})
    path = write_card(card, tmp_path / "c.yaml")
    assert load_card(path).provenance == {"method": "prune", "gflops": 0.1}
    path.write_text(path.read_text().split("provenance:")[0] + "provenance: 3\n")
    with pytest.raises(CardError, match="provenance: expected a mapping"):
        load_card(path)


def test_bn_calibration_keeps_the_function_and_sets_batch_statistics():
    from tools.compress.teacher import calibrate_bn

    dense = load_dense(SHIPPED)
    x = torch.rand(4, 3, 192, 320, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = dense.model(x)[0]
    assert calibrate_bn(dense.model, [x]) == 18  # every conv + BN pair (not the 2 output convs)
    assert verify(dense) < 1e-4
    bn = dense.model.s8[1][1]
    assert bn.running_var.min() < 0.99 or bn.running_var.max() > 1.01  # real statistics now
    dense.model.train()
    with torch.no_grad():
        in_train_mode = dense.model(x)[0]
    dense.model.eval()
    # Under the batch's own statistics the network now computes (almost) the same function.
    assert torch.allclose(in_train_mode, before, atol=1e-2)


def test_cli_parses_and_refuses_a_bad_recipe_before_any_work(tmp_path):
    import argparse

    from tools.compress.cli import register, run

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    bad = tmp_path / "r.yaml"
    bad.write_text(f"model: {SHIPPED}\nmethod: prune\ndata: {{train: '1', eval: '9'}}\nseed: x\n")
    args = parser.parse_args(["compress", str(bad), "--out", str(tmp_path / "out")])
    with pytest.raises(RecipeError, match=r"seed must be an integer \(got 'x'\)"):
        run(args)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # generates two short scenarios and fine-tunes the shipped-size model
def test_compress_end_to_end_writes_variants_cards_and_report(tmp_path):
    """One tiny run through the registry: bags, teacher, prune, fine-tune, cards, report."""
    import json

    from tools.compress.run import compress

    doc = _doc(
        data={"train": "7", "eval": "1000:night", "seconds": 0.6, "eval_seconds": 0.6, "every": 2},
        finetune={"epochs": 1, "batch_size": 2, "threads": 1},
        options={"variants": [{"name": "p50", "ratio": 0.5}]},
    )
    recipe = dataclasses.replace(recipe_from_dict(doc, "r.yaml"), data=dataclasses.replace(
        recipe_from_dict(doc, "r.yaml").data, dir=tmp_path / "bags"))  # fmt: skip
    report = compress(recipe, tmp_path / "out")
    card = load_card(tmp_path / "out" / "camera_detector_p50" / "camera_detector_p50.yaml")
    prov = card.provenance
    assert prov["method"] == "prune" and prov["parameters"]["ratio"] == 0.5
    assert set(prov["accuracy_ap50"]) == {"night"} and prov["latency"]["model_ms"] > 0
    dense_ch, kept = prov["sparsity"]["fuse4.0"]["out_channels"]
    assert dense_ch == 32 and kept < 32 and kept % 8 == 0 and prov["gflops"] < 0.3
    assert card.model_path().stat().st_size < 0.5 * SHIPPED.with_suffix(".onnx").stat().st_size
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["summary"] == report["summary"] and saved["summary"][0]["model_speedup"] > 1
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_post_training_methods_refuse_options_the_recipe_sets(tmp_path):
    from tools.compress.posttrain import fuse

    doc = _doc(method="fuse", options={"model": "other.onnx"})
    with pytest.raises(RecipeError, match=r"r.yaml: options.model: set by the recipe itself"):
        fuse(recipe_from_dict(doc, "r.yaml"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # generates two short scenarios and measures the variant
def test_compress_fuse_writes_a_measured_variant_into_the_report(tmp_path):
    """method: fuse through the registry: the fused variant gets its folder, card provenance
    (the rewrite's node counts, accuracy, latency) and a row in the report."""
    from tools.compress.run import compress

    doc = _doc(
        method="fuse",
        data={"train": "7", "eval": "1000:night", "seconds": 0.6, "eval_seconds": 0.6, "every": 2},
        options={"top_k": 50},
    )
    recipe = recipe_from_dict(doc, "r.yaml")
    recipe = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, dir=tmp_path / "b"))
    report = compress(recipe, tmp_path / "out")
    folder = tmp_path / "out" / "camera_detector_fused"
    card = load_card(folder / "camera_detector_fused.yaml")
    assert card.input.fused and card.model_path().parent == folder
    prov = card.provenance
    assert prov["method"] == "fuse" and prov["options"] == {"top_k": 50}
    steps = [step["name"] for step in prov["rewrite"]["steps"]]
    assert steps and prov["rewrite"]["nodes_before"] > 0  # pre/post-processing moved in: more nodes
    assert set(prov["accuracy_ap50"]) == {"night"} and prov["latency"]["model_ms"] > 0
    assert [row["name"] for row in report["summary"]][-1] == "camera_detector_fused"
