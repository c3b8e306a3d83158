"""A log whose /tf_static lacks the IMU's mounting: one counted warning, or none once
StaticTransformPublisher gives it (a lockstep replay of a realism scenario)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.cli.main import main
from tools.scenario import make_scenario
from tools.scenario.realism import Realism

ROOT = Path(__file__).resolve().parents[3]
MOUNT = {"imu_mount_rpy_deg": [90.0, 0.0, -90.0], "imu_on_tf": False}


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("imu_mount") / "bag"
    make_scenario(path, 6.0, 8, progress=False, realism=Realism.from_mapping(MOUNT))
    return path


def _counters(bag: Path, launch: Path, run: Path) -> dict:
    argv = ["replay", str(bag), "--launch", str(launch), "--lockstep", "--run-dir", str(run)]
    assert main([*argv, "--no-progress", "--arg", f"map:={bag / 'map.npz'}"]) == 0
    return json.loads((run / "run.json").read_text())["counters"]["localization"]


def test_missing_imu_transform_is_counted_once(bag, tmp_path):
    counters = _counters(bag, ROOT / "launch" / "localization.yaml", tmp_path / "run")
    assert counters.get("missing_transform") == 1


def test_static_transform_publisher_supplies_it(bag, tmp_path):
    text = (ROOT / "launch" / "localization.yaml").read_text()
    # roll 90, yaw -90 degrees (fixed axes x then z: scipy's "xyz" extrinsic = tf2 setRPY)
    text = text.replace("  # imu_mount:\n", "  imu_mount:\n")
    text = text.replace(
        "  #   class: stack.nodes.static_tf:StaticTransformPublisher\n"
        "  #   executor: localization\n"
        "  #   params: {parent: base_link, child: imu_link, rpy: [0.0, 0.0, 0.0]}",
        "    class: stack.nodes.static_tf:StaticTransformPublisher\n"
        "    executor: localization\n"
        "    params: {parent: base_link, child: imu_link, rpy: [1.5707963, 0.0, -1.5707963]}",
    )
    launch = tmp_path / "localization.yaml"
    launch.write_text(text)
    counters = _counters(bag, launch, tmp_path / "run")
    assert "missing_transform" not in counters
