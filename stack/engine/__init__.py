"""Inference engines: TensorRT and ONNX Runtime behind one interface, with an engine cache.

    engine = load_engine("detector.onnx", backend="auto", precision="fp16", intra_op_threads=2)
    outputs = engine.run({"images": batch})     # dict name -> numpy array

Every DNN node runs through here (``ctx.engine(model, **options)`` forwards to
:func:`load_engine`); on the vehicle that is TensorRT, elsewhere ONNX Runtime, and the node
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

__all__ = [
    "Backend",
    "BackendUnavailable",
    "CacheKey",
    "CalibrationError",
    "CalibrationFeeder",
    "CalibrationSource",
    "ChannelOrder",
    "Engine",
    "EngineCache",
    "EngineError",
    "FeedError",
    "Gate",
    "ModelError",
    "OnnxModel",
    "Platform",
    "Precision",
    "Preprocess",
    "ShapeRange",
    "TensorSpec",
    "check_feeds",
    "default_cache_dir",
    "example_feeds",
    "load_engine",
    "no_gate",
    "read_model",
    "tensorrt_api",
]
