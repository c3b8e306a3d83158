"""Inference engines: TensorRT and ONNX Runtime behind one interface, with an engine cache.

    engine = load_engine("detector.onnx", EngineOptions.of(precision="fp16", intra_op_threads=2))
    outputs = engine.run({"images": batch})     # dict name -> numpy array

Every DNN node runs through here (``ctx.engine(model, **options)`` turns its flat keywords into
an :class:`EngineOptions` and calls :func:`load_engine`); on the vehicle that is TensorRT, elsewhere ONNX Runtime, and the node
cannot tell which.
"""

from stack.engine.base import (
    Backend,
    Engine,
    Gate,
    Precision,
    TensorSpec,
    check_feeds,
    example_feeds,
    no_gate,
)
from stack.engine.build import ShapeRange
from stack.engine.cache import CacheKey, EngineCache, Platform, default_cache_dir
from stack.engine.calibration import (
    CalibrationFeeder,
    CalibrationSource,
    ChannelOrder,
    Preprocess,
)
from stack.engine.errors import (
    BackendUnavailable,
    CalibrationError,
    EngineError,
    FeedError,
    ModelError,
)
from stack.engine.loader import load_engine, tensorrt_api
from stack.engine.model import OnnxModel, read_model
from stack.engine.options import CalibrationOptions, EngineOptions, OrtOptions, TensorRTOptions

__all__ = [
    "Backend",
    "BackendUnavailable",
    "CacheKey",
    "CalibrationError",
    "CalibrationFeeder",
    "CalibrationOptions",
    "CalibrationSource",
    "ChannelOrder",
    "Engine",
    "EngineCache",
    "EngineError",
    "EngineOptions",
    "FeedError",
    "Gate",
    "ModelError",
    "OnnxModel",
    "OrtOptions",
    "Platform",
    "Precision",
    "Preprocess",
    "ShapeRange",
    "TensorRTOptions",
    "TensorSpec",
    "check_feeds",
    "default_cache_dir",
    "example_feeds",
    "load_engine",
    "no_gate",
    "read_model",
    "tensorrt_api",
]
