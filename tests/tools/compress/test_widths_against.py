"""`l4 compress RECIPE --widths --against CARD`: a reference model timed in the same run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.compress.conftest import compress_cli
from tools.compress.errors import RecipeError

RECIPE = (
    "model: perception/models/camera_detector.yaml\nmethod: prune\n"
    "data: {train: '1', eval: '1000'}\n"
    "options: {round_to: 16, variants: [{name: s4, channels: {fuse4: 16}}]}\n"
)


def test_each_variant_gets_its_latency_as_a_ratio_to_the_reference(tmp_path):
    from tools.compress.recipe import load_recipe
    from tools.compress.widths import width_latency

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    shipped = "perception/models/compressed/camera_detector_p60/camera_detector_p60.yaml"
    table = width_latency(load_recipe(recipe), runs=5, against=shipped)
    s4 = table["variants"]["s4"]
    assert table["against"]["card"] == shipped
    assert table["against"]["gflops"] < table["dense"]["gflops"]  # p60 is the smaller model
    assert s4["vs_against"] == pytest.approx(
        s4["model_ms"] / table["against"]["model_ms"], abs=0.01
    )


def test_a_reference_of_another_input_size_or_without_widths_is_refused(tmp_path):
    from stack.cli.errors import CliError

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    other = tmp_path / "other.yaml"
    card = Path("perception/models/camera_detector.yaml").read_text()
    other.write_text(
        card.replace("width: 320", "width: 640").replace(
            "model: camera_detector.onnx", "model: /nonexistent/x.onnx"
        )
    )
    with pytest.raises(RecipeError, match=r"--against .*other.yaml: input 640x192"):
        compress_cli([str(recipe), "--widths", "--against", str(other)])
    with pytest.raises(RecipeError, match=r"--against .*missing.yaml: cannot read the card"):
        compress_cli([str(recipe), "--widths", "--against", str(tmp_path / "missing.yaml")])
    with pytest.raises(CliError, match="--against CARD only goes with --widths"):
        compress_cli([str(recipe), "--against", str(other), "--out", str(tmp_path / "o")])
