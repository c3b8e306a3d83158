"""`l4 bench sim`: does the schedulability simulator predict a real run on this machine?

1. Profile: run the multi-chain graph of tools.bench.multichain (at a load the compute thread
   can carry) once with tracing, and turn the trace into per-callback latency profiles.
2. Predict: simulate the graph from that profile under each policy.
3. Measure: run the graph again under each policy (fresh processes, no tracing) and compare
   each chain's p99: error = |predicted - measured| / measured. Target: <= 0.15 everywhere.
"""

from __future__ import annotations

from typing import Any

from tools.bench.multichain import in_subprocess, measure_run, measured_stats, multichain_launch

LOAD = 0.6
TARGET_ERROR = 0.15
POLICIES = ("l4", "fifo")
REPEATS = 10  # simulated runs as long as the measured one, samples pooled


def profile_json(text: str, seconds: float) -> dict[str, Any]:
    """One traced run -> the profile JSON (the shape `l4 report --json` gives)."""
    from tools.schedsim import profile_from_records

    result = in_subprocess(measure_run, text, "l4", seconds, True)
    return profile_from_records(result["records"]).to_json()


def predict_p99(
    text: str, profile: dict[str, Any], policy: str, seconds: float
) -> dict[str, float]:
    from stack.graph import parse_graph
    from tools.schedsim import build_runtime, parse_profile, predict

    runtime = build_runtime(parse_graph(text, "<bench sim>"))
    prediction = predict(
        runtime, parse_profile(profile), policy=policy, duration_s=seconds, repeats=REPEATS
    )
    return {name: c.p99_ms for name, c in prediction.chains.items()}


def run(quick: bool = False, seconds: float | None = None) -> dict[str, Any]:
    seconds = seconds if seconds is not None else (6.0 if quick else 30.0)
    text = multichain_launch(LOAD, name="bench_sim")
    profile = profile_json(text, seconds)
    out: dict[str, Any] = {"load": LOAD, "seconds": seconds, "policies": {}}
    worst = 0.0
    for policy in POLICIES:
        predicted = predict_p99(text, profile, policy, seconds)
        # Traced, as the profiled run was (and as `l4 launch --run-dir` runs).
        result = in_subprocess(measure_run, text, policy, seconds, True)
        measured = measured_stats(result, text)
        chains = {}
        for name, pred in predicted.items():
            meas = measured[name].p99_ms
            err = abs(pred - meas) / meas if meas > 0 else float("inf")
            worst = max(worst, err)
            chains[name] = {
                "predicted_p99_ms": round(pred, 3),
                "measured_p99_ms": round(meas, 3),
                "error": round(err, 4),
            }
        out["policies"][policy] = {"chains": chains}
    out["chains"] = out["policies"]["l4"]["chains"]  # the headline policy, as the target names it
    out["worst_error"] = round(worst, 4)
    out["target_error"] = TARGET_ERROR
    out["ok"] = worst <= TARGET_ERROR
    return out
