"""`l4 replay BAG`: drive a launch graph from a rosbag and record what it publishes."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from stack.cli import argtypes

log = logging.getLogger(__name__)
DEFAULT_LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "replay.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a rosbag through a launch graph and record its outputs",
        description="Replay a ROS 1 .bag, a rosbag2 directory (sqlite3 or mcap) or a bare "
        ".mcap/.db3 file through a launch graph on the bag's clock, and record every topic the "
        "graph publishes into RUN_DIR/outputs (rosbag2, mcap).",
    )
    p.add_argument("bag", type=Path, help="the bag: .bag file, rosbag2 directory, .mcap or .db3")
    p.add_argument(
        "--launch",
        type=Path,
        default=DEFAULT_LAUNCH,
        help="launch file (YAML); default: launch/replay.yaml",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--lockstep",
        action="store_true",
        help="as fast as possible and deterministic: each input runs to quiescence",
    )
    pace.add_argument(
        "--rate",
        type=argtypes.rate,
        default=None,
        help="pace against the wall clock (1.0 = real time, the default without --lockstep)",
    )
    p.add_argument(
        "--start", type=argtypes.offset, default=0.0, metavar="S", help="skip S s of the bag"
    )
    p.add_argument(
        "--duration", type=argtypes.duration, default=None, metavar="S", help="replay S s"
    )
    p.add_argument("--topics", nargs="+", default=[], metavar="T", help="replay only these")
    p.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO", help="rename bag topics")
    p.add_argument("--run-dir", type=Path, required=True, help="write outputs, trace, facts here")
    p.add_argument("--policy", choices=["l4", "fifo"], default="l4", help="ready-queue policy")
    p.add_argument("--fail-fast", action="store_true", help="stop on the first callback exception")
    p.add_argument("--no-trace", action="store_true", help="do not record callback spans")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from stack.cli.common import add_launch_args_option

    add_launch_args_option(p)
    p.set_defaults(func=run)


def bag_dir_arg(bag: Path) -> dict[str, str]:
    """`$(arg bag_dir)`: the folder holding the bag, where a scenario keeps its map.npz."""
    folder = bag if bag.is_dir() else bag.parent
    return {"bag_dir": str(folder.resolve())}


def parse_remaps(items: list[str]) -> dict[str, str]:
    from stack.cli.errors import CliError

    out: dict[str, str] = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise CliError(f"--remap {item!r}: expected FROM:=TO, e.g. /camera:=/sensing/camera")
        out[src] = dst
    return out


def run(args: argparse.Namespace) -> int:
    from stack.cli.common import load_launch, stop_on_signals
    from stack.cli.errors import CliError
    from stack.errors import L4Error
    from stack.replay import OUTPUTS, Bag, Player, ReplayOptions
    from stack.replay.progress import NoProgress, RichProgress
    from stack.trace import Tracer
    from stack.trace.rundir import trace_writer

    graph = load_launch(args.launch, args.launch_args, bag_dir_arg(args.bag))
    if (args.run_dir / OUTPUTS).exists():
        raise CliError(f"{args.run_dir}: already holds {OUTPUTS}/; choose a new --run-dir")
    options = ReplayOptions(
        rate=None if args.lockstep else (args.rate if args.rate is not None else 1.0),
        start_s=args.start,
        duration_s=args.duration,
        topics=tuple(args.topics),
        remap=parse_remaps(args.remap),
        policy=args.policy,
        fail_fast=args.fail_fast,
        trace=not args.no_trace,
    )
    progress = (lambda a, b: NoProgress()) if args.no_progress else RichProgress
    player = caught = None
    try:
        with Bag(args.bag) as bag:
            tracer = (
                (lambda: Tracer(enabled=False))
                if args.no_trace
                # created only once the replay starts
                else (lambda: trace_writer(args.run_dir, graph, "replay"))
            )
            player = Player(bag, graph, args.run_dir, options, progress=progress, tracer=tracer)
            with stop_on_signals(player.stop) as caught:
                player.run()
    except L4Error:
        # what ran is worth a report too
        _write_facts(args.run_dir, graph, player, caught.name if caught else None)
        raise
    _write_facts(args.run_dir, graph, player, caught.name)
    _print_summary(player)
    if player.recorder is not None and player.recorder.failure:
        raise CliError(
            f"{player.recorder.failure}; `l4 bag info` reads what was recorded and "
            f"`l4 bag reindex {player.recorder.path}` completes the file"
        )
    return caught.exit_status  # 130 / 143 when SIGINT / SIGTERM stopped it


def _write_facts(run_dir: Path, graph: Any, player: Any, interrupted: str | None) -> None:
    """The run directory `l4 report` reads; only once the run has started."""
    if player is None or player.runtime is None or player.recorder is None:
        if player is not None and player.tracer is not None:
            _discard_trace(player.tracer)
        return
    from stack.trace import write_run_dir

    write_run_dir(run_dir, graph, player.runtime, mode="replay", interrupted=interrupted)
    text = json.dumps(player.result.to_json(), indent=2)
    (run_dir / "replay.json").write_text(text + "\n")
    log.info("run directory: %s", run_dir)


def _discard_trace(tracer: Any) -> None:
    """A replay that never started leaves no trace file (nor the directory made for it)."""
    tracer.close()
    path = getattr(tracer, "path", None)
    if path is not None and not len(tracer):
        path.unlink(missing_ok=True)
        (path.parent / "launch.yaml").unlink(missing_ok=True)  # written beside the trace
        with contextlib.suppress(OSError):  # only if empty
            path.parent.rmdir()


def _print_summary(player: Any) -> None:
    from rich.table import Table

    from stack.console import make_console
    from stack.report.summary import print_chain_summary

    result = player.result
    console = make_console()
    table = Table("bag topic", "type", "read", "injected", "status", title="inputs")
    for t in result.topics:
        name = t.bag_topic if t.topic == t.bag_topic else f"{t.bag_topic} -> {t.topic}"
        table.add_row(name, t.msgtype, str(t.read), str(t.injected), t.status)
    console.print(table)
    outputs = Table("topic", "recorded", title=f"outputs ({player.recorder.path})")
    for topic, count in sorted(result.recorded.items()):
        outputs.add_row(topic, str(count))
    console.print(outputs)
    print_chain_summary(player.runtime, console)
    state = "interrupted" if result.interrupted else "done"
    console.print(
        f"{state}: {result.messages} messages, {result.bag_s:.2f} s of bag time in "
        f"{result.wall_s:.2f} s (x{result.bag_s / max(result.wall_s, 1e-9):.2f}); "
        f"decode errors {result.decode_errors}, duplicates {result.duplicates}, "
        f"drops {result.drops}"
    )
