from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from stack.engine import Backend, EngineError, EngineOptions, FeedError, Precision, load_engine
from stack.engine.ort import affinity_string, choose_providers


def plain_run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def images(batch: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, 3, 16, 16), np.float32)


def test_reports_tensors(conv_onnx: Path) -> None:
    engine = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime", intra_op_threads=1))
    assert engine.backend is Backend.ONNXRUNTIME
    assert engine.precision is Precision.FP32
    assert engine.device == "CPUExecutionProvider"
    assert engine.name == "conv.onnx"
    assert engine.variant == "conv"
    (spec,) = engine.inputs
    assert (spec.name, spec.shape, spec.dtype) == ("images", (None, 3, 16, 16), np.float32)
    assert [(o.name, o.shape) for o in engine.outputs] == [
        ("features", (None, 4, 16, 16)),
        ("logits", (None, 5)),
    ]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("io_binding", [False, True])
def test_equals_plain_onnxruntime(conv_onnx: Path, batch: int, io_binding: bool) -> None:
    engine = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime", io_binding=io_binding))
    x = images(batch)
    got = engine.run({"images": x})
    want = plain_run(conv_onnx, {"images": x})
    assert set(got) == {"features", "logits"}
    for name in want:
        assert got[name].shape == want[name].shape
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-7)


def test_mixed_dtypes_run(mixed_onnx: Path) -> None:
    engine = load_engine(mixed_onnx, EngineOptions.of(backend="onnxruntime"))
    assert [s.dtype for s in engine.outputs] == [np.float32, np.int64]
    x = np.ones((2, 3), np.float32)
    ids = np.arange(6, dtype=np.int64).reshape(2, 3)
    out = engine.run({"x": x, "ids": ids})
    np.testing.assert_array_equal(out["sum"], x + ids)
    assert out["twice"].dtype == np.int64
    np.testing.assert_array_equal(out["twice"], ids * 2)


def test_fastestdet_equals_plain_onnxruntime(fastestdet: Path) -> None:
    engine = load_engine(fastestdet, EngineOptions.of(backend="onnxruntime", intra_op_threads=2))
    x = np.random.default_rng(0).random((1, 3, 352, 352), np.float32)
    got = engine.run({"input.1": x})
    want = plain_run(fastestdet, {"input.1": x})
    assert got["758"].shape == (1, 85, 22, 22)
    np.testing.assert_allclose(got["758"], want["758"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"image": images(1)}, r"conv\.onnx: unknown input 'image'; the inputs are \['images'\]"),
        ({}, r"input 'images' not given"),
        (
            {"images": np.zeros((1, 3, 16, 15), np.float32)},
            r"input 'images': expected shape \[batch,3,16,16\], given \[1,3,16,15\]",
        ),
        (
            {"images": np.zeros((3, 16, 16), np.float32)},
            r"input 'images': expected shape \[batch,3,16,16\], given \[3,16,16\]",
        ),
        (
            {"images": np.zeros((1, 3, 16, 16), np.float64)},
            r"input 'images': expected dtype float32, given float64",
        ),
        ({"images": [[0.0]]}, r"input 'images': expected a numpy array float32\[batch,3,16,16\]"),
        ({"images": images(1), "extra": images(1)}, r"unknown input 'extra'"),
    ],
)
def test_bad_feeds(conv_onnx: Path, feeds: dict, message: str) -> None:
    engine = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime"))
    with pytest.raises(FeedError, match=message):
        engine.run(feeds)


def test_non_contiguous_input(conv_onnx: Path) -> None:
    engine = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime"))
    x = images(2)
    view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not view.flags.c_contiguous
    np.testing.assert_allclose(
        engine.run({"images": view})["logits"], engine.run({"images": x})["logits"], rtol=1e-6
    )


def test_gate_wraps_each_run(conv_onnx: Path) -> None:
    entered: list[int] = []

    @contextlib.contextmanager
    def gate(priority: int) -> Iterator[None]:
        entered.append(priority)
        yield

    engine = load_engine(
        conv_onnx, EngineOptions.of(backend="onnxruntime", gate=gate, priority=7, variant="dense")
    )
    assert (engine.priority, engine.variant) == (7, "dense")
    engine.warmup(iterations=2)
    engine.run({"images": images(1)})
    assert entered == [7, 7, 7]


def test_gate_not_entered_for_bad_feeds(conv_onnx: Path) -> None:
    entered: list[int] = []

    @contextlib.contextmanager
    def gate(priority: int) -> Iterator[None]:
        entered.append(priority)
        yield

    engine = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime", gate=gate))
    with pytest.raises(FeedError):
        engine.run({"images": np.zeros((1, 3, 8, 8), np.float32)})
    assert entered == []


def test_pinned_threads(conv_onnx: Path) -> None:
    engine = load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime", cores=[0, 1]))
    assert engine.threads == 2
    assert engine.run({"images": images(1)})["logits"].shape == (1, 5)


def test_affinity_string() -> None:
    assert affinity_string([2, 3], 2) == "4"
    assert affinity_string([0, 1, 2], 3) == "2;3"
    assert affinity_string([5], 3) == "6;6"


def test_providers() -> None:
    assert choose_providers(["CPUExecutionProvider"], None) == ["CPUExecutionProvider"]
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(both, None) == both
    with pytest.raises(EngineError, match="'CUDAExecutionProvider' not available"):
        choose_providers(["CPUExecutionProvider"], ["CUDAExecutionProvider"])


def test_bad_thread_count(conv_onnx: Path) -> None:
    with pytest.raises(EngineError, match="intra_op_threads=0 must be >= 1"):
        load_engine(conv_onnx, EngineOptions.of(backend="onnxruntime", intra_op_threads=0))
