"""`l4 bench sim`: does the schedulability simulator predict a real run of the demo graph?

Under each policy (l4, then FIFO):

1. Profile: replay the demo scenario through launch/replay.yaml at real time, traced, and take
   the report JSON of that run as the profile: steady-state callback times, the sensors'
   periods and phases, the executors' wake-up delays.
2. Predict: `l4 sim` of the graph from that profile. The second run replays the same drive,
   so callback times are drawn from the samples measured nearest the same instant of it.
3. Measure: replay the scenario again (a fresh process) and compare each chain's p99:
   error = |predicted - measured| / measured. Target: <= 0.15 everywhere.

A shared host's speed drifts from minute to minute. The machine is probed before, between and
after the two runs (tools.bench.probe) and the JSON keeps the readings. A pair of runs with a
probe more than 10 % slower than the fastest probe of the benchmark, or a spell in either run
(2 seconds in a row metered 20 % slower than the fastest second, tools.bench.meter), ran on a
disturbed host (tools.bench.probe.SteadyHost) and is run again, up to 3 times (`--attempts`),
each try in its own folder; with no steady pair the least disturbed one is reported. The JSON
keeps the discarded readings (and each discarded pair's worst run-to-run difference) and says
whether the pair it reports was steady. The probes do not scale the
prediction: one disturbed probe would throw every chain off by 25 %. Each chain also gets the
profiled run's own p99 as if it were the prediction (``run_to_run``): the error a perfect
simulator would show, the noise floor.

Outside the spells: a spell of a second or two can set a 60-s run's p99 (its 6th-worst camera
frame), wherever it falls, and the two runs' spells fall at different times. So each chain is
also compared with the spells the meter found taken out of both runs (``spell_free``;
tools.bench.spells): the profile without the callback runs that met a spell, the measured p99
over the frames clear of them. It is reported, not judged: the graph's callbacks slow far less
than the meter in a spell, so it removes only part of what differs between two runs, and its p99
over fewer frames is noisier (over 5 pairs it came out above the whole-run error 4 times, below
it once). The target is judged on the whole-run errors (``error``, ``worst_error``). Each run's meter
reading is kept in its folder (``meter.json``) to find the spells again.

Each policy is profiled under itself: on two cores and one interpreter lock a callback's time
depends on what runs beside it, and the policy decides that (under FIFO the planner runs alone;
under l4 it runs while perception is busy with low-priority work).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.bench.demograph import (
    DEMO_LAUNCH,
    analyze_run,
    chain_figures,
    demo_bag,
    replay,
    run_folder,
)
from tools.bench.meter import METER_FILE, MeterReading
from tools.bench.probe import ATTEMPTS, QUIET_WAIT_S, SteadyHost
from tools.bench.spells import Spans, without_spans

if TYPE_CHECKING:
    from stack.executor.view import BuiltGraph

TARGET_ERROR = 0.15
POLICIES = ("l4", "fifo")
REPEATS = 10  # simulated runs as long as the measured one, samples pooled


def profile_json(analysis: Any) -> dict[str, Any]:
    """The report JSON of an analysed run (what `l4 report RUN --json` writes)."""
    from stack.report.jsonout import report_json

    return report_json(analysis)


def demo_runtime(bag: Path) -> Any:
    """The demo graph's nodes built once (lockstep, nothing runs) for the simulator to read
    its topics and timers from; every topic the bag feeds is external."""
    from stack.cli.common import load_launch
    from stack.replay.bag import Bag
    from tools.schedsim import build_runtime

    with Bag(bag) as reader:
        external = tuple(reader.topics)
    return build_runtime(load_launch(DEMO_LAUNCH, [f"bag_dir:={bag}"]), external)


def predict_p99(runtime: BuiltGraph, profile: dict[str, Any], policy: str, seconds: float) -> dict:
    from tools.schedsim import parse_profile, predict

    prof = parse_profile(profile, "<profile run>")
    prediction = predict(runtime, prof, policy=policy, duration_s=seconds, repeats=REPEATS)
    return {name: c.p99_ms for name, c in prediction.chains.items()}


@dataclass(frozen=True)
class Pair:
    """One try of a policy: the analyses of its profiled and measured runs, the meter
    readings beside each, and each run's chain figures over all its frames."""

    profiled: Any
    measured: Any
    profile_meter: MeterReading
    measured_meter: MeterReading
    profiled_figures: dict
    measured_figures: dict


def run(
    quick: bool = False,
    seconds: float | None = None,
    keep: Path | None = None,
    attempts: int = ATTEMPTS,
) -> dict[str, Any]:
    seconds = seconds if seconds is not None else (20.0 if quick else 60.0)
    bag = demo_bag(seconds)
    out: dict[str, Any] = {"seconds": seconds, "policies": {}}
    runtime = demo_runtime(bag)
    host = SteadyHost(quiet_wait_s=QUIET_WAIT_S)
    with run_folder(keep, "l4benchsim") as tmp:
        for policy in POLICIES:
            pair = host.run(_pair(bag, tmp, policy), attempts)
            profile = profile_json(pair.profiled)
            if keep is not None:  # what `l4 sim --profile` takes, to replay the prediction
                (tmp / f"profile-{policy}.json").write_text(json.dumps(profile))
            predict = functools.partial(predict_p99, runtime, policy=policy, seconds=seconds)
            predicted = predict(profile)
            chains = _compare(predicted, pair.profiled_figures, pair.measured_figures)
            spell_free = _spell_free(pair, host, predict, predicted, bag)
            for name, figures in spell_free.pop("chains").items():
                chains[name]["spell_free"] = figures
            # probes before, between and after the reported pair; pairs run again
            out["policies"][policy] = {"chains": chains, "spell_free": spell_free, **host.to_json()}
        out["fastest_probe_ms"] = round(host.fastest_ms, 3)
    out["chains"] = out["policies"]["l4"]["chains"]  # the headline policy, as the target names it
    return {**out, **_verdict(out["policies"])}


def _compare(predicted: dict[str, float], profiled: dict, measured: dict) -> dict[str, Any]:
    """Per chain: the prediction against the measured run, and the profiled run's own p99
    against it (``run_to_run``: the error a perfect simulator would show, the noise floor)."""
    chains = {}
    for name, pred in predicted.items():
        meas = measured[name].p99_ms
        chains[name] = {
            "predicted_p99_ms": round(pred, 3),
            "measured_p99_ms": round(meas, 3),
            "error": round(_error(pred, meas), 4),
            "profile_run_p99_ms": round(profiled[name].p99_ms, 3),
            "run_to_run": round(_error(profiled[name].p99_ms, meas), 4),
            "measured_frames": measured[name].outputs,
        }
    return chains


def _spell_free(
    pair: Pair, host: SteadyHost, predict: Callable[[dict], dict], predicted: dict, bag: Path
) -> dict[str, Any]:
    """The same comparison with the host's spells taken out of both runs (tools.bench.spells):
    the profile without the callback runs that met a spell (``predicted``, the whole run's
    prediction, stands when the profiled run had none), the measured p99 over the frames clear
    of them."""
    profile_spans = Spans.of(host.slow_spans(pair.profile_meter))
    measured_spans = Spans.of(host.slow_spans(pair.measured_meter))
    clear, kept_runs = without_spans(pair.profiled, profile_spans)
    if len(profile_spans):
        predicted = predict(profile_json(clear))
    measured = chain_figures(pair.measured, bag, measured_spans)
    whole = pair.measured_figures
    chains = _compare(predicted, chain_figures(pair.profiled, bag, profile_spans), measured)
    kept = min(measured[n].outputs / whole[n].outputs for n in whole if whole[n].outputs)
    return {
        "chains": chains,
        "spells_s": {
            "profile": round(profile_spans.total_s, 1),
            "measured": round(measured_spans.total_s, 1),
        },
        "profile_runs_kept": round(kept_runs, 3),
        "measured_frames_kept": round(kept, 3),
    }


def _verdict(policies: dict[str, Any]) -> dict[str, Any]:
    """Worst errors over both policies; ok when the whole-run comparison meets the target (the
    issue's measure). The spell-free worst and the least share of a run it kept are reported
    beside it: over 40-70 % of the frames a p99 is noisier, and it came out above the
    whole-run error in 4 of 5 pairs (tools.bench.spells), so it does not judge."""
    chains = [c for p in policies.values() for c in p["chains"].values()]
    worst = max(c["error"] for c in chains)
    kept = min(
        min(p["spell_free"]["measured_frames_kept"], p["spell_free"]["profile_runs_kept"])
        for p in policies.values()
    )
    return {
        "worst_error": worst,
        "worst_spell_free_error": max(c["spell_free"]["error"] for c in chains),
        "least_kept": kept,
        "target_error": TARGET_ERROR,
        "ok": worst <= TARGET_ERROR,
    }


def _pair(bag: Path, tmp: Path, policy: str) -> Callable:
    """One try of a policy's profile and measured runs (in the try's folder under ``tmp``),
    probed before, between and after, and metered while they run; the try keeps its worst
    run-to-run difference, for a try run again."""

    def attempt(host: SteadyHost) -> Pair:
        folder = host.folder(tmp)
        profile_dir, run_dir = folder / f"profile-{policy}", folder / policy
        host.probe()
        with host.metered():
            replay(bag, profile_dir, rate=1.0, policy=policy)
        host.probe()
        with host.metered():
            replay(bag, run_dir, rate=1.0, policy=policy)
        host.probe()
        meters = host.tries[-1].meters[-2:]
        for where, reading in zip((profile_dir, run_dir), meters):
            reading.save(where / METER_FILE)  # to find the spells again, offline
        profiled, measured = analyze_run(profile_dir), analyze_run(run_dir)
        pair = Pair(
            profiled, measured, *meters, chain_figures(profiled, bag), chain_figures(measured, bag)
        )
        floor = max(
            _error(pair.profiled_figures[n].p99_ms, f.p99_ms)
            for n, f in pair.measured_figures.items()
        )
        host.note("worst_run_to_run", round(floor, 4))
        return pair

    return attempt


def _error(predicted: float, measured: float) -> float:
    return abs(predicted - measured) / measured if measured > 0 else float("inf")
