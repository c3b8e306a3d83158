"""Small bags and launch files for the replay tests, built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.graph import LaunchGraph, parse_graph
from tools.bench.replay import write_sensor_bag
from tools.scenario import topics as T

CAMERA, LIDAR, IMU, ODOM = T.CAMERA_IMAGE, T.LIDAR_POINTS, T.IMU, T.ODOMETRY
SMALL_RATES = {CAMERA: 10, LIDAR: 10, IMU: 100, ODOM: 50}
SMALL_COUNTS = {CAMERA: 10, LIDAR: 10, IMU: 100, ODOM: 50}  # in one second


def small_bag(path: Path, seconds: float = 1.0, storage: str = "mcap") -> Path:
    """Camera, lidar, IMU and odometry at scenario rates, with tiny payloads."""
    return write_sensor_bag(
        path, seconds, storage=storage, width=16, height=8, points=32, rates=SMALL_RATES
    )


def passthrough(*pairs: tuple[str, str, str], extra: str = "") -> str:
    """A launch text with one pass-through per (input, output, msgtype)."""
    lines = ["allow_external_modules: true", "nodes:"]
    for i, (src, dst, msgtype) in enumerate(pairs):
        lines += [
            f"  pass{i}:",
            "    class: stack.nodes.synthetic:Work",
            f"    params: {{input: {src}, output: {dst}, msgtype: {msgtype}, work_ms: 0.0}}",
        ]
    return "\n".join(lines) + "\n" + extra


SENSOR_LAUNCH = passthrough(
    (CAMERA, "/out/camera", T.MSGTYPES[CAMERA]),
    (IMU, "/out/imu", T.MSGTYPES[IMU]),
    extra="chains:\n  cam: {path: [" + CAMERA + ", /out/camera], budget_ms: 50}\n",
)


def graph_of(text: str, source: str = "test.yaml") -> LaunchGraph:
    return parse_graph(text, source)


@pytest.fixture
def sensor_bag(tmp_path: Path) -> Path:
    return small_bag(tmp_path / "bag")


@pytest.fixture(scope="module")
def module_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small mcap bag shared by a module's read-only tests."""
    return small_bag(tmp_path_factory.mktemp("bags") / "bag")
