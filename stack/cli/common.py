"""Helpers shared by subcommands: loading launch files, signals, tables."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from stack.cli.errors import CliError


def load_launch(
    path: Path, args: list[str] | None = None, provided: dict[str, str] | None = None
):  # -> LaunchGraph
    from stack.graph import load_graph

    return load_graph(path, parse_launch_args(args or []), provided)


def parse_launch_args(items: list[str]) -> dict[str, str]:
    """`name:=value` pairs, as `ros2 launch` takes them."""
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise CliError(f"launch argument {item!r}: expected NAME:=VALUE")
        out[name] = value
    return out


def add_launch_args_option(parser) -> None:
    parser.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        dest="launch_args",
        help="set a launch argument declared under args: (repeatable)",
    )


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``stop`` for the duration, restoring the old handlers."""
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread
            old[sig] = signal.signal(sig, lambda *_: stop())
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
