"""`l4 compress RECIPE --widths --int8`: each width also timed as an INT8 Q/DQ copy."""

from __future__ import annotations

import shutil

import onnx
import pytest

from tests.tools.compress.conftest import compress_cli

RECIPE = (
    "model: perception/models/camera_detector.yaml\nmethod: prune\n"
    "data: {train: '1', eval: '1000'}\n"
    "options: {round_to: 16, variants: [{name: s4, channels: {fuse4: 16}}]}\n"
)
DENSE = "perception/models/camera_detector.yaml"


def test_the_int8_copy_is_a_tensorrt_qdq_file_of_the_same_model(tmp_path):
    from perception.detector.card import load_card
    from stack.engine.trt_qdq import require_tensorrt_qdq
    from tools.compress.widths import _int8_copy

    src = tmp_path / "dense.onnx"
    shutil.copy("perception/models/camera_detector.onnx", src)
    out = _int8_copy(src, load_card(DENSE), (320, 192))
    model = onnx.load(out)
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    require_tensorrt_qdq(model, str(out))  # raises on a layout TensorRT refuses
    assert [o.name for o in model.graph.output] == [o.name for o in onnx.load(src).graph.output]


def test_each_width_and_the_dense_model_get_an_int8_row_in_the_same_run(tmp_path):
    from tools.compress.recipe import load_recipe
    from tools.compress.widths import width_latency

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    table = width_latency(load_recipe(recipe), runs=5, int8=True, against=DENSE)
    dense_ms = table["dense"]["model_ms"]
    for row in (table["dense"], table["variants"]["s4"]):
        int8 = row["int8"]
        assert int8["speedup"] == pytest.approx(dense_ms / int8["model_ms"], abs=0.01)
        assert int8["vs_against"] == pytest.approx(
            int8["model_ms"] / table["against"]["model_ms"], abs=0.01
        )
    assert "int8" not in width_latency(load_recipe(recipe), runs=2)["dense"]


def test_int8_without_widths_is_refused(tmp_path):
    from stack.cli.errors import CliError

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    with pytest.raises(CliError, match="--int8 only goes with --widths"):
        compress_cli([str(recipe), "--int8", "--out", str(tmp_path / "o")])
