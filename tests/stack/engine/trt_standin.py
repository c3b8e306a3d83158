"""A stand-in for the ``tensorrt`` and ``pycuda`` modules, enough to import and drive
stack.engine.tensorrt where neither can be installed. Each behaviour follows its source:

- ``nptype``: TensorRT's python/packaging/bindings_wheel/tensorrt/__init__.py, ``nptype``: a
  mapping of FLOAT, HALF, INT8, INT32, BOOL, UINT8 (INT64 from 10.x); anything else (BF16,
  FP8, INT4) raises ``TypeError("Could not resolve TensorRT datatype to an equivalent numpy
  datatype.")``.
- ``IBuilderConfig.set_timing_cache(cache, ignore_mismatch) -> bool`` and
  ``create_timing_cache(serialized) -> ITimingCache`` (tensorrt-stubs 10.13,
  tensorrt_bindings/tensorrt.pyi): a cache another TensorRT or device wrote is refused with
  False, not an exception.
- ``IInt8EntropyCalibrator2``: present in 8.5 to 10.x (deprecated from 10.1); ``calibrators``
  False leaves it out, as a TensorRT build without the legacy calibrators does.
"""

from __future__ import annotations

import enum
import sys
import types
from typing import Any

import numpy as np


class DataType(enum.IntEnum):  # values as in tensorrt_bindings/tensorrt.pyi
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    FP8 = 6
    BF16 = 7
    INT64 = 8
    INT4 = 9


_NUMPY = {
    DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8,
    DataType.INT32: np.int32, DataType.BOOL: np.bool_, DataType.UINT8: np.uint8,
    DataType.INT64: np.int64,
}  # fmt: skip


def nptype(trt_type: DataType) -> type:
    if trt_type in _NUMPY:
        return _NUMPY[trt_type]
    raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class ITimingCache:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def serialize(self) -> bytes:
        return self.data


class IBuilderConfig:
    """Refuses a timing cache whose bytes do not start with ``accepts``."""

    def __init__(self, accepts: bytes = b"") -> None:
        self.accepts = accepts
        self.timing_cache: ITimingCache | None = None

    def create_timing_cache(self, serialized_timing_cache: bytes) -> ITimingCache:
        return ITimingCache(bytes(serialized_timing_cache))

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
        if cache.data and not cache.data.startswith(self.accepts):
            return False
        self.timing_cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self.timing_cache


class FakeEngine:
    """An ICudaEngine with named I/O tensors: (name, mode, shape, dtype)."""

    def __init__(self, tensors: list[tuple[str, TensorIOMode, tuple, DataType]]) -> None:
        self.tensors = tensors
        self.num_io_tensors = len(tensors)

    def get_tensor_name(self, i: int) -> str:
        return self.tensors[i][0]

    def _find(self, name: str) -> tuple:
        return next(t for t in self.tensors if t[0] == name)

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return self._find(name)[1]

    def get_tensor_shape(self, name: str) -> tuple:
        return self._find(name)[2]

    def get_tensor_dtype(self, name: str) -> DataType:
        return self._find(name)[3]

    def create_execution_context(self) -> Any:
        engine = self

        class Context:
            def get_tensor_shape(self, name: str) -> tuple:
                return engine.get_tensor_shape(name)

            def set_tensor_address(self, name: str, address: int) -> bool:
                return True

        return Context()


def install(monkeypatch: Any, version: str = "10.13.0", calibrators: bool = True) -> Any:
    """Put stand-in ``tensorrt`` and ``pycuda.driver`` modules into sys.modules."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.DataType, trt.TensorIOMode, trt.nptype = DataType, TensorIOMode, nptype
    trt.ITimingCache, trt.IBuilderConfig = ITimingCache, IBuilderConfig

    class Logger:
        WARNING = 2

        def __init__(self, severity: int = 2) -> None:
            self.severity = severity

    trt.Logger = Logger
    for name in ("Builder", "INetworkDefinition", "OnnxParser", "IOptimizationProfile",
                 "Runtime", "ICudaEngine"):  # fmt: skip
        setattr(trt, name, type(name, (), {}))
    if calibrators:
        trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (), {})
    cuda = types.ModuleType("pycuda.driver")

    class Device:
        def __init__(self, index: int) -> None:
            pass

        @staticmethod
        def count() -> int:
            return 1

        def name(self) -> str:
            return "Xavier"

        def compute_capability(self) -> tuple[int, int]:
            return (7, 2)

        def retain_primary_context(self) -> Any:
            return types.SimpleNamespace(push=lambda: None)

    cuda.Device, cuda.init = Device, lambda: None
    cuda.Context = types.SimpleNamespace(pop=lambda: None)
    cuda.Stream = lambda: types.SimpleNamespace(handle=0, synchronize=lambda: None)
    cuda.pagelocked_empty = lambda size, dtype: np.empty(size, dtype)
    cuda.mem_alloc = lambda nbytes: 4096
    pycuda = types.ModuleType("pycuda")
    pycuda.driver = cuda
    for name, mod in {"tensorrt": trt, "pycuda": pycuda, "pycuda.driver": cuda}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    # Import stack.engine.tensorrt afresh over the stand-in, and forget it after the test
    # (monkeypatch restores the key's absence, whatever was imported meanwhile).
    monkeypatch.setitem(sys.modules, "stack.engine.tensorrt", types.ModuleType("placeholder"))
    del sys.modules["stack.engine.tensorrt"]
    return trt
