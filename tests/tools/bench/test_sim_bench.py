"""`l4 bench sim`'s comparison and verdict, from constructed figures."""

from __future__ import annotations

import pytest

from tools.bench.demograph import ChainFigures
from tools.bench.sim import TARGET_ERROR, _compare, _verdict


def figures(p99_ms: float, outputs: int = 500) -> ChainFigures:
    return ChainFigures("c", 100.0, outputs, outputs, p99_ms / 2, p99_ms, outputs, 0)


def test_compare_sets_the_prediction_and_the_profiled_run_against_the_measured_run():
    chains = _compare({"c": 55.0}, {"c": figures(40.0)}, {"c": figures(50.0, outputs=480)})
    assert chains["c"] == {
        "predicted_p99_ms": 55.0,
        "measured_p99_ms": 50.0,
        "error": pytest.approx(0.1),
        "profile_run_p99_ms": 40.0,
        "run_to_run": pytest.approx(0.2),
        "measured_frames": 480,
    }


def policy(error: float, free_error: float, frames_kept: float = 1.0, runs_kept: float = 1.0):
    chain = {"error": error, "spell_free": {"error": free_error}}
    kept = {"measured_frames_kept": frames_kept, "profile_runs_kept": runs_kept}
    return {"chains": {"c": chain}, "spell_free": kept}


def test_verdict_judges_the_whole_run_errors_of_both_policies():
    v = _verdict({"l4": policy(0.08, 0.3), "fifo": policy(0.12, 0.05)})
    assert v["ok"] and v["worst_error"] == 0.12 and v["worst_spell_free_error"] == 0.3
    v = _verdict({"l4": policy(0.01, 0.01), "fifo": policy(TARGET_ERROR + 0.01, 0.05)})
    assert not v["ok"] and v["worst_error"] == TARGET_ERROR + 0.01


def test_verdict_reports_the_least_share_a_spell_free_run_kept():
    v = _verdict({"l4": policy(0.1, 0.1, frames_kept=0.7), "fifo": policy(0.1, 0.1, runs_kept=0.4)})
    assert v["least_kept"] == 0.4 and v["ok"]  # reported, not judged
