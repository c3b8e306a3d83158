"""`l4 demo` end to end on a short scenario: replay, report and `l4 eval` of its run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.cli.main import main

KEYS = {
    "camera_ap50",
    "lidar_recall",
    "mota",
    "id_switches",
    "loc_rmse_m",
    "min_clearance_m",
    "min_clearance_at_fault_m",
    "contacts",
    "control_error_m",
}


@pytest.mark.slow
def test_demo_replays_reports_and_scores(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("L4_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    status = main(["demo", "--seconds", "3", "--lockstep", "--run-dir", str(run)])
    assert status in (0, 1)  # 1: a chain over budget on a loaded machine is a verdict, not a crash
    out = capsys.readouterr().out
    assert "camera_to_control" in out and "accuracy against ground truth" in out
    assert (run / "report.html").stat().st_size > 10_000
    scores = json.loads((run / "eval.json").read_text())
    assert set(scores) >= KEYS
    assert scores["messages"]["/perception/lidar/objects"] == 31  # 3 s at 10 Hz, both ends
    assert 0.0 <= scores["lidar_recall"] <= 1.0
    assert scores["loc_rmse_m"] is None or scores["loc_rmse_m"] < 1.0
    # The scenario is cached: a second demo reuses it instead of generating again.
    cached = list((tmp_path / "cache" / "l4stack" / "scenarios").iterdir())
    assert len(cached) == 1 and not cached[0].name.endswith(".partial")
