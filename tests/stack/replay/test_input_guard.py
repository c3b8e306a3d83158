"""At the replay's input boundary: repeated inputs and malformed sensor payloads are counted
drops, never run twice or read short."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from perception.lidar.pointcloud import make_pointcloud2
from stack import msgs
from stack.cli.main import main
from stack.replay import OUTPUTS, Bag, Player, ReplayOptions
from tests.stack.replay.conftest import CAMERA, IMU, LIDAR, SENSOR_LAUNCH, graph_of, passthrough

CLOUD = "sensor_msgs/msg/PointCloud2"
LIDAR_LAUNCH = passthrough((LIDAR, "/out/lidar", CLOUD))


def _read(path: Path) -> list[tuple[str, int, bytes]]:
    with AnyReader([path], default_typestore=msgs.typestore()) as reader:
        return [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]


def _duplicated(src: Path, dst: Path) -> Path:
    """Every message of ``src`` written twice, the copy 1 us later with the same header."""
    store = msgs.typestore()
    with (
        AnyReader([src], default_typestore=store) as reader,
        Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer,
    ):
        conns = {
            c.topic: writer.add_connection(c.topic, c.msgtype, typestore=store)
            for c in reader.connections
        }
        for conn, t, raw in reader.messages():
            writer.write(conns[conn.topic], t, raw)
            writer.write(conns[conn.topic], t + 1_000, raw)
    return dst


def _replay(bag: Path, text: str, run_dir: Path) -> Player:
    with Bag(bag) as opened:
        player = Player(opened, graph_of(text), run_dir, ReplayOptions())
        player.run()
    return player


def test_every_input_duplicated_gives_the_clean_outputs_and_counts_the_repeats(
    module_bag: Path, tmp_path: Path
) -> None:
    doubled = _duplicated(module_bag, tmp_path / "doubled")
    clean = _replay(module_bag, SENSOR_LAUNCH, tmp_path / "clean").result
    dup = _replay(doubled, SENSOR_LAUNCH, tmp_path / "dup").result
    assert _read(tmp_path / "dup" / OUTPUTS) == _read(tmp_path / "clean" / OUTPUTS)
    assert dup.recorded == clean.recorded == {"/out/camera": 10, "/out/imu": 100}
    assert dup.duplicates == 110 and clean.duplicates == 0
    per_topic = {t.bag_topic: t.duplicates for t in dup.topics}
    assert per_topic[CAMERA] == 10 and per_topic[IMU] == 100
    assert dup.to_json()["duplicates"] == 110
    assert any("repeats the header stamp" in w and CAMERA in w for w in dup.warnings)


def test_the_replay_summary_and_replay_json_report_duplicates(
    module_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doubled = _duplicated(module_bag, tmp_path / "doubled")
    launch = tmp_path / "l.yaml"
    launch.write_text(SENSOR_LAUNCH)
    run_dir = tmp_path / "run"
    argv = ["replay", str(doubled), "--launch", str(launch), "--lockstep", "--no-progress"]
    assert main([*argv, "--run-dir", str(run_dir)]) == 0
    facts = json.loads((run_dir / "replay.json").read_text())
    assert facts["duplicates"] == 110 and facts["injected"] == 110
    assert "duplicates 110" in capsys.readouterr().out


def _cloud_bag(path: Path, short_width_at: int) -> Path:
    """10 clouds of 198 points; at ``short_width_at`` the width says 8 (row_step and data true)."""
    store = msgs.typestore()
    pts = np.random.default_rng(0).normal(size=(198, 4)).astype(np.float32)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(LIDAR, CLOUD, typestore=store)
        for i in range(10):
            header = msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(1_000 + i))
            msg = make_pointcloud2(msgs.new, header, pts)
            if i == short_width_at:
                msg.width = 8
            writer.write(conn, 1_000 + i, msgs.serialize(msg))
    return path


def test_a_cloud_whose_width_under_reports_its_data_is_a_counted_drop(tmp_path: Path) -> None:
    player = _replay(_cloud_bag(tmp_path / "bag", 3), LIDAR_LAUNCH, tmp_path / "run")
    result = player.result
    assert (
        result.decode_errors == 1 and result.injected == 9 and result.recorded == {"/out/lidar": 9}
    )
    (warning,) = [w for w in result.warnings if "malformed" in w]
    assert LIDAR in warning and "width 8" in warning and "row_step 3168" in warning


def _image_bag(path: Path, short_at: int) -> Path:
    store = msgs.typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(CAMERA, "sensor_msgs/msg/Image", typestore=store)
        for i in range(5):
            header = msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(1_000 + i))
            size = 4 * 2 * 3 - (3 if i == short_at else 0)
            msg = msgs.new(
                "sensor_msgs/msg/Image", header=header, height=2, width=4, encoding="bgr8",
                step=12, data=np.zeros(size, np.uint8),
            )  # fmt: skip
            writer.write(conn, 1_000 + i, msgs.serialize(msg))
    return path


def test_an_image_shorter_than_step_x_height_is_a_counted_drop(tmp_path: Path) -> None:
    text = passthrough((CAMERA, "/out/camera", "sensor_msgs/msg/Image"))
    result = _replay(_image_bag(tmp_path / "bag", 2), text, tmp_path / "run").result
    assert result.decode_errors == 1 and result.recorded == {"/out/camera": 4}
    assert any(CAMERA in w and "data has 21 bytes" in w for w in result.warnings)
