"""`l4 launch --profile REPORT_JSON`: the schedulability start-up check that tools.schedsim
registers under the ``l4stack.launch_checks`` entry points (see stack.cli.plugins).

Before a live run starts, simulate its graph from a measured profile and warn about chains that
cannot meet their budgets. Module level stays cheap: `l4 launch --help` loads it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stack.executor.view import BuiltGraph


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="REPORT_JSON",
        help="warn at start-up when a simulation from this profile says a chain misses its budget",
    )  # fmt: skip


def check(runtime: BuiltGraph, args: argparse.Namespace) -> None:
    """Warn about unschedulable chains; SimError (naming --profile) for an unusable profile."""
    if getattr(args, "profile", None) is None:
        return
    from tools.schedsim.check import warn_unschedulable
    from tools.schedsim.errors import SimError

    try:
        warn_unschedulable(runtime, args.profile, args.policy)
    except SimError as exc:
        raise SimError(f"--profile: {exc}") from exc
