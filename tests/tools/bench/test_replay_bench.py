"""`l4 bench replay` runs end to end and reports consistent figures (no speed assertion)."""

from __future__ import annotations

import pytest

from tools.bench.replay import run


@pytest.mark.slow
def test_quick_replay_bench_reports_both_sides() -> None:
    result = run(quick=True, seconds=1.0)
    assert result["messages"] == result["raw_messages"] > 0
    assert result["injected"] == result["recorded"] > 0
    assert result["msgs_per_s"] > 0 and result["raw_msgs_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["msgs_per_s"] / result["raw_msgs_per_s"], rel=1e-2
    )
    assert isinstance(result["ok"], bool)
