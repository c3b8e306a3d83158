"""The report as JSON (`l4 report --json F`): numbers for CI and for the schedulability
simulator, which reads ``nodes.NAME.callbacks.CB`` as a measured latency profile."""

from __future__ import annotations

import math
from typing import Any

from stack.report.analysis import (
    CallbackResult,
    ChainResult,
    NodeResult,
    RunAnalysis,
    compare_chains,
    samples_ms,
)


def _num(x: float, nd: int = 4) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), nd)


def _latency_json(x: ChainResult | CallbackResult | NodeResult) -> dict[str, Any]:
    return {"p50_ms": _num(x.pct_ms(50)), "p99_ms": _num(x.pct_ms(99)), "max_ms": _num(x.max_ms)}


def chain_json(c: ChainResult) -> dict[str, Any]:
    return {
        "path": list(c.spec.path),
        "budget_ms": c.spec.budget_ms,
        "percentile": c.spec.percentile,
        "at_percentile_ms": _num(c.at_percentile_ms),
        **_latency_json(c),
        "count": c.count,
        "misses": c.misses,
        "drops": c.drops,
        "ok": c.ok,
        "verdict": c.verdict.value,
        "source": c.source,
    }


def callback_json(cb: CallbackResult) -> dict[str, Any]:
    return {
        **_latency_json(cb),
        "mean_ms": _num(cb.mean_ms),
        "count": cb.count,
        "rate_hz": _num(cb.rate_hz, 3),
        "exceptions": cb.exceptions,
        "drops": cb.drops,
        "samples_ms": cb.profile_samples_ms(),
        "samples_at_s": cb.profile_times_s(),
        "overlap": round(cb.overlap, 4),
        "publish_after_ms": round(cb.publish_after_ms, 4),
        "publishes": {t: round(f, 4) for t, f in sorted(cb.publishes.items())},
    }


def node_json(n: NodeResult, t0_ns: int = 0) -> dict[str, Any]:
    return {
        "count": n.count,
        "rate_hz": _num(n.rate_hz, 3),
        **_latency_json(n),
        "exceptions": n.exceptions,
        "drops": n.drops,
        "overwrites": n.overwrites,
        "deadline_misses": n.deadline_misses,
        "variants": list(n.variants),
        "switches": n.switches,
        # the current variant over the run: from t_s on (seconds since the run's start)
        "variant_timeline": [
            {"t_s": round((t - t0_ns) / 1e9, 4), "variant": v} for t, v in n.variant_timeline
        ],
        "counters": dict(n.counters),
        "callbacks": {name: callback_json(cb) for name, cb in n.callbacks.items()},
    }


def report_json(a: RunAnalysis, baseline: RunAnalysis | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ok": a.ok,
        "run": {
            "name": a.name,
            "path": str(a.run.path),
            "mode": a.run.mode,
            "duration_s": round(a.duration_s, 3),
            "records": a.records,
            "trace_truncated": a.truncated,
            "interrupted": a.run.interrupted,  # a signal stopped it early
            "signal": a.run.signal,
            "cut_short": a.run.cut_short,  # no run.json: killed; figures from the trace alone
            "errors": list(a.run.errors),
            "platform": a.run.platform,
        },
        "chains": {name: chain_json(c) for name, c in a.chains.items()},
        "nodes": {name: node_json(n, a.t0_ns) for name, n in a.nodes.items()},
        # for the simulator: callback samples_ms are from the steady state, after warmup_s
        "warmup_s": round((a.warm_ns - a.t0_ns) / 1e9, 3),
        "sources": {
            t: {
                "period_ms": round(s.period_ns / 1e6, 4),
                "phase_ms": round(s.phase_ns / 1e6, 4),
                "rank": s.rank,
            }
            for t, s in a.sources.items()
        },
        # executor -> how long an idle worker took to start on a new input
        "wakeups": {ex: {"samples_ms": samples_ms(d)} for ex, d in a.wakeups_ns.items()},
    }
    from stack.report.telemetry import telemetry_json

    tel = a.telemetry
    if tel is not None:  # Jetson telemetry (l4 launch/ros --telemetry)
        doc["telemetry"] = telemetry_json(tel, a.t0_ns)
    if baseline is not None:
        doc["baseline"] = {
            "path": str(baseline.run.path),
            "ok": baseline.ok,
            "chains": compare_chains(a, baseline),
        }
    return doc
