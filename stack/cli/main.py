"""Entry point of `l4`: loads the subcommands from the ``l4stack.commands`` entry points.

A subcommand module defines ``register(subparsers)``, which adds one parser and sets ``func``
to a callable taking the parsed args and returning the exit status (see
:mod:`stack.cli.plugins`). Registration must stay cheap (no heavy imports) so that `l4 --help`
is instant; import inside ``func``.

Errors are handled here, once: any :class:`stack.errors.L4Error` (every subsystem's error
derives from it) and any OSError (a path the user named) is printed as
``l4 COMMAND: error: MESSAGE`` with exit status 2, without a traceback (``-v`` logs it).
"""

from __future__ import annotations

import argparse
import logging
import sys

from stack.cli.errors import EXIT_USAGE, CliError
from stack.cli.plugins import COMMANDS_GROUP, load_plugins, registered, warn_broken
from stack.errors import L4Error

__all__ = ["CliError", "build_parser", "main"]
log = logging.getLogger("l4")


def build_parser() -> argparse.ArgumentParser:
    """The `l4` parser with every registered subcommand; CliError when none is registered."""
    parser = argparse.ArgumentParser(
        prog="l4",
        description="l4stack: run, replay, report and tune a level-4 driving software graph.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if not registered(COMMANDS_GROUP):
        raise CliError(
            f"no subcommands are registered under the entry-point group {COMMANDS_GROUP!r}: "
            "install l4stack so that its metadata is written (pip install -e .)"
        )
    for plugin in load_plugins(COMMANDS_GROUP):
        try:
            plugin.obj(sub)
        except Exception as exc:  # a broken plugin must not take the other commands down
            warn_broken(COMMANDS_GROUP, plugin.name, plugin.target, exc, sys.stderr)
    return parser


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except CliError as exc:
        print(f"l4: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[%(levelname)s] %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (L4Error, OSError) as exc:
        log.debug("l4 %s failed", args.command, exc_info=True)
        print(f"l4 {args.command}: error: {_describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
