"""`l4 compress` chains: ``method: [int8, fuse]`` from a ``start`` variant, run end to end on a
tiny detector (Q/DQ without INT32 DequantizeLinear inputs, cards written, report rows), the
recipe checks of chains, and how a chain hands each variant to the next method."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import onnx
import pytest

torch = pytest.importorskip("torch")

from perception.detector.card import load_card  # noqa: E402
from stack.engine.quantize import int32_dequantize_inputs  # noqa: E402
from tools.compress.errors import CompressError, RecipeError  # noqa: E402
from tools.compress.recipe import recipe_from_dict  # noqa: E402
from tools.compress.run import run_chain  # noqa: E402
from tools.compress.variant import VariantResult  # noqa: E402

SHIPPED = Path("perception/models/camera_detector.yaml")
P50 = Path("perception/models/compressed/camera_detector_p50/camera_detector_p50.yaml")
DATA = {"train": "7", "eval": "1000:night", "seconds": 0.6, "eval_seconds": 0.6, "every": 2}


def _doc(**changes):
    doc = {"model": str(SHIPPED), "method": ["int8", "fuse"], "data": DATA}
    doc.update(changes)
    return doc


def test_chain_recipe_narrows_options_per_method():
    r = recipe_from_dict(
        _doc(start=str(P50), options={"int8": {"target": "onnxruntime"}, "fuse": {"top_k": 50}}),
        "r.yaml",
    )
    assert r.methods == ("int8", "fuse") and r.method == "int8+fuse" and r.start_card == P50
    step = r.step("fuse", start=Path("x.yaml"), name="n_int8")
    assert step.methods == ("fuse",) and step.options == {"top_k": 50}
    assert step.start == Path("x.yaml") and step.name == "n_int8" and step.model == SHIPPED
    single = recipe_from_dict(_doc(method="fuse", options={"top_k": 5}), "r.yaml")
    assert single.step("fuse").options == {"top_k": 5} and single.start_card == SHIPPED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": []}, r"method must be a method name or a non-empty list of names"),
        ({"method": ["int8", 3]}, r"method must be a method name or a non-empty list"),
        ({"method": ["int8", "int8"]}, r"method names a method twice"),
        ({"options": {"prune": {}}}, r"options.prune is not a method of the chain"),
        ({"options": {"int8": [1]}}, r"options.int8 must be a mapping \(got \[1\]\)"),
        ({"start": "no/such.yaml"}, r"start is not a model card file \(got 'no/such.yaml'\)"),
    ],
)
def test_chain_recipe_errors_name_key_and_value(changes, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(_doc(**changes), "r.yaml")


def test_prune_refuses_a_start_variant(tmp_path):
    from tools.compress.session import open_session

    doc = _doc(method="prune", start=str(P50), options={"variants": []})
    recipe = recipe_from_dict(doc, "r.yaml")
    recipe = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, dir=tmp_path))
    with pytest.raises(CompressError, match=r"r.yaml: start: prune begins at the dense model"):
        open_session(recipe)


def test_run_chain_feeds_every_variant_of_a_step_to_the_next(tmp_path):
    seen = []

    def fake(suffixes):
        def method(recipe, out_dir):
            seen.append((recipe.methods, recipe.start_card, recipe.name, dict(recipe.options)))
            return [VariantResult(f"{recipe.name}_{s}", tmp_path / f"{recipe.name}_{s}.yaml",
                                  tmp_path / "m.onnx", {}, {}, {}) for s in suffixes]  # fmt: skip

        return method

    recipe = recipe_from_dict(_doc(method=["a", "b"], options={"b": {"k": 1}}), "r.yaml")
    made = run_chain(recipe, [("a", fake(["p1", "p2"])), ("b", fake(["q"]))], tmp_path)
    assert [v.name for v in made] == [
        "camera_detector_p1", "camera_detector_p2", "camera_detector_p1_q", "camera_detector_p2_q"
    ]  # fmt: skip
    assert seen[0] == (("a",), SHIPPED, "camera_detector", {})
    assert len(seen) == 3 and seen[1] == (("b",), tmp_path / "camera_detector_p1.yaml", "camera_detector_p1",
                       {"k": 1})  # fmt: skip


@pytest.mark.slow  # generates two 0.6 s scenarios, quantizes, fuses and evaluates a tiny model
def test_compress_int8_then_fuse_end_to_end_on_a_tiny_model(tmp_path):
    """``method: [int8, fuse]`` through the runner: INT8 calibrated on the recipe's training
    scenario (no calibration key), then fused; both variants measured, carded and reported."""
    from tools.compress.run import compress
    from tools.train.detector_model import TinyCenterNet
    from tools.train.export import export_detector

    torch.manual_seed(0)
    tiny = TinyCenterNet(4, (8, 16, 16, 24, 32), 4).eval()
    _, card_path = export_detector(tiny, tmp_path / "tiny", "tiny", 160, 96)
    doc = _doc(model=str(card_path), name="tiny",
               options={"int8": {"target": "tensorrt"}, "fuse": {"top_k": 20}})  # fmt: skip
    recipe = recipe_from_dict(doc, "r.yaml")
    recipe = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, dir=tmp_path / "b"))
    out = tmp_path / "out"
    report = compress(recipe, out)

    assert sorted(p.name for p in out.iterdir()) == [
        "pareto.png", "report.json", "tiny_int8", "tiny_int8_fused"
    ]  # fmt: skip
    q_card = load_card(out / "tiny_int8" / "tiny_int8.yaml")
    assert sorted(p.name for p in (out / "tiny_int8").iterdir()) == [
        "tiny_int8.onnx",
        "tiny_int8.yaml",
    ]
    q_model = onnx.load(q_card.model_path())
    assert sum(n.op_type == "DequantizeLinear" for n in q_model.graph.node) > 0
    assert int32_dequantize_inputs(q_model) == []
    prov = q_card.provenance
    assert prov["method"] == "int8" and prov["start"] == str(card_path)
    assert prov["rewrite"]["target"] == "tensorrt" and prov["rewrite"]["calibration_frames"] > 0
    assert set(prov["accuracy_ap50"]) == {"night"} and prov["latency"]["model_ms"] > 0
    assert prov["rewrite"]["model"] == str(out / "tiny_int8" / "tiny_int8.onnx")  # not the temp
    assert prov["gflops"] > 0 and prov["onnx_bytes"] == q_card.model_path().stat().st_size

    f_card = load_card(out / "tiny_int8_fused" / "tiny_int8_fused.yaml")
    assert (
        f_card.input.fused and f_card.decoder.name == "topk" and f_card.decoder.options["k"] == 20
    )
    f_model = onnx.load(f_card.model_path())
    assert f_model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert int32_dequantize_inputs(f_model) == []
    assert f_card.provenance["start"] == str(out / "tiny_int8" / "tiny_int8.yaml")
    assert [row["name"] for row in report["summary"]] == ["tiny_int8", "tiny_int8_fused"]
    saved = json.loads((out / "report.json").read_text())
    assert saved["method"] == "int8+fuse" and saved["dense"]["name"] == "tiny"
