"""Explicit (Q/DQ) INT8 quantization of an ONNX model with ONNX Runtime's static quantizer.

TensorRT >= 10.1 deprecates implicit INT8 calibration and builds INT8 from a Q/DQ-quantized
ONNX instead; this makes one from the same calibration feeder. Quantization is symmetric
(zero point 0) and per-channel for weights, as TensorRT requires.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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


class _FeederReader(CalibrationDataReader):
    def __init__(self, feeder: CalibrationFeeder) -> None:
        self._name = feeder.spec.name
        self._batches: Iterator[np.ndarray] = feeder.batches()

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}


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
    (complete or not at all: written beside it, then renamed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with _quiet_root():
            quantize_static(
                str(model),
                str(partial),
                _FeederReader(feeder),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
            )
        os.replace(partial, out)
    except CalibrationError:
        raise
    except Exception as exc:  # the quantizer raises plain RuntimeError / ValueError
        raise CalibrationError(f"{model}: Q/DQ quantization failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return out
