"""The start-up check of `l4 launch --profile`: simulate the graph about to run and warn about
chains that cannot meet their budgets."""

from __future__ import annotations

import logging
from pathlib import Path

from stack.executor.view import BuiltGraph
from tools.schedsim.build import predict, unschedulable_chains
from tools.schedsim.profile import load_profile

log = logging.getLogger("l4.sim")
CHECK_SECONDS = 30.0


def warn_unschedulable(runtime: BuiltGraph, profile: str | Path, policy: str = "l4") -> list[str]:
    """Log (and return) one warning per chain the simulation says misses its budget.

    Raises SimError for an unreadable profile or a graph the profile cannot drive.
    """
    prediction = predict(runtime, load_profile(profile), policy=policy, duration_s=CHECK_SECONDS)
    lines = unschedulable_chains(prediction)
    for line in lines:
        log.warning("schedulability (from %s): %s", profile, line)
    if not lines:
        log.info("schedulability (from %s): every chain meets its budget", profile)
    return lines
