"""Synthetic driving scenarios: a world, traffic and sensors written as a rosbag2 with ground truth.

`make_scenario(out, seconds, seed, ...)` is the entry point; topic names are in
:mod:`tools.scenario.topics`. The names below load on first use, so that `l4 --help`, which
imports this package's command module, stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.lazy import lazy_exports

if TYPE_CHECKING:
    from tools.scenario.config import Storage, Traffic, Weather
    from tools.scenario.errors import ScenarioError
    from tools.scenario.generator import ScenarioInfo, is_complete, make_scenario

_EXPORTS = {
    "Storage": "tools.scenario.config",
    "Traffic": "tools.scenario.config",
    "Weather": "tools.scenario.config",
    "ScenarioError": "tools.scenario.errors",
    "ScenarioInfo": "tools.scenario.generator",
    "make_scenario": "tools.scenario.generator",
    "is_complete": "tools.scenario.generator",
}
__all__ = [
    "ScenarioError",
    "ScenarioInfo",
    "Storage",
    "Traffic",
    "Weather",
    "is_complete",
    "make_scenario",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
