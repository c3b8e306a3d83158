"""`l4 bench sim`'s comparison and verdict, from constructed figures."""

from __future__ import annotations

import pytest

from tools.bench.demograph import ChainFigures
from tools.bench.sim import MIN_KEPT, TARGET_ERROR, _compare, _verdict


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


def test_verdict_judges_the_spell_free_errors_of_both_policies():
    v = _verdict({"l4": policy(0.3, 0.08), "fifo": policy(0.05, 0.12)})
    assert v["ok"] and v["worst_error"] == 0.3 and v["worst_spell_free_error"] == 0.12
    v = _verdict({"l4": policy(0.01, 0.01), "fifo": policy(0.05, TARGET_ERROR + 0.01)})
    assert not v["ok"]


def test_verdict_refuses_runs_that_spent_most_of_their_time_in_spells():
    ok = _verdict({"l4": policy(0.3, 0.05, frames_kept=MIN_KEPT), "fifo": policy(0.1, 0.1)})
    assert ok["ok"] and ok["least_kept"] == MIN_KEPT
    few_frames = {"l4": policy(0.3, 0.05, frames_kept=MIN_KEPT - 0.01), "fifo": policy(0.1, 0.1)}
    few_runs = {"l4": policy(0.3, 0.05), "fifo": policy(0.1, 0.1, runs_kept=0.2)}
    assert not _verdict(few_frames)["ok"]
    assert not _verdict(few_runs)["ok"] and _verdict(few_runs)["least_kept"] == 0.2
