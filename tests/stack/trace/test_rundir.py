"""write_run_dir and the RunDir reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stack.trace import RunDir, TraceError, Tracer, write_run_dir
from stack.trace.rundir import RUN_FILE
from tests.stack.trace.graphs import chain_run, chain_yaml, feed, image, lockstep


def test_run_dir_holds_trace_launch_platform_and_counters(tmp_path):
    run = RunDir(chain_run(tmp_path / "run", 0.2, 0.2, budget_ms=50, cycles=4))
    assert run.name == "synthetic" and run.mode == "test"
    assert set(run.chains) == {"main"} and run.chains["main"].budget_ms == 50
    assert len(run.trace.records) == 8
    assert "w1" in run.launch_text
    assert run.platform["cores"] >= 1 and run.platform["python"]
    assert run.publishers["/mid"] == ["w1"]
    subs = {s.topic: s for s in run.subscriptions}
    assert subs["/in"].node == "w1" and subs["/in"].delivered == 4
    assert run.online_latencies["main"].shape == (4, 2)


def test_in_memory_tracer_records_are_written_too(tmp_path):
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",), tracer=Tracer())
    feed(rt, [["/in"]], cycles=3)
    write_run_dir(tmp_path, rt.graph, rt, mode="replay")
    assert len(RunDir(tmp_path).trace.records) == 6
    assert json.loads((tmp_path / RUN_FILE).read_text())["trace"]["records"] == 6


def test_untraced_run_has_online_samples_only(tmp_path):
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",), tracer=Tracer(enabled=False))
    feed(rt, [["/in"]], cycles=2)
    write_run_dir(tmp_path, rt.graph, rt, mode="launch")
    run = RunDir(tmp_path)
    assert not run.has_trace
    assert np.array_equal(run.online_latencies["main"], np.asarray(rt.chain_latencies["main"]))
    with pytest.raises(TraceError, match="not traced"):
        _ = run.trace


def test_overwrite_totals_are_in_run_json(tmp_path):
    rt = lockstep(chain_yaml(0.0, 0.0, budget_ms=50), ("/in",))
    for i in range(4):
        rt.inject("/in", image(i))
    write_run_dir(tmp_path, rt.graph, rt, mode="test")  # never ran: only the counters know
    subs = {s.topic: s for s in RunDir(tmp_path).subscriptions}
    assert subs["/in"].overwritten == 3


def test_missing_directory_and_run_json_are_named(tmp_path):
    with pytest.raises(TraceError, match="no such directory"):
        RunDir(tmp_path / "absent")
    with pytest.raises(TraceError, match=r"run\.json: missing"):
        RunDir(tmp_path)


def test_unsupported_run_json_is_rejected(tmp_path):
    (tmp_path / RUN_FILE).write_text(json.dumps({"format": 99}))
    with pytest.raises(TraceError, match="unsupported format 99"):
        RunDir(tmp_path)
    (tmp_path / RUN_FILE).write_text("{not json")
    with pytest.raises(TraceError, match="cannot read"):
        RunDir(tmp_path)
