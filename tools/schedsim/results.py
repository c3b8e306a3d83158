"""Per-chain figures from a simulation (or a real run measured the same way)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stack.graph import ChainSpec
from tools.schedsim.simulator import ChainTrace, SimRun


@dataclass(frozen=True)
class ChainStats:
    name: str
    budget_ms: float
    percentile: float
    frames: int  # inputs at the chain start
    count: int  # outputs at the chain end
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    at_percentile_ms: float
    misses: int  # outputs later than the budget
    lost: int  # inputs that never produced an output (dropped, overwritten)
    drops: int  # overwrites + stale drops on the chain's subscriptions

    @property
    def miss_rate(self) -> float:
        """Inputs that did not produce an output within budget, over all inputs."""
        return (self.misses + self.lost) / self.frames if self.frames else 0.0

    @property
    def ok(self) -> bool:
        return self.count > 0 and self.at_percentile_ms <= self.budget_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "budget_ms": self.budget_ms,
            "percentile": self.percentile,
            "frames": self.frames,
            "count": self.count,
            "p50_ms": _r(self.p50_ms),
            "p90_ms": _r(self.p90_ms),
            "p99_ms": _r(self.p99_ms),
            "max_ms": _r(self.max_ms),
            "at_percentile_ms": _r(self.at_percentile_ms),
            "misses": self.misses,
            "lost": self.lost,
            "drops": self.drops,
            "miss_rate": round(self.miss_rate, 5),
            "ok": self.ok,
        }


def chain_stats(
    spec: ChainSpec,
    frames: list[int] | np.ndarray,
    outputs: list[tuple[int, int]] | np.ndarray,
    reached: set[int],
    drops: int,
    end_ns: int,
) -> ChainStats:
    """Figures of one chain; inputs younger than one budget at ``end_ns`` are still in flight
    and count neither as frames nor as lost."""
    lat = np.asarray([o[1] for o in outputs], dtype=np.float64) / 1e6
    settled = [f for f in frames if f <= end_ns - spec.budget_ns]
    lost = sum(1 for f in settled if f not in reached)

    def pct(p: float) -> float:
        return float(np.percentile(lat, p)) if len(lat) else float("nan")

    return ChainStats(
        spec.name, spec.budget_ms, spec.percentile, len(settled), len(lat),
        pct(50), pct(90), pct(99), float(lat.max()) if len(lat) else float("nan"),
        pct(spec.percentile), int((lat > spec.budget_ms).sum()), lost, drops,
    )  # fmt: skip


def sim_chain_stats(
    runs: Sequence[SimRun], chains: dict[str, ChainSpec], publishers: dict[str, list[str]]
) -> dict[str, ChainStats]:
    """Figures per chain over one or more runs of the same graph (samples pooled)."""
    out = {}
    for name, spec in chains.items():
        carriers = chain_carriers(spec, publishers)
        frames: list[int] = []
        outputs: list[tuple[int, int]] = []
        reached: set[int] = set()
        drops = 0
        for i, run in enumerate(runs):
            trace: ChainTrace = run.chains[name]
            # Runs share one time axis; shift each so their frames stay distinct.
            shift = i * (run.duration_ns + spec.budget_ns + 1)
            settled = run.duration_ns - spec.budget_ns
            frames += [f + shift for f in trace.frames if f <= settled]
            outputs += [(t + shift, lat) for t, lat in trace.outputs]
            reached |= {r + shift for r in trace.reached}
            drops += sum(n for key, n in run.overwrites.items() if key in carriers)
            drops += sum(n for key, n in run.stale_drops.items() if key in carriers)
        end = max(frames, default=0) + spec.budget_ns
        out[name] = chain_stats(spec, frames, outputs, reached, drops, end)
    return out


def chain_carriers(spec: ChainSpec, publishers: dict[str, list[str]]) -> set[tuple[str, str]]:
    """(node, topic) of the subscriptions that carry the chain: each hop's topic, taken by a
    node that publishes the next topic of the path."""
    return {
        (node, topic)
        for topic, nxt in zip(spec.path, spec.path[1:])
        for node in publishers.get(nxt, ())
    }


def _r(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 3)
