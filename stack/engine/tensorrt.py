"""TensorRT backend (8.5 on JetPack 5 through 10.x): the thin layer that touches TensorRT.

Only the name-based tensor API present across that range is used: ``num_io_tensors``,
``get_tensor_name`` / ``get_tensor_mode`` / ``get_tensor_shape``, ``set_input_shape``,
``set_tensor_address`` and ``execute_async_v3``. Host buffers are pycuda page-locked memory,
each engine has its own CUDA stream, and all CUDA work runs in device 0's primary context (the
one TensorRT's runtime API uses), pushed around each call so any executor thread may run it.
Build planning, profiles, INT8 routing and the cache live in build.py and cache.py.

Untested off the vehicle: needs tensorrt and pycuda with a CUDA device.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pycuda.driver as cuda
import tensorrt as trt

from stack.engine.base import Backend, EngineBase, Precision, spec_from_dims
from stack.engine.build import (
    BuildOptions,
    BuildResult,
    EngineLabels,
    Int8Route,
    LayerPlacement,
    ShapeRange,
    check_shape_in_range,
    version_tuple,
)
from stack.engine.cache import Platform
from stack.engine.calibration import CalibrationFeeder
from stack.engine.errors import BackendUnavailable, CalibrationError, EngineError
from stack.engine.model import OnnxModel

log = logging.getLogger(__name__)

_LOGGER = trt.Logger(trt.Logger.WARNING)
_TRT10 = version_tuple(trt.__version__) >= (10,)
_lock = threading.Lock()
_primary: cuda.Context | None = None


@contextlib.contextmanager
def _cuda() -> Iterator[None]:
    global _primary
    with _lock:
        if _primary is None:
            cuda.init()
            if cuda.Device.count() == 0:
                raise BackendUnavailable("TensorRT: no CUDA device")
            _primary = cuda.Device(0).retain_primary_context()
    _primary.push()
    try:
        yield
    finally:
        cuda.Context.pop()


def probe() -> Platform:
    with _cuda():
        dev = cuda.Device(0)
        major, minor = dev.compute_capability()
        return Platform(trt.__version__, dev.name(), f"{major}.{minor}")


def _entropy_calibrator(feeder: CalibrationFeeder, cache: bytes | None) -> Any:
    """An IInt8EntropyCalibrator2 over ``feeder``. The class is made on first use, not at import:
    a TensorRT without the (deprecated) calibrator classes must still load FP16/FP32 and Q/DQ
    engines instead of failing this whole module with AttributeError."""
    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None:
        raise CalibrationError(
            f"TensorRT {trt.__version__} has no IInt8EntropyCalibrator2: build INT8 from a "
            "Q/DQ model instead (l4 engine build --precision int8 quantizes one from the same data)"
        )

    class EntropyCalibrator(base):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            super().__init__()
            self.cache = cache
            self.error: Exception | None = None
            self._batches = feeder.batches()
            self._host = cuda.pagelocked_empty(feeder.shape, feeder.spec.dtype)
            self._device = cuda.mem_alloc(self._host.nbytes)

        def get_batch_size(self) -> int:
            return feeder.batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            # An exception must not cross into TensorRT: keep it and end calibration.
            try:
                batch = next(self._batches, None)
            except Exception as exc:
                self.error = exc
                return None
            if batch is None:
                return None
            self._host[...] = batch
            cuda.memcpy_htod(self._device, self._host)
            return [int(self._device)]

        def read_calibration_cache(self) -> bytes | None:
            return self.cache

        def write_calibration_cache(self, cache: object) -> None:
            self.cache = bytes(cache)  # type: ignore[call-overload]

    return EntropyCalibrator()


def _shape(dims: trt.Dims) -> tuple[int, ...]:
    """A TensorRT Dims as a tuple (by index: Dims is a sequence in every version, iterable by
    protocol only)."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def numpy_dtype(engine_name: str, tensor: str, trt_dtype: Any) -> np.dtype:
    """The numpy dtype of a tensor; TensorRT's ``nptype`` raises TypeError for types numpy has
    none of (BF16, FP8, INT4), which becomes an EngineError naming the tensor."""
    try:
        return np.dtype(trt.nptype(trt_dtype))
    except TypeError as exc:
        raise EngineError(
            f"{engine_name}: tensor {tensor!r} has TensorRT type "
            f"{getattr(trt_dtype, 'name', trt_dtype)}, which numpy cannot "
            "hold; rebuild with FP32/FP16 I/O"
        ) from exc


def _parse(builder: trt.Builder, model: OnnxModel) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    flags = 0 if _TRT10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, _LOGGER)
    if not parser.parse(model.data, str(model.path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"{model.path}: TensorRT's ONNX parser failed: {errors}")
    return network, parser  # the parser must outlive the network it filled


def _timing_cache(config: trt.IBuilderConfig, data: bytes | None) -> trt.ITimingCache:
    if data:
        try:
            cache = config.create_timing_cache(data)
            if cache is not None:
                return cache
        except Exception as exc:  # a stale or damaged timing cache only costs build time
            log.warning("TensorRT: ignoring unusable timing cache: %s", exc)
    return config.create_timing_cache(b"")


def _set_timing_cache(config: trt.IBuilderConfig, data: bytes | None) -> None:
    """``set_timing_cache`` returns False when TensorRT refuses the cache (another TensorRT or
    device wrote it): then build with a fresh one rather than silently with none."""
    if config.set_timing_cache(_timing_cache(config, data), False):
        return
    log.warning(
        "TensorRT: timing cache refused (%d bytes); building with a fresh one", len(data or b"")
    )
    if not config.set_timing_cache(config.create_timing_cache(b""), False):
        log.warning("TensorRT: a fresh timing cache was refused too; building without one")


def _profile(builder: trt.Builder, shapes: dict[str, ShapeRange]) -> trt.IOptimizationProfile:
    profile = builder.create_optimization_profile()
    for name, rng in shapes.items():
        profile.set_shape(
            name, trt.Dims(list(rng.min)), trt.Dims(list(rng.opt)), trt.Dims(list(rng.max))
        )
    return profile


def _use_dla(
    builder: trt.Builder, config: trt.IBuilderConfig, network: trt.INetworkDefinition, core: int
) -> tuple[LayerPlacement, ...]:
    if core >= builder.num_DLA_cores:
        raise BackendUnavailable(f"DLA core {core}: this device has {builder.num_DLA_cores}")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    layers = (network.get_layer(i) for i in range(network.num_layers))
    return tuple(
        LayerPlacement(layer.name, str(layer.type).rsplit(".", 1)[-1], config.can_run_on_DLA(layer))
        for layer in layers
    )


def build(
    model: OnnxModel,
    options: BuildOptions,
    timing_cache: bytes | None,
    calibration: CalibrationFeeder | None,
    calibration_cache: bytes | None,
) -> BuildResult:
    with _cuda():
        builder = trt.Builder(_LOGGER)
        network, _parser = _parse(builder, model)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
        _set_timing_cache(config, timing_cache)
        if options.precision in (Precision.FP16, Precision.INT8):
            config.set_flag(trt.BuilderFlag.FP16)  # INT8 engines keep FP16 for the rest
        if options.precision is Precision.INT8:
            config.set_flag(trt.BuilderFlag.INT8)
        if options.sparse_weights:
            config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        if options.shapes:
            config.add_optimization_profile(_profile(builder, dict(options.shapes)))
        calibrator = None
        if options.int8_route is Int8Route.CALIBRATOR and calibration is not None:
            calibrator = _entropy_calibrator(calibration, calibration_cache)
            config.int8_calibrator = calibrator
            if options.shapes:
                batch = tuple(calibration.shape)
                fixed = {calibration.spec.name: ShapeRange(batch, batch, batch)}
                config.set_calibration_profile(_profile(builder, fixed))
        placement: tuple[LayerPlacement, ...] = ()
        if options.dla_core is not None:
            placement = _use_dla(builder, config, network, options.dla_core)
        serialized = builder.build_serialized_network(network, config)
        if calibrator is not None and calibrator.error is not None:
            raise CalibrationError(f"{model.path}: {calibrator.error}")
        if serialized is None:
            raise EngineError(f"{model.path}: TensorRT engine build failed (see its log above)")
        return BuildResult(
            engine=bytes(serialized),
            timing_cache=bytes(config.get_timing_cache().serialize()),
            calibration_cache=calibrator.cache if calibrator else None,
            placement=placement,
        )


def load(data: bytes, labels: EngineLabels) -> TrtEngine | None:
    with _cuda():
        runtime = trt.Runtime(_LOGGER)
        if labels.dla_core is not None:
            runtime.DLA_core = labels.dla_core
        try:
            engine = runtime.deserialize_cuda_engine(data)
        except Exception as exc:  # some versions raise instead of returning None
            log.warning("TensorRT: cannot deserialize engine: %s", exc)
            engine = None
    if engine is None:
        return None
    return TrtEngine(engine, runtime, labels)


class TrtEngine(EngineBase):
    backend = Backend.TENSORRT

    def __init__(self, engine: trt.ICudaEngine, runtime: trt.Runtime, labels: EngineLabels):
        self._engine, self._runtime = engine, runtime  # the runtime must outlive the engine
        self._run_lock = threading.Lock()
        with _cuda():
            self._context = engine.create_execution_context()
            self._stream = cuda.Stream()
            inputs, outputs, self._ranges = [], [], {}
            for i in range(engine.num_io_tensors):
                name = engine.get_tensor_name(i)
                dtype = numpy_dtype(labels.name, name, engine.get_tensor_dtype(name))
                spec = spec_from_dims(name, _shape(engine.get_tensor_shape(name)), dtype)
                if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                    inputs.append(spec)
                    if spec.is_dynamic:
                        lo, opt, hi = engine.get_tensor_profile_shape(name, 0)
                        self._ranges[name] = ShapeRange(_shape(lo), _shape(opt), _shape(hi))
                        self._context.set_input_shape(name, hi)
                else:
                    outputs.append(spec)
            self._host, self._device = {}, {}
            for spec in [*inputs, *outputs]:
                biggest = _shape(self._context.get_tensor_shape(spec.name))
                if any(d < 0 for d in biggest):
                    raise EngineError(
                        f"{labels.name}: output {spec.name!r} has a data-dependent shape"
                    )
                self._host[spec.name] = cuda.pagelocked_empty(int(np.prod(biggest)), spec.dtype)
                self._device[spec.name] = cuda.mem_alloc(max(self._host[spec.name].nbytes, 1))
                self._context.set_tensor_address(spec.name, int(self._device[spec.name]))
        self._shapes: dict[str, tuple[int, ...]] = {}
        device = f"TensorRT {trt.__version__}" + (
            f" DLA {labels.dla_core}" if labels.dla_core is not None else ""
        )
        super().__init__(
            name=labels.name, variant=labels.variant, precision=labels.precision, device=device,
            inputs=inputs, outputs=outputs, gate=labels.gate, priority=labels.priority,
        )  # fmt: skip

    def warmup_feeds(self) -> dict[str, np.ndarray]:
        feeds = super().warmup_feeds()
        for name, rng in self._ranges.items():
            feeds[name] = np.zeros(rng.opt, feeds[name].dtype)
        return feeds

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._run_lock, _cuda():
            for spec in self.inputs:
                array = feeds[spec.name]
                if spec.name in self._ranges and self._shapes.get(spec.name) != array.shape:
                    check_shape_in_range(self.name, spec.name, array.shape, self._ranges[spec.name])
                    self._context.set_input_shape(spec.name, array.shape)
                    self._shapes[spec.name] = array.shape
                host = self._host[spec.name][: array.size].reshape(array.shape)
                host[...] = array
                cuda.memcpy_htod_async(self._device[spec.name], host, self._stream)
            if not self._context.execute_async_v3(self._stream.handle):
                raise EngineError(f"{self.name}: TensorRT execute_async_v3 failed")
            results = {}
            for spec in self.outputs:
                shape = _shape(self._context.get_tensor_shape(spec.name))
                host = self._host[spec.name][: int(np.prod(shape))].reshape(shape)
                cuda.memcpy_dtoh_async(host, self._device[spec.name], self._stream)
                results[spec.name] = host
            self._stream.synchronize()
        # Page-locked buffers are reused by the next run; hand out copies.
        return {name: host.copy() for name, host in results.items()}
