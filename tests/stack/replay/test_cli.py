"""`l4 replay` and `l4 bag info` as a user runs them, signals included."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader

from stack import msgs
from stack.cli.main import main
from stack.replay import OUTPUTS
from tests.stack.replay.conftest import SENSOR_LAUNCH, SMALL_COUNTS, passthrough, small_bag

ROOT = Path(__file__).resolve().parents[3]


def _outputs(run_dir: Path) -> dict[str, int]:
    with AnyReader([run_dir / OUTPUTS], default_typestore=msgs.typestore()) as reader:
        counts: dict[str, int] = {}
        for conn, _t, raw in reader.messages():
            reader.deserialize(raw, conn.msgtype)
            counts[conn.topic] = counts.get(conn.topic, 0) + 1
        return counts


def test_bag_info(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    talker = shared_data / "rosbag2/rosbag2_talker_mcap"
    assert main(["bag", "info", str(talker)]) == 0
    text = capsys.readouterr().out
    assert "/rosout" in text and "rcl_interfaces/msg/Log" in text and "4.531 s" in text
    assert main(["bag", "info", "--json", str(talker)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["messages"] == 20
    assert {t["name"]: t["count"] for t in info["topics"]} == {
        "/parameter_events": 0,
        "/rosout": 10,
        "/topic": 10,
    }
    assert main(["bag", "info", str(shared_data / "nope")]) == 2
    assert "nope: no such file or directory" in capsys.readouterr().err


def test_replay_lockstep_writes_the_run_directory(tmp_path: Path, module_bag: Path) -> None:
    launch = tmp_path / "l.yaml"
    launch.write_text(SENSOR_LAUNCH)
    run_dir = tmp_path / "run"
    argv = ["replay", str(module_bag), "--launch", str(launch), "--lockstep"]
    rc = main([*argv, "--run-dir", str(run_dir), "--no-progress"])
    assert rc == 0
    assert _outputs(run_dir) == {"/out/camera": 10, "/out/imu": 100}
    facts = json.loads((run_dir / "replay.json").read_text())
    assert facts["mode"] == "lockstep" and facts["messages"] == sum(SMALL_COUNTS.values())
    assert not facts["interrupted"]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["interrupted"] is False and run["signal"] is None
    assert (run_dir / "run.json").exists() and (
        run_dir / "launch.yaml"
    ).read_text() == SENSOR_LAUNCH


def test_replay_refusals_exit_2_naming_the_problem(
    tmp_path: Path, module_bag: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(SENSOR_LAUNCH)
    unmatched = tmp_path / "unmatched.yaml"
    unmatched.write_text(passthrough(("/elsewhere", "/out", "sensor_msgs/msg/Imu")))
    truncated = tmp_path / "cut.mcap"
    storage = next((module_bag).glob("*.mcap"))
    truncated.write_bytes(storage.read_bytes()[:5000])
    used = tmp_path / "used"
    (used / OUTPUTS).mkdir(parents=True)
    cases = [
        ([str(tmp_path / "missing.mcap"), "--launch", str(good)], "missing.mcap: no such file"),
        (
            [str(truncated), "--launch", str(good)],
            "cut.mcap: no message could be recovered; the file is truncated or corrupt",
        ),
        ([str(module_bag), "--launch", str(unmatched)], "unmatched.yaml: no subscription matches"),
        ([str(module_bag), "--launch", str(good), "--remap", "/a=/b"], "expected FROM:=TO"),
        ([str(module_bag), "--launch", str(tmp_path / "none.yaml")], "none.yaml"),
    ]
    for i, (argv, message) in enumerate(cases):
        rc = main(
            ["replay", *argv, "--lockstep", "--no-progress", "--run-dir", str(tmp_path / f"r{i}")]
        )
        err = capsys.readouterr().err
        assert rc == 2 and message in err, (argv, err)
        assert not (tmp_path / f"r{i}").exists()  # nothing left behind
    rc = main(["replay", str(module_bag), "--launch", str(good), "--run-dir", str(used)])
    assert rc == 2 and "already holds outputs/" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_cleanly_with_a_valid_bag(tmp_path: Path, sig: signal.Signals) -> None:
    bag = small_bag(tmp_path / "bag", seconds=4.0)
    launch = tmp_path / "l.yaml"
    launch.write_text(SENSOR_LAUNCH)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "stack.cli", "replay", str(bag), "--launch", str(launch)]
    cmd += ["--rate", "1", "--run-dir", str(run_dir), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (run_dir / OUTPUTS).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.8)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err.decode()  # 130 / 143, as a shell reports it
    facts = json.loads((run_dir / "replay.json").read_text())
    assert facts["interrupted"] and 0 < facts["injected"] < 440
    run = json.loads((run_dir / "run.json").read_text())
    assert run["interrupted"] is True and run["signal"] == sig.name and not run["cut_short"]
    recorded = _outputs(run_dir)
    assert recorded == {k: v for k, v in facts["recorded"].items() if v}
    assert 0 < sum(recorded.values()) <= facts["injected"]
    assert b"interrupted" in out


def test_default_launch_on_a_scenario_bag(tmp_path: Path) -> None:
    from tools.scenario import make_scenario

    bag = tmp_path / "scenario"
    make_scenario(bag, 1.0, seed=1, storage="sqlite3", progress=False)
    rc = main(
        ["replay", str(bag), "--lockstep", "--no-progress", "--run-dir", str(tmp_path / "run")]
    )
    assert rc == 0
    # The driving graph: the generator writes both ends of the interval (11 frames in 1 s),
    # and every camera and lidar frame gives one set of objects.
    outputs = _outputs(tmp_path / "run")
    assert outputs["/perception/camera/objects"] == 11
    assert outputs["/perception/lidar/objects"] == 11
    assert outputs["/localization/odometry"] > 0
