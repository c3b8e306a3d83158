"""The options of ``load_engine``, one typed record per concern.

    options = EngineOptions(precision=Precision.FP16, tensorrt=TensorRTOptions(dla_core=0))
    options = EngineOptions.of(backend="onnxruntime", intra_op_threads=2)   # flat, as nodes write
    engine = load_engine("detector.onnx", options)

Nodes keep writing ``ctx.engine(model, precision="fp16", intra_op_threads=2)``: the context turns
the flat keywords into an :class:`EngineOptions` with :meth:`EngineOptions.from_mapping`, which
refuses an unknown key by name. ``FLAT_KEYS`` is the one table of those names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.engine.base import Backend, Gate, Precision
from stack.engine.calibration import CalibrationFeeder, CalibrationSource, Preprocess
from stack.engine.errors import EngineError
from stack.params import parse_enum

CalibrationArg = str | Path | CalibrationSource | CalibrationFeeder | None


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EngineError(f"{name}={value!r} must be an integer >= {low}")


@dataclass(frozen=True)
class OrtOptions:
    """ONNX Runtime session settings."""

    intra_op_threads: int | None = None  # None: len(cores) if given, else ORT's default
    cores: tuple[int, ...] | None = None  # the executor's cores; pins the intra-op pool
    providers: tuple[str, ...] | None = None  # None: CUDA if present, else CPU
    io_binding: bool | None = None  # None: on for device providers, where it saves copies
    spin: bool | None = None  # intra-op threads busy-wait between ops; None: ORT default (on)

    def __post_init__(self) -> None:
        # Lists from YAML or callers become tuples; an empty one means "not given".
        object.__setattr__(self, "cores", tuple(self.cores) if self.cores else None)
        object.__setattr__(self, "providers", tuple(self.providers) if self.providers else None)

    def threads(self) -> int | None:
        if self.intra_op_threads is not None:
            return self.intra_op_threads
        return len(self.cores) if self.cores else None


@dataclass(frozen=True)
class TensorRTOptions:
    """What a TensorRT build takes besides the precision (each part of the engine cache key)."""

    dla_core: int | None = None
    sparse_weights: bool = False
    max_batch: int = 1  # the max of a dynamic batch dimension's optimization profile
    shapes: Mapping[str, Any] | None = None  # input name -> (min, opt, max) shapes
    workspace_mb: int = 1024
    rebuild: bool = False  # build even where a cached engine fits

    def __post_init__(self) -> None:
        _check_int("max_batch", self.max_batch, 1)
        _check_int("workspace_mb", self.workspace_mb, 1)


@dataclass(frozen=True)
class CalibrationOptions:
    """INT8 calibration data: a directory or bag of images, a source or a feeder; None: none."""

    data: CalibrationArg = None
    preprocess: Preprocess | None = None  # None: the model card's, else plain /255
    batch: int = 8
    images: int = 512

    def __post_init__(self) -> None:
        _check_int("calibration_batch", self.batch, 1)
        _check_int("calibration_images", self.images, 1)


@dataclass(frozen=True)
class EngineOptions:
    """Everything ``load_engine`` takes besides the model."""

    backend: Backend = Backend.AUTO
    precision: Precision = Precision.FP32
    cache_dir: Path | None = None  # None: ~/.cache/l4stack (or $L4_ENGINE_CACHE)
    variant: str | None = None  # None: the model file's stem
    gate: Gate | None = None  # None: the scheduler's gate for the engine's device, if any
    priority: int = 0  # passed to the gate around each run
    ort: OrtOptions = field(default_factory=OrtOptions)
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)
    calibration: CalibrationOptions = field(default_factory=CalibrationOptions)

    def __post_init__(self) -> None:
        # Strings (from launch files and the CLI) become members; a bad one names the choices.
        object.__setattr__(
            self, "backend", parse_enum(Backend, self.backend, "backend", EngineError)
        )
        object.__setattr__(
            self, "precision", parse_enum(Precision, self.precision, "precision", EngineError)
        )
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    @classmethod
    def from_mapping(cls, flat: Mapping[str, Any], where: str = "") -> EngineOptions:
        """The record from flat keywords (``FLAT_KEYS``); an unknown key is an EngineError
        naming it, prefixed with ``where`` (e.g. the node) when given."""
        sections: dict[str | None, dict[str, Any]] = {}
        for key, value in flat.items():
            if key not in FLAT_KEYS:
                prefix = f"{where}: " if where else ""
                raise EngineError(
                    f"{prefix}unknown engine option {key!r}; options: {', '.join(FLAT_KEYS)}"
                )
            section, name = FLAT_KEYS[key]
            sections.setdefault(section, {})[name] = value
        top = sections.pop(None, {})
        for section, values in sections.items():
            record = _SECTIONS[section]
            top[section] = record(**values)
        return cls(**top)

    @classmethod
    def of(cls, **flat: Any) -> EngineOptions:
        """``from_mapping`` of keyword arguments: ``EngineOptions.of(precision="fp16")``."""
        return cls.from_mapping(flat)


_SECTIONS: dict[str, type] = {
    "ort": OrtOptions,
    "tensorrt": TensorRTOptions,
    "calibration": CalibrationOptions,
}

#: Flat option name -> (section of EngineOptions or None for a top-level field, field name).
FLAT_KEYS: dict[str, tuple[str | None, str]] = {
    "backend": (None, "backend"),
    "precision": (None, "precision"),
    "cache_dir": (None, "cache_dir"),
    "variant": (None, "variant"),
    "gate": (None, "gate"),
    "priority": (None, "priority"),
    **{f.name: ("ort", f.name) for f in dataclasses.fields(OrtOptions)},
    **{f.name: ("tensorrt", f.name) for f in dataclasses.fields(TensorRTOptions)},
    "calibration": ("calibration", "data"),
    "preprocess": ("calibration", "preprocess"),
    "calibration_batch": ("calibration", "batch"),
    "calibration_images": ("calibration", "images"),
}
