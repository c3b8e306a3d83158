"""Synthetic driving scenarios: a world, traffic and sensors written as a rosbag2 with ground truth.

`make_scenario(out, seconds, seed, ...)` is the entry point; topic names are in
:mod:`tools.scenario.topics`. The names below load on first use, so that `l4 --help`, which
imports this package's command module, stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.scenario.config import Storage, Traffic, Weather
    from tools.scenario.errors import ScenarioError
    from tools.scenario.generator import ScenarioInfo, make_scenario

_EXPORTS = {
    "Storage": "tools.scenario.config",
    "Traffic": "tools.scenario.config",
    "Weather": "tools.scenario.config",
    "ScenarioError": "tools.scenario.errors",
    "ScenarioInfo": "tools.scenario.generator",
    "make_scenario": "tools.scenario.generator",
}
__all__ = ["ScenarioError", "ScenarioInfo", "Storage", "Traffic", "Weather", "make_scenario"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
