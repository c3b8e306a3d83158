"""`l4 demo`: make (or reuse) a demo scenario, replay it through the driving graph, then print
the latency budget table and the accuracy against ground truth, and write the HTML report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from stack.cli import argtypes
from tools.demo.scenario import DEMO_SEED, demo_scenario
from tools.scenario.cli import TRAFFIC, WEATHERS

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LAUNCH = ROOT / "launch" / "replay.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="replay a demo scenario through the driving graph; budget + accuracy report"
    )
    p.add_argument("--run-dir", type=Path, default=None, help="default: runs/demo-TIMESTAMP")
    p.add_argument("--seed", type=argtypes.seed, default=DEMO_SEED, help="scenario seed")
    p.add_argument("--seconds", type=argtypes.duration, default=20.0, help="scenario length")
    p.add_argument("--weather", default="day", choices=WEATHERS)
    p.add_argument("--traffic", default="light", choices=TRAFFIC)
    p.add_argument("--launch", type=Path, default=DEFAULT_LAUNCH, help="the graph to replay")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--lockstep", action="store_true", help="as fast as possible, deterministic")
    pace.add_argument("--rate", type=argtypes.rate, default=1.0, help="1.0 = real time (default)")
    p.add_argument("--policy", choices=["l4", "fifo"], default="l4", help="ready-queue policy")
    p.set_defaults(func=run)


def scenario(args: argparse.Namespace) -> Path:
    """The cached scenario for these options, generated on first use."""
    return demo_scenario(args.seed, args.seconds, args.weather, args.traffic)


def run(args: argparse.Namespace) -> int:
    from stack.cli.main import main

    bag = scenario(args)
    run_dir = args.run_dir or Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    replay = ["replay", str(bag), "--launch", str(args.launch), "--run-dir", str(run_dir)]
    replay += ["--lockstep"] if args.lockstep else ["--rate", str(args.rate)]
    replay += ["--policy", args.policy]
    status = main(replay)
    if status != 0:
        return status
    report = main(
        [
            "report",
            str(run_dir),
            "--quiet",
            "--html",
            str(run_dir / "report.html"),
            "--json",
            str(run_dir / "report.json"),
        ]
    )
    evaluated = main(["eval", str(run_dir), "--json", str(run_dir / "eval.json")])
    print(f"run directory: {run_dir}  (HTML report: {run_dir / 'report.html'})")
    return report if evaluated == 0 else evaluated
