"""Budget analysis of run directories with known latencies."""

from __future__ import annotations

import pytest

from stack.report.analysis import Verdict, analyze, compare_chains
from stack.report.jsonout import report_json
from stack.trace import RunDir, Tracer, TraceWriter, write_run_dir
from tests.stack.trace.graphs import FAN_IN, chain_yaml, feed, lockstep
from tests.stack.trace.test_lineage import check


def test_chain_numbers_and_verdicts(mixed_run):
    a = analyze(RunDir(mixed_run))
    relaxed, tight = a.chains["relaxed"], a.chains["tight"]
    assert relaxed.count == tight.count == 10
    assert relaxed.verdict is Verdict.OK and relaxed.misses == 0
    # FIFO lockstep: b waits for a (1 ms) then works 4 ms.
    check(tight.samples, RunDir(mixed_run).trace.records, 5.0)
    assert tight.verdict is Verdict.OVER and tight.misses == 10
    assert not a.ok


def test_overwrites_count_as_drops_of_the_chain_and_node(mixed_run):
    a = analyze(RunDir(mixed_run))
    assert a.chains["tight"].drops == 2 and a.chains["relaxed"].drops == 2
    assert a.nodes["b"].overwrites == 2 and a.nodes["b"].drops == 2
    assert a.nodes["b"].callbacks["sub:/in"].drops == 2
    kinds = [(e.node, e.kind) for e in a.events]
    assert ("b", "overwrite") in kinds


def test_variant_switch_is_found(mixed_run):
    a = analyze(RunDir(mixed_run))
    assert a.nodes["a"].variants == ["dense", "pruned"]
    assert a.nodes["a"].switches == 1
    switch = [e for e in a.events if e.kind == "switch"]
    assert len(switch) == 1 and switch[0].detail == "dense -> pruned"
    timeline = a.nodes["a"].variant_timeline
    assert [v for _, v in timeline] == ["dense", "pruned"] and timeline[1][0] == switch[0].t_ns
    doc = report_json(a)["nodes"]["a"]["variant_timeline"]
    assert [d["variant"] for d in doc] == ["dense", "pruned"] and 0 <= doc[0]["t_s"] < doc[1]["t_s"]
    from stack.report.html import render_html

    assert "Model variant per node over time" in render_html(a)


def test_callback_statistics(ok_run):
    a = analyze(RunDir(ok_run))
    cb = a.nodes["w1"].callbacks["sub:/in"]
    assert cb.count == 10
    assert cb.durations_ns.min() >= 1_000_000
    assert cb.max_ms >= cb.pct_ms(99) >= cb.pct_ms(50)
    assert cb.rate_hz > 0
    # The profile is steady state: the first run came before any chain had delivered.
    assert a.warm_ns > a.t0_ns
    assert len(cb.profile_samples_ms()) == 9
    assert len(cb.profile_samples_ms(limit=4)) == 4


def test_fan_in_report_attributes_each_source(tmp_path):
    rt = lockstep(FAN_IN, ("/cam", "/lidar"), TraceWriter(tmp_path))
    feed(rt, [["/lidar"], ["/cam"]], cycles=8)
    rt.shutdown()
    write_run_dir(tmp_path, rt.graph, rt, mode="test")
    a = analyze(RunDir(tmp_path))
    check(a.chains["camera"].samples, a.run.trace.records, 3.0)
    check(a.chains["lidar"].samples, a.run.trace.records, 9.0)
    chains = report_json(a)["chains"]
    assert chains["lidar"]["p50_ms"] == pytest.approx(a.chains["lidar"].pct_ms(50), abs=1e-3)
    assert chains["camera"]["count"] == chains["lidar"]["count"] == 8


def test_json_has_the_documented_shape(mixed_run):
    doc = report_json(analyze(RunDir(mixed_run)))
    assert doc["ok"] is False
    chain = doc["chains"]["tight"]
    for key in (
        "budget_ms",
        "percentile",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "count",
        "misses",
        "drops",
        "ok",
    ):
        assert key in chain
    assert chain["ok"] is False and doc["chains"]["relaxed"]["ok"] is True
    cb = doc["nodes"]["b"]["callbacks"]["sub:/in"]
    # samples_ms is the steady state: from the first chain output on (warmup_s before it)
    assert cb["count"] == 10 and len(cb["samples_ms"]) == 9
    # ... each with when it was measured, in order, after the first input (its own, unsteady)
    at = cb["samples_at_s"]
    assert len(at) == 9 and at == sorted(at) and at[0] > 0
    assert doc["warmup_s"] > 0 and isinstance(doc["sources"], dict)
    assert cb["p50_ms"] <= cb["p99_ms"] <= cb["max_ms"]
    assert {"rate_hz", "exceptions", "drops", "mean_ms"} <= set(cb)
    # Every run of b's callback published /b once: the simulator's profile needs that share.
    assert cb["publishes"] == {"/b": 1.0}
    # b publishes inside its callback, then returns: a little work after the output
    assert 0 <= cb["publish_after_ms"] < cb["max_ms"]


def test_baseline_deltas(ok_run, slower_run):
    a, b = analyze(RunDir(slower_run)), analyze(RunDir(ok_run))
    d = compare_chains(a, b)["main"]
    assert d["p50_ms"] == pytest.approx(a.chains["main"].pct_ms(50) - b.chains["main"].pct_ms(50))
    assert d["max_ms"] == pytest.approx(a.chains["main"].max_ms - b.chains["main"].max_ms)
    assert d["in_baseline"] and d["baseline_ok"] is True


def test_untraced_run_reports_online_samples(tmp_path):
    rt = lockstep(chain_yaml(0.5, 0.5, 50), ("/in",), tracer=Tracer(enabled=False))
    feed(rt, [["/in"]], cycles=4)
    write_run_dir(tmp_path, rt.graph, rt, mode="launch")
    a = analyze(RunDir(tmp_path))
    assert a.chains["main"].source == "online" and a.chains["main"].count == 4
    assert a.ok and a.records == 0


def test_stale_drop_decisions_count_as_drops_not_runs(tmp_path):
    rt = lockstep(chain_yaml(0.5, 0.5, 50), ("/in",))
    feed(rt, [["/in"]], cycles=3)
    now = rt.tracer.records[-1][5] + 1000
    detail = "stale /mid: age 60.0 ms > chain main budget 50 ms"
    rt.tracer.record(
        ("w2", "sub:/mid", "x", 0, now, now, (("/mid", 1),), (), "", (("drop", detail),))
    )
    rt.nodes["w2"].count("drop")
    write_run_dir(tmp_path, rt.graph, rt, mode="test")
    a = analyze(RunDir(tmp_path))
    cb = a.nodes["w2"].callbacks["sub:/mid"]
    assert cb.count == 3 and cb.drops == 1
    assert a.nodes["w2"].drops == 1 and a.chains["main"].drops == 1
