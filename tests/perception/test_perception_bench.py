from __future__ import annotations

from perception import bench as perception_bench
from planning import bench as planning_bench
from tools.bench import BENCHMARKS, load_benchmark


def test_benchmarks_are_registered():
    assert load_benchmark("perception") is perception_bench.run
    assert load_benchmark("planning") is planning_bench.run
    assert BENCHMARKS["perception"] == "perception.bench:run"


def test_perception_bench_quick_reports_latencies():
    result = perception_bench.run(quick=True)
    lidar = result["lidar"]
    assert lidar["points"] > 25_000 and lidar["objects"] > 5
    assert 0 < lidar["p50_ms"] <= lidar["p99_ms"] <= lidar["max_ms"]
    assert set(lidar["stage_p50_ms"]) == {"crop", "voxel", "ground", "cluster", "boxes"}
    assert 0 < lidar["cpu_p50_ms"] <= lidar["cpu_p99_ms"]
    assert result["ok"] == (lidar["cpu_p99_ms"] < lidar["target_p99_ms"])
    assert result["tracking"]["calls"] > 0 and result["localization_imu"]["p50_ms"] > 0


def test_planning_bench_quick_reports_latencies():
    result = planning_bench.run(quick=True)
    assert result["planner"]["points"] >= 30
    assert 0 < result["control"]["p50_ms"] <= result["control"]["max_ms"]
