"""TensorRT build planning without TensorRT."""

from __future__ import annotations

import numpy as np
import pytest

from stack.engine import CalibrationError, EngineError, FeedError, Precision, TensorSpec
from stack.engine.build import (
    BuildOptions,
    Int8Route,
    LayerPlacement,
    ShapeRange,
    check_shape_in_range,
    placement_report,
    plan_int8,
    shape_ranges,
    version_tuple,
)

F32 = np.dtype(np.float32)


def test_version_tuple() -> None:
    assert version_tuple("8.5.2.2") == (8, 5, 2, 2)
    assert version_tuple("10.1.0b3") == (10, 1, 0)
    assert version_tuple("10.0.1") < (10, 1) <= version_tuple("10.1")


@pytest.mark.parametrize(
    ("version", "qdq", "calib", "route"),
    [
        ("8.5.2.2", False, True, Int8Route.CALIBRATOR),
        ("10.0.1", False, True, Int8Route.CALIBRATOR),
        ("10.1.0", False, True, Int8Route.QUANTIZE_QDQ),
        ("10.3.0", True, False, Int8Route.QDQ),
        ("8.5.2", True, True, Int8Route.QDQ),
    ],
)
def test_int8_route(version: str, qdq: bool, calib: bool, route: Int8Route) -> None:
    assert plan_int8(version, qdq, calib) is route


def test_int8_needs_data() -> None:
    with pytest.raises(CalibrationError, match="needs calibration data"):
        plan_int8("8.5.2", False, False)


def test_dynamic_batch_profile() -> None:
    specs = [
        TensorSpec("images", (None, 3, 8, 8), F32),
        TensorSpec("scale", (2,), F32),
    ]
    ranges = shape_ranges(specs, max_batch=4)
    assert ranges == {"images": ShapeRange((1, 3, 8, 8), (1, 3, 8, 8), (4, 3, 8, 8))}
    assert ranges["images"].text() == "1x3x8x8/1x3x8x8/4x3x8x8"


def test_other_dynamic_dims_need_shapes() -> None:
    specs = [TensorSpec("images", (1, 3, None, None), F32, (None, None, "h", "w"))]
    with pytest.raises(EngineError, match=r"'images' \[1,3,h,w\] has dynamic dims beyond"):
        shape_ranges(specs)
    rng = ShapeRange((1, 3, 64, 64), (1, 3, 128, 128), (1, 3, 256, 256))
    assert shape_ranges(specs, overrides={"images": rng}) == {"images": rng}


@pytest.mark.parametrize(
    ("rng", "message"),
    [
        (ShapeRange((2, 3, 8, 8), (1, 3, 8, 8), (4, 3, 8, 8)), "min <= opt <= max"),
        (ShapeRange((1, 1, 8, 8), (1, 3, 8, 8), (4, 3, 8, 8)), r"min \[1, 1, 8, 8\] does not fit"),
        (ShapeRange((1, 3, 8), (1, 3, 8), (1, 3, 8)), "does not fit"),
    ],
)
def test_bad_overrides(rng: ShapeRange, message: str) -> None:
    specs = [TensorSpec("images", (None, 3, 8, 8), F32)]
    with pytest.raises(EngineError, match=message):
        shape_ranges(specs, overrides={"images": rng})


def test_override_of_unknown_input() -> None:
    rng = ShapeRange((1,), (1,), (1,))
    with pytest.raises(EngineError, match="no input 'imgs'"):
        shape_ranges([TensorSpec("images", (1,), F32)], overrides={"imgs": rng})


def test_shape_in_range() -> None:
    rng = ShapeRange((1, 3), (1, 3), (4, 3))
    check_shape_in_range("m", "x", (4, 3), rng)
    with pytest.raises(
        FeedError, match=r"m: input 'x': shape \[5, 3\] outside .* \[1, 3\]..\[4, 3\]"
    ):
        check_shape_in_range("m", "x", (5, 3), rng)


def test_flags_follow_options() -> None:
    base = BuildOptions(Precision.FP16)
    variants = [
        BuildOptions(Precision.FP16, sparse_weights=True),
        BuildOptions(Precision.FP16, workspace_mb=512),
        BuildOptions(Precision.FP16, dla_core=0),
        BuildOptions(Precision.FP16, shapes={"x": ShapeRange((1,), (1,), (2,))}),
        BuildOptions(Precision.INT8, int8_route=Int8Route.CALIBRATOR, calibration_id="abc"),
    ]
    flags = {base.flags(), *(v.flags() for v in variants)}
    assert len(flags) == len(variants) + 1
    assert base.flags() == ("workspace_mb=1024",)


def test_dla_needs_reduced_precision() -> None:
    with pytest.raises(EngineError, match=r"dla_core=0: .*precision fp16 or int8"):
        BuildOptions(Precision.FP32, dla_core=0)
    with pytest.raises(EngineError, match="workspace_mb=0"):
        BuildOptions(workspace_mb=0)


def test_placement_report() -> None:
    layers = [
        LayerPlacement("conv1", "CONVOLUTION", True),
        LayerPlacement("resize", "RESIZE", False),
        LayerPlacement("conv2", "CONVOLUTION", True),
    ]
    report = placement_report(layers, 1)
    assert report.splitlines() == [
        "DLA core 1: 2 of 3 layers on DLA, 1 fall back to GPU",
        "  GPU  resize (RESIZE)",
    ]
