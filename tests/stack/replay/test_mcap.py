"""The output bag writer: files that plain rosbags reads back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader

from stack import msgs
from stack.replay import Bag
from stack.replay.mcap import McapWriteError, Rosbag2McapWriter


def _connection(writer: Rosbag2McapWriter, topic: str, msgtype: str) -> int:
    store = msgs.typestore()
    msgdef, _ = store.generate_msgdef(msgtype, ros_version=2)
    return writer.add_connection(topic, msgtype, msgdef, store.hash_rihs01(msgtype))


def test_round_trip_through_rosbags(tmp_path: Path) -> None:
    writer = Rosbag2McapWriter(tmp_path / "out", chunk_bytes=2000)  # many chunks
    text = _connection(writer, "/text", "std_msgs/msg/String")
    flag = _connection(writer, "/flag", "std_msgs/msg/Bool")
    other = _connection(writer, "/text2", "std_msgs/msg/String")  # schema shared
    written = []
    for i in range(300):
        cid, topic, msg = (
            (text, "/text", msgs.new("std_msgs/msg/String", data="x" * i))
            if i % 3
            else (flag, "/flag", msgs.new("std_msgs/msg/Bool", data=bool(i % 2)))
        )
        data = msgs.serialize(msg)
        writer.write(cid, 1_000 + 10 * i, data)
        written.append((topic, 1_000 + 10 * i, data))
    writer.close(custom_data={"l4": "test"})
    assert other and writer.message_count == 300

    with AnyReader([tmp_path / "out"], default_typestore=msgs.typestore()) as reader:
        got = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
        assert {c.topic: c.msgcount for c in reader.connections} == {
            "/text": 200,
            "/flag": 100,
            "/text2": 0,
        }
        assert reader.deserialize(got[1][2], "std_msgs/msg/String").data == "x"
    assert got == written
    with Reader(tmp_path / "out") as reader:  # metadata.yaml as rosbags parses it
        assert reader.message_count == 300
        assert reader.start_time == 1_000 and reader.end_time == 1_000 + 10 * 299 + 1
    with Bag(tmp_path / "out") as bag:
        assert not bag.warnings  # metadata.yaml and the storage agree
        assert bag.topics["/text"].definition.data.startswith("string data")


def test_a_bag_without_messages_is_still_complete(tmp_path: Path) -> None:
    writer = Rosbag2McapWriter(tmp_path / "out")
    _connection(writer, "/text", "std_msgs/msg/String")
    writer.close()
    writer.close()  # idempotent
    with Reader(tmp_path / "out") as reader:
        assert reader.message_count == 0
        assert [c.topic for c in reader.connections] == ["/text"]


def test_refuses_an_existing_path(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(McapWriteError, match="already exists"):
        Rosbag2McapWriter(tmp_path / "out")
