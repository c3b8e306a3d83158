"""`l4 engine info|build|bench|compare` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.cli.main import main
from tests.stack.engine.models import conv_flops, conv_model


def test_info(conv_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out_json = tmp_path / "info.json"
    assert main(["engine", "info", str(conv_onnx), "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "opset 13" in text and "input   images: float32[batch,3,16,16]" in text
    assert "output  logits: float32[batch,5]" in text and "parameters 137" in text
    info = json.loads(out_json.read_text())
    macs, other = conv_flops(1)
    assert info["flops"] == 2 * macs + other
    assert info["ops"]["Conv"] == 1 and info["parameters"] == 137


def test_info_on_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_text("nope")
    assert main(["engine", "info", str(bad)]) == 2
    assert "bad.onnx: not an ONNX model" in capsys.readouterr().err


def test_bench_json(conv_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    argv = ["engine", "bench", str(conv_onnx), "--iters", "5", "--threads", "1", "--batch", "2"]
    assert main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["ours"]["runs"] == 5 and result["bare_onnxruntime"]["runs"] == 5
    assert result["batch"] == 2 and result["threads"] == 1
    assert result["p50_ratio"] == pytest.approx(
        result["ours"]["p50_us"] / result["bare_onnxruntime"]["p50_us"], rel=1e-3
    )
    assert isinstance(result["within_target"], bool)
    assert json.loads(capsys.readouterr().out) == result


def test_bench_rejects_zero_iters(conv_onnx: Path) -> None:
    assert main(["engine", "bench", str(conv_onnx), "--iters", "0"]) == 2


def test_compare(conv_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cmp.json"
    argv = ["engine", "compare", str(conv_onnx), "--backend", "onnxruntime", "--ref", "onnxruntime"]
    assert main([*argv, "--batch", "2", "--tol", "0", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [o["name"] for o in result["outputs"]] == ["features", "logits"]
    assert all(o["max_abs"] == 0 and o["max_rel"] == 0 for o in result["outputs"])
    assert "features: max abs 0" in capsys.readouterr().out


def test_build_without_tensorrt(conv_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["engine", "build", str(conv_onnx), "--precision", "fp16"]) == 2
    assert "backend tensorrt unavailable" in capsys.readouterr().err


# ---------------------------------------------------------------- dynamic dims (issue 20, 9)


def test_info_says_flops_are_unknown_for_dynamic_hw(tmp_path: Path, capsys) -> None:
    model = conv_model(tmp_path / "dyn.onnx", height="height", width="width")
    out_json = tmp_path / "info.json"
    assert main(["engine", "info", str(model), "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "input   images: float32[batch,3,height,width]" in text
    assert "FLOPs/inference unknown: dynamic input dimensions images[2] (height), " in text
    assert "--shape" in text
    info = json.loads(out_json.read_text())
    assert info["flops"] is None and info["macs"] is None
    assert info["flops_open_dims"] == ["images[2] (height)", "images[3] (width)"]


def test_info_computes_flops_for_a_shape(tmp_path: Path, capsys) -> None:
    model = conv_model(tmp_path / "dyn.onnx", height="height", width="width")
    out_json = tmp_path / "info.json"
    argv = ["engine", "info", str(model), "--shape", "images:1x3x384x640"]
    assert main([*argv, "--json", str(out_json)]) == 0
    assert "inputs images 1x3x384x640" in capsys.readouterr().out
    info = json.loads(out_json.read_text())
    macs, other = conv_flops(1, 384, 640)
    assert info["flops"] == 2 * macs + other and info["flops_input_shapes"] == {
        "images": [1, 3, 384, 640]
    }


def test_info_batch_fills_the_batch_dim_only(conv_onnx: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "info.json"
    assert main(["engine", "info", str(conv_onnx), "--batch", "3", "--json", str(out_json)]) == 0
    macs, other = conv_flops(3)
    assert json.loads(out_json.read_text())["flops"] == 2 * macs + other


def test_info_huge_shape_is_counted_exactly(tmp_path: Path, capsys) -> None:
    model = conv_model(tmp_path / "dyn.onnx", height="height", width="width")
    side = 2**35
    assert main(["engine", "info", str(model), "--shape", f"images:8x3x{side}x{side}"]) == 0
    macs, other = conv_flops(8, side, side)
    digits = str(2 * macs + other)
    assert f"FLOPs/inference {digits[0]}.{digits[1:3]}e{len(digits) - 1}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("images", "expected NAME:DxDx..."),
        ("images:1x3xAx8", "a dimension expected an integer"),
        ("images:1x3x-8x8", "a dimension must be >= 1"),
        ("pixels:1x3x8x8", "no input named 'pixels'"),
        ("images:1x4x8x8", "dimension 1 is fixed at 3"),
    ],
)
def test_info_refuses_a_bad_shape(conv_onnx: Path, capsys, shape: str, message: str) -> None:
    assert main(["engine", "info", str(conv_onnx), f"--shape={shape}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_info_refuses_a_negative_batch(conv_onnx: Path, capsys) -> None:
    assert main(["engine", "info", str(conv_onnx), "--batch", "-2"]) == 2
    assert "argument --batch: must be >= 1, got '-2'" in capsys.readouterr().err
