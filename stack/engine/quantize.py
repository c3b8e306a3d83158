"""Explicit (Q/DQ) INT8 quantization of an ONNX model with ONNX Runtime's static quantizer.

TensorRT >= 10.1 deprecates implicit INT8 calibration and builds INT8 from a Q/DQ-quantized
ONNX instead; this makes one from the same calibration feeder. Quantization is symmetric
(zero point 0) and per-channel for weights, as TensorRT requires, and biases stay float:
ONNX Runtime's quantizer would otherwise quantize each bias to an INT32 ``DequantizeLinear``
input, which TensorRT's ONNX parser refuses ("only activation types allowed as input to this
layer"), so no engine would build. :func:`int32_dequantize_inputs` checks a file for that.

Activations: ``ActivationType.INT8_SYMMETRIC`` (TensorRT) or ``UINT8`` (ONNX Runtime's fast
U8S8 kernels on x86; asymmetric, which TensorRT does not take).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from stack.engine.calibration import CalibrationFeeder
from stack.engine.errors import CalibrationError

log = logging.getLogger(__name__)

# What the Q/DQ recipe is, for cache keys: a change here must not reuse files made before.
QDQ_RECIPE = "qdq:s8-sym-act,s8-sym-per-channel-w,float-bias"


class ActivationType(str, enum.Enum):
    INT8_SYMMETRIC = "int8"  # zero point 0: TensorRT's explicit quantization
    UINT8 = "uint8"  # asymmetric: ONNX Runtime's U8S8 CPU kernels


def int32_dequantize_inputs(model: onnx.ModelProto) -> list[str]:
    """Names of the DequantizeLinear nodes whose input is INT32 (TensorRT refuses them)."""
    types = {i.name: i.data_type for i in model.graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(model)
    for v in (*inferred.graph.value_info, *inferred.graph.input):
        types.setdefault(v.name, v.type.tensor_type.elem_type)
    return [
        n.name or n.output[0]
        for n in model.graph.node
        if n.op_type == "DequantizeLinear" and types.get(n.input[0]) == onnx.TensorProto.INT32
    ]


class _FeedReader(CalibrationDataReader):
    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]) -> None:
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


class _QuietQuantizer(logging.Filter):
    """The quantizer logs advice on the root logger at WARNING on every call; keep it at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "onnxruntime" in record.pathname and "quantization" in record.pathname:
            log.debug("onnxruntime.quantization: %s", record.getMessage())
            return False
        return True


@contextlib.contextmanager
def _quiet_root() -> Iterator[None]:
    quiet = _QuietQuantizer()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def quantize_qdq(model: Path, out: Path, feeder: CalibrationFeeder) -> Path:
    """Write a Q/DQ INT8 copy of ``model`` calibrated on ``feeder``'s images to ``out``
    (complete or not at all: written beside it, then renamed), for TensorRT and ORT alike."""
    name = feeder.spec.name
    return quantize_feeds(model, out, ({name: b} for b in feeder.batches()))


def quantize_feeds(
    model: Path,
    out: Path,
    feeds: Iterable[dict[str, np.ndarray]],
    activations: ActivationType = ActivationType.INT8_SYMMETRIC,
) -> Path:
    """Q/DQ INT8 of ``model`` calibrated (min/max) on ``feeds``: per-channel symmetric INT8
    weights, float biases, activations as asked; written to ``out`` atomically."""
    symmetric = activations is ActivationType.INT8_SYMMETRIC
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    upgraded = out.with_name(f".{out.name}.{os.getpid()}.opset13.onnx")
    try:
        model = _at_least_opset13(model, upgraded)
        with _quiet_root():
            quantize_static(
                str(model),
                str(partial),
                _FeedReader(feeds),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={
                    "ActivationSymmetric": symmetric,
                    "WeightSymmetric": True,
                    "QuantizeBias": False,
                },
            )
        os.replace(partial, out)
    except CalibrationError:
        raise
    except Exception as exc:  # the quantizer raises plain RuntimeError / ValueError
        raise CalibrationError(f"{model}: Q/DQ quantization failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
        upgraded.unlink(missing_ok=True)
    return out


def _at_least_opset13(model: Path, scratch: Path) -> Path:
    """Per-channel DequantizeLinear (its ``axis``) needs opset 13: an older model is converted
    (onnx.version_converter) into ``scratch`` first, else the quantizer writes an invalid file."""
    proto = onnx.load(model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    if opset >= 13:
        return model
    try:
        converted = onnx.version_converter.convert_version(proto, 13)
    except Exception as exc:  # the converter raises its own errors per op
        raise CalibrationError(
            f"{model}: opset {opset} -> 13 for per-channel Q/DQ failed: {exc}"
        ) from None
    onnx.save(converted, scratch)
    return scratch
