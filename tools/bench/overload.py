"""`l4 bench overload`: the multi-chain graph on an oversubscribed CPU, FIFO vs the l4 policy.

The graph of tools.bench.multichain with every sensor rate raised until the compute work asked
for is 1.5x what the worker thread can do. The same graph runs twice, each time in a fresh
process: with the FIFO policy (what the default ROS 2 executor does: arrival order, keep
everything) and with the l4 policy (chain priority, then earliest deadline; stale inputs
dropped).

For the critical chain the JSON gives p99 latency, the miss rate -- inputs at /cam that did not
produce a /cmd within the budget (late, overwritten in a queue, or dropped) over all inputs --
and the drops. Targets: l4 misses <= 1 %, and at least 10x fewer misses than FIFO.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tools.bench.multichain import (
    CHAINS,
    CRITICAL,
    in_subprocess,
    measure_run,
    measured_stats,
    multichain_launch,
)

TARGET_LOAD = 1.5
TARGET_MISS_RATE = 0.01
TARGET_RATIO = 10.0


def run(quick: bool = False, seconds: float | None = None) -> dict[str, Any]:
    seconds = seconds if seconds is not None else (8.0 if quick else 40.0)
    text = multichain_launch(TARGET_LOAD)
    out: dict[str, Any] = {"load": TARGET_LOAD, "seconds": seconds}
    for policy in ("fifo", "l4"):
        result = in_subprocess(measure_run, text, policy, seconds)
        chains = measured_stats(result, text)
        stats = chains[CRITICAL]
        out[policy] = {
            "p99_ms": _round(stats.p99_ms),
            "miss_rate": round(stats.miss_rate, 5),
            "drops": stats.drops,
            "late": stats.misses,
            "lost": stats.lost,
            "frames": stats.frames,
            "other_chains": {
                name: {"p99_ms": _round(c.p99_ms), "miss_rate": round(c.miss_rate, 5)}
                for name, c in chains.items()
                if name != CRITICAL
            },
        }
    fifo_misses = out["fifo"]["miss_rate"]
    l4_misses = out["l4"]["miss_rate"]
    ratio = fifo_misses / l4_misses if l4_misses > 0 else float("inf") if fifo_misses else 1.0
    out["miss_ratio"] = None if np.isinf(ratio) else round(ratio, 2)
    out["critical_budget_ms"] = next(c.budget_ms for c in CHAINS if c.name == CRITICAL)
    out["targets"] = {"l4_miss_rate": TARGET_MISS_RATE, "fifo_over_l4_misses": TARGET_RATIO}
    out["ok"] = l4_misses <= TARGET_MISS_RATE and ratio >= TARGET_RATIO
    return out


def _round(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 3)
