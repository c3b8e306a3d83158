"""`l4 report`: exit code, JSON, HTML (rendered in headless Chromium), Perfetto, baseline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stack.cli.main import main
from stack.report.perfetto import check_trace_events

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_exit_code_is_0_within_budget_and_1_over(ok_run, mixed_run, capsys):
    assert main(["report", str(ok_run)]) == 0
    assert "all chains within budget" in capsys.readouterr().out
    assert main(["report", str(mixed_run)]) == 1
    out = capsys.readouterr().out
    assert "OVER BUDGET" in out and "budget violated" in out


def test_bad_run_dir_is_a_usage_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_json_output_marks_the_over_budget_chain(mixed_run, tmp_path):
    out = tmp_path / "r" / "report.json"
    assert main(["report", str(mixed_run), "--json", str(out), "--quiet"]) == 1
    doc = json.loads(out.read_text())
    assert doc["ok"] is False
    assert (
        doc["chains"]["tight"]["ok"] is False and doc["chains"]["tight"]["verdict"] == "OVER BUDGET"
    )
    assert doc["chains"]["relaxed"]["ok"] is True


def test_perfetto_export_validates_and_has_a_track_per_thread(mixed_run, tmp_path):
    out = tmp_path / "trace.json"
    main(["report", str(mixed_run), "--perfetto", str(out), "--quiet"])
    doc = json.loads(out.read_text())
    assert check_trace_events(doc) == []
    events = doc["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    named = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert complete and {e["tid"] for e in complete} <= set(named)
    assert {e["name"] for e in complete} == {"a sub:/in", "b sub:/in"}
    assert all(e["dur"] >= 0 for e in complete)
    counters = [e for e in events if e["ph"] == "C"]
    assert {e["name"] for e in counters} == {"chain relaxed latency ms", "chain tight latency ms"}
    assert any(e["ph"] == "i" and e["name"] == "overwrite" for e in events)
    misses = [e for e in events if e.get("cat") == "deadline_miss"]
    assert len(misses) == 10 and {e["name"] for e in misses} == {"chain tight over budget"}
    assert doc["otherData"]["chains"]["tight"]["verdict"] == "OVER BUDGET"
    assert doc["otherData"]["chains"]["relaxed"]["verdict"] == "OK"


def test_perfetto_schema_check_finds_problems():
    assert check_trace_events({"traceEvents": [{"ph": "X", "name": "a", "ts": 0, "pid": 1}]}) == [
        "traceEvents[0]: phase X: missing 'dur'",
        "traceEvents[0]: phase X: missing 'tid'",
    ]
    assert check_trace_events([{"ph": "Q"}]) == ["traceEvents[0]: unknown or missing phase ph='Q'"]
    assert check_trace_events([{"ph": "M", "name": "thread_name", "pid": 1, "args": {}}]) == [
        "traceEvents[0]: metadata thread_name: missing 'tid'",
        "traceEvents[0]: metadata thread_name: args.name must be a string",
    ]
    bad_ts = [{"ph": "i", "name": "x", "ts": -1, "pid": 1, "tid": 1, "s": "q"}]
    assert len(check_trace_events(bad_ts)) == 2
    assert check_trace_events({"events": []})[0].startswith("top level")


def test_baseline_comparison_in_table_and_json(ok_run, slower_run, tmp_path, capsys):
    out = tmp_path / "cmp.json"
    rc = main(["report", str(slower_run), "--baseline", str(ok_run), "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    delta = doc["baseline"]["chains"]["main"]["p50_ms"]
    assert delta == pytest.approx(
        doc["chains"]["main"]["p50_ms"] - json_p50(ok_run, tmp_path), abs=1e-3
    )
    assert re.search(r"\([+-]\d+\.\d\d\)", capsys.readouterr().out)


def json_p50(run: Path, tmp_path: Path) -> float:
    out = tmp_path / "base.json"
    main(["report", str(run), "--json", str(out), "--quiet"])
    return json.loads(out.read_text())["chains"]["main"]["p50_ms"]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_html_renders_every_chain_with_its_verdict(mixed_run, tmp_path):
    page = tmp_path / "report.html"
    main(["report", str(mixed_run), "--html", str(page), "--quiet"])
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    dom = dump_dom(page, tmp_path / "profile")
    rows = dict(
        re.findall(r"<tr><td>(\w+)</td>.*?<td class=\"(?:ok|over|nodata)\">([^<]+)</td></tr>", dom)
    )
    assert rows == {"relaxed": "OK", "tight": "OVER BUDGET"}
    assert "Budget violated" in dom
    assert dom.count('src="data:image/png;base64,') >= 4  # CDF, timeline, callbacks, events


def dump_dom(page: Path, profile: Path) -> str:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
