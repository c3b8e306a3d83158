"""The extension points of `l4`: Python entry-point groups, as ros2cli registers its verbs.

``l4stack.commands``
    one entry per subcommand, ``NAME = "package.module:register"``; ``register(subparsers)``
    adds one parser and sets ``func`` (parsed args -> exit status). A command lives in the
    package it drives (``tools.scenario.cli``, ``tools.bench.cli``, ...); ``stack/cli`` only
    loads the registry, so the runtime never imports the tools above it. Registration must stay
    cheap (no heavy imports at module level) so that `l4 --help` is instant.
``l4stack.launch_checks``
    start-up checks of a live run (`l4 launch`, `l4 ros`), ``NAME = "package.module"``: an
    object with ``add_arguments(parser)`` and ``check(runtime, args)`` (:class:`LaunchCheck`),
    e.g. the schedulability check behind ``--profile`` that tools.schedsim provides.

The installed package metadata is the registry (``pip install -e .`` writes it). Entries are
taken in name order; one that fails to load is skipped with one warning naming it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from stack.executor.view import BuiltGraph


COMMANDS_GROUP = "l4stack.commands"
LAUNCH_CHECKS_GROUP = "l4stack.launch_checks"


class LaunchCheck(Protocol):
    """A start-up check of a live run; ``check`` raises an L4Error to refuse the run."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def check(self, runtime: BuiltGraph, args: argparse.Namespace) -> None: ...


@dataclass(frozen=True)
class Plugin:
    """One loaded entry point: its name, where it points, and the object it names."""

    name: str
    target: str
    obj: Any


def _entries(group: str) -> list[EntryPoint]:
    """The group's entry points in name order; the first of a duplicated name wins."""
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        seen.setdefault(ep.name, ep)
    return [seen[name] for name in sorted(seen)]


def registered(group: str) -> list[str]:
    """The names registered under ``group`` (without loading them)."""
    return [ep.name for ep in _entries(group)]


def warn_broken(group: str, name: str, target: str, exc: BaseException, out: TextIO) -> None:
    """The one line said about an entry point that cannot be used."""
    print(
        f"l4: warning: {group} entry point {name!r} ({target}) skipped: "
        f"{type(exc).__name__}: {exc}",
        file=out,
    )


def load_plugins(group: str, out: TextIO | None = None) -> list[Plugin]:
    """Load every entry point of ``group``; one that fails is skipped with a warning on ``out``."""
    plugins = []
    for ep in _entries(group):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not take `l4` down with it
            warn_broken(group, ep.name, ep.value, exc, out or sys.stderr)
            continue
        plugins.append(Plugin(ep.name, ep.value, obj))
    return plugins


def launch_checks() -> list[LaunchCheck]:
    """The registered start-up checks of live runs."""
    return [p.obj for p in load_plugins(LAUNCH_CHECKS_GROUP)]
