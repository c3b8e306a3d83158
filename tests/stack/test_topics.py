"""The graph's standard topic and frame names live in stack.topics only."""

from __future__ import annotations

import ast
from pathlib import Path

from stack import topics

ROOT = Path(__file__).resolve().parents[2]
NODE_PACKAGES = ("perception", "planning", "stack/nodes")


def _names() -> dict[str, str]:
    return {k: v for k, v in vars(topics).items() if k.isupper() and isinstance(v, str)}


def test_each_name_once() -> None:
    values = list(_names().values())
    assert len(values) == len(set(values))
    assert all(v.startswith("/") for k, v in _names().items() if not k.startswith("FRAME_"))


def _topic_literals(path: Path) -> list[str]:
    """Module-level constants holding a ROS topic name ("/a/b")."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str) and value.startswith("/") and value.count("/") >= 1:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value}")
    return found


def test_no_node_module_defines_its_own_topic_constant() -> None:
    found = [
        hit
        for package in NODE_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in _topic_literals(path)
    ]
    assert not found, "use stack.topics:\n" + "\n".join(found)


def test_node_params_default_to_the_standard_names() -> None:
    from perception.lidar.node import LidarObstaclesParams
    from stack.nodes.watchdog import WatchdogParams

    assert WatchdogParams().input == topics.CONTROL_COMMAND
    assert LidarObstaclesParams().base_frame == topics.FRAME_BASE
