"""`l4 bench executor`: a 10-node pass-through chain driven at 1 kHz on the embedded executor.

Per-hop latency is the time from a node publishing to the next node's callback starting, taken
from the trace (tracing on, as in a real run). Targets on a 2-core machine: p50 <= 15 us,
p99 <= 100 us, nothing dropped.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stack.executor import Runtime, WallClock
from stack.graph import parse_graph
from stack.trace.fileformat import read_trace
from stack.trace.writer import TraceWriter

HOPS = 10
RATE_HZ = 1000.0
TARGET_P50_US = 15.0
TARGET_P99_US = 100.0


def chain_launch(hops: int = HOPS, rate_hz: float = RATE_HZ) -> str:
    lines = [
        "name: bench_executor",
        "executors:",
        "  main: {threads: 1}",
        "nodes:",
        "  source:",
        "    class: stack.nodes.synthetic:Heartbeat",
        f"    params: {{topic: /hop0, rate_hz: {rate_hz}}}",
    ]
    for i in range(hops):
        lines += [
            f"  pass{i}:",
            "    class: stack.nodes.synthetic:Work",
            f"    params: {{input: /hop{i}, output: /hop{i + 1}, msgtype: std_msgs/msg/Header, work_ms: 0.0}}",
        ]
    path = ", ".join(f"/hop{i}" for i in range(hops + 1))
    lines += ["chains:", f"  passthrough: {{path: [{path}], budget_ms: 10, priority: 1}}"]
    return "\n".join(lines) + "\n"


def hop_latencies_us(records: list[tuple], hops: int) -> np.ndarray:
    """Publish of node i -> start of node i+1, joined on the message's stamp (robust to drops)."""
    starts: dict[str, dict[int, int]] = {}
    publishes: dict[str, dict[int, int]] = {}
    for rec in records:
        node, start, inputs, outputs = rec[0], rec[4], rec[6], rec[7]
        if inputs:
            starts.setdefault(node, {})[inputs[0][1]] = start
        for _topic, publish_ns, origins in outputs:
            for stamp, _t in origins.values():
                publishes.setdefault(node, {})[stamp] = publish_ns
    names = ["source"] + [f"pass{i}" for i in range(hops)]
    out: list[float] = []
    for up, down in itertools.pairwise(names):
        pub, st = publishes.get(up, {}), starts.get(down, {})
        out.extend((st[k] - pub[k]) / 1e3 for k in pub.keys() & st.keys())
    return np.asarray(out, dtype=np.float64)


def run(quick: bool = False, seconds: float | None = None) -> dict[str, Any]:
    seconds = seconds if seconds is not None else (2.0 if quick else 10.0)
    graph = parse_graph(chain_launch(), "<bench executor>")
    with tempfile.TemporaryDirectory(prefix="l4-bench-executor-") as tmp:
        # As in a real run: records stream to a file from the background writer, so the
        # process does not accumulate (and garbage-collect over) 100k records in memory.
        tracer = TraceWriter(Path(tmp))
        rt = Runtime(graph, WallClock(), tracer=tracer)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        rt.spin(seconds)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        records = read_trace(tracer.path).records
    hops = hop_latencies_us(records, HOPS)
    produced = rt.nodes["source"].instance.count
    delivered = rt.topics[f"/hop{HOPS}"].published
    in_flight = 1 if produced - delivered == 1 else 0  # the last message may still be mid-chain
    dropped = rt.dropped() + max(0, produced - delivered - in_flight)
    p50, p99 = (float(np.percentile(hops, q)) for q in (50, 99)) if len(hops) else (0.0, 0.0)
    return {
        "hops": HOPS,
        "rate_hz": RATE_HZ,
        "seconds": round(wall, 3),
        "per_hop_us": {
            "p50": round(p50, 2),
            "p99": round(p99, 2),
            "max": round(float(hops.max()), 2),
        },
        "cpu_percent": round(100.0 * cpu / wall, 1),
        "produced": produced,
        "delivered": delivered,
        "dropped": dropped,
        "timer_skipped": sum(t.skipped for t in rt.timers),
        "drop_kinds": _drop_kinds(rt),
        "tracing": True,
        "targets": {"per_hop_p50_us": TARGET_P50_US, "per_hop_p99_us": TARGET_P99_US, "dropped": 0},
        "ok": p50 <= TARGET_P50_US and p99 <= TARGET_P99_US and dropped == 0,
    }


def _drop_kinds(rt: Runtime) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counters in rt.counters().values():
        for kind in ("overwrite", "drop", "timer_skip"):
            if counters.get(kind):
                totals[kind] = totals.get(kind, 0) + counters[kind]
    return totals
