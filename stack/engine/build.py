"""TensorRT build planning that needs no TensorRT: options and their cache flags, optimization
profiles for dynamic inputs, the INT8 route for a TensorRT version, the DLA placement report,
and the seam (``TrtApi``) that stack.engine.tensorrt implements and tests fake.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stack.engine.base import Engine, Gate, Precision, TensorSpec
from stack.engine.cache import Platform
from stack.engine.calibration import CalibrationFeeder
from stack.engine.errors import CalibrationError, EngineError, FeedError
from stack.engine.model import OnnxModel

# TensorRT 10.1 deprecates the INT8 calibrator API in favour of explicit Q/DQ quantization.
CALIBRATOR_DEPRECATED_FROM = (10, 1)


class Int8Route(str, enum.Enum):
    CALIBRATOR = "calibrator"  # implicit quantization, entropy calibrator (TensorRT < 10.1)
    QDQ = "qdq"  # the ONNX is already Q/DQ-quantized
    QUANTIZE_QDQ = "quantize-qdq"  # make a Q/DQ ONNX from the calibration data, then build it


def version_tuple(version: str) -> tuple[int, ...]:
    """'8.5.2.2' -> (8, 5, 2, 2); trailing non-numeric parts are ignored."""
    parts = []
    for piece in version.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def plan_int8(trt_version: str, has_qdq: bool, has_calibration: bool) -> Int8Route:
    if has_qdq:
        return Int8Route.QDQ
    if not has_calibration:
        raise CalibrationError(
            "precision int8 needs calibration data (calibration=DIR or BAG:TOPIC) "
            "or a Q/DQ-quantized ONNX"
        )
    if version_tuple(trt_version) >= CALIBRATOR_DEPRECATED_FROM:
        return Int8Route.QUANTIZE_QDQ
    return Int8Route.CALIBRATOR


@dataclass(frozen=True)
class ShapeRange:
    """One optimization-profile entry: the min / opt / max shapes of a dynamic input."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def text(self) -> str:
        return "/".join("x".join(str(d) for d in s) for s in (self.min, self.opt, self.max))


def _check_range(spec: TensorSpec, rng: ShapeRange) -> None:
    for label, shape in (("min", rng.min), ("opt", rng.opt), ("max", rng.max)):
        if len(shape) != len(spec.shape) or any(
            want is not None and want != got for want, got in zip(spec.shape, shape)
        ):
            raise EngineError(
                f"shapes[{spec.name!r}] {label} {list(shape)} does not fit {spec.dims_text()}"
            )
    if not all(a <= b <= c for a, b, c in zip(rng.min, rng.opt, rng.max)):
        raise EngineError(f"shapes[{spec.name!r}]: need min <= opt <= max, got {rng.text()}")


def shape_ranges(
    specs: Sequence[TensorSpec],
    max_batch: int = 1,
    overrides: Mapping[str, ShapeRange] | None = None,
) -> dict[str, ShapeRange]:
    """Profile shapes for every dynamic input. A dynamic batch (dim 0) alone gets 1..max_batch
    with opt 1 (nodes run single frames); other dynamic dims must be given in ``overrides``."""
    overrides = dict(overrides or {})
    names = {s.name for s in specs}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise EngineError(f"shapes: no input {unknown[0]!r}; the inputs are {sorted(names)}")
    if max_batch < 1:
        raise EngineError(f"max_batch={max_batch} must be >= 1")
    ranges = {}
    for spec in specs:
        if spec.name in overrides:
            _check_range(spec, overrides[spec.name])
            ranges[spec.name] = overrides[spec.name]
        elif spec.is_dynamic:
            if any(d is None for d in spec.shape[1:]):
                raise EngineError(
                    f"input {spec.name!r} {spec.dims_text()} has dynamic dims beyond the batch; "
                    f"give shapes={{{spec.name!r}: ShapeRange(min, opt, max)}}"
                )
            rest = tuple(int(d) for d in spec.shape[1:])  # type: ignore[arg-type]
            ranges[spec.name] = ShapeRange((1, *rest), (1, *rest), (max_batch, *rest))
    return ranges


def check_shape_in_range(model: str, name: str, shape: tuple[int, ...], rng: ShapeRange) -> None:
    """A FeedError unless ``shape`` lies inside the engine's optimization profile."""
    if len(shape) != len(rng.min) or not all(
        lo <= d <= hi for lo, d, hi in zip(rng.min, shape, rng.max)
    ):
        raise FeedError(
            f"{model}: input {name!r}: shape {list(shape)} outside the engine's profile "
            f"{list(rng.min)}..{list(rng.max)}"
        )


@dataclass(frozen=True)
class BuildOptions:
    precision: Precision = Precision.FP32
    dla_core: int | None = None
    sparse_weights: bool = False
    workspace_mb: int = 1024
    shapes: Mapping[str, ShapeRange] = field(default_factory=dict)
    int8_route: Int8Route | None = None
    calibration_id: str | None = None  # CalibrationFeeder.identity() where calibrated

    def __post_init__(self) -> None:
        if self.dla_core is not None and (self.dla_core < 0 or self.precision is Precision.FP32):
            raise EngineError(
                f"dla_core={self.dla_core}: needs a core index >= 0 and precision fp16 or int8 "
                f"(the DLA has no FP32), got precision {self.precision.value}"
            )
        if self.workspace_mb < 1:
            raise EngineError(f"workspace_mb={self.workspace_mb} must be >= 1")

    def flags(self) -> tuple[str, ...]:
        """Everything besides precision / DLA core that changes the built engine."""
        out = [f"workspace_mb={self.workspace_mb}"]
        if self.sparse_weights:
            out.append("sparse_weights")
        if self.dla_core is not None:
            out.append("gpu_fallback")
        out += [f"shape:{name}={rng.text()}" for name, rng in sorted(self.shapes.items())]
        if self.int8_route is not None:
            out.append(f"int8={self.int8_route.value}")
        if self.calibration_id:
            out.append(f"calibration={self.calibration_id}")
        return tuple(sorted(out))


@dataclass(frozen=True)
class LayerPlacement:
    name: str
    kind: str  # TensorRT layer type
    on_dla: bool


def placement_report(layers: Sequence[LayerPlacement], dla_core: int) -> str:
    """What runs on the DLA and which layers fall back to the GPU (and of what kind)."""
    fallback = [layer for layer in layers if not layer.on_dla]
    head = (
        f"DLA core {dla_core}: {len(layers) - len(fallback)} of {len(layers)} layers on DLA, "
        f"{len(fallback)} fall back to GPU"
    )
    return "\n".join([head, *(f"  GPU  {layer.name} ({layer.kind})" for layer in fallback)])


@dataclass(frozen=True)
class BuildResult:
    engine: bytes
    timing_cache: bytes | None = None
    calibration_cache: bytes | None = None
    placement: tuple[LayerPlacement, ...] = ()


@dataclass(frozen=True)
class EngineLabels:
    """What the loader hands a deserialized engine besides its bytes."""

    name: str
    variant: str
    precision: Precision
    dla_core: int | None = None
    gate: Gate | None = None
    priority: int = 0


class TrtApi(Protocol):
    """The TensorRT seam: stack.engine.tensorrt in production, a fake in tests."""

    def probe(self) -> Platform:
        """TensorRT version and GPU; raises BackendUnavailable without TensorRT or a GPU."""
        ...

    def build(
        self,
        model: OnnxModel,
        options: BuildOptions,
        timing_cache: bytes | None,
        calibration: CalibrationFeeder | None,
        calibration_cache: bytes | None,
    ) -> BuildResult: ...

    def load(self, data: bytes, labels: EngineLabels) -> Engine | None:
        """The engine, or None when TensorRT rejects the bytes (corrupt, foreign, stale)."""
        ...


#: Sparse tensor cores (2:4 structured sparsity, TensorRT's SPARSE_WEIGHTS) arrived with Ampere.
SPARSE_MIN_CC = (8, 0)


def sparse_weights_supported(compute_capability: str) -> tuple[bool, str]:
    """Whether a GPU of ``compute_capability`` ("8.7") runs 2:4 sparse weights faster, and why
    not when it does not (Jetson AGX Xavier is sm_72: no sparse tensor cores)."""
    try:
        major, minor = (int(p) for p in compute_capability.split(".")[:2])
    except ValueError:
        return False, f"unknown compute capability {compute_capability!r}"
    if (major, minor) >= SPARSE_MIN_CC:
        return True, ""
    name = " (Jetson AGX Xavier)" if (major, minor) == (7, 2) else ""
    return False, (
        f"sm_{major}{minor}{name} has no sparse tensor cores (they need sm_80 or newer: Ampere, "
        "Orin): 2:4 sparse weights run as dense ones, SPARSE_WEIGHTS is not set"
    )
