"""Per-chain figures of the demo-graph benches, from constructed lineage samples."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from stack.cli.main import main
from stack.graph import ChainSpec
from stack.trace.lineage import ChainSamples
from tools.bench.demograph import CRITICAL, SETTLE_S, ChainFigures, _figures, run_folder
from tools.bench.overload import _policy_json

MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000
FRAMES = 101  # 10 s of a 10 Hz sensor
FIRST = int(SETTLE_S * 10)  # index of the first frame after the settle time (3.5 s)


def spec(name: str = "camera_to_control", budget_ms: float = 100.0) -> ChainSpec:
    return ChainSpec(name, ("/cam", "/control"), budget_ms, priority=5)


def samples(rows: list[tuple[int, float]]) -> ChainSamples:
    """(frame stamp ns, latency ms) per output on the chain end."""
    stamp = np.array([s for s, _ in rows], np.int64)
    lat = np.array([int(ms * MS) for _, ms in rows], np.int64)
    return ChainSamples(stamp + lat, lat, stamp)


def stamps() -> np.ndarray:
    return T0 + np.arange(FRAMES, dtype=np.int64) * 100 * MS


def demo_rows() -> list[tuple[int, float]]:
    """Before the settle time every output is late (and must not count). After it, of 66
    frames: every 10th has no output, every 10th + 5 is late (150 ms), one is exactly at
    the budget, one has a late duplicate besides its in-time output, the rest take 50 ms."""
    st = stamps()
    rows = [(int(st[i]), 900.0) for i in range(FIRST)]
    for i in range(FIRST, FRAMES):
        if i % 10 == 0:
            continue
        rows.append((int(st[i]), 150.0 if i % 10 == 5 else 100.0 if i == 37 else 50.0))
    rows.append((int(st[41]), 300.0))  # a second, late output of a frame already met
    rows.append((-1, 10.0))  # an output whose stamp is unknown: not a frame of the bag
    return rows


def test_figures_count_frames_met_and_latencies_after_the_settle_time():
    f = _figures(spec(), stamps(), samples(demo_rows()), drops=4)
    assert f.name == "camera_to_control" and f.budget_ms == 100.0
    assert f.frames == FRAMES - FIRST == 66
    assert f.met == 66 - 7 - 7  # no output: 40..100 step 10; late: 35..95 step 10
    assert f.outputs == 52 + 7 + 1  # counted outputs, the duplicate included
    assert f.miss_rate == pytest.approx(14 / 66)
    assert f.p50_ms == pytest.approx(50.0)
    assert f.p99_ms == pytest.approx(150.0 + 0.41 * 150.0)  # between the 59th and 60th
    assert f.drops == 4
    j = f.to_json()
    assert j == {
        "budget_ms": 100.0, "frames": 66, "met": 52, "miss_rate": round(14 / 66, 5),
        "p50_ms": 50.0, "p99_ms": 211.5, "outputs": 60, "drops": 4,
    }  # fmt: skip


def test_frame_exactly_at_the_settle_time_counts():
    st = stamps()
    settle = int(st[0] + SETTLE_S * 1e9)
    assert st[FIRST] == settle
    f = _figures(spec(), st, samples([(settle, 20.0), (settle - 100 * MS, 20.0)]), drops=0)
    assert f.frames == 66 and f.met == 1 and f.outputs == 1


def test_tighter_budget_turns_outputs_into_misses():
    f = _figures(spec(budget_ms=49.0), stamps(), samples(demo_rows()), drops=0)
    assert f.met == 0 and f.miss_rate == 1.0
    assert f.outputs == 60  # latencies are the same; only the verdict changed


def test_chain_without_outputs_misses_every_frame():
    f = _figures(spec(), stamps(), samples([]), drops=2)
    assert (f.frames, f.met, f.outputs) == (66, 0, 0)
    assert f.miss_rate == 1.0
    assert math.isnan(f.p50_ms) and math.isnan(f.p99_ms)
    j = f.to_json()
    assert j["p50_ms"] is None and j["p99_ms"] is None and j["miss_rate"] == 1.0


def test_chain_without_frames_met_nothing():
    # A silent sensor must not look like a perfect chain.
    f = _figures(spec(), np.zeros(0, np.int64), samples([]), drops=0)
    assert f.frames == 0 and f.miss_rate == 1.0


def figures(name: str, frames: int, met: int, p99: float, drops: int) -> ChainFigures:
    return ChainFigures(name, 100.0, frames, met, 40.0, p99, met, drops)


@pytest.mark.parametrize(("cam_met", "lidar_met", "worst"), [
    (90, 99, "camera_to_control"), (99, 90, "lidar_to_control"),
])  # fmt: skip
def test_policy_json_reports_the_worst_critical_chain(cam_met, lidar_met, worst):
    assert set(CRITICAL) == {"camera_to_control", "lidar_to_control"}
    figs = {
        "camera_to_control": figures("camera_to_control", 100, cam_met, 120.0, 3),
        "lidar_to_control": figures("lidar_to_control", 100, lidar_met, 95.5, 4),
        # Worse than both, but not a critical chain: never the headline.
        "mapping": figures("mapping", 100, 0, 900.0, 50),
    }
    out = _policy_json(figs)
    assert out["critical_chain"] == worst
    assert out["miss_rate"] == pytest.approx(0.1)
    assert out["p99_ms"] == (120.0 if worst == "camera_to_control" else 95.5)
    assert out["drops"] == 7  # both critical chains, not the mapping chain
    assert set(out["chains"]) == {"camera_to_control", "lidar_to_control", "mapping"}
    assert out["chains"]["mapping"]["miss_rate"] == 1.0


def test_policy_json_from_figures_of_samples():
    cam = _figures(spec("camera_to_control"), stamps(), samples(demo_rows()), drops=1)
    lidar_rows = [(int(s), 30.0) for s in stamps()]
    lidar = _figures(spec("lidar_to_control"), stamps(), samples(lidar_rows), drops=0)
    assert lidar.miss_rate == 0.0
    out = _policy_json({"camera_to_control": cam, "lidar_to_control": lidar})
    assert out["critical_chain"] == "camera_to_control"
    assert out["miss_rate"] == round(14 / 66, 5)
    assert out["p99_ms"] == 211.5
    assert out["drops"] == 1


def test_run_folder_is_temporary_unless_kept(tmp_path):
    with run_folder(None, "l4test") as tmp:
        (tmp / "run").mkdir()
        assert tmp.is_dir()
    assert not tmp.exists()
    keep = tmp_path / "kept" / "runs"
    with run_folder(keep, "l4test") as folder:
        (folder / "run").mkdir()
    assert folder == keep and (keep / "run").is_dir()  # still there after the bench


def test_run_folder_refuses_a_folder_with_runs_in_it(tmp_path):
    (tmp_path / "old").mkdir()
    message = re.escape(f"--keep {tmp_path}: not an empty folder")
    with pytest.raises(ValueError, match=message), run_folder(tmp_path, "l4test"):
        pass


def test_bench_keep_is_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    assert main(["bench", "sim", "--keep", str(tmp_path)]) == 2
    assert f"--keep {tmp_path}: not an empty folder" in capsys.readouterr().err
    # A benchmark without runs of its own to keep says so.
    assert main(["bench", "trace", "--quick", "--keep", str(tmp_path / "new")]) == 2
    assert "this benchmark keeps no runs" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_bench_attempts_is_checked_before_anything_runs(tmp_path, capsys):
    from stack.cli.main import main

    assert main(["bench", "overload", "--attempts", "0"]) == 2
    assert "argument --attempts: must be >= 1" in capsys.readouterr().err
    assert main(["bench", "trace", "--quick", "--attempts", "2"]) == 2
    assert "this benchmark takes no tries" in capsys.readouterr().err


def test_demo_launch_turns_the_degrade_path_off_by_argument():
    from stack.cli.common import load_launch
    from stack.scheduler.config import parse_scheduler
    from tools.bench.demograph import DEMO_LAUNCH
    from tools.bench.overload import DEMAND, RUNS

    def degrade(args):
        graph = load_launch(DEMO_LAUNCH, list(args))
        cfg = parse_scheduler(graph.scheduler)
        return cfg.degrade_for("camera_detector"), cfg.degrade_for("traffic_light")

    cam, lights = degrade(())
    assert cam.enabled and lights.enabled and cam.max_shed == 0.05
    assert cam.chain == "camera_to_control"
    off = next(r for r in RUNS if not r.degrade and r.policy == "l4")
    cam, lights = degrade(off.launch_args)
    assert not cam.enabled and not lights.enabled  # every node keeps its first variant
    assert DEMAND.launch_args == off.launch_args  # the rate comes from the dense graph
    assert [r.name for r in RUNS] == ["fifo", "l4", "l4_degrade"]


def test_overload_verdict_judges_degrade_in_every_steady_try():
    from tools.bench.overload import verdict

    out = {
        "fifo": {"miss_rate": 0.5}, "l4": {"miss_rate": 0.005}, "reported_try": 2,
        "delivered": {"l4": {"logging": 3, "mapping": 10}, "l4_degrade": {"logging": 5, "mapping": 12}},
    }  # fmt: skip
    tries = [
        {"try": 1, "steady": True, "l4_degrade_miss_rate": 0.004},
        {"try": 2, "steady": True, "l4_degrade_miss_rate": 0.009},
    ]
    got = verdict(out, tries)
    assert got["ok"] and got["miss_ratio"] == 100.0
    tries[0]["l4_degrade_miss_rate"] = 0.02  # one steady try over 1 %
    assert not verdict(out, tries)["checks"]["degrade_miss_rate_every_steady_try"]
    tries[0]["steady"] = False  # ... but it was disturbed: not judged
    assert verdict(out, tries)["ok"]
    out["delivered"]["l4_degrade"]["mapping"] = 10  # not more than without degrade
    assert verdict(out, tries)["checks"] == {
        "l4_miss_rate": True, "fifo_over_l4_misses": True,
        "degrade_miss_rate_every_steady_try": True, "degrade_delivers_more": False,
    }  # fmt: skip
    # No steady try: the reported one is judged.
    tries = [{"try": 1, "steady": False, "l4_degrade_miss_rate": 0.5},
             {"try": 2, "steady": False, "l4_degrade_miss_rate": 0.0}]  # fmt: skip
    assert verdict(out, tries)["checks"]["degrade_miss_rate_every_steady_try"]
    # A chain missing from a run's figures delivered nothing: judged, not a KeyError.
    del out["delivered"]["l4"]["logging"]
    out["delivered"]["l4_degrade"]["mapping"] = 12
    assert verdict(out, tries)["checks"]["degrade_delivers_more"]
    del out["delivered"]["l4_degrade"]["logging"]
    assert not verdict(out, tries)["checks"]["degrade_delivers_more"]
