"""Entry point of `l4`: a registry of subcommand modules, each adding its own parser.

A subcommand module defines ``register(subparsers)`` which adds one parser and sets
``func`` to a callable taking the parsed args and returning the exit status. Registration
must stay cheap (no heavy imports) so that `l4 --help` is instant; import inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from stack.cli.errors import EXIT_USAGE, CliError

__all__ = ["CliError", "build_parser", "main"]

# Order is the order shown in `l4 --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "stack.cli.demo",
    "stack.cli.launch",
    "stack.cli.replay",
    "stack.cli.bag",
    "stack.cli.report",
    "stack.cli.eval",
    "stack.cli.graph",
    "stack.cli.sim",
    "stack.cli.ros",
    "stack.cli.bench",
    "stack.cli.engine",
    "stack.cli.train",
    "stack.cli.scenario",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="l4",
        description="l4stack: run, replay, report and tune a level-4 driving software graph.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[%(levelname)s] %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"l4 {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
