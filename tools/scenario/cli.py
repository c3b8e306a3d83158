"""`l4 scenario make --out DIR --seconds S --seed N`: a synthetic drive as a rosbag2 with ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stack.cli import argtypes

WEATHERS = ("day", "night", "fog", "rain")
TRAFFIC = ("light", "dense")
STORAGES = ("mcap", "sqlite3")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scenario", help="generate synthetic driving scenarios (rosbag2 + ground truth)"
    )
    actions = p.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    make = actions.add_parser(
        "make",
        help="write a drive: camera, lidar, IMU, GNSS, odometry, TF and ground truth",
        description="Generate a deterministic synthetic drive as a rosbag2 directory (same seed, "
        "same messages), with map.npz and scenario.yaml beside the storage file.",
    )
    make.add_argument(
        "--out", type=Path, required=True, help="the bag directory to create (must not exist)"
    )
    make.add_argument("--seconds", type=argtypes.duration, required=True, help="simulated duration")
    make.add_argument("--seed", type=argtypes.seed, required=True, help="random seed (>= 0)")
    make.add_argument(
        "--storage", choices=STORAGES, default="mcap", help="rosbag2 storage (default mcap)"
    )
    make.add_argument(
        "--weather", choices=WEATHERS, default="day", help="camera and lidar conditions"
    )
    make.add_argument("--traffic", choices=TRAFFIC, default="light", help="how many actors")
    make.add_argument(
        "--realism",
        type=Path,
        metavar="YAML",
        help="realism knobs (tools/scenario/realism.py): IMU mounting and gyro bias, GNSS bad "
        "first fixes, jumps, dropouts and rate, skid-steer slip, sensor time offsets",
    )
    make.add_argument(
        "--no-lights",
        action="store_true",
        help="no signalised crossings: a seed gives the bag it gave before they existed",
    )
    make.add_argument("--json", action="store_true", help="print the summary as JSON")
    make.add_argument("--no-progress", action="store_true", help="no progress bar")
    make.set_defaults(func=run_make)


def run_make(args: argparse.Namespace) -> int:
    from tools.scenario import make_scenario
    from tools.scenario.realism import Realism

    realism = Realism.from_file(args.realism) if args.realism else None
    info = make_scenario(
        args.out,
        args.seconds,
        args.seed,
        storage=args.storage,
        weather=args.weather,
        traffic=args.traffic,
        progress=not (args.no_progress or args.json),
        realism=realism,
        lights=not args.no_lights,
    )
    summary = {
        "path": str(info.path),
        "seconds": info.duration,
        "wall_time_s": round(info.wall_time, 3),
        "realtime_factor": round(info.realtime_factor, 2),
        "messages": info.message_counts,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 0


def _print(summary: dict) -> None:
    from rich.table import Table

    from stack.console import make_console

    console = make_console()
    console.print(
        f"{summary['path']}: {summary['seconds']:g} s generated in {summary['wall_time_s']:.1f} s "
        f"({summary['realtime_factor']:.2f}x real time)"
    )
    table = Table("topic", "messages")
    for topic, count in summary["messages"].items():
        table.add_row(topic, str(count))
    console.print(table)
