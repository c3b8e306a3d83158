"""`l4 bench trace`: what tracing costs a callback, and whether the writer ever stalls one.

1. Overhead: one lockstep Runtime (a chain of Work nodes with no work) runs blocks of cycles,
   alternating its tracer between off and a TraceWriter, in this one process. Per-callback
   overhead = median(per-callback time traced) - median(per-callback time untraced).
2. Stall: a callback loop (2 us of work each, idling 0.2 ms after every 20 as a worker waiting
   for input does) records 1 million executor-shaped records into a TraceWriter while its thread
   flushes them; the gaps between consecutive callbacks are compared with the same loop
   untraced. Run twice: with the collector on (its pauses are reported: tracing keeps records
   alive until flushed, so full collections come more often) and with it off, which leaves the
   stall the writer thread itself causes (GIL hold while it pickles one chunk).
3. Read-back: the 1M-record trace is read and its chain samples computed.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stack.executor import Runtime, SimClock
from stack.graph import parse_graph
from stack.msgs import new, ns_to_stamp
from stack.nodes.synthetic import spin_for
from stack.trace import Tracer, TraceWriter, chain_samples, read_trace
from stack.trace.records import Origin

TARGET_OVERHEAD_US = 3.0  # median per callback, against the same run untraced
HOPS = 4


def _chain_graph() -> str:
    nodes = "\n".join(
        f"  w{i}: {{class: stack.nodes.synthetic:Work, "
        f"params: {{input: /t{i}, output: /t{i + 1}, work_ms: 0.0}}}}"
        for i in range(HOPS)
    )
    path = ", ".join(f"/t{i}" for i in range(HOPS + 1))
    return f"name: trace_bench\nnodes:\n{nodes}\nchains:\n  c: {{path: [{path}], budget_ms: 10}}\n"


def _image(stamp_ns: int) -> Any:
    header = new("std_msgs/msg/Header", stamp=ns_to_stamp(stamp_ns), frame_id="f")
    return new("sensor_msgs/msg/Image", header=header, height=1, width=1, encoding="mono8", step=1)


def _block(rt: Runtime, msg: Any, cycles: int) -> np.ndarray:
    """Per-callback ns of each cycle (inject + run to idle = HOPS callbacks)."""
    out = np.empty(cycles, np.int64)
    clock = time.perf_counter_ns
    for i in range(cycles):
        t0 = clock()
        rt.inject("/t0", msg)
        rt.run_until_idle()
        out[i] = (clock() - t0) // HOPS
    return out


def measure_overhead(run_dir: Path, blocks: int, cycles: int) -> dict[str, Any]:
    graph = parse_graph(_chain_graph(), "<bench trace>")
    off = Tracer(enabled=False)
    writer = TraceWriter(run_dir)
    rt = Runtime(graph, SimClock(), lockstep=True, tracer=off, external_topics=("/t0",))
    msg = _image(1)
    _block(rt, msg, cycles)  # warm up
    times: dict[str, list[np.ndarray]] = {"off": [], "on": []}
    for _ in range(blocks):
        for name, tracer in (("off", off), ("on", writer)):
            rt.tracer = tracer
            times[name].append(_block(rt, msg, cycles))
    writer.close()
    on, off_t = np.concatenate(times["on"]), np.concatenate(times["off"])
    per_block = [float(np.median(a) - np.median(b)) for a, b in zip(times["on"], times["off"])]
    overhead = float(np.median(on) - np.median(off_t)) / 1e3
    return {
        "callbacks_each": int(len(on) * HOPS),
        "per_callback_us_untraced_p50": round(float(np.median(off_t)) / 1e3, 3),
        "per_callback_us_traced_p50": round(float(np.median(on)) / 1e3, 3),
        "overhead_us_median": round(overhead, 3),
        "overhead_us_median_of_blocks": round(float(np.median(per_block)) / 1e3, 3),
        "records_written": writer.written,
    }


class _GcPauses:
    """Collector pauses seen while a loop runs (gc.callbacks), by generation."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, int]] = []
        self._t = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter_ns()
        else:
            self.pauses.append((info["generation"], time.perf_counter_ns() - self._t))

    def summary(self) -> dict[str, Any]:
        full = [ns for gen, ns in self.pauses if gen == 2]
        return {
            "collections": len(self.pauses),
            "full_collections": len(full),
            "max_pause_ms": round(max((ns for _, ns in self.pauses), default=0) / 1e6, 3),
            "max_full_pause_ms": round(max(full, default=0) / 1e6, 3),
        }


def _records_loop(tracer: Tracer, n: int, work_us: float, burst: int, idle_s: float) -> np.ndarray:
    """n callbacks of ``work_us`` each, recording records shaped like the executor's; after
    every ``burst`` callbacks the loop idles ``idle_s`` as a worker waiting for input does.
    Returns the gap between consecutive callback starts, less the requested idle time (so a
    late wake-up, e.g. waiting for the GIL after the sleep, still counts)."""
    stamps = np.empty(n + 1, np.int64)
    idle = np.zeros(n, bool)
    clock = time.perf_counter_ns
    record = tracer.record
    enabled = tracer.enabled
    work_ms = work_us / 1e3
    for i in range(n):
        start = clock()
        stamps[i] = start
        spin_for(work_ms)
        end = clock()
        if enabled:
            # The executor makes the origins dict and the output tuple whether or not it traces.
            origins = {"/sensing/camera/image_raw": Origin(i * 100_000_000, start - 5000)}
            outputs = [("/perception/objects", end - 100, origins)]
            record(
                (
                    "detect", "sub:/perception/preprocessed", "processing-0", 1, start, end,
                    (("/perception/preprocessed", i * 100_000_000),), tuple(outputs), "", (),
                )
            )  # fmt: skip
        if i % burst == burst - 1:
            idle[i] = True
            time.sleep(idle_s)
    stamps[n] = clock()
    return np.diff(stamps) - idle * int(idle_s * 1e9)


def measure_stall(
    run_dir: Path, n: int, work_us: float = 2.0, burst: int = 20, idle_s: float = 2e-4
) -> dict[str, Any]:
    loop = {"work_us": work_us, "burst": burst, "idle_ms": idle_s * 1e3}
    pauses = _GcPauses()
    gc.collect()
    gc.callbacks.append(pauses)
    try:
        base = _records_loop(Tracer(enabled=False), n, work_us, burst, idle_s)
    finally:
        gc.callbacks.remove(pauses)
    out: dict[str, Any] = {
        "loop": loop,
        "untraced_gap_us": _gap_stats(base),
        "untraced_gc": pauses.summary(),
    }
    for label, gc_on in (("traced", True), ("traced_gc_off", False)):
        pauses = _GcPauses()
        gc.collect()
        gc.callbacks.append(pauses)
        if not gc_on:
            gc.disable()
        writer = TraceWriter(run_dir / label)
        try:
            t0 = time.perf_counter()
            gaps = _records_loop(writer, n, work_us, burst, idle_s)
            produce_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            writer.close()
            close_s = time.perf_counter() - t1
        finally:
            gc.enable()
            gc.callbacks.remove(pauses)
        out[label] = {
            "records": writer.written,
            "lost": writer.lost,
            "records_per_s": round(n / produce_s),
            "writer_backlog_max": writer.max_backlog,
            "writer_max_chunk_encode_ms": round(writer.max_encode_cpu_ns / 1e6, 3),
            "close_s": round(close_s, 3),
            "file_mb": round(writer.bytes / 1e6, 1),
            "bytes_per_record": round(writer.bytes / max(writer.written, 1), 1),
            "gap_us": _gap_stats(gaps),
            "max_stall_ms": round((float(gaps.max()) - float(np.median(base))) / 1e6, 3),
            "gc": pauses.summary(),
        }
    return out


def _gap_stats(gaps: np.ndarray) -> dict[str, float]:
    return {
        "p50": round(float(np.median(gaps)) / 1e3, 2),
        "p99": round(float(np.percentile(gaps, 99)) / 1e3, 2),
        "p99_9": round(float(np.percentile(gaps, 99.9)) / 1e3, 2),
        "max": round(float(gaps.max()) / 1e3, 2),
        "over_1ms": int((gaps > 1_000_000).sum()),
    }


def measure_read(path: Path) -> dict[str, Any]:
    from stack.graph import ChainSpec

    t0 = time.perf_counter()
    trace = read_trace(path)
    read_s = time.perf_counter() - t0
    chains = {"c": ChainSpec("c", ("/sensing/camera/image_raw", "/perception/objects"), 50.0)}
    t1 = time.perf_counter()
    samples = chain_samples(trace.records, chains)["c"]
    return {
        "records": len(trace.records),
        "read_s": round(read_s, 3),
        "chain_samples_s": round(time.perf_counter() - t1, 3),
        "samples": len(samples),
    }


def run(quick: bool = False) -> dict[str, Any]:
    blocks, cycles = (6, 200) if quick else (20, 500)
    n = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="l4-bench-trace-") as tmp:
        overhead = measure_overhead(Path(tmp) / "overhead", blocks, cycles)
        gc.collect()
        stall = measure_stall(Path(tmp) / "stall", n)
        read = measure_read(Path(tmp) / "stall" / "traced" / "trace.l4t")
    hold = max(stall[k]["writer_max_chunk_encode_ms"] for k in ("traced", "traced_gc_off"))
    # Gate on what this machine can judge: the per-callback cost, and every record written and
    # read back. Stalls are reported, not gated: on a shared host its own load dominates them.
    ok = (
        overhead["overhead_us_median"] <= TARGET_OVERHEAD_US
        and all(
            stall[k]["lost"] == 0 and stall[k]["records"] == n for k in ("traced", "traced_gc_off")
        )
        and read["records"] == n
    )
    return {
        "overhead": overhead,
        "stall": stall,
        "writer_max_gil_hold_ms": hold,
        "max_callback_stall_ms": stall["traced_gc_off"]["max_stall_ms"],
        "max_callback_stall_ms_untraced": round(
            (stall["untraced_gap_us"]["max"] - stall["untraced_gap_us"]["p50"]) / 1e3, 3
        ),
        "read_back": read,
        "targets": {"overhead_us_median": TARGET_OVERHEAD_US},
        "quick": quick,
        "ok": ok,
    }
