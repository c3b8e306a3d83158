"""Explicit (Q/DQ) INT8 quantization of an ONNX model with ONNX Runtime's static quantizer.

TensorRT >= 10.1 deprecates implicit INT8 calibration and builds INT8 from a Q/DQ-quantized
ONNX instead; this makes one from the same calibration feeder. Quantization is symmetric
(zero point 0) and per-channel for weights, as TensorRT requires.
"""

from __future__ import annotations

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


class _FeederReader(CalibrationDataReader):
    def __init__(self, feeder: CalibrationFeeder) -> None:
        self._name = feeder.spec.name
        self._batches: Iterator[np.ndarray] = feeder.batches()

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._name: batch}


def quantize_qdq(model: Path, out: Path, feeder: CalibrationFeeder) -> Path:
    """Write a Q/DQ INT8 copy of ``model`` calibrated on ``feeder``'s images to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        quantize_static(
            str(model),
            str(out),
            _FeederReader(feeder),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
    except CalibrationError:
        raise
    except Exception as exc:  # the quantizer raises plain RuntimeError / ValueError
        raise CalibrationError(f"{model}: Q/DQ quantization failed: {exc}") from None
    return out
