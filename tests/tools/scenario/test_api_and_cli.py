"""make_scenario options, errors, the `l4 scenario make` command and the bench entry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stack.cli.main import main
from tools.bench import BENCHMARKS
from tools.scenario import ScenarioError, ScenarioInfo, make_scenario, topics
from tools.scenario.config import ScenarioConfig, Storage, Weather
from tools.scenario.road import make_road


def test_make_scenario_returns_info(tmp_path):
    info = make_scenario(tmp_path / "bag", 0.5, 3, weather="fog", traffic="dense", progress=False)
    assert isinstance(info, ScenarioInfo)
    assert info.path == tmp_path / "bag" and info.duration == 0.5
    assert info.message_counts[topics.IMU] == 51
    assert info.message_counts[topics.CAMERA_IMAGE] == 6
    assert info.message_counts[topics.TF_STATIC] == 1
    assert info.wall_time > 0 and info.realtime_factor == pytest.approx(0.5 / info.wall_time)
    assert info.map_path.exists() and info.scenario_path.exists()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"weather": "snow"}, "weather='snow'"),
        ({"traffic": "jam"}, "traffic='jam'"),
        ({"storage": "rosbag1"}, "storage='rosbag1'"),
        ({"seconds": 0.0}, "seconds=0.0"),
        ({"seconds": float("nan")}, "seconds=nan"),
        ({"seed": -1}, "seed=-1"),
    ],
)
def test_bad_options_are_named(tmp_path, kwargs, needle):
    args = {"seconds": 1.0, "seed": 1, **kwargs}
    with pytest.raises(ScenarioError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        make_scenario(tmp_path / "bag", progress=False, **args)
    assert not (tmp_path / "bag").exists()


def test_existing_output_is_refused(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(ScenarioError, match="exists"):
        make_scenario(tmp_path / "bag", 0.2, 1, progress=False)
    with pytest.raises(ScenarioError, match="parent directory"):
        make_scenario(tmp_path / "missing" / "bag", 0.2, 1, progress=False)


def test_config_parses_enums():
    cfg = ScenarioConfig(seconds=2, seed=0, storage="sqlite3", weather="night")
    assert cfg.storage is Storage.SQLITE3 and cfg.weather is Weather.NIGHT and cfg.seconds == 2.0


def test_road_frenet_round_trip():
    road = make_road(np.random.default_rng(5), 2000.0)
    rng = np.random.default_rng(6)
    s, d = rng.uniform(10, 1900, 500), rng.uniform(-12, 12, 500)
    xy = road.point(s, d)
    s2, d2 = road.to_frenet(xy)
    assert np.allclose(d2, d, atol=0.02) and np.allclose(s2, s, atol=0.3)
    _s3, d3 = road.to_frenet_near(xy[:50], float(s[0]))
    near = np.abs(s[:50] - s[0]) < 100
    assert np.allclose(d3[near], d[:50][near], atol=0.02)
    assert np.abs(np.diff(road.heading)).max() < 0.01  # smooth: curves, no kinks


def test_cli_make_prints_json_and_refuses_an_existing_dir(tmp_path, capsys):
    out = tmp_path / "cli_bag"
    argv = ["scenario", "make", "--out", str(out), "--seconds", "0.3", "--seed", "2", "--json"]
    assert main([*argv, "--storage", "sqlite3", "--weather", "rain"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["path"] == str(out) and summary["messages"][topics.CAMERA_IMAGE] == 4
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err


def test_bench_entry_is_registered():
    assert BENCHMARKS["scenario"] == "tools.bench.scenario:run"
