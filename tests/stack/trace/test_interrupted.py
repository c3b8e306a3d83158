"""Runs that end early: stopped by a signal (run.json says so, exit 128 + signal) or killed
before writing run.json (the report works from the trace alone and says the run was cut short)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack.cli.main import main
from stack.graph import parse_graph
from stack.report.analysis import analyze
from stack.trace import RunDir, TraceError, TraceWriter, write_run_dir
from stack.trace.rundir import RUN_FILE, trace_writer
from tests.stack.report.conftest import MIXED
from tests.stack.trace.graphs import feed, image, lockstep
from tests.stack.trace.test_launch_rundir import LAUNCH

ROOT = Path(__file__).resolve().parents[3]


def _mixed_run(run_dir: Path, interrupted: str | None = None) -> Path:
    """The report tests' mixed run (one chain over budget, two overwrites), traced with the
    run's facts in the trace header."""
    rt = lockstep(MIXED, ("/in",), trace_writer(run_dir, parse_graph(MIXED, "m.yaml"), "test"))
    feed(rt, [["/in"]], cycles=6)
    for i in range(3):
        rt.inject("/in", image(10_000_000_000 + i))
    rt.run_until_idle()
    feed(rt, [["/in"]], cycles=3)
    rt.shutdown()
    write_run_dir(run_dir, rt.graph, rt, mode="test", interrupted=interrupted)
    return run_dir


def _cut_short(run_dir: Path, to: Path) -> Path:
    """What a killed run leaves: the trace, no run.json (nor anything written at the end)."""
    to.mkdir()
    shutil.copy(run_dir / "trace.l4t", to / "trace.l4t")
    return to


def test_the_report_rebuilds_a_killed_run_from_its_trace(tmp_path: Path) -> None:
    full = analyze(RunDir(_mixed_run(tmp_path / "full")))
    run = RunDir(_cut_short(tmp_path / "full", tmp_path / "cut"))
    assert run.cut_short and run.name == "mixed" and run.mode == "test"
    cut = analyze(run)
    assert list(cut.chains) == list(full.chains) == ["relaxed", "tight"]
    for name, chain in full.chains.items():
        again = cut.chains[name]
        assert (again.count, again.verdict, again.drops) == (
            chain.count,
            chain.verdict,
            chain.drops,
        )
    assert cut.chains["tight"].drops == 2  # the overwrites, counted from the trace's events
    assert cut.nodes["b"].overwrites == full.nodes["b"].overwrites == 2
    assert not full.run.cut_short and not full.run.interrupted


def test_report_says_cut_short_in_terminal_json_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cut = _cut_short(_mixed_run(tmp_path / "full"), tmp_path / "cut")
    out = tmp_path / "out"
    argv = ["report", str(cut), "--json", str(out / "r.json"), "--html", str(out / "r.html")]
    assert main(argv) == 1  # the tight chain is still over its budget
    text = capsys.readouterr().out
    assert "the run was cut short: run.json is missing" in text
    doc = json.loads((out / "r.json").read_text())
    assert doc["run"]["cut_short"] is True and doc["run"]["interrupted"] is False
    assert doc["chains"]["tight"]["verdict"] == "OVER BUDGET"
    assert "id='ended-early'>The run was cut short" in (out / "r.html").read_text()


def test_report_says_a_signal_interrupted_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = _mixed_run(tmp_path / "run", interrupted="SIGTERM")
    meta = json.loads((run_dir / RUN_FILE).read_text())
    assert meta["interrupted"] is True and meta["signal"] == "SIGTERM"
    main(["report", str(run_dir), "--json", str(tmp_path / "r.json")])
    assert "the run was interrupted by SIGTERM" in capsys.readouterr().out
    doc = json.loads((tmp_path / "r.json").read_text())["run"]
    assert doc["interrupted"] is True and doc["signal"] == "SIGTERM" and not doc["cut_short"]


def test_a_trace_without_run_facts_still_reports_and_no_trace_is_named(tmp_path: Path) -> None:
    rt = lockstep(MIXED, ("/in",), TraceWriter(tmp_path / "plain"))  # no facts in its header
    feed(rt, [["/in"]], cycles=3)
    rt.shutdown()
    run = RunDir(tmp_path / "plain")
    assert run.cut_short and run.name == "plain" and run.chains == {}
    assert set(analyze(run).nodes) == {"a", "b"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceError, match=r"run\.json: missing, and so is trace\.l4t"):
        RunDir(tmp_path / "empty")


def _launch(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    launch = tmp_path / "l.yaml"
    launch.write_text(LAUNCH)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "stack.cli", "launch", str(launch), "--run-dir", str(run_dir)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    trace = run_dir / "trace.l4t"
    deadline = time.monotonic() + 30
    while not (trace.exists() and trace.stat().st_size > 4000) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, run_dir


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_launch_stopped_by_a_signal_exits_128_plus_it(tmp_path: Path, sig: signal.Signals) -> None:
    proc, run_dir = _launch(tmp_path)
    try:
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err.decode()
    meta = json.loads((run_dir / RUN_FILE).read_text())
    assert meta["interrupted"] is True and meta["signal"] == sig.name


def test_launch_killed_outright_is_reported_from_its_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    proc, run_dir = _launch(tmp_path)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert not (run_dir / RUN_FILE).exists()
    assert "chains:" in (run_dir / "launch.yaml").read_text()  # written at start
    assert main(["report", str(run_dir), "--json", str(tmp_path / "r.json")]) == 0
    assert "cut short" in capsys.readouterr().out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["run"]["cut_short"] and doc["run"]["mode"] == "launch"
    assert doc["chains"]["cam_to_objects"]["count"] > 0
