"""Errors of the inference engine subsystem; each message names the model, tensor or file at fault."""

from __future__ import annotations

from stack.errors import L4Error


class EngineError(L4Error):
    """Any failure to load, build or run an inference engine."""


class ModelError(EngineError):
    """The model file is missing, unreadable or not an ONNX model."""


class FeedError(EngineError):
    """An input given to ``Engine.run`` does not match the engine's inputs (name, shape, dtype)."""


class BackendUnavailable(EngineError):
    """The requested backend (TensorRT, a CUDA device, an execution provider) is not present."""


class CalibrationError(EngineError):
    """INT8 calibration data could not be read or does not fit the network."""
