"""`l4 sim LAUNCH --profile REPORT_JSON`: will the graph meet its budgets on a target?

A discrete-event simulation (tools.schedsim) of the launch file's graph with per-callback
execution times from a measured run (`l4 report RUN --json`), scaled by speed factors for the
target (``--speed cpu=0.4`` for cores 2.5x slower than where the profile was taken), under the
l4 policy or plain FIFO. Prints per-chain latency percentiles and misses; exit 1 if a chain
misses its budget at its percentile.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from stack.cli import argtypes
from stack.cli.errors import EXIT_BUDGET_VIOLATED, EXIT_OK, CliError

# Bounds of what a simulation can take: the events it must go through grow with both.
MAX_SIM_SECONDS = 86_400.0
MAX_REPEATS = 1000
MAX_FACTOR = 1e6  # a speed factor (relative to the profiled machine) or a topic rate in Hz


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="simulate a launch graph's chain latencies from a profile")
    p.add_argument("file", type=Path, help="launch file (YAML)")
    p.add_argument(
        "--profile", type=Path, required=True, metavar="REPORT_JSON",
        help="latency profile: the JSON of `l4 report RUN --json`",
    )  # fmt: skip
    p.add_argument(
        "--speed", action="append", default=[], metavar="RESOURCE=FACTOR",
        help="target speed relative to the profiled machine for 'cpu', an executor or a node "
        "(0.5 = half as fast); repeatable",
    )  # fmt: skip
    p.add_argument(
        "--rate", action="append", default=[], metavar="TOPIC=HZ",
        help="rate of a topic fed from outside the graph (default: the profile's observed rate)",
    )  # fmt: skip
    p.add_argument(
        "--solo", type=Path, metavar="REPORT_JSON",
        help="the report JSON of a --lockstep replay (every callback alone): service times "
        "without contention, which the simulator then stretches by the slowdown each callback "
        "showed beside other work in --profile",
    )  # fmt: skip
    p.add_argument(
        "--iid", action="store_true",
        help="draw callback times at random from the profile, ignoring when each was measured "
        "(default: from the samples measured nearest the simulated time, as a replay of the "
        "profiled drive meets them)",
    )  # fmt: skip
    p.add_argument("--policy", choices=["l4", "fifo"], default="l4", help="ready-queue policy")
    p.add_argument(
        "--duration", type=argtypes.bounded_float(0.0, MAX_SIM_SECONDS, low_open=True, unit=" s"),
        default=60.0, metavar="S", help="simulated seconds",
    )  # fmt: skip
    p.add_argument(
        "--repeats", type=argtypes.bounded_int(1, MAX_REPEATS), default=5,
        help="runs pooled (different seeds)",
    )  # fmt: skip
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--cpu-model", choices=["threads", "gil"], default="threads",
                   help="threads: callbacks of different threads overlap; gil: they serialize")  # fmt: skip
    p.add_argument("--json", type=Path, metavar="F", help="write the prediction as JSON here")
    from stack.cli.common import add_launch_args_option

    add_launch_args_option(p)
    p.set_defaults(func=run)


def parse_pairs(items: list[str], what: str) -> dict[str, float]:
    """["a=1.5", ...] -> {"a": 1.5}, each a finite number > 0; errors name the bad item."""
    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not key or number is None:
            raise CliError(f"{what} {item!r}: expected NAME=NUMBER")
        if not (math.isfinite(number) and 0 < number <= MAX_FACTOR):
            raise CliError(f"{what} {item!r}: the number must be > 0 and <= {MAX_FACTOR:g}")
        out[key] = number
    return out


def run(args: argparse.Namespace) -> int:
    from stack.cli.common import load_launch
    from tools.schedsim import build_runtime, load_profile, predict

    graph = load_launch(args.file, args.launch_args)
    speeds = parse_pairs(args.speed, "--speed")
    rates = parse_pairs(args.rate, "--rate")
    profile = load_profile(args.profile)
    solo = load_profile(args.solo) if args.solo else None
    external = tuple(rates) + tuple(
        cb.topic for cb in profile.callbacks.values() if cb.topic is not None
    )
    runtime = build_runtime(graph, external)
    prediction = predict(
        runtime, profile, policy=args.policy, duration_s=args.duration, speeds=speeds,
        rates_hz=rates, seed=args.seed, repeats=args.repeats, cpu=args.cpu_model, solo=solo,
        aligned=not args.iid,
    )  # fmt: skip
    print_prediction(prediction, graph.name)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(prediction.to_json(), indent=2) + "\n")
    return EXIT_OK if prediction.ok else EXIT_BUDGET_VIOLATED


def print_prediction(prediction, name: str) -> None:
    from rich.table import Table

    from stack.console import make_console

    console = make_console()
    table = Table(
        "chain", "budget ms", "outputs", "p50 ms", "p99 ms", "max ms", "miss rate", "drops",
        "verdict",
        title=f"{name}: predicted chain latency ({prediction.policy} policy, "
        f"{prediction.duration_s:g} s simulated)",
    )  # fmt: skip
    for c in prediction.chains.values():
        verdict = "[green]ok[/]" if c.ok else "[red]OVER[/]"
        table.add_row(
            c.name, f"{c.budget_ms:g}", str(c.count), f"{c.p50_ms:.2f}", f"{c.p99_ms:.2f}",
            f"{c.max_ms:.2f}", f"{100 * c.miss_rate:.1f} %", str(c.drops), verdict,
        )  # fmt: skip
    console.print(table)
    util = ", ".join(f"{ex} {100 * u:.0f} %" for ex, u in prediction.utilization.items())
    console.print(f"executor load: {util}")
    for w in prediction.warnings:
        console.print(f"[yellow]warning:[/] {w}")
