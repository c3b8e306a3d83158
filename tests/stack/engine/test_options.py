"""EngineOptions: typed records built from the flat keywords nodes write; unknown keys refused."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from stack.engine import (
    Backend,
    EngineError,
    EngineOptions,
    OrtOptions,
    Precision,
    TensorRTOptions,
    load_engine,
)
from stack.engine.options import FLAT_KEYS


def test_flat_keys_land_in_their_records(tmp_path: Path) -> None:
    opts = EngineOptions.of(
        backend="tensorrt",
        precision="int8",
        cache_dir=str(tmp_path),
        intra_op_threads=2,
        cores=[0, 1],
        dla_core=0,
        max_batch=4,
        rebuild=True,
        calibration=str(tmp_path),
        calibration_batch=2,
        variant="pruned",
        priority=3,
    )
    assert (opts.backend, opts.precision) == (Backend.TENSORRT, Precision.INT8)
    assert opts.cache_dir == tmp_path
    assert opts.ort == OrtOptions(intra_op_threads=2, cores=(0, 1))
    assert opts.tensorrt == TensorRTOptions(dla_core=0, max_batch=4, rebuild=True)
    assert (opts.calibration.data, opts.calibration.batch) == (str(tmp_path), 2)
    assert (opts.variant, opts.priority) == ("pruned", 3)


def test_unknown_key_is_named() -> None:
    with pytest.raises(EngineError, match=r"node det: unknown engine option 'precison'; options: "):
        EngineOptions.from_mapping({"precison": "fp16"}, "node det")


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"backend": "trt"}, "backend='trt' is not one of 'auto', 'tensorrt', 'onnxruntime'"),
        ({"precision": "bf16"}, "precision='bf16' is not one of"),
        ({"max_batch": 0}, "max_batch=0 must be an integer >= 1"),
        ({"max_batch": True}, "max_batch=True must be an integer >= 1"),
        ({"workspace_mb": -1}, "workspace_mb=-1 must be an integer >= 1"),
        ({"calibration_images": 0}, "calibration_images=0 must be an integer >= 1"),
    ],
)
def test_bad_values_are_named(flat: dict, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        EngineOptions.from_mapping(flat)


def test_every_flat_key_is_a_field() -> None:
    opts = EngineOptions()
    for key, (section, name) in FLAT_KEYS.items():
        holder = opts if section is None else getattr(opts, section)
        assert hasattr(holder, name), key


def test_load_engine_takes_one_record(conv_onnx: Path) -> None:
    params = list(inspect.signature(load_engine).parameters)
    assert params == ["onnx_path", "options", "trt_api"]
    engine = load_engine(conv_onnx, EngineOptions(backend=Backend.ONNXRUNTIME, variant="v"))
    assert (engine.backend, engine.variant) == (Backend.ONNXRUNTIME, "v")
