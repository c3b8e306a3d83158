"""`l4 engine info|build|bench|compare` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.cli.main import main
from tests.stack.engine.models import conv_flops


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
