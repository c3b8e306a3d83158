"""Synthetic driving scenarios: a world, traffic and sensors written as a rosbag2 with ground truth.

`make_scenario(out, seconds, seed, ...)` is the entry point; topic names are in
:mod:`tools.scenario.topics`.
"""

from tools.scenario.config import Storage, Traffic, Weather
from tools.scenario.errors import ScenarioError
from tools.scenario.generator import ScenarioInfo, make_scenario

__all__ = ["ScenarioError", "ScenarioInfo", "Storage", "Traffic", "Weather", "make_scenario"]
