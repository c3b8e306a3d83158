"""ONNX Runtime backend: the reference backend, and the one used off the vehicle.

Session options are set for latency: full graph optimization, sequential execution, one
inter-op thread and as many intra-op threads as the node's executor has cores (pinned to them
when the cores are given). With a device execution provider (CUDA) runs go through I/O binding,
so outputs are copied from the device straight into the returned arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from stack.engine.base import Backend, EngineBase, Gate, Precision, spec_from_dims
from stack.engine.errors import BackendUnavailable, EngineError
from stack.engine.model import OnnxModel
from stack.engine.options import OrtOptions
from stack.engine.qdq_relu import fold_symmetric_relus

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int16)": np.int16,
    "tensor(uint16)": np.uint16,
    "tensor(int32)": np.int32,
    "tensor(uint32)": np.uint32,
    "tensor(int64)": np.int64,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def choose_providers(available: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The execution providers to use, CPU always last as the fallback."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise BackendUnavailable(
                f"ONNX Runtime execution provider {missing[0]!r} not available; "
                f"available: {list(available)}"
            )
        chosen = list(requested)
    else:
        chosen = [CUDA] if CUDA in available else []
    return [*chosen, CPU] if CPU not in chosen else chosen


def affinity_string(cores: Sequence[int], threads: int) -> str:
    """ORT's ``session.intra_op_thread_affinities``: one entry per pool thread (the calling
    thread is the first of ``threads`` and is pinned by the executor), 1-based processor ids."""
    pool = [cores[i % len(cores)] for i in range(1, threads)]
    return ";".join(str(c + 1) for c in pool)


def session_options(opts: OrtOptions) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only; ORT's warnings go to stderr, not our logger
    threads = opts.threads()
    if threads is not None:
        if threads < 1:
            raise EngineError(f"intra_op_threads={threads} must be >= 1")
        so.intra_op_num_threads = threads
        if opts.cores and threads > 1:
            so.add_session_config_entry(
                "session.intra_op_thread_affinities", affinity_string(opts.cores, threads)
            )
    if opts.spin is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if opts.spin else "0")
    return so


def _specs(args: Sequence[ort.NodeArg], model: str) -> list:
    specs = []
    for arg in args:
        if arg.type not in _ORT_DTYPES:
            raise EngineError(f"{model}: tensor {arg.name!r} has unsupported type {arg.type}")
        specs.append(spec_from_dims(arg.name, arg.shape or [], _ORT_DTYPES[arg.type]))
    return specs


class OrtEngine(EngineBase):
    backend = Backend.ONNXRUNTIME

    def __init__(
        self,
        model: OnnxModel,
        options: OrtOptions,
        *,
        name: str | None = None,
        variant: str | None = None,
        gate: Gate | None = None,
        priority: int = 0,
    ) -> None:
        providers = choose_providers(ort.get_available_providers(), options.providers)
        source: str | bytes = str(model.path)
        if model.has_qdq and providers == [CPU]:
            proto, folded = fold_symmetric_relus(model.proto)
            if folded:
                log.info("%s: %d symmetric INT8 ReLU chains folded for ORT CPU", model.name, folded)
                source = proto.SerializeToString()
        try:
            self._session = ort.InferenceSession(
                source, session_options(options), providers=providers
            )
        except Exception as exc:  # ORT raises its own Fail / InvalidGraph / RuntimeError
            raise EngineError(f"{model.path}: ONNX Runtime cannot load it: {exc}") from None
        used = self._session.get_providers()[0]
        self._io_binding = options.io_binding if options.io_binding is not None else used != CPU
        self._output_device = "cuda" if used == CUDA else "cpu"
        self._output_names = [o.name for o in self._session.get_outputs()]
        super().__init__(
            name=name or model.name,
            variant=variant or Path(name or model.name).stem,
            precision=Precision.INT8 if model.has_qdq else Precision.FP32,
            device=used,
            inputs=_specs(self._session.get_inputs(), model.name),
            outputs=_specs(self._session.get_outputs(), model.name),
            gate=gate,
            priority=priority,
        )
        self.threads = options.threads()

    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            if self._io_binding:
                return self._infer_bound(feeds)
            return dict(zip(self._output_names, self._session.run(self._output_names, feeds)))
        except Exception as exc:  # a shape the graph rejects deep inside, e.g. a Reshape
            raise EngineError(f"{self.name}: inference failed: {exc}") from None

    def _infer_bound(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # A binding per run: engines may be shared by callbacks on several threads.
        binding = self._session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name in self._output_names:
            binding.bind_output(name, self._output_device)
        self._session.run_with_iobinding(binding)
        return dict(zip(self._output_names, binding.copy_outputs_to_cpu()))
