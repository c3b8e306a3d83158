"""Helpers shared by subcommands: loading launch files, signals, tables."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass
class Caught:
    """The signal that stopped a run, if one did."""

    signal: signal.Signals | None = None

    @property
    def name(self) -> str | None:
        return self.signal.name if self.signal is not None else None

    @property
    def exit_status(self) -> int:
        """0, or 128 + the signal's number, as a shell reports a command a signal ended."""
        return 0 if self.signal is None else 128 + int(self.signal)


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[Caught]:
    """Route SIGINT and SIGTERM to ``stop`` for the duration, restoring the old handlers;
    yields a :class:`Caught` naming the first signal that came."""
    caught = Caught()

    def handler(signum: int, _frame: object) -> None:
        if caught.signal is None:
            caught.signal = signal.Signals(signum)
        # The handler runs in the main thread between two bytecodes, possibly while that thread
        # holds a lock ``stop`` needs (a ready queue's, in the middle of a publish): calling it
        # here would deadlock on that lock. Another thread waits for it instead.
        threading.Thread(target=stop, name="l4-stop-on-signal", daemon=True).start()

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread
            old[sig] = signal.signal(sig, handler)
    try:
        yield caught
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
