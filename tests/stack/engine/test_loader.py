"""load_engine: backend choice, and the TensorRT cache flow around a fake TensorRT seam.

The fake stands in for stack.engine.tensorrt only (TensorRT cannot exist here): it "builds" an
engine as tagged ONNX bytes and "loads" it as an ONNX Runtime engine, rejecting bytes of another
TensorRT version or garbage the way TensorRT's deserializer does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest

from stack.engine import (
    Backend,
    BackendUnavailable,
    CalibrationError,
    EngineCache,
    EngineError,
    EngineOptions,
    Platform,
    load_engine,
)
from stack.engine.build import BuildResult, EngineLabels, Int8Route, LayerPlacement
from stack.engine.model import read_model
from stack.engine.options import OrtOptions
from stack.engine.ort import OrtEngine
from tests.stack.engine.test_calibration import image_dir

MAGIC = b"FAKETRT:"


class FakeTrt:
    def __init__(self, tmp: Path, version: str = "8.5.2.2", gpu: str = "Xavier") -> None:
        self.platform = Platform(version, gpu, "7.2")
        self.tmp = tmp
        self.builds: list[dict] = []
        self.loads = 0

    def probe(self) -> Platform:
        return self.platform

    def build(self, model, options, timing_cache, calibration, calibration_cache) -> BuildResult:
        self.builds.append(
            {
                "model": model,
                "options": options,
                "timing_cache": timing_cache,
                "calibration": calibration,
                "calibration_cache": calibration_cache,
            }
        )
        tag = MAGIC + self.platform.trt_version.encode() + b"\n"
        placement = ()
        if options.dla_core is not None:
            placement = (
                LayerPlacement("conv", "CONVOLUTION", True),
                LayerPlacement("gemm", "FULLY_CONNECTED", False),
            )
        return BuildResult(
            engine=tag + model.data,
            timing_cache=b"timing-%d" % len(self.builds),
            calibration_cache=b"calib" if calibration is not None else None,
            placement=placement,
        )

    def load(self, data: bytes, labels: EngineLabels):
        self.loads += 1
        tag = MAGIC + self.platform.trt_version.encode() + b"\n"
        if not data.startswith(tag):
            return None
        path = self.tmp / f"loaded-{self.loads}.onnx"
        path.write_bytes(data[len(tag) :])
        return OrtEngine(read_model(path), OrtOptions(), name=labels.name, variant=labels.variant)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def launch(model: Path, cache_dir: Path, fake: FakeTrt, **options):
    return load_engine(
        model,
        EngineOptions.of(backend="tensorrt", precision="fp16", cache_dir=cache_dir, **options),
        trt_api=fake,
    )


def test_auto_falls_back_to_onnxruntime(conv_onnx: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "stack.engine")
    engine = load_engine(conv_onnx)
    assert engine.backend is Backend.ONNXRUNTIME
    assert "conv.onnx: backend auto -> onnxruntime (TensorRT not importable" in caplog.text


def test_tensorrt_unavailable_says_why(conv_onnx: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"conv\.onnx: backend tensorrt unavailable: "):
        load_engine(conv_onnx, EngineOptions.of(backend="tensorrt"))


def test_bad_option_values(conv_onnx: Path) -> None:
    with pytest.raises(EngineError, match="backend='trt' is not one of 'auto', 'tensorrt'"):
        load_engine(conv_onnx, EngineOptions.of(backend="trt"))
    with pytest.raises(EngineError, match="precision='bf16'"):
        load_engine(conv_onnx, EngineOptions.of(precision="bf16"))


def test_cached_launch_never_rebuilds(
    tmp_path: Path, conv_onnx: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "stack.engine")
    first = FakeTrt(tmp_path)
    engine = launch(conv_onnx, cache_dir, first)
    assert len(first.builds) == 1 and "building TensorRT engine (no cached engine)" in caplog.text
    x = np.random.default_rng(0).random((2, 3, 16, 16), np.float32)
    reference = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime")).run({"images": x})
    np.testing.assert_allclose(engine.run({"images": x})["logits"], reference["logits"], rtol=1e-6)
    for _ in range(2):  # later launches
        again = FakeTrt(tmp_path)
        engine = launch(conv_onnx, cache_dir, again)
        assert again.builds == []
        assert engine.name == "conv.onnx"
    assert "cached TensorRT engine" in caplog.text


def test_version_change_rebuilds_once_and_says_why(
    tmp_path: Path, conv_onnx: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    launch(conv_onnx, cache_dir, FakeTrt(tmp_path, "8.5.2.2"))
    caplog.set_level(logging.INFO, "stack.engine")
    upgraded = FakeTrt(tmp_path, "8.6.1")
    launch(conv_onnx, cache_dir, upgraded)
    assert len(upgraded.builds) == 1
    assert "TensorRT version 8.5.2.2 -> 8.6.1" in caplog.text
    later = FakeTrt(tmp_path, "8.6.1")
    launch(conv_onnx, cache_dir, later)
    assert later.builds == []


def test_device_change_rebuilds(
    tmp_path: Path, conv_onnx: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    launch(conv_onnx, cache_dir, FakeTrt(tmp_path))
    caplog.set_level(logging.INFO, "stack.engine")
    moved = FakeTrt(tmp_path, gpu="Orin")
    launch(conv_onnx, cache_dir, moved)
    assert len(moved.builds) == 1 and "GPU Xavier -> Orin" in caplog.text


def test_corrupt_engine_rebuilds(tmp_path: Path, conv_onnx: Path, cache_dir: Path) -> None:
    launch(conv_onnx, cache_dir, FakeTrt(tmp_path))
    (engine_file,) = cache_dir.glob("*.engine")
    data = bytearray(engine_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    engine_file.write_bytes(bytes(data))
    fake = FakeTrt(tmp_path)
    engine = launch(conv_onnx, cache_dir, fake)
    assert len(fake.builds) == 1
    assert engine.run({"images": np.zeros((1, 3, 16, 16), np.float32)})["logits"].shape == (1, 5)
    later = FakeTrt(tmp_path)
    launch(conv_onnx, cache_dir, later)
    assert later.builds == []


def test_engine_that_does_not_deserialize_rebuilds(
    tmp_path: Path, conv_onnx: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole, checksummed entry that TensorRT still rejects (e.g. written by a foreign tool)."""
    fake = FakeTrt(tmp_path)
    launch(conv_onnx, cache_dir, fake)
    model = read_model(conv_onnx)
    from stack.engine.cache import CacheKey

    key = CacheKey.make(
        model.sha256, fake.platform, "fp16", None, fake.builds[0]["options"].flags()
    )
    EngineCache(cache_dir).store(model.name, key, b"not an engine at all")
    caplog.set_level(logging.INFO, "stack.engine")
    again = FakeTrt(tmp_path)
    launch(conv_onnx, cache_dir, again)
    assert len(again.builds) == 1
    assert "does not deserialize" in caplog.text


def test_rebuild_reuses_timing_cache(tmp_path: Path, conv_onnx: Path, cache_dir: Path) -> None:
    fake = FakeTrt(tmp_path)
    launch(conv_onnx, cache_dir, fake)
    launch(conv_onnx, cache_dir, fake, rebuild=True)
    assert [b["timing_cache"] for b in fake.builds] == [None, b"timing-1"]
    assert list(cache_dir.glob("timing-*.cache"))


def test_options_reach_the_build(
    tmp_path: Path, conv_onnx: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTrt(tmp_path)  # a Xavier: sm_72, no sparse tensor cores
    launch(conv_onnx, cache_dir, fake, max_batch=8, sparse_weights=True, workspace_mb=256)
    options = fake.builds[0]["options"]
    assert options.shapes["images"].max == (8, 3, 16, 16)
    assert not options.sparse_weights and options.workspace_mb == 256
    assert "sm_72 (Jetson AGX Xavier) has no sparse tensor cores" in caplog.text
    orin = FakeTrt(tmp_path, gpu="Orin")
    orin.platform = Platform("8.5.2.2", "Orin", "8.7")
    launch(conv_onnx, tmp_path / "orin-cache", orin, sparse_weights=True)
    assert orin.builds[0]["options"].sparse_weights
    launch(conv_onnx, cache_dir, fake, max_batch=4)  # another profile: another engine
    assert len(fake.builds) == 2


def test_dla_placement_is_logged(
    tmp_path: Path, conv_onnx: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "stack.engine")
    launch(conv_onnx, cache_dir, FakeTrt(tmp_path), dla_core=0)
    assert "DLA core 0: 1 of 2 layers on DLA, 1 fall back to GPU" in caplog.text
    assert "GPU  gemm (FULLY_CONNECTED)" in caplog.text
    with pytest.raises(EngineError, match="DLA has no FP32"):
        load_engine(
            conv_onnx,
            EngineOptions.of(backend="tensorrt", precision="fp32", dla_core=0, cache_dir=cache_dir),
            trt_api=FakeTrt(tmp_path),
        )


def test_int8_calibrator_route(tmp_path: Path, conv_onnx: Path, cache_dir: Path) -> None:
    images = image_dir(tmp_path, 4)
    fake = FakeTrt(tmp_path, "8.5.2.2")
    load_engine(
        conv_onnx,
        EngineOptions.of(
            backend="tensorrt",
            precision="int8",
            cache_dir=cache_dir,
            calibration=images,
            calibration_batch=2,
        ),
        trt_api=fake,
    )
    build = fake.builds[0]
    assert build["options"].int8_route is Int8Route.CALIBRATOR
    assert build["calibration"].shape == (2, 3, 16, 16)
    assert list(cache_dir.glob("*.calib"))
    load_engine(
        conv_onnx,
        EngineOptions.of(
            backend="tensorrt",
            precision="int8",
            cache_dir=cache_dir,
            calibration=images,
            calibration_batch=2,
            rebuild=True,
        ),
        trt_api=fake,
    )
    assert fake.builds[1]["calibration_cache"] == b"calib"


def test_int8_without_data(tmp_path: Path, conv_onnx: Path, cache_dir: Path) -> None:
    with pytest.raises(CalibrationError, match="needs calibration data"):
        load_engine(
            conv_onnx,
            EngineOptions.of(backend="tensorrt", precision="int8", cache_dir=cache_dir),
            trt_api=FakeTrt(tmp_path),
        )


def test_int8_on_trt10_builds_a_qdq_model(tmp_path: Path, conv_onnx: Path, cache_dir: Path) -> None:
    fake = FakeTrt(tmp_path, "10.3.0")
    load_engine(
        conv_onnx,
        EngineOptions.of(
            backend="tensorrt",
            precision="int8",
            cache_dir=cache_dir,
            calibration=image_dir(tmp_path, 4),
            calibration_batch=2,
        ),
        trt_api=fake,
    )
    build = fake.builds[0]
    assert build["options"].int8_route is Int8Route.QUANTIZE_QDQ
    assert build["model"].has_qdq and build["calibration"] is None
    ops = {n.op_type for n in onnx.load(str(build["model"].path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_unwritable_cache_still_loads(
    tmp_path: Path, conv_onnx: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    fake = FakeTrt(tmp_path)
    engine = launch(conv_onnx, blocker / "cache", fake)
    assert engine.outputs[1].name == "logits"
    assert "engine cache: cannot store conv.onnx" in caplog.text
