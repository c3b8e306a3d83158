"""A run's frames and callback times with the host's spells taken out."""

from __future__ import annotations

import numpy as np
import pytest

from stack.report.analysis import CallbackResult, NodeResult, RunAnalysis
from stack.trace.lineage import ChainSamples
from tools.bench.spells import Spans, frame_mask, stamps_clear, without_spans

MS = 1_000_000


def test_overlaps_finds_every_interval_that_meets_a_span():
    spans = Spans.of([(500, 600), (100, 200)])  # given out of order
    lo = np.array([0, 150, 250, 190, 650, 0])
    hi = np.array([90, 160, 400, 510, 700, 1000])
    assert spans.overlaps(lo, hi).tolist() == [False, True, False, True, False, True]
    assert spans.overlaps(np.array([200]), np.array([200])).tolist() == [True]  # edges count
    assert spans.total_s == pytest.approx(200 / 1e9)


def test_no_spans_overlap_nothing():
    assert Spans.of([]).overlaps(np.array([1, 2]), np.array([3, 4])).tolist() == [False, False]


def test_overlapping_spans_are_refused():
    with pytest.raises(ValueError, match="one ends at 200 ns, the next starts at 150"):
        Spans.of([(100, 200), (150, 300)])


def samples(rows: list[tuple[int, int]]) -> ChainSamples:
    """(arrival ms, latency ms) per output; bag time is the clock plus 1000 s."""
    start = np.array([a * MS for a, _ in rows], np.int64)
    lat = np.array([m * MS for _, m in rows], np.int64)
    return ChainSamples(start + lat, lat, start + 1000 * 1000 * MS)


def test_a_frame_counts_when_neither_it_nor_its_backlog_met_a_spell():
    s = samples([(0, 50), (500, 50), (1000, 50), (1320, 50), (2000, 50)])
    spans = Spans.of([(1040 * MS, 1060 * MS)])  # inside the third frame's run
    # the fourth arrived 260 ms after the spell: clear of a 250-ms backlog
    assert frame_mask(s, spans, backlog_s=0.25).tolist() == [True, True, False, True, True]
    assert frame_mask(s, spans, backlog_s=0.3).tolist() == [True, True, False, False, True]


def test_frames_without_output_are_judged_by_their_arrival_and_budget():
    s = samples([(0, 50), (1000, 50)])
    bag = 1000 * 1000 * MS
    stamps = bag + np.array([0, 400, 1000, 3000]) * MS
    spans = Spans.of([(1040 * MS, 1060 * MS), (3080 * MS, 3090 * MS)])
    # 400: no output, the spell came 640 ms later; 3000: no output, a spell within its budget
    outputs = frame_mask(s, spans, backlog_s=0.25)
    clear = stamps_clear(s, outputs, stamps, spans, budget_ms=100.0, backlog_s=0.25)
    assert clear.tolist() == [True, True, False, False]
    assert stamps_clear(s, outputs, stamps, spans, budget_ms=50.0, backlog_s=0.25).tolist()[3]


def callback(starts_ms: list[int], took_ms: list[int]) -> CallbackResult:
    took = np.array(took_ms, np.int64) * MS
    return CallbackResult(
        "planner", "sub:/objects", took, 10.0, steady_ns=took,
        steady_at_ns=np.array(starts_ms, np.int64) * MS,
    )  # fmt: skip


def analysis(*callbacks: CallbackResult, origin_ms: int = 1000) -> RunAnalysis:
    node = NodeResult("planner", {cb.callback: cb for cb in callbacks})
    return RunAnalysis(None, {}, {"planner": node}, [], 0, 10.0, 0, False, origin_ns=origin_ms * MS)


def test_without_spans_keeps_the_callback_runs_clear_of_them():
    cb = callback([0, 100, 200, 300], [10, 60, 10, 10])
    # on the clock the runs start at 1000, 1100, 1200, 1300 ms; the spell is 1150-1205
    clear, kept = without_spans(analysis(cb), Spans.of([(1150 * MS, 1205 * MS)]))
    got = clear.nodes["planner"].callbacks["sub:/objects"]
    assert (got.steady_ns / MS).tolist() == [10, 10]
    assert (got.steady_at_ns / MS).tolist() == [0, 300]
    assert kept == 0.5
    assert cb.steady_ns.tolist() == [10 * MS, 60 * MS, 10 * MS, 10 * MS]  # the original stands


def test_a_callback_wholly_in_a_spell_keeps_its_runs():
    cb = callback([0, 100], [10, 10])
    clear, kept = without_spans(analysis(cb), Spans.of([(900 * MS, 1200 * MS)]))
    assert clear.nodes["planner"].callbacks["sub:/objects"] is cb and kept == 0.0


def test_without_spells_the_analysis_is_left_as_it_is():
    a = analysis(callback([0], [10]))
    assert without_spans(a, Spans.of([])) == (a, 1.0)
