"""``load_engine``: pick the backend, and for TensorRT go through the engine cache.

"auto" picks TensorRT where it imports and a CUDA device exists, else ONNX Runtime (CUDA
execution provider if present, else CPU), and logs which and why.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stack.engine.base import Backend, Engine, Precision
from stack.engine.build import (
    BuildOptions,
    EngineLabels,
    Int8Route,
    ShapeRange,
    TrtApi,
    placement_report,
    plan_int8,
    shape_ranges,
    sparse_weights_supported,
)
from stack.engine.cache import CacheKey, EngineCache, atomic_write
from stack.engine.calibration import CalibrationFeeder, CalibrationSource, Preprocess
from stack.engine.errors import BackendUnavailable, CalibrationError, EngineError, ModelError
from stack.engine.model import OnnxModel, read_model
from stack.engine.options import CalibrationArg, EngineOptions, OrtOptions
from stack.engine.ort import OrtEngine
from stack.engine.trt_qdq import require_tensorrt_qdq

log = logging.getLogger(__name__)


def tensorrt_api() -> tuple[TrtApi | None, str]:
    """The TensorRT backend module where TensorRT imports and a CUDA device exists, else why not."""
    try:
        api: Any = importlib.import_module("stack.engine.tensorrt")
    except Exception as exc:  # ImportError, and whatever a partial TensorRT raises at import
        return None, f"TensorRT not importable: {type(exc).__name__}: {exc}"
    try:
        api.probe()
    except Exception as exc:  # pycuda / driver errors of every kind: just not usable here
        return None, f"no usable CUDA device: {exc}"
    return api, ""


def make_feeder(
    calibration: CalibrationArg,
    model: OnnxModel,
    preprocess: Preprocess | None = None,
    batch_size: int = 8,
    max_images: int = 512,
) -> CalibrationFeeder | None:
    """A calibration feeder for the model's single image input, from any accepted form."""
    if calibration is None or isinstance(calibration, CalibrationFeeder):
        return calibration
    if len(model.inputs) != 1:
        raise CalibrationError(
            f"{model.name}: calibration from images needs one input, the model has "
            f"{[s.name for s in model.inputs]}"
        )
    source = (
        calibration
        if isinstance(calibration, CalibrationSource)
        else CalibrationSource.parse(str(calibration))
    )
    spec = model.inputs[0]
    batch = spec.shape[0] if spec.shape and spec.shape[0] is not None else batch_size
    return CalibrationFeeder(source, spec, preprocess, int(batch), max(max_images, int(batch)))


def _shape_overrides(shapes: Mapping[str, Any] | None) -> dict[str, ShapeRange]:
    out = {}
    for name, rng in (shapes or {}).items():
        if isinstance(rng, ShapeRange):
            out[name] = rng
        elif isinstance(rng, Sequence) and len(rng) == 3:
            out[name] = ShapeRange(*(tuple(int(d) for d in s) for s in rng))
        else:
            raise EngineError(f"shapes[{name!r}]={rng!r}: give (min, opt, max) shapes")
    return out


def _qdq_model(model: OnnxModel, feeder: CalibrationFeeder, cache: EngineCache) -> OnnxModel:
    """The model quantized with Q/DQ nodes from the calibration data, made once and kept."""
    from stack.engine.quantize import QDQ_RECIPE, quantize_qdq

    path = cache.derived_path(
        model.name, model.sha256, f"{feeder.identity()}|{QDQ_RECIPE}", ".qdq.onnx"
    )
    if path.exists():
        try:
            return read_model(path)
        except ModelError as exc:
            log.warning("engine cache: re-quantizing: %s", exc)
    log.info("%s: quantizing to Q/DQ INT8 from %s", model.name, feeder.source.identity())
    return read_model(quantize_qdq(model.path, path, feeder))


def _load_onnxruntime(
    model: OnnxModel,
    precision: Precision,
    feeder: CalibrationFeeder | None,
    cache: EngineCache,
    options: OrtOptions,
    labels: EngineLabels,
) -> OrtEngine:
    run_model = model
    if precision is Precision.INT8 and not model.has_qdq:
        if feeder is not None:
            run_model = _qdq_model(model, feeder, cache)
        else:
            log.warning("%s: int8 without calibration data: ONNX Runtime runs fp32", model.name)
    elif precision is Precision.FP16:
        log.info("%s: fp16 is a TensorRT option; ONNX Runtime runs the model as is", model.name)
    return OrtEngine(
        run_model,
        options,
        name=labels.name,
        variant=labels.variant,
        gate=labels.gate,
        priority=labels.priority,
    )


def _save_blob(path: Path, data: bytes | None, what: str) -> None:
    if not data:
        return
    try:
        atomic_write(path, data)
    except OSError as exc:  # an unwritable cache costs the next launch a rebuild, no more
        log.warning("engine cache: cannot write %s %s: %s", what, path, exc.strerror)


def load_tensorrt(
    api: TrtApi,
    model: OnnxModel,
    options: BuildOptions,
    feeder: CalibrationFeeder | None,
    cache: EngineCache,
    labels: EngineLabels,
    rebuild: bool = False,
) -> Engine:
    """A cached engine when one fits, else build once, store, and say why it was built."""
    platform = api.probe()
    key = CacheKey.make(
        model.sha256, platform, options.precision.value, options.dla_core, options.flags()
    )
    lookup = cache.lookup(model.name, key)
    reason = "rebuild requested" if rebuild else lookup.reason
    if lookup.data is not None and not rebuild:
        engine = api.load(lookup.data, labels)
        if engine is not None:
            log.info("%s: cached TensorRT engine %s", model.name, lookup.path)
            return engine
        reason = f"cached engine {lookup.path.name} does not deserialize"
        cache.invalidate(lookup.path, reason)
    log.info("%s: building TensorRT engine (%s)", model.name, reason)
    build_model = model
    if options.int8_route is Int8Route.QUANTIZE_QDQ and feeder is not None:
        build_model = _qdq_model(model, feeder, cache)
        feeder = None
    if build_model.has_qdq:  # a rule TensorRT's parser or builder would refuse, named first
        require_tensorrt_qdq(build_model.proto, str(build_model.path))
    timing_path = cache.timing_cache_path(platform)
    calib_path = cache.derived_path(
        model.name, model.sha256, options.calibration_id or "", ".calib"
    )
    result = api.build(
        build_model,
        options,
        cache.read_blob(timing_path),
        feeder,
        cache.read_blob(calib_path) if feeder is not None else None,
    )
    _save_blob(timing_path, result.timing_cache, "timing cache")
    _save_blob(calib_path, result.calibration_cache, "calibration cache")
    if options.dla_core is not None and result.placement:
        log.info("%s: %s", model.name, placement_report(result.placement, options.dla_core))
    extra = {"reason": reason, "dla_fallback": [p.name for p in result.placement if not p.on_dla]}
    try:
        cache.store(model.name, key, result.engine, extra)
    except OSError as exc:
        log.warning("engine cache: cannot store %s: %s", model.name, exc.strerror)
    engine = api.load(result.engine, labels)
    if engine is None:
        raise EngineError(f"{model.path}: TensorRT cannot load the engine it just built")
    return engine


def _choose_backend(backend: Backend, model: OnnxModel) -> tuple[Backend, TrtApi | None]:
    if backend is Backend.ONNXRUNTIME:
        return backend, None
    api, why = tensorrt_api()
    if backend is Backend.TENSORRT:
        if api is None:
            raise BackendUnavailable(f"{model.name}: backend tensorrt unavailable: {why}")
        return backend, api
    chosen = Backend.TENSORRT if api is not None else Backend.ONNXRUNTIME
    log.info("%s: backend auto -> %s%s", model.name, chosen.value, f" ({why})" if why else "")
    return chosen, api


def _build_options(
    api: TrtApi, model: OnnxModel, options: EngineOptions, feeder: CalibrationFeeder | None
) -> BuildOptions:
    """The TensorRT build settings: precision, INT8 route, optimization profiles."""
    trt = options.tensorrt
    platform = api.probe()
    route = None
    if options.precision is Precision.INT8:
        route = plan_int8(platform.trt_version, model.has_qdq, feeder is not None)
    sparse = trt.sparse_weights
    if sparse:
        sparse, why = sparse_weights_supported(platform.compute_capability)
        if not sparse:
            log.warning("%s: %s", model.path.name, why)
    return BuildOptions(
        precision=options.precision,
        dla_core=trt.dla_core,
        sparse_weights=sparse,
        workspace_mb=trt.workspace_mb,
        shapes=shape_ranges(model.inputs, trt.max_batch, _shape_overrides(trt.shapes)),
        int8_route=route,
        calibration_id=feeder.identity()
        if feeder is not None and route is not Int8Route.QDQ
        else None,
    )


def load_engine(
    onnx_path: str | Path,
    options: EngineOptions | None = None,
    *,
    trt_api: TrtApi | None = None,
) -> Engine:
    """Load ``onnx_path`` as an Engine with ``options`` (defaults: auto backend, fp32).

    ``trt_api`` replaces the TensorRT module (tests).
    """
    opts = options if options is not None else EngineOptions()
    model = read_model(onnx_path)
    if trt_api is not None and opts.backend is not Backend.ONNXRUNTIME:
        chosen, api = Backend.TENSORRT, trt_api
    else:
        chosen, api = _choose_backend(opts.backend, model)
    cache = EngineCache(opts.cache_dir)
    cal = opts.calibration
    feeder = make_feeder(cal.data, model, cal.preprocess, cal.batch, cal.images)
    labels = EngineLabels(
        name=model.name,
        variant=opts.variant or model.path.stem,
        precision=opts.precision,
        dla_core=opts.tensorrt.dla_core,
        gate=opts.gate,
        priority=opts.priority,
    )
    if chosen is Backend.ONNXRUNTIME:
        return _load_onnxruntime(model, opts.precision, feeder, cache, opts.ort, labels)
    assert api is not None  # _choose_backend returns an api with TENSORRT
    try:
        build = _build_options(api, model, opts, feeder)
        return load_tensorrt(api, model, build, feeder, cache, labels, opts.tensorrt.rebuild)
    except Exception as exc:  # EngineError, and whatever TensorRT or pycuda raise
        if opts.backend is not Backend.AUTO:
            if isinstance(exc, EngineError):
                raise
            raise EngineError(
                f"{model.path}: TensorRT failed: {type(exc).__name__}: {exc}"
            ) from exc
        log.warning("%s: TensorRT failed, falling back to ONNX Runtime: %s", model.name, exc)
        return _load_onnxruntime(model, opts.precision, feeder, cache, opts.ort, labels)
