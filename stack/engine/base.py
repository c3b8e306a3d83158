"""The Engine protocol every backend implements, its tensor descriptions and input checking.

Node code sees only this: named, typed inputs and outputs and ``run(feeds) -> outputs``, so a
node cannot tell TensorRT from ONNX Runtime.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from stack.engine.errors import FeedError

# A gate is a context-manager factory entered around the inference call itself, e.g. a
# priority-ordered GPU gate supplied by the scheduler; ``gate(priority)``.
Gate = Callable[[int], AbstractContextManager[Any]]

_NULL_CONTEXT = contextlib.nullcontext()


def no_gate(priority: int) -> AbstractContextManager[Any]:
    """The default gate: lets every run through at once."""
    return _NULL_CONTEXT


class Backend(str, enum.Enum):
    AUTO = "auto"
    TENSORRT = "tensorrt"
    ONNXRUNTIME = "onnxruntime"


class Precision(str, enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output. ``shape`` holds ``None`` for a dynamic dimension, whose
    symbolic name (ONNX ``dim_param``), if any, is in ``dim_names`` at the same index."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype
    dim_names: tuple[str | None, ...] = ()

    @property
    def is_dynamic(self) -> bool:
        return any(d is None for d in self.shape)

    def dims_text(self) -> str:
        names = self.dim_names or (None,) * len(self.shape)
        return (
            "["
            + ",".join(str(d) if d is not None else (n or "?") for d, n in zip(self.shape, names))
            + "]"
        )

    def describe(self) -> str:
        """E.g. ``images: float32[batch,3,352,352]``."""
        return f"{self.name}: {np.dtype(self.dtype).name}{self.dims_text()}"

    def concrete_shape(self, dynamic: int = 1) -> tuple[int, ...]:
        """The shape with every dynamic dimension set to ``dynamic``."""
        return tuple(dynamic if d is None else d for d in self.shape)


def spec_from_dims(name: str, dims: Sequence[Any], dtype: Any) -> TensorSpec:
    """A TensorSpec from runtime metadata where a dim is an int, a symbolic str, None or -1."""
    shape: list[int | None] = []
    names: list[str | None] = []
    for d in dims:
        if isinstance(d, (int, np.integer)) and d >= 0:
            shape.append(int(d))
            names.append(None)
        else:
            shape.append(None)
            names.append(d if isinstance(d, str) and d else None)
    return TensorSpec(name, tuple(shape), np.dtype(dtype), tuple(names))


class Engine(Protocol):
    """A loaded inference engine; what ``ctx.engine(model, **options)`` returns to a node."""

    name: str  # model file name, for traces and logs
    variant: str  # which model variant this is (dense, pruned, ...); the file stem by default
    backend: Backend
    precision: Precision
    device: str  # human-readable: execution provider or GPU / DLA core
    priority: int  # passed to the gate around each run
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def warmup(self, iterations: int = 3) -> None: ...


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def check_feed(spec: TensorSpec, value: Any, model: str) -> np.ndarray:
    """The array for ``spec``; raises FeedError naming the tensor, expected and given."""
    if not isinstance(value, np.ndarray):
        raise FeedError(
            f"{model}: input {spec.name!r}: expected a numpy array "
            f"{np.dtype(spec.dtype).name}{spec.dims_text()}, given {type(value).__name__}"
        )
    if value.dtype != spec.dtype:
        raise FeedError(
            f"{model}: input {spec.name!r}: expected dtype {np.dtype(spec.dtype).name}, "
            f"given {value.dtype.name}"
        )
    if value.ndim != len(spec.shape) or any(
        want is not None and want != got for want, got in zip(spec.shape, value.shape)
    ):
        raise FeedError(
            f"{model}: input {spec.name!r}: expected shape {spec.dims_text()}, "
            f"given {_shape_text(value.shape)}"
        )
    return value


def check_feeds(
    specs: Sequence[TensorSpec], feeds: Mapping[str, Any], model: str
) -> dict[str, np.ndarray]:
    """Validate ``feeds`` against the engine's inputs: every input given, nothing unknown."""
    if len(feeds) != len(specs) or any(s.name not in feeds for s in specs):
        expected = [s.name for s in specs]
        unknown = [k for k in feeds if k not in expected]
        if unknown:
            raise FeedError(f"{model}: unknown input {unknown[0]!r}; the inputs are {expected}")
        missing = [k for k in expected if k not in feeds]
        raise FeedError(f"{model}: input {missing[0]!r} not given; the inputs are {expected}")
    return {s.name: check_feed(s, feeds[s.name], model) for s in specs}


def example_feeds(
    specs: Sequence[TensorSpec], dynamic: int = 1, seed: int | None = None
) -> dict[str, np.ndarray]:
    """Inputs that fit ``specs`` (dynamic dims = ``dynamic``): zeros, or seeded random values."""
    rng = np.random.default_rng(seed) if seed is not None else None
    feeds = {}
    for spec in specs:
        shape = spec.concrete_shape(dynamic)
        if rng is None:
            feeds[spec.name] = np.zeros(shape, spec.dtype)
        elif np.issubdtype(spec.dtype, np.floating):
            feeds[spec.name] = rng.random(shape, np.float32).astype(spec.dtype)
        elif spec.dtype == np.bool_:
            feeds[spec.name] = rng.random(shape) < 0.5
        else:
            feeds[spec.name] = rng.integers(0, 8, shape).astype(spec.dtype)
    return feeds


class EngineBase:
    """Shared behaviour of the backends: input checking, the gate hook, warmup."""

    backend: Backend

    def __init__(
        self,
        *,
        name: str,
        variant: str,
        precision: Precision,
        device: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        gate: Gate | None = None,
        priority: int = 0,
    ) -> None:
        self.name = name
        self.variant = variant
        self.precision = precision
        self.device = device
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.gate: Gate = gate or no_gate
        self.priority = priority

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = check_feeds(self.inputs, feeds, self.name)
        with self.gate(self.priority):
            return self._infer(arrays)

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def warmup_feeds(self) -> dict[str, np.ndarray]:
        return example_feeds(self.inputs)

    def warmup(self, iterations: int = 3) -> None:
        """Run a few times on zeros so first-run allocations and autotuning leave the hot path."""
        feeds = self.warmup_feeds()
        for _ in range(iterations):
            self.run(feeds)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} variant={self.variant} "
            f"{self.backend.value}/{self.precision.value} on {self.device}>"
        )
