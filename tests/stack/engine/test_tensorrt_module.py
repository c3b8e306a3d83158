"""stack.engine.tensorrt itself, imported over a TensorRT/pycuda stand-in
(tests/stack/engine/trt_standin.py names the TensorRT sources each behaviour follows)."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import pytest

from stack.engine import Backend, EngineError, EngineOptions, load_engine
from stack.engine.base import Precision
from stack.engine.build import EngineLabels
from stack.engine.errors import CalibrationError
from tests.stack.engine import trt_standin
from tests.stack.engine.trt_standin import DataType, TensorIOMode


def test_a_tensorrt_without_legacy_calibrators_still_imports(monkeypatch) -> None:
    """Item 6: the calibrator class was made at import, so a TensorRT without
    IInt8EntropyCalibrator2 raised AttributeError and took the node down."""
    trt_standin.install(monkeypatch, calibrators=False)
    from stack.engine.loader import tensorrt_api

    api, why = tensorrt_api()
    assert api is not None and why == ""
    assert "Xavier" in str(api.probe())
    with pytest.raises(CalibrationError, match=r"has no IInt8EntropyCalibrator2.*Q/DQ"):
        api._entropy_calibrator(None, None)


def test_a_tensorrt_that_fails_at_import_falls_back_with_the_reason(
    monkeypatch, conv_onnx: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trt_standin.install(monkeypatch)
    del sys.modules["tensorrt"].Logger  # a partial install: not an ImportError
    caplog.set_level(logging.INFO, logger="stack.engine")
    engine = load_engine(conv_onnx, EngineOptions.of(backend="auto"))
    assert engine.backend is Backend.ONNXRUNTIME
    assert "TensorRT not importable: AttributeError" in caplog.text


def _load(monkeypatch, dtype: DataType):
    trt_standin.install(monkeypatch)
    mod = importlib.import_module("stack.engine.tensorrt")
    engine = trt_standin.FakeEngine(
        [("images", TensorIOMode.INPUT, (1, 3, 8, 8), DataType.FLOAT),
         ("scores", TensorIOMode.OUTPUT, (1, 10), dtype)]
    )  # fmt: skip
    return mod.TrtEngine(engine, object(), EngineLabels("det", "dense", Precision.FP16))


def test_bf16_and_fp8_tensors_are_an_engine_error_naming_the_tensor(monkeypatch) -> None:
    for dtype in (DataType.BF16, DataType.FP8):
        with pytest.raises(
            EngineError, match=r"det: tensor 'scores' has TensorRT type .*(BF16|FP8)"
        ):
            _load(monkeypatch, dtype)
    assert [s.name for s in _load(monkeypatch, DataType.HALF).outputs] == ["scores"]


def test_auto_falls_back_to_onnxruntime_when_tensorrt_fails(
    monkeypatch, tmp_path: Path, conv_onnx: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.stack.engine.test_loader import FakeTrt

    class Bf16Trt(FakeTrt):
        def load(self, data, labels):
            raise EngineError(f"{labels.name}: tensor 'y' has TensorRT type DataType.BF16")

    fake = Bf16Trt(tmp_path)
    opts = EngineOptions.of(backend="auto", cache_dir=tmp_path / "cache")
    caplog.set_level(logging.WARNING, logger="stack.engine")
    engine = load_engine(conv_onnx, opts, trt_api=fake)
    assert engine.backend is Backend.ONNXRUNTIME
    assert "TensorRT failed, falling back to ONNX Runtime" in caplog.text and "BF16" in caplog.text
    with pytest.raises(EngineError, match="BF16"):  # asked for TensorRT by name: no fallback
        load_engine(conv_onnx, EngineOptions.of(backend="tensorrt", cache_dir=tmp_path / "c2"),
                    trt_api=fake)  # fmt: skip


def test_a_refused_timing_cache_is_replaced_not_ignored(
    monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    trt_standin.install(monkeypatch)
    mod = importlib.import_module("stack.engine.tensorrt")
    config = trt_standin.IBuilderConfig(accepts=b"TRT10")
    mod._set_timing_cache(config, b"TRT10-cache")
    assert config.timing_cache.data == b"TRT10-cache"
    config = trt_standin.IBuilderConfig(accepts=b"TRT10")
    caplog.set_level(logging.WARNING, logger="stack.engine")
    mod._set_timing_cache(config, b"TRT8-cache")  # written by another TensorRT
    assert config.timing_cache is not None and config.timing_cache.data == b""
    assert "timing cache refused (10 bytes)" in caplog.text
