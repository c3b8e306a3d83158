"""Model-alone ONNX Runtime CPU timing shared by the compress tools and benches."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np


def as_cpu_backend_runs(model: str | bytes) -> str | bytes:
    """``model`` (a path or serialized bytes) as the ORT CPU backend runs it: a Q/DQ model in
    TensorRT's symmetric layout with its ReLU chains folded (:mod:`stack.engine.qdq_relu`), so
    a figure measured here is the one the node gets; any other model unchanged."""
    import onnx

    from stack.engine.qdq_relu import fold_symmetric_relus

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model)
    folded, count = fold_symmetric_relus(proto)  # the model itself when nothing folds
    return folded.SerializeToString() if count else model


def cpu_session(model: str | bytes, threads: int) -> Any:
    """An ORT CPU session on ``model`` (a path or serialized bytes), ``threads`` intra-op, the
    model as the ORT CPU backend runs it (:func:`as_cpu_backend_runs`)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(
        as_cpu_backend_runs(model), opts, providers=["CPUExecutionProvider"]
    )


def interleaved_ms(
    sessions: Mapping[str, Any], feeds: Mapping[str, dict], threads: int, rounds: int, warmup: int
) -> dict[str, float]:
    """Median ms per session, round robin (interleaved) after ``warmup`` rounds. With 1 thread
    ORT runs in the calling thread, so the clock is that thread's CPU time (a neighbour's load on
    a shared host is not counted); with more, wall time."""
    clock = time.thread_time_ns if threads == 1 else time.perf_counter_ns
    times: dict[str, list[int]] = {n: [] for n in sessions}
    for r in range(rounds + warmup):
        for name, sess in sessions.items():
            feed = feeds[name]
            t0 = clock()
            sess.run(None, feed)
            if r >= warmup:
                times[name].append(clock() - t0)
    return {n: float(np.median(t)) / 1e6 for n, t in times.items()}
