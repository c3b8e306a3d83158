from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stack.graph import parse_graph
from tools.schedsim import (
    SimError,
    build_runtime,
    load_profile,
    parse_profile,
    predict,
    profile_from_records,
    sim_graph,
    speed_scale,
)

ROOT = Path(__file__).resolve().parents[3]
WORK = "stack.nodes.synthetic:Work"
LAUNCH = f"""
name: simtest
executors:
  sensors: {{threads: 1}}
  compute: {{threads: 1}}
nodes:
  cam:
    class: stack.nodes.synthetic:Heartbeat
    executor: sensors
    params: {{topic: /cam, rate_hz: 20.0}}
  det:
    class: {WORK}
    executor: compute
    params: {{input: /cam, output: /obj, msgtype: std_msgs/msg/Header, work_ms: 4.0}}
  plan:
    class: {WORK}
    executor: compute
    params: {{input: /obj, output: /traj, msgtype: std_msgs/msg/Header, work_ms: 2.0}}
chains:
  drive: {{path: [/cam, /obj, /traj], budget_ms: 20, priority: 5}}
"""


def report(det_ms: list[float], plan_ms: float = 2.0) -> dict:
    """The shape `l4 report RUN --json` writes (only what the simulator reads)."""

    def cb(samples: list[float]) -> dict:
        return {"p50_ms": float(np.median(samples)), "p99_ms": max(samples),
                "mean_ms": float(np.mean(samples)), "count": len(samples), "samples_ms": samples}  # fmt: skip

    return {
        "chains": {},
        "nodes": {
            "cam": {"callbacks": {"timer:tick": cb([0.0])}},
            "det": {"callbacks": {"sub:/cam": cb(det_ms)}},
            "plan": {"callbacks": {"sub:/obj": cb([plan_ms])}},
        },
    }


@pytest.fixture
def runtime():
    return build_runtime(parse_graph(LAUNCH, "sim.yaml"))


def test_prediction_from_a_report_profile(runtime):
    pred = predict(runtime, parse_profile(report([4.0])), duration_s=2.0, switch_ms=0.0)
    drive = pred.chains["drive"]
    assert drive.p50_ms == pytest.approx(6.0 + 2 * 0.015)  # 4 + 2 ms, plus dispatch per callback
    assert drive.ok and drive.miss_rate == 0.0
    assert pred.utilization["compute"] == pytest.approx(39 * 6.03e-3 / 2.0)  # ticks 50..1950 ms


def test_speed_factor_scales_node_executor_or_everything(runtime):
    graph = runtime.graph
    assert speed_scale(graph, {"cpu": 0.5}) == {"cam": 2.0, "det": 2.0, "plan": 2.0}
    assert speed_scale(graph, {"cpu": 0.5, "compute": 1.0, "det": 4.0}) == {
        "cam": 2.0, "det": 0.25, "plan": 1.0,
    }  # fmt: skip
    with pytest.raises(SimError, match="unknown resource 'gpu'"):
        speed_scale(graph, {"gpu": 2.0})
    with pytest.raises(SimError, match="must be > 0"):
        speed_scale(graph, {"cpu": 0.0})
    slow = predict(runtime, parse_profile(report([4.0])), duration_s=2.0, speeds={"cpu": 0.25})
    assert not slow.ok  # 24 ms per frame on a 20 ms budget
    assert slow.chains["drive"].misses == slow.chains["drive"].count


def test_external_topic_rate_comes_from_the_profile_or_the_caller(tmp_path):
    text = LAUNCH.replace(
        "  cam:\n    class: stack.nodes.synthetic:Heartbeat\n    executor: sensors\n"
        "    params: {topic: /cam, rate_hz: 20.0}\n",
        "",
    )
    rt = build_runtime(parse_graph(text, "bag.yaml"), external=("/cam",))
    prof = report([4.0])
    with pytest.raises(
        SimError, match=r"topic /cam comes from outside the graph .* --rate /cam=HZ"
    ):
        sim_graph(rt, parse_profile(prof))
    assert (
        sim_graph(rt, parse_profile(prof), rates_hz={"/cam": 10.0}).sources[0].period_ns
        == 100_000_000
    )
    prof["nodes"]["det"]["callbacks"]["sub:/cam"]["rate_hz"] = 25.0
    assert sim_graph(rt, parse_profile(prof)).sources[0].period_ns == 40_000_000
    with pytest.raises(SimError, match=r"--rate: \['/obj'\] are not external topics"):
        sim_graph(rt, parse_profile(prof), rates_hz={"/obj": 5.0})


def test_sample_times_align_draws_unless_the_rates_change(runtime):
    prof = report([4.0, 6.0])
    prof["nodes"]["det"]["callbacks"]["sub:/cam"]["samples_at_s"] = [1.5, 0.5]
    parsed = parse_profile(prof)
    det = {s.node: s.callback.service for s in sim_graph(runtime, parsed).subscriptions}["det"]
    assert det.samples_ms == (6.0, 4.0) and det.at_ns == (500_000_000, 1_500_000_000)
    plain = sim_graph(runtime, parsed, aligned=False).subscriptions
    assert all(not s.callback.service.at_ns for s in plain)
    assert parse_profile(parsed.to_json()).get("det", "sub:/cam").at_s.tolist() == [1.5, 0.5]


def test_missing_callback_is_a_warning_not_a_guess(runtime):
    prof = report([4.0])
    del prof["nodes"]["plan"]
    pred = predict(runtime, parse_profile(prof), duration_s=1.0)
    assert pred.warnings == ["profile has no plan/sub:/obj: taken as 0 ms"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "expected a report JSON with a 'nodes' mapping"),
        ({"nodes": {"a": {"callbacks": []}}}, r"nodes.a.callbacks: expected a mapping"),
        ({"nodes": {"a": {"callbacks": {"cb": {}}}}}, r"nodes.a.callbacks.cb: needs samples_ms"),
        ({"nodes": {"a": {"callbacks": {"cb": {"samples_ms": [-1]}}}}}, "finite times >= 0"),
        (
            {"nodes": {"a": {"callbacks": {"cb": {"samples_ms": [1], "publishes": {"/x": 2}}}}}},
            "publishes: expected",
        ),
        (
            {"nodes": {"a": {"callbacks": {"cb": {"samples_ms": [1], "publish_after_ms": -1}}}}},
            r"nodes.a.callbacks.cb.publish_after_ms: expected a time >= 0, got -1",
        ),
        (
            {"nodes": {"a": {"callbacks": {"cb": {"samples_ms": [1, 2], "samples_at_s": [0.5]}}}}},
            r"nodes.a.callbacks.cb.samples_at_s: expected one finite time per sample \(2\)",
        ),
    ],
)
def test_bad_profiles_name_the_key(doc, message):
    with pytest.raises(SimError, match=message):
        parse_profile(doc, "p.json")


def test_profile_without_samples_keeps_p50_and_p99():
    prof = parse_profile({"nodes": {"a": {"callbacks": {"sub:/x": {"p50_ms": 2, "p99_ms": 9}}}}})
    samples = prof.get("a", "sub:/x").samples_ms
    assert np.percentile(samples, 50) == 2 and np.percentile(samples, 99.5) == 9


def test_profile_from_trace_records_skips_drop_markers_and_counts_outputs(tmp_path):
    recs = [
        ("det", "sub:/cam", "t", 0, 0, 4_000_000, (), (("/obj", 4_000_000, {}),), "", ()),
        ("det", "sub:/cam", "t", 0, 10_000_000, 12_000_000, (), (), "", ()),
        ("det", "sub:/cam", "t", 0, 20_000_000, 20_000_000, (), (), "", (("drop", "stale"),)),
    ]
    prof = profile_from_records(recs, duration_s=1.0)
    cb = prof.get("det", "sub:/cam")
    assert cb.samples_ms.tolist() == [4.0, 2.0]
    assert cb.publishes == {"/obj": 0.5}
    assert cb.rate_hz == 2.0
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prof.to_json()))
    back = load_profile(path).get("det", "sub:/cam")
    assert back.samples_ms.tolist() == [4.0, 2.0] and back.publishes == {"/obj": 0.5}
    with pytest.raises(SimError, match="cannot read profile"):
        load_profile(tmp_path / "missing.json")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack.cli", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_cli_sim_verdict_json_and_exit_code(tmp_path):
    launch = tmp_path / "g.yaml"
    launch.write_text(LAUNCH)
    prof = tmp_path / "report.json"
    prof.write_text(json.dumps(report([4.0, 5.0])))
    out = tmp_path / "pred.json"
    ok = cli("sim", str(launch), "--profile", str(prof), "--duration", "2", "--json", str(out))
    assert ok.returncode == 0, ok.stderr
    assert "drive" in ok.stdout and "ok" in ok.stdout
    doc = json.loads(out.read_text())
    assert doc["ok"] and doc["chains"]["drive"]["count"] > 0
    slow = cli("sim", str(launch), "--profile", str(prof), "--duration", "2", "--speed", "det=0.2")
    assert slow.returncode == 1 and "OVER" in slow.stdout
    bad = cli("sim", str(launch), "--profile", str(prof), "--speed", "cpu")
    assert bad.returncode == 2 and "--speed 'cpu': expected NAME=NUMBER" in bad.stderr


def test_cli_sim_draws_in_time_unless_iid(tmp_path):
    # det took 4 ms in the profile's first second and 30 ms (over the 20 ms budget) after it:
    # a simulated first second meets only the fast frames, unless draws ignore the time.
    launch = tmp_path / "g.yaml"
    launch.write_text(LAUNCH)
    doc = report([4.0] * 20 + [30.0] * 20)
    doc["nodes"]["det"]["callbacks"]["sub:/cam"]["samples_at_s"] = [i * 0.05 for i in range(40)]
    prof = tmp_path / "report.json"
    prof.write_text(json.dumps(doc))
    args = ("sim", str(launch), "--profile", str(prof), "--duration", "0.9", "--policy", "fifo")
    assert cli(*args).returncode == 0
    iid = cli(*args, "--iid")
    assert iid.returncode == 1 and "OVER" in iid.stdout


def test_launch_warns_when_the_profile_says_a_chain_misses(tmp_path):
    launch = tmp_path / "g.yaml"
    launch.write_text(LAUNCH)
    prof = tmp_path / "report.json"
    prof.write_text(json.dumps(report([30.0])))
    res = cli("launch", str(launch), "--duration", "0.2", "--profile", str(prof))
    assert res.returncode == 0, res.stderr
    assert "schedulability" in res.stderr
    # 30 ms of work on a 20 ms budget: every input is stale before its last hop.
    assert "chain drive: predicted no output > budget 20 ms" in res.stderr
