"""INT8 with ONNX Runtime: a Q/DQ model quantized from calibration images runs and stays close."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stack.engine import (
    CalibrationError,
    EngineOptions,
    Precision,
    Preprocess,
    load_engine,
    read_model,
)


def noise_images(folder: Path, n: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (16, 16, 3), np.uint8))
    return folder


def _int8(cache: Path, images: Path) -> EngineOptions:
    """ONNX Runtime INT8 calibrated on ``images`` (batches of 2), cached in ``cache``."""
    return EngineOptions.of(
        backend="onnxruntime",
        precision="int8",
        cache_dir=cache,
        calibration=images,
        calibration_batch=2,
    )


def test_int8_on_onnxruntime_uses_a_qdq_model(tmp_path: Path, conv_onnx: Path) -> None:
    images = noise_images(tmp_path / "images", 8)
    cache = tmp_path / "cache"
    engine = load_engine(conv_onnx, _int8(cache, images))
    assert engine.precision is Precision.INT8
    assert engine.name == "conv.onnx"
    (qdq,) = cache.glob("*.qdq.onnx")
    assert read_model(qdq).has_qdq
    fp32 = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime"))
    img = cv2.imread(str(images / "3.png"))
    x = Preprocess().apply(img, 3, 16, 16)[None]
    got, want = engine.run({"images": x}), fp32.run({"images": x})
    err = np.abs(got["features"] - want["features"]).max()
    assert 0 < err < 0.05 * np.abs(want["features"]).max()
    # Quantized once: a second load reuses the Q/DQ model.
    mtime = qdq.stat().st_mtime_ns
    load_engine(conv_onnx, _int8(cache, images))
    assert qdq.stat().st_mtime_ns == mtime


def test_damaged_qdq_model_is_remade(tmp_path: Path, conv_onnx: Path) -> None:
    images = noise_images(tmp_path / "images", 4)
    cache = tmp_path / "cache"
    load_engine(conv_onnx, _int8(cache, images))
    (qdq,) = cache.glob("*.qdq.onnx")
    qdq.write_bytes(b"half a model")
    engine = load_engine(conv_onnx, _int8(cache, images))
    assert engine.precision is Precision.INT8
    assert read_model(qdq).has_qdq
    assert [p.name for p in cache.iterdir()] == [qdq.name]  # no partial files left


def test_calibration_error_names_the_source(tmp_path: Path, conv_onnx: Path) -> None:
    images = noise_images(tmp_path / "images", 1)
    with pytest.raises(CalibrationError, match="1 images, fewer than one batch of 2"):
        load_engine(conv_onnx, _int8(tmp_path / "c", images))
    assert not list((tmp_path / "c").glob("*.onnx"))
