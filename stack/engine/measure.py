"""Measuring engines: latency statistics, fair interleaved A/B timing, output comparison.

Used by `l4 engine bench|compare` and the `engine` benchmark; timing lives here and in
benchmarks, never in tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stack.engine.base import Backend, Engine, example_feeds
from stack.engine.errors import EngineError

# Our ONNX Runtime backend may trail a bare InferenceSession by 5 % or 50 us at p50.
BASELINE_RATIO_TARGET = 1.05
BASELINE_DELTA_TARGET_US = 50.0


@dataclass(frozen=True)
class LatencyStats:
    runs: int
    p50_us: float
    p99_us: float
    mean_us: float
    max_us: float
    throughput_per_s: float  # inferences (batch items) per second at the mean latency

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def latency_stats(samples_ns: list[int], batch: int = 1) -> LatencyStats:
    us = np.asarray(samples_ns, np.float64) / 1e3
    mean = float(us.mean())
    return LatencyStats(
        runs=len(us),
        p50_us=float(np.percentile(us, 50)),
        p99_us=float(np.percentile(us, 99)),
        mean_us=mean,
        max_us=float(us.max()),
        throughput_per_s=batch * 1e6 / mean if mean > 0 else 0.0,
    )


def time_calls(fn: Callable[[], Any], n: int) -> list[int]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t0)
    return out


def interleaved(
    fns: Mapping[str, Callable[[], Any]], iters: int, block: int = 20, warmup: int = 10
) -> dict[str, list[int]]:
    """``iters`` timed calls of each function in blocks of ``block``, alternating which goes
    first (A,B, B,A, ...), so drift and neighbours' load on a noisy machine hit all alike."""
    names = list(fns)
    for name in names:
        time_calls(fns[name], warmup)
    samples: dict[str, list[int]] = {name: [] for name in names}
    k = 0
    while any(len(s) < iters for s in samples.values()):
        order = names if k % 2 == 0 else names[::-1]
        for name in order:
            samples[name] += time_calls(fns[name], min(block, iters - len(samples[name])))
        k += 1
    return samples


def bare_session_runner(
    model: Path, threads: int | None, feeds: Mapping[str, np.ndarray]
) -> Callable[[], Any]:
    """A plain ``InferenceSession.run`` on the CPU with only the thread count set: the baseline
    our ONNX Runtime backend is held against."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    feed = dict(feeds)
    return lambda: session.run(None, feed)


@dataclass(frozen=True)
class OutputError:
    name: str
    max_abs: float
    max_rel: float  # |a - ref| / |ref|, with |ref| floored at 1e-3 of the output's max |ref|

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def output_errors(
    got: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray]
) -> list[OutputError]:
    errors = []
    for name, r in ref.items():
        a = np.asarray(got[name], np.float64)
        r64 = np.asarray(r, np.float64)
        if a.shape != r64.shape:
            raise EngineError(f"output {name!r}: shape {a.shape} vs reference {r64.shape}")
        diff = np.abs(a - r64)
        floor = max(1e-3 * float(np.abs(r64).max(initial=0.0)), 1e-12)
        rel = diff / np.maximum(np.abs(r64), floor)
        errors.append(OutputError(name, float(diff.max(initial=0.0)), float(rel.max(initial=0.0))))
    return errors


def baseline_verdict(ours: LatencyStats, bare: LatencyStats) -> dict[str, Any]:
    """Our p50 against the bare session's: the ratio, the difference, and whether in target."""
    ratio = ours.p50_us / bare.p50_us
    delta = ours.p50_us - bare.p50_us
    return {
        "bare_onnxruntime": bare.to_dict(),
        "p50_ratio": round(ratio, 4),
        "p50_delta_us": round(delta, 2),
        "within_target": bool(ratio <= BASELINE_RATIO_TARGET or delta <= BASELINE_DELTA_TARGET_US),
        "target": f"p50 ratio <= {BASELINE_RATIO_TARGET} or delta <= "
        f"{BASELINE_DELTA_TARGET_US:g} us",
    }


def bench_engine(
    engine: Engine,
    model: Path,
    iters: int,
    threads: int | None,
    batch: int = 1,
    baseline: bool = True,
) -> dict[str, Any]:
    """Latency of ``engine`` on seeded random inputs; for ONNX Runtime, interleaved with a bare
    InferenceSession on the same model, inputs and thread count."""
    feeds = example_feeds(engine.inputs, dynamic=batch, seed=0)
    runners: dict[str, Callable[[], Any]] = {"ours": lambda: engine.run(feeds)}
    baseline = baseline and engine.backend is Backend.ONNXRUNTIME
    if baseline:
        runners["bare_onnxruntime"] = bare_session_runner(model, threads, feeds)
    samples = interleaved(runners, iters)
    ours = latency_stats(samples["ours"], batch)
    result: dict[str, Any] = {
        "model": str(model),
        "backend": engine.backend.value,
        "device": engine.device,
        "precision": engine.precision.value,
        "threads": threads,
        "batch": batch,
        "iters": iters,
        "ours": ours.to_dict(),
    }
    if baseline:
        result.update(baseline_verdict(ours, latency_stats(samples["bare_onnxruntime"], batch)))
    return result
