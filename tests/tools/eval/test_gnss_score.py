"""`l4 eval --gnss`: a localization replay scored against the log's own fixes (no ground truth)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.cli.main import main
from tools.scenario import make_scenario
from tools.scenario.realism import Realism

ROOT = Path(__file__).resolve().parents[3]
LAUNCH = str(ROOT / "launch" / "localization.yaml")
IMU, ODOM = "/sensing/imu/data", "/vehicle/odometry"


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gnss") / "bag"
    knobs = {"gnss_first_fix_offset_m": [0.0, 500.0], "gnss_bad_first_fixes": 3}
    make_scenario(path, 12.0, 5, progress=False, realism=Realism.from_mapping(knobs))
    return path


def _replay(bag: Path, run: Path, *extra: str) -> None:
    argv = ["replay", str(bag), "--launch", LAUNCH, "--lockstep", "--run-dir", str(run)]
    assert main([*argv, "--no-progress", "--arg", f"map:={bag / 'map.npz'}", *extra]) == 0


def test_distance_to_fixes_and_rejected_share(bag, tmp_path):
    _replay(bag, tmp_path / "run")
    out = tmp_path / "gnss.json"
    argv = ["eval", str(tmp_path / "run"), "--gnss", "--map", str(bag / "map.npz")]
    assert main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["fixes"] == 121
    d = result["distance_to_fixes"]
    assert d["p50_m"] < d["p95_m"] <= d["max_m"] and d["p95_m"] < 3.0
    assert 0.0 <= result["rejected_share"] < 0.1  # the 500 m fixes came before initialisation


def test_drift_without_gnss_is_measured_after_aligning(bag, tmp_path):
    _replay(bag, tmp_path / "dr", "--topics", IMU, ODOM, "/tf_static")
    out = tmp_path / "drift.json"
    argv = ["eval", str(tmp_path / "dr"), "--gnss", "--align-first", "4", "--json", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["driven_m"] > 50.0
    assert 0.0 < result["drift"]["final_m"] < 10.0 and result["final_drift_share"] < 0.1


def test_wrong_topic_is_named(bag, tmp_path, capsys):
    _replay(bag, tmp_path / "run")
    assert main(["eval", str(tmp_path / "run"), "--gnss", "--gnss-topic", "/gps/fix"]) != 0
    assert (
        "no valid fix on /gps/fix; name the log's topic with --gnss-topic"
        in capsys.readouterr().err
    )
