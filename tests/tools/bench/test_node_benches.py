from __future__ import annotations

from tools.bench import BENCHMARKS, load_benchmark
from tools.bench import detector as detector_bench
from tools.bench import perception as perception_bench
from tools.bench import planning as planning_bench


def test_benchmarks_are_registered():
    assert load_benchmark("perception") is perception_bench.run
    assert load_benchmark("planning") is planning_bench.run
    assert load_benchmark("detector") is detector_bench.run
    assert BENCHMARKS["perception"] == "tools.bench.perception:run"


def test_benchmarks_live_under_tools_bench():
    assert all(target.startswith("tools.bench.") for target in BENCHMARKS.values())


def test_perception_bench_quick_reports_latencies():
    result = perception_bench.run(quick=True)
    lidar = result["lidar"]
    assert lidar["points"] > 25_000 and lidar["objects"] > 5
    assert 0 < lidar["p50_ms"] <= lidar["p99_ms"] <= lidar["max_ms"]
    assert set(lidar["stage_p50_ms"]) == {
        "crop",
        "voxel",
        "ground",
        "cluster",
        "fit",
        "structure",
        "boxes",
    }
    assert 0 < lidar["cpu_p50_ms"] <= lidar["cpu_p99_ms"]
    assert result["ok"] == (lidar["cpu_p99_ms"] < lidar["target_p99_ms"])
    assert result["tracking"]["calls"] > 0 and result["localization_imu"]["p50_ms"] > 0


def test_planning_bench_quick_reports_latencies():
    result = planning_bench.run(quick=True)
    assert result["planner"]["points"] >= 30
    assert 0 < result["control"]["p50_ms"] <= result["control"]["max_ms"]
