"""`l4 launch FILE`: run a launch file in-process on the embedded executor."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stack.cli import argtypes
from stack.errors import L4Error

if TYPE_CHECKING:
    from stack.executor.view import BuiltGraph, RunResults
    from stack.graph import LaunchGraph

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run a launch file on the embedded executor")
    add_run_options(p)
    p.set_defaults(func=run)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of a live run on the embedded executor (`l4 launch`, `l4 ros`)."""
    p.add_argument("file", type=Path, help="launch file (YAML)")
    p.add_argument(
        "--duration", type=argtypes.duration, default=None, metavar="S",
        help="stop after S seconds",
    )  # fmt: skip
    p.add_argument("--run-dir", type=Path, default=None, help="write trace and run facts here")
    p.add_argument("--policy", choices=["l4", "fifo"], default="l4", help="ready-queue policy")
    p.add_argument("--fail-fast", action="store_true", help="stop on the first callback exception")
    p.add_argument("--no-trace", action="store_true", help="do not record callback spans")
    p.add_argument(
        "--telemetry", action="store_true",
        help="record Jetson telemetry (tegrastats, nvpmodel, jetson_clocks) into the run "
        "directory; off a Jetson it says so and runs on",
    )  # fmt: skip
    from stack.cli.common import add_launch_args_option
    from stack.cli.plugins import launch_checks

    add_launch_args_option(p)
    for check in launch_checks():  # e.g. --profile, from tools.schedsim
        check.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from stack.cli.common import load_launch

    return run_graph(args, load_launch(args.file, args.launch_args))


def run_graph(args: argparse.Namespace, graph: Any, attach: Any = None, clock: Any = None) -> int:
    """Run ``graph`` live; ``attach(runtime)`` (e.g. the rclpy bridge) is called before it
    starts and returns a function that detaches it after it stops. ``clock`` defaults to the
    wall clock (`l4 ros` passes the ROS clock, which follows /clock under use_sim_time)."""
    from stack.cli.common import stop_on_signals
    from stack.executor import Runtime, WallClock
    from stack.report.summary import print_chain_summary
    from stack.trace import Tracer
    from stack.trace.rundir import trace_writer

    # Records stream to the run directory from a background thread; without one there is
    # nowhere to put them, so tracing is off (the chain summary uses the executor's samples).
    if getattr(args, "telemetry", False) and args.run_dir is None:
        from stack.cli.errors import CliError

        raise CliError("--telemetry needs --run-dir (the telemetry is written there)")
    tracing = args.run_dir is not None and not args.no_trace
    tracer = trace_writer(args.run_dir, graph, "launch") if tracing else Tracer(enabled=False)
    try:
        runtime = Runtime(
            graph,
            clock if clock is not None else WallClock(),
            policy=args.policy,
            tracer=tracer,
            fail_fast=args.fail_fast,
        )
        _run_checks(runtime, args)
    except L4Error:
        tracer.close()
        raise
    log.info("launching %s: %d nodes, %d chains", graph.name, len(graph.nodes), len(graph.chains))
    detach = attach(runtime) if attach is not None else None
    sampler = _start_telemetry(args)
    with stop_on_signals(runtime.request_stop) as caught:
        try:
            runtime.spin(args.duration)
        except L4Error:
            print_chain_summary(runtime)
            # a failed run is worth a report too
            _write_run_dir(args.run_dir, graph, runtime, caught.name)
            raise
        finally:
            if sampler is not None:
                sampler.stop()
            if detach is not None:
                detach()
    print_chain_summary(runtime)
    _write_run_dir(args.run_dir, graph, runtime, caught.name)
    if caught.signal is not None:
        log.info("stopped by %s", caught.name)
    return caught.exit_status  # 130 / 143 when SIGINT / SIGTERM stopped it


def _start_telemetry(args: argparse.Namespace) -> Any:
    """The tegrastats sampler of `--telemetry` (stack.telemetry.sampler), started."""
    if not getattr(args, "telemetry", False):
        return None
    from stack.telemetry.sampler import TegrastatsSampler

    sampler = TegrastatsSampler(args.run_dir)
    return sampler if sampler.start() else None


def _write_run_dir(
    run_dir: Path | None, graph: LaunchGraph, runtime: RunResults, interrupted: str | None = None
) -> None:
    if run_dir is None:
        runtime.tracer.close()
        return
    from stack.trace import write_run_dir

    write_run_dir(run_dir, graph, runtime, mode="launch", interrupted=interrupted)
    log.info("run directory: %s (l4 report %s)", run_dir, run_dir)


def _run_checks(runtime: BuiltGraph, args: argparse.Namespace) -> None:
    """The registered start-up checks (stack.cli.plugins.LAUNCH_CHECKS_GROUP)."""
    from stack.cli.plugins import launch_checks

    for check in launch_checks():
        check.check(runtime, args)
