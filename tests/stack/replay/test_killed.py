"""`kill -9` of a real `l4 replay --rate 1` on a scenario bag, then everything read back:
`l4 bag info` and a replay of the unfinished outputs, `l4 bag reindex` and rosbags, `l4 report`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader

from stack import msgs
from stack.cli.main import main
from stack.replay import OUTPUTS, Bag
from tests.stack.replay.conftest import passthrough

ROOT = Path(__file__).resolve().parents[3]
ODOMETRY = "/localization/odometry"


def _kill_a_paced_replay(tmp_path: Path) -> Path:
    from tools.scenario import make_scenario

    bag = tmp_path / "scenario"
    make_scenario(bag, 5.0, seed=3, progress=False)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "stack.cli", "replay", str(bag), "--rate", "1"]
    cmd += ["--run-dir", str(run_dir), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / OUTPUTS).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.5)  # two chunks (a second of bag time each) are on disk by now
        assert proc.poll() is None, proc.communicate()[1].decode()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return run_dir


@pytest.mark.slow
def test_a_killed_replay_leaves_a_readable_bag_and_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = _kill_a_paced_replay(tmp_path)
    outputs = run_dir / OUTPUTS
    assert (outputs / "metadata.yaml").exists() and not (run_dir / "run.json").exists()

    assert main(["bag", "info", "--json", str(outputs)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["unfinished"] and info["messages"] > 0
    assert any("unfinished recording" in w for w in info["warnings"])
    assert info["duration_s"] >= 0.9  # at least a whole chunk of bag time
    with Bag(outputs) as bag:
        recovered = [(c.topic, t, bytes(raw)) for c, t, raw in bag.messages()]
    assert len(recovered) == info["messages"]

    launch = tmp_path / "odom.yaml"  # the unfinished bag replays as any other
    launch.write_text(passthrough((ODOMETRY, "/again", "nav_msgs/msg/Odometry")))
    argv = ["replay", str(outputs), "--launch", str(launch), "--lockstep", "--no-progress"]
    assert main([*argv, "--run-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "replay.json").read_text())
    assert again["recorded"]["/again"] == info_count(info, ODOMETRY) > 0

    assert main(["bag", "reindex", str(outputs)]) == 0
    capsys.readouterr()
    with AnyReader([outputs], default_typestore=msgs.typestore()) as reader:
        got = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
        for conn, _t, raw in reader.messages():
            reader.deserialize(raw, conn.msgtype)  # every message is whole
    assert sorted(got) == sorted(recovered)
    with Reader(outputs) as plain:
        assert plain.message_count == len(recovered)

    assert main(["report", str(run_dir)]) in (0, 1)  # the chains' verdicts, not a refusal
    text = capsys.readouterr().out
    assert "cut short" in text and "camera_to_control" in text


def info_count(info: dict, topic: str) -> int:
    return next(t["count"] for t in info["topics"] if t["name"] == topic)
