from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stack.engine import ModelError, read_model
from stack.engine.errors import FeedError
from stack.engine.flops import count_flops, input_shapes
from tests.stack.engine.models import CLASSES, conv_flops, conv_model


def test_specs_mark_dynamic_batch(conv_onnx: Path) -> None:
    model = read_model(conv_onnx)
    (images,) = model.inputs
    assert images.name == "images"
    assert images.shape == (None, 3, 16, 16)
    assert images.dim_names[0] == "batch"
    assert images.dtype == np.float32
    assert images.is_dynamic
    assert images.describe() == "images: float32[batch,3,16,16]"
    assert [o.name for o in model.outputs] == ["features", "logits"]
    assert model.outputs[1].shape == (None, CLASSES)


def test_mixed_dtypes(mixed_onnx: Path) -> None:
    model = read_model(mixed_onnx)
    assert [(s.name, s.dtype) for s in model.inputs] == [("x", np.float32), ("ids", np.int64)]
    assert not any(s.is_dynamic for s in model.inputs)


def test_describe_model(conv_onnx: Path) -> None:
    model = read_model(conv_onnx)
    assert model.opset == 13
    assert model.op_histogram() == {
        "Conv": 1, "Relu": 1, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1,
    }  # fmt: skip
    assert model.parameter_count() == 4 * 3 * 3 * 3 + 4 + 5 * 4 + 5
    assert not model.has_qdq
    assert len(model.sha256) == 64


@pytest.mark.parametrize("batch", [1, 3])
def test_flops_by_hand(conv_onnx: Path, batch: int) -> None:
    macs, other = conv_flops(batch)
    count = count_flops(read_model(conv_onnx), batch)
    assert (count.macs, count.other, count.unknown_nodes) == (macs, other, 0)
    assert count.flops == 2 * macs + other


def test_fastestdet_description(fastestdet: Path) -> None:
    model = read_model(fastestdet)
    assert model.opset == 11
    assert model.inputs[0].describe() == "input.1: float32[1,3,352,352]"
    assert model.outputs[0].shape == (1, 85, 22, 22)
    assert 200_000 < model.parameter_count() < 300_000  # model card: 0.24 M
    count = count_flops(model)
    assert count.unknown_nodes == 0
    assert 0.1e9 < count.macs < 0.2e9


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope\.onnx: no such model file"):
        read_model(tmp_path / "nope.onnx")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a file"):
        read_model(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am a text file\n", bytes(range(256)) * 4, b"\x08\x07"],
    ids=["empty", "text", "binary", "ir-only"],
)
def test_not_onnx(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"fake\.onnx: (not an ONNX model|invalid ONNX model)"):
        read_model(path)


# ---------------------------------------------------------------- dynamic dims (issue 20, 9)


@pytest.fixture
def dynamic_hw(tmp_path: Path) -> Path:
    return conv_model(tmp_path / "dyn.onnx", height="height", width="width")


def test_open_dynamic_dims_leave_the_flops_unknown(dynamic_hw: Path) -> None:
    """Never computed with H = W = 1 as if that were the model's FLOPs."""
    model = read_model(dynamic_hw)
    assert count_flops(model) is None
    _, open_dims = input_shapes(model)
    assert [str(d) for d in open_dims] == ["images[2] (height)", "images[3] (width)"]


def test_flops_for_a_given_shape(dynamic_hw: Path) -> None:
    count = count_flops(read_model(dynamic_hw), shapes={"images": (2, 3, 384, 640)})
    assert count is not None and count.unknown_nodes == 0
    assert (count.macs, count.other) == conv_flops(2, 384, 640)


def test_huge_shapes_do_not_overflow(dynamic_hw: Path) -> None:
    side = 2**31
    count = count_flops(read_model(dynamic_hw), shapes={"images": (4, 3, side, side)})
    assert count is not None
    assert (count.macs, count.other) == conv_flops(4, side, side)
    assert count.flops > 2**64  # int64 arithmetic wrapped this to garbage (or 0)


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ({"pixels": (1, 3, 8, 8)}, r"dyn\.onnx: no input named 'pixels' \(inputs: images\)"),
        (
            {"images": (1, 3, 8)},
            r"input images \[batch,3,height,width\]: shape 1x3x8 has rank 3, not 4",
        ),
        ({"images": (1, 4, 8, 8)}, r"shape 1x4x8x8: dimension 1 is fixed at 3"),
        ({"images": (1, 3, 0, 8)}, r"dimension 2 must be >= 1"),
    ],
)
def test_a_shape_that_does_not_fit_is_refused(dynamic_hw: Path, shapes, message) -> None:
    with pytest.raises(FeedError, match=message):
        count_flops(read_model(dynamic_hw), shapes=shapes)
